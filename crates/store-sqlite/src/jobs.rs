//! The durable job queue on SQLite (the rules are in `fieldproof_store::jobs`).
//!
//! Every write here runs on the one writer thread (`writer`), so claims are serialised by
//! construction: no two claims can see the same due job, and no row locking is needed. What
//! costs is the writer's time, so an idle worker's poll first asks a reader whether anything is
//! due ([`any_due`]) and only then queues a claim on the writer: polling workers do not slow the
//! requests' writes down, nor add a commit each.
//!
//! Kinds are passed as one JSON array bound to `json_each`, so the claim is one cached statement
//! whatever the number of kinds (a `kind IN (?, ?, ...)` list would need one per count).

use fieldproof_store::*;
use rusqlite::{Connection, OptionalExtension, Row};
use uuid::Uuid;

use crate::{backend, conflict_or_backend, parse_json, parse_uuid};

const COLUMNS: &str = "id, site_id, kind, payload, state, attempts, max_attempts, run_after, \
    lease_owner, lease_until, last_error, create_date, update_date";

/// What a claim takes first: a running job whose lease expired, oldest lease first. `?1` is now,
/// `?2` the kinds as JSON.
const EXPIRED: &str = "SELECT id FROM jobs
    WHERE state = 'running' AND lease_until <= ?1 AND kind IN (SELECT value FROM json_each(?2))
    ORDER BY lease_until, id LIMIT 1";

/// Then: the queued job due first.
const QUEUED: &str = "SELECT id FROM jobs
    WHERE state = 'queued' AND run_after <= ?1 AND kind IN (SELECT value FROM json_each(?2))
    ORDER BY run_after, create_date, id LIMIT 1";

fn from_row(r: &Row) -> rusqlite::Result<Job> {
    let state: String = r.get(4)?;
    Ok(Job {
        id: parse_uuid(&r.get::<_, String>(0)?)?,
        site_id: r
            .get::<_, Option<String>>(1)?
            .map(|s| parse_uuid(&s))
            .transpose()?,
        kind: r.get(2)?,
        payload: parse_json(&r.get::<_, String>(3)?)?,
        state: state.parse().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
        })?,
        attempts: r.get(5)?,
        max_attempts: r.get(6)?,
        run_after: r.get(7)?,
        lease_owner: r.get(8)?,
        lease_until: r.get(9)?,
        last_error: r.get(10)?,
        create_date: r.get(11)?,
        update_date: r.get(12)?,
    })
}

/// The `last_error` of a job dead-lettered because its last attempt never answered: the same
/// words on both engines (`||` concatenates text in both).
pub(crate) const LEASE_LOST: &str = "'attempt ' || attempts || ' of ' || max_attempts || \
    ' ended without an answer: its worker stopped or lost the lease'";

fn kinds_json(kinds: &[String]) -> String {
    serde_json::to_string(kinds).expect("strings serialise")
}

/// Inserts `job`. With `or_ignore`, an id already there is left alone (idempotent enqueue);
/// without, it is a `Conflict` (inside `queue_analysis`, where it must undo the input too).
pub fn insert(c: &Connection, job: &NewJob, or_ignore: bool) -> StoreResult<()> {
    let sql = format!(
        "INSERT INTO jobs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5, ?6, NULL, NULL, \
         NULL, ?7, ?7) {}",
        if or_ignore {
            "ON CONFLICT (id) DO NOTHING"
        } else {
            ""
        }
    );
    c.prepare_cached(&sql)
        .map_err(backend)?
        .execute(rusqlite::params![
            job.id.to_string(),
            job.site_id.map(|s| s.to_string()),
            job.kind,
            serde_json::to_string(&job.payload).expect("JSON values serialise"),
            job.max_attempts.max(1),
            job.run_after,
            job.create_date,
        ])
        .map_err(|e| conflict_or_backend(e, || format!("a job with id {} exists", job.id)))?;
    Ok(())
}

pub fn enqueue(c: &Connection, job: &NewJob) -> StoreResult<Job> {
    insert(c, job, true)?;
    get(c, None, job.id)?.ok_or_else(|| StoreError::Backend("an enqueued job vanished".into()))
}

/// Whether a claim of `kinds` at `now` would find a job. Read-only: for the reader pool.
pub fn any_due(c: &Connection, kinds: &[String], now: i64) -> StoreResult<bool> {
    c.prepare_cached(&format!("SELECT EXISTS ({EXPIRED}) OR EXISTS ({QUEUED})"))
        .map_err(backend)?
        .query_row((now, kinds_json(kinds)), |r| r.get(0))
        .map_err(backend)
}

fn first(c: &Connection, sql: &str, now: i64, kinds: &str) -> StoreResult<Option<String>> {
    c.prepare_cached(sql)
        .map_err(backend)?
        .query_row((now, kinds), |r| r.get(0))
        .optional()
        .map_err(backend)
}

pub fn claim(
    c: &Connection,
    worker: &str,
    kinds: &[String],
    now: i64,
    lease_micros: i64,
) -> StoreResult<Option<Job>> {
    let kinds = kinds_json(kinds);
    // A job whose worker vanished during its last allowed attempt goes to the dead letters
    // rather than to one more worker.
    c.prepare_cached(&format!(
        "UPDATE jobs SET state = 'dead', lease_until = NULL, update_date = ?1,
            last_error = {LEASE_LOST}
         WHERE state = 'running' AND lease_until <= ?1 AND attempts >= max_attempts
            AND kind IN (SELECT value FROM json_each(?2))"
    ))
    .map_err(backend)?
    .execute((now, &kinds))
    .map_err(backend)?;
    let id = match first(c, EXPIRED, now, &kinds)? {
        Some(id) => Some(id),
        None => first(c, QUEUED, now, &kinds)?,
    };
    let Some(id) = id else { return Ok(None) };
    c.prepare_cached(&format!(
        "UPDATE jobs SET state = 'running', lease_owner = ?2, lease_until = ?3,
            attempts = attempts + 1, update_date = ?4
         WHERE id = ?1 RETURNING {COLUMNS}"
    ))
    .map_err(backend)?
    .query_row(
        (id, worker, now.saturating_add(lease_micros), now),
        from_row,
    )
    .map(Some)
    .map_err(backend)
}

pub fn heartbeat(
    c: &Connection,
    id: Uuid,
    worker: &str,
    now: i64,
    lease_micros: i64,
) -> StoreResult<bool> {
    let n = c
        .prepare_cached(
            "UPDATE jobs SET lease_until = ?3, update_date = ?4
             WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
        )
        .map_err(backend)?
        .execute((
            id.to_string(),
            worker,
            now.saturating_add(lease_micros),
            now,
        ))
        .map_err(backend)?;
    Ok(n == 1)
}

pub fn complete(c: &Connection, id: Uuid, worker: &str, now: i64) -> StoreResult<bool> {
    let n = c
        .prepare_cached(
            "UPDATE jobs SET state = 'done', lease_until = NULL, update_date = ?3
             WHERE id = ?1 AND state = 'running' AND lease_owner = ?2",
        )
        .map_err(backend)?
        .execute((id.to_string(), worker, now))
        .map_err(backend)?;
    Ok(n == 1)
}

pub fn fail(
    c: &Connection,
    id: Uuid,
    worker: &str,
    error: &str,
    now: i64,
    retry_at: Option<i64>,
) -> StoreResult<Option<Job>> {
    c.prepare_cached(&format!(
        "UPDATE jobs SET
            state = CASE WHEN ?5 IS NULL OR attempts >= max_attempts THEN 'dead' ELSE 'queued' END,
            run_after = CASE WHEN ?5 IS NULL OR attempts >= max_attempts THEN run_after ELSE ?5 END,
            lease_until = NULL, last_error = ?3, update_date = ?4
         WHERE id = ?1 AND state = 'running' AND lease_owner = ?2
         RETURNING {COLUMNS}"
    ))
    .map_err(backend)?
    .query_row((id.to_string(), worker, error, now, retry_at), from_row)
    .optional()
    .map_err(backend)
}

pub fn get(c: &Connection, site_id: Option<Uuid>, id: Uuid) -> StoreResult<Option<Job>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE id = ?1 AND (?2 IS NULL OR site_id = ?2)"
    ))
    .map_err(backend)?
    .query_row((id.to_string(), site_id.map(|s| s.to_string())), from_row)
    .optional()
    .map_err(backend)
}

pub fn list(c: &Connection, state: Option<JobState>, limit: u64) -> StoreResult<Vec<Job>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM jobs WHERE (?1 IS NULL OR state = ?1)
             ORDER BY create_date DESC, id DESC LIMIT ?2"
        ))
        .map_err(backend)?;
    let rows = stmt
        .query_map(
            (
                state.map(JobState::as_str),
                limit.min(i64::MAX as u64) as i64,
            ),
            from_row,
        )
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub fn requeue_dead(c: &Connection, id: Uuid, now: i64) -> StoreResult<Option<Job>> {
    c.prepare_cached(&format!(
        "UPDATE jobs SET state = 'queued', attempts = 0, run_after = ?2, lease_until = NULL,
            update_date = ?2
         WHERE id = ?1 AND state = 'dead' RETURNING {COLUMNS}"
    ))
    .map_err(backend)?
    .query_row((id.to_string(), now), from_row)
    .optional()
    .map_err(backend)
}
