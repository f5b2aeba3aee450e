//! A small pool of read-only connections. In WAL mode readers never wait for the writer, so
//! reads run in parallel, each on a connection of its own: point lookups in place on the async
//! thread (`read_now`), the work-order list in place with that thread's other tasks handed on
//! (`read_in_place`), the rest on blocking threads (`read`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fieldproof_store::{timing, StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct Readers {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub fn open(path: &Path, size: usize) -> rusqlite::Result<Self> {
        let mut conns = Vec::with_capacity(size);
        for _ in 0..size {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(5))?;
            conns.push(conn);
        }
        Ok(Self {
            idle: Arc::new(Mutex::new(conns)),
            permits: Arc::new(Semaphore::new(size)),
        })
    }

    /// Runs `f` on an idle reader right here, on the calling (async) thread: for lookups of one
    /// row, or of one work order's rows, through an index, which take microseconds.
    ///
    /// Why not [`read`](Self::read) for those too: a blocking thread costs two thread hand-offs
    /// (there and back) per call, and a create made three of them before its write. perf showed
    /// half of the async workers' time in the kernel's scheduler, not in SQLite; a point lookup
    /// costs less than the hand-off. Anything that may scan (lists, counts, a version's spec to
    /// parse) goes through [`read_in_place`](Self::read_in_place) or [`read`](Self::read), so
    /// that it never stalls the other requests of this worker thread.
    pub async fn read_now<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T>,
    {
        let _spent = StoreTime(Instant::now());
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Backend("reader pool closed".into()))?;
        let lent = Lent {
            conn: self.idle.lock().expect("reader pool lock").pop(),
            idle: &self.idle,
        };
        let conn = lent
            .conn
            .as_ref()
            .expect("a permit guarantees an idle connection");
        f(conn)
    }

    /// Runs `f` on an idle reader on the calling thread, which hands its other async tasks to
    /// another thread meanwhile (`tokio::task::block_in_place`): for reads that may scan but are
    /// on the hot path (the work-order list). On a runtime with one thread, where that cannot
    /// be done, it is [`read`](Self::read).
    ///
    /// Why not [`read`](Self::read): the request then waits for two threads to wake, the
    /// blocking one and then its own, and each wake waits for a free CPU. With analyses keeping
    /// the other CPU of two busy, perf sched put the request threads' p99 wait to run at
    /// 165-294 µs against 53-80 µs without (docs/PERFORMANCE.md, runs of 2026-11-30), and the
    /// slowest lists spent 1.4-2.0 ms awaiting the store for 0.4-0.5 ms of reading. Here the
    /// request goes on on its own thread; what waits for a thread to wake is the worker's other
    /// tasks, which would otherwise have waited for the scan.
    pub async fn read_in_place<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        if tokio::runtime::Handle::current().runtime_flavor()
            != tokio::runtime::RuntimeFlavor::MultiThread
        {
            return self.read(f).await;
        }
        self.read_now(|c| tokio::task::block_in_place(|| f(c)))
            .await
    }

    /// Runs `f` on an idle reader, on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let _spent = StoreTime(Instant::now());
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::Backend("reader pool closed".into()))?;
        let conn = self
            .idle
            .lock()
            .expect("reader pool lock")
            .pop()
            .expect("a permit guarantees an idle connection");
        let idle = self.idle.clone();
        let joined = tokio::task::spawn_blocking(move || {
            let result = f(&conn);
            (conn, result, Instant::now())
        })
        .await;
        match joined {
            Ok((conn, result, answered)) => {
                timing::add_wake(answered.elapsed());
                idle.lock().expect("reader pool lock").push(conn);
                result
            }
            Err(e) => {
                // The connection went down with the task: the pool shrinks by one rather than
                // hand out a permit with no connection behind it.
                permit.forget();
                Err(StoreError::Backend(format!("reader task failed: {e}")))
            }
        }
    }
}

/// A connection taken from the pool by [`Readers::read_now`]: back in the pool when dropped,
/// even by a panic, before the permit that guards it is released.
struct Lent<'a> {
    conn: Option<Connection>,
    idle: &'a Mutex<Vec<Connection>>,
}

impl Drop for Lent<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if let Ok(mut idle) = self.idle.lock() {
                idle.push(conn);
            }
        }
    }
}

/// Reports the time since it was made to the request's [`timing`] when dropped, however the
/// read ends.
struct StoreTime(Instant);

impl Drop for StoreTime {
    fn drop(&mut self) {
        timing::add_store(self.0.elapsed());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(dir: &tempfile::TempDir, size: usize) -> Readers {
        let path = dir.path().join("r.sqlite");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7);",
        )
        .unwrap();
        Readers::open(&path, size).unwrap()
    }

    fn read_x(c: &Connection) -> StoreResult<(i64, std::thread::ThreadId)> {
        let x = c
            .query_row("SELECT x FROM t", [], |r| r.get(0))
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok((x, std::thread::current().id()))
    }

    /// On a multi-threaded runtime the read runs on the calling thread, and the connection goes
    /// back to the pool: a pool of one serves one read after another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_place_reads_run_on_the_calling_thread() {
        let dir = tempfile::tempdir().unwrap();
        let readers = pool(&dir, 1);
        for _ in 0..3 {
            let here = std::thread::current().id();
            let (x, ran_on) = readers.read_in_place(read_x).await.unwrap();
            assert_eq!(x, 7);
            assert_eq!(ran_on, here);
        }
    }

    /// On a runtime of one thread `block_in_place` would panic: the read goes to a blocking
    /// thread instead.
    #[tokio::test(flavor = "current_thread")]
    async fn in_place_reads_on_one_thread_go_to_a_blocking_thread() {
        let dir = tempfile::tempdir().unwrap();
        let readers = pool(&dir, 1);
        for _ in 0..2 {
            let (x, ran_on) = readers.read_in_place(read_x).await.unwrap();
            assert_eq!(x, 7);
            assert_ne!(ran_on, std::thread::current().id());
        }
    }
}
