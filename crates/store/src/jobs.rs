//! The durable job queue's rows: work that must not be lost (analyses submitted in bulk, batch
//! processing, exports, outbound notifications), kept in the store so that it commits with the
//! change that needs it and survives any process.
//!
//! A job's life: `queued` (due at `run_after`) → `running` (claimed by one worker, under a lease
//! that the worker extends while it works) → `done`, or back to `queued` with a later
//! `run_after` when an attempt failed, or `dead` once `max_attempts` attempts failed (an operator
//! may requeue it). A worker that stops without a word (crash, lost machine) leaves its job
//! `running` with a lease that expires; the next claim takes it over. So a job runs *at least*
//! once, and its handler must be idempotent; the store guarantees that a worker whose lease was
//! taken over can neither complete nor extend it.
//!
//! Lease owners: the `worker` string of the claim/heartbeat/complete/fail calls identifies one
//! *claim*, not only one process: the runtime (`fieldproof-jobs`) passes `"<worker id>#<n>"`,
//! unique per claim, so that a worker which lost a lease and reclaimed the same job in another
//! slot cannot complete it through the old slot.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;
use uuid::Uuid;

/// Where a job is in its life. Stored as its [`as_str`](JobState::as_str) text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobState {
    /// Waiting for `run_after`, then for a worker.
    Queued,
    /// Claimed; `lease_owner` works on it until `lease_until`.
    Running,
    /// Completed by a handler. Never runs again.
    Done,
    /// Failed `max_attempts` times, or failed in a way retrying cannot fix. Waits for an
    /// operator (`requeue_dead_job`).
    Dead,
}

impl JobState {
    pub const ALL: [JobState; 4] = [
        JobState::Queued,
        JobState::Running,
        JobState::Done,
        JobState::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Dead => "dead",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job state name that is not one of `queued`, `running`, `done`, `dead`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a job state; use one of queued, running, done, dead")]
pub struct UnknownJobState(pub String);

impl FromStr for JobState {
    type Err = UnknownJobState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownJobState(s.to_string()))
    }
}

/// A job to enqueue. The id is the caller's, so that a retried request can enqueue "the same"
/// job again without doubling it (derive it, e.g. as a UUID v5 of what the job is for).
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub id: Uuid,
    /// The site the job works for; `None` for work of the whole installation.
    pub site_id: Option<Uuid>,
    /// Which handler runs it (`analyze_input`, `export`, `webhook`, ...).
    pub kind: String,
    /// What the handler needs, as small as possible: ids, not copies of rows.
    pub payload: Value,
    /// Attempts before the job is dead-lettered; at least 1.
    pub max_attempts: u32,
    /// Not claimed before this time (microseconds); "now" for "as soon as possible".
    pub run_after: i64,
    /// When it was enqueued (microseconds): the order among jobs due at the same time.
    pub create_date: i64,
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: Uuid,
    pub site_id: Option<Uuid>,
    pub kind: String,
    pub payload: Value,
    pub state: JobState,
    /// Claims so far, the current one included.
    pub attempts: u32,
    pub max_attempts: u32,
    pub run_after: i64,
    /// The claim that holds (`running`) or last held the job.
    pub lease_owner: Option<String>,
    /// Until when the owner holds it; set only while `running`.
    pub lease_until: Option<i64>,
    /// What the last failed attempt said.
    pub last_error: Option<String>,
    pub create_date: i64,
    pub update_date: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for state in JobState::ALL {
            assert_eq!(state.as_str().parse::<JobState>(), Ok(state));
        }
        let e = "Done".parse::<JobState>().unwrap_err();
        assert!(e.to_string().contains("queued, running, done, dead"), "{e}");
    }
}
