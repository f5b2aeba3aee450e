//! One attempt at one job: the handler runs in a task of its own while this one extends the
//! lease every third of it; then the outcome is recorded.
//!
//! The handler gets its own task for two reasons: a panic in it becomes a failed attempt (and a
//! retry) instead of taking the attempt's bookkeeping down, and it can be stopped from outside:
//! when a heartbeat finds the lease taken over (another worker runs the job now), and when the
//! attempt itself is dropped (its worker was aborted), through [`AbortOnDrop`].

use std::sync::Arc;
use std::time::Duration;

use fieldproof_store::{Job, JobState, StoreResult};
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::backoff::{backoff, random_unit};
use crate::handler::JobError;
use crate::worker::Shared;
use crate::{micros, now_micros};

/// Longest error message stored with a job: enough to diagnose, not a log file.
const MAX_ERROR: usize = 2_000;

/// Tries at recording an outcome before giving up on it (the lease then expires and the job
/// runs again): a store that blinked should not cost a whole re-run.
const RECORD_TRIES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Completed,
    Retried,
    Dead,
    Lost,
    Unrecorded,
}

/// Aborts the task when dropped.
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    job: Job,
    owner: String,
    permit: OwnedSemaphorePermit,
) -> Outcome {
    let span = tracing::info_span!(
        "job",
        id = %job.id,
        kind = %job.kind,
        attempt = job.attempts,
        max_attempts = job.max_attempts,
        owner = %owner,
    );
    let outcome = attempt(&shared, job, &owner).instrument(span).await;
    drop(permit);
    outcome
}

async fn attempt(shared: &Shared, job: Job, owner: &str) -> Outcome {
    let Some(handler) = shared.handlers.get(&job.kind).cloned() else {
        // Cannot happen: only kinds with handlers are claimed. Left to the lease if it does.
        tracing::error!("no handler for a claimed job");
        return Outcome::Unrecorded;
    };
    let lease = shared.config.lease;
    let every = (lease / 3).max(Duration::from_millis(1));
    let mut work = AbortOnDrop(tokio::spawn(handler(job.clone())));
    let mut beats = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let started = std::time::Instant::now();
    let result = loop {
        tokio::select! {
            joined = &mut work.0 => break match joined {
                Ok(result) => result,
                Err(e) if e.is_panic() => Err(JobError::Retry(format!(
                    "the handler panicked: {}",
                    panic_message(e.into_panic())
                ))),
                Err(e) => Err(JobError::Retry(format!("the handler task ended: {e}"))),
            },
            _ = beats.tick() => {
                let beat = shared
                    .store
                    .heartbeat_job(job.id, owner, now_micros(), micros(lease))
                    .await;
                match beat {
                    Ok(true) => {}
                    Ok(false) => {
                        // Another worker holds the job now: stop, its attempt is the one
                        // that counts. Dropping `work` aborts the handler.
                        tracing::warn!("lease lost while the handler ran; stopping it");
                        return Outcome::Lost;
                    }
                    // The next beat may get through, before the lease runs out.
                    Err(e) => tracing::warn!(error = %e, "cannot extend the lease"),
                }
            }
        }
    };
    let took_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok(()) => {
            let done = record(|| shared.store.complete_job(job.id, owner, now_micros())).await;
            match done {
                Some(true) => {
                    tracing::info!(took_ms, "job done");
                    Outcome::Completed
                }
                Some(false) => {
                    tracing::warn!(took_ms, "job done, but its lease was taken over meanwhile");
                    Outcome::Lost
                }
                None => Outcome::Unrecorded,
            }
        }
        Err(error) => {
            let now = now_micros();
            let retry_at = match &error {
                JobError::Retry(_) => {
                    let config = &shared.config;
                    let delay = backoff(
                        job.attempts,
                        config.backoff_base,
                        config.backoff_max,
                        random_unit(),
                    );
                    Some(now.saturating_add(micros(delay)))
                }
                JobError::Fatal(_) => None,
            };
            let message = truncate(&error.to_string());
            let failed = record(|| {
                shared
                    .store
                    .fail_job(job.id, owner, &message, now_micros(), retry_at)
            })
            .await;
            match failed {
                Some(Some(stored)) if stored.state == JobState::Dead => {
                    tracing::warn!(took_ms, error = %message, "job failed; dead-lettered");
                    Outcome::Dead
                }
                Some(Some(stored)) => {
                    tracing::info!(took_ms, error = %message, retry_at = stored.run_after,
                        "job failed; will retry");
                    Outcome::Retried
                }
                Some(None) => {
                    tracing::warn!(took_ms, error = %message,
                        "job failed, but its lease was taken over meanwhile");
                    Outcome::Lost
                }
                None => Outcome::Unrecorded,
            }
        }
    }
}

/// Runs a store write up to [`RECORD_TRIES`] times; `None` when every try failed.
async fn record<T, F, Fut>(write: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    for n in 1..=RECORD_TRIES {
        match write().await {
            Ok(v) => return Some(v),
            Err(e) => {
                tracing::warn!(error = %e, try_ = n, "cannot record the job's outcome");
                if n < RECORD_TRIES {
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(n))).await;
                }
            }
        }
    }
    tracing::error!("the job's outcome is lost; it will run again after its lease");
    None
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

/// `s` cut to at most [`MAX_ERROR`] bytes, on a character boundary.
fn truncate(s: &str) -> String {
    if s.len() <= MAX_ERROR {
        return s.to_string();
    }
    let mut end = MAX_ERROR;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(3_000);
        let cut = truncate(&long);
        assert!(cut.len() <= super::MAX_ERROR + "…".len());
        assert!(cut.ends_with('…'));
    }
}
