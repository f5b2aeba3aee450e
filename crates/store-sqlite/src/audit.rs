//! The audit trail: events appended by the writer, listed by the readers.

use fieldproof_store::{AuditEvent, AuditFilter, StoreError, StoreResult};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, Row};
use uuid::Uuid;

use crate::{backend, conflict_or_backend, parse_json, parse_uuid};

const COLUMNS: &str = "id, site_id, actor, action, object_type, object_id, details, create_date";

fn from_row(r: &Row) -> rusqlite::Result<AuditEvent> {
    Ok(AuditEvent {
        id: parse_uuid(&r.get::<_, String>(0)?)?,
        site_id: parse_uuid(&r.get::<_, String>(1)?)?,
        actor: r.get(2)?,
        action: r.get(3)?,
        object_type: r.get(4)?,
        object_id: r.get(5)?,
        details: parse_json(&r.get::<_, String>(6)?)?,
        create_date: r.get(7)?,
    })
}

pub fn insert(c: &Connection, e: &AuditEvent) -> StoreResult<()> {
    c.prepare_cached(&format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))
    .map_err(backend)?
    .execute((
        e.id.to_string(),
        e.site_id.to_string(),
        &e.actor,
        &e.action,
        &e.object_type,
        &e.object_id,
        e.details.to_string(),
        e.create_date,
    ))
    .map_err(|err| conflict_or_backend(err, || format!("audit event {} already exists", e.id)))?;
    Ok(())
}

/// Inserts the event of a change in the change's own job: any failure is the engine's (the
/// caller made the id and named its own site), so it is `Backend`, never a `Conflict` or a
/// `NotFound` that the API would answer as the client's fault.
pub fn insert_with_change(c: &Connection, e: &AuditEvent) -> StoreResult<()> {
    insert(c, e).map_err(|err| match err {
        StoreError::Backend(m) => StoreError::Backend(m),
        other => StoreError::Backend(format!("the change's audit event {}: {other}", e.id)),
    })
}

pub fn list(
    c: &Connection,
    site_id: Uuid,
    f: &AuditFilter,
    offset: u64,
    limit: u64,
) -> StoreResult<(u64, Vec<AuditEvent>)> {
    let mut clauses = vec!["site_id = ?"];
    let mut params = vec![Sql::Text(site_id.to_string())];
    if let Some(o) = &f.object_id {
        clauses.push("object_id = ?");
        params.push(Sql::Text(o.clone()));
    }
    if let Some(a) = &f.action {
        clauses.push("action = ?");
        params.push(Sql::Text(a.clone()));
    }
    if let Some(t) = f.after {
        clauses.push("create_date > ?");
        params.push(Sql::Integer(t));
    }
    if let Some(t) = f.before {
        clauses.push("create_date < ?");
        params.push(Sql::Integer(t));
    }
    let filter = clauses.join(" AND ");
    // One read transaction, so the count agrees with the page while events keep coming.
    let tx = c.unchecked_transaction().map_err(backend)?;
    let count: i64 = tx
        .prepare_cached(&format!("SELECT COUNT(*) FROM audit_events WHERE {filter}"))
        .map_err(backend)?
        .query_row(rusqlite::params_from_iter(params.iter()), |r| r.get(0))
        .map_err(backend)?;
    params.push(Sql::Integer(limit.min(i64::MAX as u64) as i64));
    params.push(Sql::Integer(offset.min(i64::MAX as u64) as i64));
    let rows = tx
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit_events WHERE {filter}
             ORDER BY create_date DESC, id DESC LIMIT ? OFFSET ?"
        ))
        .map_err(backend)?
        .query_map(rusqlite::params_from_iter(params.iter()), from_row)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    Ok((count as u64, rows))
}
