//! A small pool of read-only connections. In WAL mode readers never wait for the writer, so
//! reads run in parallel on blocking threads, each on a connection of its own; point lookups run
//! in place (`read_now`).

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
    /// parse) stays on [`read`](Self::read), so that it never stalls the other requests of this
    /// worker thread.
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
