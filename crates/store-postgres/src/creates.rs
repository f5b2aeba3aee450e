//! Group commit for work-order creates: concurrent creates share one transaction, so one commit
//! (one WAL flush) instead of one each.
//!
//! A few loops (`LOOPS`) take every create waiting in one queue (up to `MAX_BATCH`), insert them
//! in one transaction on a pooled connection and answer each only once it has committed, as the
//! SQLite writer does. Several loops, so that PostgreSQL works on more than one batch at once
//! (each backend is one process on one core) and the next batch fills while one commits.
//!
//! A create that fails would abort the whole transaction, so when one of the batch fails before
//! the commit, the batch is rolled back and every create is run again alone: each gets its own
//! answer and a bad one cannot fail its neighbours. (Failures are rare: the API checks what it
//! sends.) A failed COMMIT is answered to every create of the batch, like a failed commit of a
//! single create.
//!
//! Creates with an idempotency key are not batched: their claim of the key waits for a
//! concurrent claim of the same key, which must not hold up unrelated creates.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use fieldproof_store::{AuditEvent, StoreError, StoreResult, WorkOrderRow};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::error::backend;
use crate::pool::Pool;
use crate::work_orders;

/// Most creates in one transaction.
const MAX_BATCH: usize = 64;
/// Batches in flight at once, each on its own connection.
const LOOPS: usize = 3;

struct Job {
    work_order: WorkOrderRow,
    event: Option<AuditEvent>,
    reply: oneshot::Sender<StoreResult<WorkOrderRow>>,
}

/// The queue of creates; its loops end when it is dropped.
pub(crate) struct Creates {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Creates {
    /// Starts the loops on the current runtime.
    pub fn start(pool: Arc<Pool>) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..LOOPS {
            tokio::spawn(run(pool.clone(), queue.clone()));
        }
        Self { jobs }
    }

    /// Inserts the work order and its event, and returns once their transaction has committed.
    pub async fn create(
        &self,
        work_order: WorkOrderRow,
        event: Option<AuditEvent>,
    ) -> StoreResult<WorkOrderRow> {
        let stopped = || StoreError::Backend("the PostgreSQL create queue has stopped".into());
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                work_order,
                event,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(pool: Arc<Pool>, queue: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut queue = queue.lock().await;
            match queue.recv().await {
                Some(job) => batch.push(job),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        if batch.len() > 1 {
            match together(&pool, &batch).await {
                Ok(commit) => {
                    for job in batch {
                        let _ = job.reply.send(commit.clone().map(|_| job.work_order));
                    }
                    continue;
                }
                Err(e) => tracing::debug!(error = %e, "a batched create failed; each runs alone"),
            }
        }
        for job in batch {
            let result = alone(&pool, &job).await;
            // The caller may have gone (client disconnected); the create stands anyway.
            let _ = job.reply.send(result.map(|_| job.work_order));
        }
    }
}

/// Inserts the batch in one transaction. `Err` when an insert failed (nothing was written);
/// `Ok` with the commit's outcome otherwise.
///
/// The inserts are pipelined: all are sent before the first answer is awaited, so the batch
/// costs PostgreSQL's process and ours one wake-up each instead of one per create.
async fn together(pool: &Pool, batch: &[Job]) -> StoreResult<StoreResult<()>> {
    let mut conn = pool.get().await?;
    let conn = &mut *conn;
    let tx = conn.client.transaction().await.map_err(backend)?;
    let inserts: Vec<work_orders::Insert> = batch
        .iter()
        .map(|job| work_orders::Insert::new(&job.work_order, job.event.as_ref()))
        .collect();
    let mut statements = Vec::with_capacity(inserts.len());
    for insert in &inserts {
        // Prepared once per connection; later batches find them in the cache.
        statements.push(
            conn.statements
                .get(&tx, &insert.sql())
                .await
                .map_err(backend)?,
        );
    }
    let params: Vec<_> = inserts.iter().map(|i| i.params()).collect();
    let sent = statements
        .iter()
        .zip(&params)
        .map(|(statement, params)| tx.execute(statement, params));
    for result in join_all(sent.collect()).await {
        // On `Err`, dropping `tx` queues the rollback.
        result.map_err(backend)?;
    }
    Ok(tx.commit().await.map_err(backend))
}

/// Polls every future until all are done, and returns their outputs in order: what lets
/// `tokio-postgres` send the requests of several futures before any answer comes back.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future is ready"))
        .collect()
}

/// Inserts one create: one statement, its own transaction.
async fn alone(pool: &Pool, job: &Job) -> StoreResult<()> {
    let mut conn = pool.get().await?;
    let mut db = conn.db();
    work_orders::insert(&mut db, &job.work_order, job.event.as_ref()).await
}
