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

use std::sync::mpsc;
use std::thread;

use fieldproof_store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

/// Most jobs in one transaction: bounds the latency a batch adds to its first job.
const MAX_BATCH: usize = 512;

type Finish = Box<dyn FnOnce(StoreResult<()>) + Send>;
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
        let (jobs, queue) = mpsc::channel::<Job>();
        let handle = thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, queue))?;
        Ok((Self { jobs }, handle))
    }

    /// Runs `f` in the writer's next transaction and returns its result once that transaction is
    /// durably committed.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn: Result<&Connection, StoreError>| {
            let result = conn.and_then(|conn| in_savepoint(conn, f));
            Box::new(move |commit: StoreResult<()>| {
                // The caller may have gone (client disconnected); the write stands anyway.
                let _ = reply.send(commit.and(result));
            })
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Backend("the SQLite writer thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Backend("the SQLite writer thread has stopped".into()))?
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

fn run(conn: Connection, queue: mpsc::Receiver<Job>) {
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
                job(Err(e.clone()))(Ok(()));
            }
            continue;
        }
        let finishers: Vec<Finish> = batch.into_iter().map(|job| job(Ok(&conn))).collect();
        let commit = conn.execute_batch("COMMIT").map_err(crate::backend);
        if let Err(e) = &commit {
            tracing::error!(error = %e, jobs = finishers.len(), "group commit failed");
            let _ = conn.execute_batch("ROLLBACK");
            crate::work_orders::forget_terms();
        }
        for finish in finishers {
            finish(commit.clone());
        }
    }
}
