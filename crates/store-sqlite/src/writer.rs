//! The one writer of a SQLite database, with group commit.
//!
//! SQLite admits one writer at a time, so instead of letting request tasks fight for the write
//! lock (and spin on `SQLITE_BUSY`), every write is a job sent to one thread that owns the write
//! connection. The thread takes every job waiting in its queue, runs each inside its own
//! savepoint of one transaction, commits once (one fsync for the whole batch) and only then
//! answers each job. A job that fails rolls back its own savepoint and leaves the others in.
//!
//! Under load this batches naturally: while one commit is syncing, the next jobs queue up and
//! share the following commit. A lone write costs one commit, as without batching.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use fieldproof_store::{timing, StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

/// Most jobs in one transaction: bounds the latency a batch adds to its first job.
const MAX_BATCH: usize = 512;

/// Told how the batch's commit went and how long it took.
type Finish = Box<dyn FnOnce(StoreResult<()>, Duration) + Send>;
/// A job runs on the connection inside the open transaction, or is told why it cannot run.
type Job = Box<dyn FnOnce(Result<&Connection, StoreError>) -> Finish + Send>;

#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer thread on `conn`. The thread ends when every `Writer` is dropped.
    /// A writer whose thread is gone: every write fails. What a store holds while it shuts down.
    pub fn closed() -> Self {
        let (jobs, _) = mpsc::channel::<Job>();
        Self { jobs }
    }

    pub fn start(conn: Connection) -> std::io::Result<(Self, thread::JoinHandle<()>)> {
        Self::start_with_log_cap(conn, crate::checkpointer::WAL_CAP, LOOK_AT_LOG_EVERY)
    }

    /// [`Writer::start`] with the log's cap and how often to look at it (see
    /// [`restart_log_past_cap`]).
    fn start_with_log_cap(
        conn: Connection,
        wal_cap: u64,
        look_every: Duration,
    ) -> std::io::Result<(Self, thread::JoinHandle<()>)> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let handle = thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, queue, wal_cap, look_every))?;
        Ok((Self { jobs }, handle))
    }

    /// Runs `f` in the writer's next transaction and returns its result once that transaction is
    /// durably committed.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let sent = Instant::now();
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn: Result<&Connection, StoreError>| {
            let queued = sent.elapsed();
            let result = conn.and_then(|conn| in_savepoint(conn, f));
            Box::new(move |commit: StoreResult<()>, took: Duration| {
                // The caller may have gone (client disconnected); the write stands anyway.
                let _ = reply.send((commit.and(result), queued, took, Instant::now()));
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Backend("the SQLite writer thread has stopped".into()))?;
        let (result, queued, commit, answered) = answer
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer thread has stopped".into()))?;
        timing::add_store(sent.elapsed());
        timing::add_queued(queued);
        timing::add_commit(commit);
        timing::add_wake(answered.elapsed());
        result
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    conn.execute_batch("SAVEPOINT job")
        .map_err(crate::backend)?;
    let result = f(conn);
    let end = if result.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job; RELEASE job"
    };
    conn.execute_batch(end).map_err(crate::backend)?;
    result
}

fn run(conn: Connection, queue: mpsc::Receiver<Job>, wal_cap: u64, look_every: Duration) {
    let wal = conn.path().map(|p| PathBuf::from(format!("{p}-wal")));
    let mut next_look = Instant::now();
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = crate::backend(e);
            tracing::error!(error = %e, "cannot begin a write transaction");
            for job in batch {
                job(Err(e.clone()))(Ok(()), Duration::ZERO);
            }
            continue;
        }
        let finishers: Vec<Finish> = batch.into_iter().map(|job| job(Ok(&conn))).collect();
        let committing = Instant::now();
        let commit = conn.execute_batch("COMMIT").map_err(crate::backend);
        let took = committing.elapsed();
        if let Err(e) = &commit {
            tracing::error!(error = %e, jobs = finishers.len(), "group commit failed");
            let _ = conn.execute_batch("ROLLBACK");
            crate::work_orders::forget_terms();
        }
        for finish in finishers {
            finish(commit.clone(), took);
        }
        if let Some(wal) = &wal {
            let now = Instant::now();
            if now >= next_look {
                next_look = now + look_every;
                restart_log_past_cap(&conn, wal, wal_cap);
            }
        }
    }
}

/// How often the writer looks at the log's size.
const LOOK_AT_LOG_EVERY: Duration = Duration::from_millis(100);

/// Starts the log over when it is past `wal_cap` bytes ([`crate::checkpointer::WAL_CAP`]).
///
/// The log only starts over when a write transaction begins with every frame already copied
/// back into the database. Under a steady write load the next batch always begins before the
/// checkpoint thread has caught up, so the file kept growing: 1.2-1.7 GB in 30 s of creates at
/// full speed (docs/PERFORMANCE.md). The checkpoint thread cannot fix that alone: a `RESTART`
/// checkpoint needs a moment with no write transaction, and this thread begins the next one as
/// soon as it has committed. So the writer does it itself, between two batches, and only past
/// the cap: it copies what the passive checkpoints have not copied yet (little) and waits for
/// the readers of older frames; the next batch then writes from the start of the file.
fn restart_log_past_cap(conn: &Connection, wal: &Path, wal_cap: u64) {
    let size = std::fs::metadata(wal).map_or(0, |m| m.len());
    if size <= wal_cap {
        return;
    }
    match conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0)) {
        Ok(0) => tracing::debug!(wal_bytes = size, "the log starts over"),
        Ok(_) => tracing::debug!(
            wal_bytes = size,
            "the log could not start over yet (readers)"
        ),
        Err(e) => {
            tracing::warn!(error = %e, wal_bytes = size, "checkpoint to restart the log failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A steady stream of writes with no checkpoint thread: without the writer's restarts the
    /// log would hold every one of them (10 MB); with a 1 MB cap it starts over and stays near
    /// the cap, and every row is still there.
    #[tokio::test]
    async fn the_log_starts_over_past_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.sqlite");
        let conn = Connection::open(&db).unwrap();
        crate::configure(&conn).unwrap();
        conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        conn.execute_batch("CREATE TABLE t (b BLOB)").unwrap();
        let (writer, thread) = Writer::start_with_log_cap(conn, 1_000_000, Duration::ZERO).unwrap();
        let wal = dir.path().join("w.sqlite-wal");
        let mut largest = 0;
        for _ in 0..200 {
            writer
                .write(|c| {
                    c.execute("INSERT INTO t VALUES (zeroblob(50000))", [])
                        .map_err(crate::backend)
                })
                .await
                .unwrap();
            largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
        }
        drop(writer);
        thread.join().unwrap();
        assert!(
            largest < 2_000_000,
            "the log grew to {largest} bytes past a 1 MB cap"
        );
        let check = Connection::open(&db).unwrap();
        let n: i64 = check
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 200);
    }
}
