//! The worker runtime of Fieldproof's durable job queue.
//!
//! The queue itself is in the store (`fieldproof_store::jobs`: rows, claims, leases); this crate
//! runs it: a [`Worker`] claims jobs of the kinds it has handlers for, runs up to
//! `concurrency` handlers at once, extends each job's lease while its handler runs, and records
//! the outcome: done, retried later with exponential back-off and jitter, or dead-lettered. Any
//! number of workers, in one process or on several machines sharing one PostgreSQL, can run
//! side by side; the store guarantees that a job is held by one of them at a time.
//!
//! What a handler must accept: a job runs *at least* once. A worker that dies mid-job leaves it
//! to another after its lease; so handlers are idempotent (the store's writes they make are, like
//! `record_analysis`; outbound calls carry the job id as an idempotency key).
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn demo(store: Arc<dyn fieldproof_store::Store>) {
//! use fieldproof_jobs::{unique_worker_id, JobError, Worker, WorkerConfig};
//!
//! let worker = Worker::new(store, unique_worker_id("worker"), WorkerConfig::default())
//!     .handle("export", |job| async move {
//!         let _what = &job.payload;
//!         Err(JobError::Retry("the bucket did not answer".into()))
//!     });
//! let report = worker.run(async { let _ = tokio::signal::ctrl_c().await; }).await;
//! # let _ = report;
//! # }
//! ```
#![forbid(unsafe_code)]

mod attempt;
mod backoff;
mod config;
mod handler;
mod worker;

pub use backoff::backoff;
pub use config::WorkerConfig;
pub use handler::JobError;
pub use worker::{unique_worker_id, RunReport, Worker};

/// Now, in the store's unit: microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

/// A duration in the store's unit, saturating.
pub(crate) fn micros(d: std::time::Duration) -> i64 {
    d.as_micros().min(i64::MAX as u128) as i64
}
