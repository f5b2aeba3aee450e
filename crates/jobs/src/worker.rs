//! The run loop: claim while there is room and work, hand each job to its attempt task, stop
//! claiming on shutdown and wait for the attempts in flight.
//!
//! Back-pressure is a semaphore of `concurrency` permits: the loop claims only with a permit in
//! hand, and an attempt gives its permit back when its outcome is recorded. So a worker never
//! holds a lease on a job it has no room to run, and the other workers get it instead.
//!
//! A claim already sent is never cancelled by shutdown: the store may have committed it, and a
//! dropped answer would leave the job leased to nobody until the lease expires. Shutdown is
//! looked at only between claims.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use fieldproof_store::{Job, Store};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::attempt::{self, Outcome};
use crate::config::WorkerConfig;
use crate::handler::{boxed, Handler, JobError};
use crate::{micros, now_micros};

/// What a worker did during one [`Worker::run`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Jobs claimed.
    pub claimed: u64,
    /// Jobs whose handler succeeded and whose completion the store recorded.
    pub completed: u64,
    /// Failed attempts put back in the queue for later.
    pub retried: u64,
    /// Jobs dead-lettered by this worker (attempts exhausted, or a fatal error).
    pub dead: u64,
    /// Jobs whose lease was taken over while this worker had them: their handler was stopped,
    /// or their outcome refused.
    pub lost: u64,
    /// Outcomes the store could not record (it failed); the lease will expire and the job run
    /// again.
    pub unrecorded: u64,
}

impl RunReport {
    fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Completed => self.completed += 1,
            Outcome::Retried => self.retried += 1,
            Outcome::Dead => self.dead += 1,
            Outcome::Lost => self.lost += 1,
            Outcome::Unrecorded => self.unrecorded += 1,
        }
    }
}

/// What the attempt tasks share with the loop.
pub(crate) struct Shared {
    pub store: Arc<dyn Store>,
    pub config: WorkerConfig,
    pub handlers: HashMap<String, Handler>,
}

/// A worker: handlers by job kind, run by [`run`](Worker::run).
pub struct Worker {
    id: String,
    shared: Shared,
}

/// A worker id unique to this process run: `prefix`, the process id and a random suffix. Ids
/// must not repeat across restarts, or a restarted worker could be taken for its former self.
pub fn unique_worker_id(prefix: &str) -> String {
    let random = getrandom::u32().unwrap_or_else(|_| crate::now_micros() as u32);
    format!("{prefix}-{}-{random:08x}", std::process::id())
}

impl Worker {
    /// A worker named `worker_id` (unique among the workers sharing the store: see
    /// [`unique_worker_id`]), with no handler yet.
    pub fn new(store: Arc<dyn Store>, worker_id: impl Into<String>, config: WorkerConfig) -> Self {
        Self {
            id: worker_id.into(),
            shared: Shared {
                store,
                config,
                handlers: HashMap::new(),
            },
        }
    }

    /// Runs `handler` for the jobs of `kind` (replacing an earlier handler of that kind). A
    /// worker claims only the kinds it has handlers for.
    pub fn handle<F, Fut>(mut self, kind: impl Into<String>, handler: F) -> Self
    where
        F: Fn(Job) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        self.shared.handlers.insert(kind.into(), boxed(handler));
        self
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The kinds this worker claims, sorted.
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.shared.handlers.keys().cloned().collect();
        kinds.sort();
        kinds
    }

    /// Claims and runs jobs until `shutdown` completes, then stops claiming, lets the handlers
    /// in flight finish (their leases kept alive meanwhile) and returns what it did.
    ///
    /// Dropping the returned future instead (aborting its task) is a crash: handlers are
    /// stopped where they are, nothing more is recorded, and the jobs go to other workers when
    /// their leases expire.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> RunReport {
        let kinds = self.kinds();
        let shared = Arc::new(self.shared);
        let config = &shared.config;
        let lease = micros(config.lease).max(1);
        let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
        let mut attempts = JoinSet::new();
        let mut report = RunReport::default();
        let mut claims = 0u64;
        tokio::pin!(shutdown);
        tracing::info!(worker = %self.id, ?kinds, "worker started");
        loop {
            while let Some(joined) = attempts.try_join_next() {
                report.add(joined.unwrap_or(Outcome::Unrecorded));
            }
            let permit = tokio::select! {
                biased;
                () = &mut shutdown => break,
                permit = permits.clone().acquire_owned() => {
                    permit.expect("the semaphore is never closed")
                }
            };
            claims += 1;
            // One owner string per claim (see `fieldproof_store::jobs`).
            let owner = format!("{}#{claims}", self.id);
            let claimed = shared
                .store
                .claim_job(&owner, &kinds, now_micros(), lease)
                .await;
            match claimed {
                Ok(Some(job)) => {
                    report.claimed += 1;
                    attempts.spawn(attempt::run(shared.clone(), job, owner, permit));
                    continue; // a burst is drained without waiting
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(worker = %self.id, error = %e, "cannot claim jobs"),
            }
            drop(permit);
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep(config.poll_interval) => {}
            }
        }
        tracing::info!(worker = %self.id, running = attempts.len(), "worker stopping");
        while let Some(joined) = attempts.join_next().await {
            report.add(joined.unwrap_or(Outcome::Unrecorded));
        }
        tracing::info!(worker = %self.id, ?report, "worker stopped");
        report
    }
}
