//! What a handler is and what it may answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use fieldproof_store::Job;

/// Why a handler did not finish its job.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Try again later (after the back-off), while attempts are left: a dependency is down, a
    /// lock was busy, the network failed.
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (the payload is invalid, the input is gone): dead-letter now.
    #[error("{0}")]
    Fatal(String),
}

pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;

/// A registered handler, boxed so that handlers of every kind live in one map.
pub(crate) type Handler = Arc<dyn Fn(Job) -> HandlerFuture + Send + Sync>;

pub(crate) fn boxed<F, Fut>(f: F) -> Handler
where
    F: Fn(Job) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), JobError>> + Send + 'static,
{
    Arc::new(move |job| Box::pin(f(job)))
}
