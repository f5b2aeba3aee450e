//! The durable job queue on PostgreSQL (the rules are in `fieldproof_store::jobs`), shared by
//! any number of worker processes on any number of machines.
//!
//! A claim is one statement: it dead-letters the jobs whose last allowed attempt never answered,
//! picks an expired lease or else the queued job due first with `FOR UPDATE SKIP LOCKED`, and
//! takes it. `SKIP LOCKED` is what lets claims run side by side: a claim passes over the row
//! another claim is taking instead of queueing behind its lock, and, under READ COMMITTED, a row
//! that another claim took and committed meanwhile is re-checked against the conditions before
//! it is locked, so it no longer qualifies. Two claims therefore never return the same job.
//!
//! Rejected: an advisory lock per job (`pg_try_advisory_lock`) needs a session that outlives the
//! claim, which a pooled connection does not give; `LISTEN/NOTIFY` to wake idle workers is an
//! optimisation the poll interval makes unnecessary for now.
//!
//! Every other write is one conditional `UPDATE`: the condition (`state = 'running' AND
//! lease_owner = $worker`) is what makes a taken-over worker's heartbeat or completion a no-op.

use fieldproof_store::*;
use tokio_postgres::types::Json;
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::error::{backend, conflict_or_backend, corrupt};
use crate::pool::Db;
use crate::unstorable;

const COLUMNS: &str = "id, site_id, kind, payload, state, attempts, max_attempts, run_after, \
    lease_owner, lease_until, last_error, create_date, update_date";

/// [`COLUMNS`] of `jobs` where another table is in scope.
const JOB_COLUMNS: &str = "jobs.id, jobs.site_id, jobs.kind, jobs.payload, jobs.state, \
    jobs.attempts, jobs.max_attempts, jobs.run_after, jobs.lease_owner, jobs.lease_until, \
    jobs.last_error, jobs.create_date, jobs.update_date";

/// The `last_error` of a job dead-lettered because its last attempt never answered: the same
/// words as the SQLite engine's.
const LEASE_LOST: &str = "'attempt ' || attempts || ' of ' || max_attempts || \
    ' ended without an answer: its worker stopped or lost the lease'";

fn from_row(r: &Row) -> StoreResult<Job> {
    let bad = |e| corrupt("job", e);
    let state: String = r.try_get(4).map_err(bad)?;
    Ok(Job {
        id: r.try_get(0).map_err(bad)?,
        site_id: r.try_get(1).map_err(bad)?,
        kind: r.try_get(2).map_err(bad)?,
        payload: r.try_get::<_, Json<_>>(3).map_err(bad)?.0,
        state: state.parse().map_err(|e| corrupt("job", e))?,
        attempts: r.try_get::<_, i32>(5).map_err(bad)?.max(0) as u32,
        max_attempts: r.try_get::<_, i32>(6).map_err(bad)?.max(0) as u32,
        run_after: r.try_get(7).map_err(bad)?,
        lease_owner: r.try_get(8).map_err(bad)?,
        lease_until: r.try_get(9).map_err(bad)?,
        last_error: r.try_get(10).map_err(bad)?,
        create_date: r.try_get(11).map_err(bad)?,
        update_date: r.try_get(12).map_err(bad)?,
    })
}

/// Inserts `job`. With `or_ignore`, an id already there is left alone (idempotent enqueue);
/// without, it is a `Conflict` (inside `queue_analysis`, where it must undo the input too).
pub async fn insert(
    db: &mut Db<'_, impl GenericClient + Sync>,
    job: &NewJob,
    or_ignore: bool,
) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO jobs ({COLUMNS}) VALUES ($1, $2, $3, $4, 'queued', 0, $5, $6, NULL, NULL, \
         NULL, $7, $7) {}",
        if or_ignore {
            "ON CONFLICT (id) DO NOTHING"
        } else {
            ""
        }
    );
    let max_attempts = job.max_attempts.clamp(1, i32::MAX as u32) as i32;
    db.execute(
        &sql,
        &[
            &job.id,
            &job.site_id,
            &job.kind,
            &Json(&job.payload),
            &max_attempts,
            &job.run_after,
            &job.create_date,
        ],
    )
    .await
    .map_err(|e| conflict_or_backend(e, || format!("a job with id {} exists", job.id)))?;
    Ok(())
}

pub async fn claim(
    db: &mut Db<'_, impl GenericClient + Sync>,
    worker: &str,
    kinds: &[String],
    now: i64,
    lease_micros: i64,
) -> StoreResult<Option<Job>> {
    // A kind holding NUL cannot be stored, so no job has it; a worker name holding NUL cannot
    // hold a lease.
    let kinds: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|k| !unstorable(k))
        .collect();
    if kinds.is_empty() || unstorable(worker) {
        return Ok(None);
    }
    // The CTEs that only read are run on demand: `queued` is not scanned when `taken` found an
    // expired lease. The dead-lettering one always runs, through the lease index.
    let sql = format!(
        "WITH expired AS (
            UPDATE jobs SET state = 'dead', lease_until = NULL, update_date = $1,
                last_error = {LEASE_LOST}
            WHERE state = 'running' AND lease_until <= $1 AND attempts >= max_attempts
                AND kind = ANY($2)
            RETURNING id
        ), taken AS (
            SELECT id FROM jobs
            WHERE state = 'running' AND lease_until <= $1 AND attempts < max_attempts
                AND kind = ANY($2)
            ORDER BY lease_until, id LIMIT 1 FOR UPDATE SKIP LOCKED
        ), queued AS (
            SELECT id FROM jobs
            WHERE state = 'queued' AND run_after <= $1 AND kind = ANY($2)
            ORDER BY run_after, create_date, id LIMIT 1 FOR UPDATE SKIP LOCKED
        ), next AS (
            SELECT id FROM taken UNION ALL SELECT id FROM queued LIMIT 1
        )
        UPDATE jobs SET state = 'running', lease_owner = $3, lease_until = $4,
            attempts = jobs.attempts + 1, update_date = $1
        FROM next WHERE jobs.id = next.id
        RETURNING {JOB_COLUMNS}"
    );
    let row = db
        .query_opt(
            &sql,
            &[&now, &kinds, &worker, &now.saturating_add(lease_micros)],
        )
        .await
        .map_err(backend)?;
    row.as_ref().map(from_row).transpose()
}

pub async fn heartbeat(
    db: &mut Db<'_, impl GenericClient + Sync>,
    id: Uuid,
    worker: &str,
    now: i64,
    lease_micros: i64,
) -> StoreResult<bool> {
    if unstorable(worker) {
        return Ok(false);
    }
    let n = db
        .execute(
            "UPDATE jobs SET lease_until = $3, update_date = $4
             WHERE id = $1 AND state = 'running' AND lease_owner = $2",
            &[&id, &worker, &now.saturating_add(lease_micros), &now],
        )
        .await
        .map_err(backend)?;
    Ok(n == 1)
}

pub async fn complete(
    db: &mut Db<'_, impl GenericClient + Sync>,
    id: Uuid,
    worker: &str,
    now: i64,
) -> StoreResult<bool> {
    if unstorable(worker) {
        return Ok(false);
    }
    let n = db
        .execute(
            "UPDATE jobs SET state = 'done', lease_until = NULL, update_date = $3
             WHERE id = $1 AND state = 'running' AND lease_owner = $2",
            &[&id, &worker, &now],
        )
        .await
        .map_err(backend)?;
    Ok(n == 1)
}

pub async fn fail(
    db: &mut Db<'_, impl GenericClient + Sync>,
    id: Uuid,
    worker: &str,
    error: &str,
    now: i64,
    retry_at: Option<i64>,
) -> StoreResult<Option<Job>> {
    if unstorable(worker) {
        return Ok(None);
    }
    // PostgreSQL text cannot hold NUL; an error message is for people, so it is replaced.
    let error = error.replace('\0', "\u{FFFD}");
    let row = db
        .query_opt(
            &format!(
                "UPDATE jobs SET
                    state = CASE WHEN $5::bigint IS NULL OR attempts >= max_attempts
                        THEN 'dead' ELSE 'queued' END,
                    run_after = CASE WHEN $5::bigint IS NULL OR attempts >= max_attempts
                        THEN run_after ELSE $5::bigint END,
                    lease_until = NULL, last_error = $3, update_date = $4
                 WHERE id = $1 AND state = 'running' AND lease_owner = $2
                 RETURNING {COLUMNS}"
            ),
            &[&id, &worker, &error, &now, &retry_at],
        )
        .await
        .map_err(backend)?;
    row.as_ref().map(from_row).transpose()
}

pub async fn get(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Option<Uuid>,
    id: Uuid,
) -> StoreResult<Option<Job>> {
    let row = db
        .query_opt(
            &format!(
                "SELECT {COLUMNS} FROM jobs WHERE id = $1 AND ($2::uuid IS NULL OR site_id = $2)"
            ),
            &[&id, &site_id],
        )
        .await
        .map_err(backend)?;
    row.as_ref().map(from_row).transpose()
}

pub async fn list(
    db: &mut Db<'_, impl GenericClient + Sync>,
    state: Option<JobState>,
    limit: u64,
) -> StoreResult<Vec<Job>> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM jobs WHERE ($1::text IS NULL OR state = $1)
                 ORDER BY create_date DESC, id DESC LIMIT $2"
            ),
            &[
                &state.map(JobState::as_str),
                &(limit.min(i64::MAX as u64) as i64),
            ],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(from_row).collect()
}

pub async fn requeue_dead(
    db: &mut Db<'_, impl GenericClient + Sync>,
    id: Uuid,
    now: i64,
) -> StoreResult<Option<Job>> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $2,
                    lease_until = NULL, update_date = $2
                 WHERE id = $1 AND state = 'dead' RETURNING {COLUMNS}"
            ),
            &[&id, &now],
        )
        .await
        .map_err(backend)?;
    row.as_ref().map(from_row).transpose()
}
