//! The audit trail: events appended one statement each, listed newest first.

use fieldproof_store::{AuditEvent, AuditFilter, StoreResult};
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

use crate::error::{backend, conflict_or_backend, corrupt};
use crate::pool::Db;

const COLUMNS: &str = "id, site_id, actor, action, object_type, object_id, details, create_date";

fn from_row(r: &Row) -> StoreResult<AuditEvent> {
    let bad = |e| corrupt("audit event", e);
    Ok(AuditEvent {
        id: r.try_get(0).map_err(bad)?,
        site_id: r.try_get(1).map_err(bad)?,
        actor: r.try_get(2).map_err(bad)?,
        action: r.try_get(3).map_err(bad)?,
        object_type: r.try_get(4).map_err(bad)?,
        object_id: r.try_get(5).map_err(bad)?,
        details: r.try_get::<_, Json<_>>(6).map_err(bad)?.0,
        create_date: r.try_get(7).map_err(bad)?,
    })
}

/// `INSERT INTO audit_events` with the event's eight values as parameters `$first` onwards.
pub(crate) fn insert_sql(first: usize) -> String {
    let values: Vec<String> = (first..first + 8).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO audit_events ({COLUMNS}) VALUES ({})",
        values.join(", ")
    )
}

/// The parameters of [`insert_sql`], in order; `details` is `Json(&e.details)`, made by the
/// caller so that it outlives the statement.
pub(crate) fn params<'a>(
    e: &'a AuditEvent,
    details: &'a Json<&'a serde_json::Value>,
) -> [&'a (dyn ToSql + Sync); 8] {
    [
        &e.id,
        &e.site_id,
        &e.actor,
        &e.action,
        &e.object_type,
        &e.object_id,
        details,
        &e.create_date,
    ]
}

pub async fn insert(db: &mut Db<'_, impl GenericClient + Sync>, e: &AuditEvent) -> StoreResult<()> {
    let details = Json(&e.details);
    db.execute(&insert_sql(1), &params(e, &details))
        .await
        .map_err(|err| {
            conflict_or_backend(err, || format!("audit event {} already exists", e.id))
        })?;
    Ok(())
}

/// Inserts the event of a change in the change's own transaction: any failure is the engine's
/// (the caller made the id and named its own site), so it is `Backend`, never a `Conflict` or a
/// `NotFound` that the API would answer as the client's fault.
pub async fn insert_with_change(
    db: &mut Db<'_, impl GenericClient + Sync>,
    e: &AuditEvent,
) -> StoreResult<()> {
    let details = Json(&e.details);
    db.execute(&insert_sql(1), &params(e, &details))
        .await
        .map_err(backend)?;
    Ok(())
}

/// Count and page, read in the caller's transaction (one snapshot, so the count agrees with the
/// page).
pub async fn list(
    db: &mut Db<'_, Transaction<'_>>,
    site_id: Uuid,
    f: &AuditFilter,
    offset: u64,
    limit: u64,
) -> StoreResult<(u64, Vec<AuditEvent>)> {
    let texts = [f.object_id.as_deref(), f.action.as_deref()];
    if texts.into_iter().flatten().any(crate::unstorable) {
        return Ok((0, Vec::new()));
    }
    let mut clauses = vec!["site_id = $1".to_string()];
    let mut params: Vec<Box<dyn ToSql + Sync + Send>> = vec![Box::new(site_id)];
    let mut push = |column: &str, op: &str, param: Box<dyn ToSql + Sync + Send>| {
        params.push(param);
        clauses.push(format!("{column} {op} ${}", params.len()));
    };
    if let Some(o) = &f.object_id {
        push("object_id", "=", Box::new(o.clone()));
    }
    if let Some(a) = &f.action {
        push("action", "=", Box::new(a.clone()));
    }
    if let Some(t) = f.after {
        push("create_date", ">", Box::new(t));
    }
    if let Some(t) = f.before {
        push("create_date", "<", Box::new(t));
    }
    let filter = clauses.join(" AND ");
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    let count: i64 = db
        .query_one(
            &format!("SELECT COUNT(*) FROM audit_events WHERE {filter}"),
            &refs,
        )
        .await
        .map_err(backend)?
        .try_get(0)
        .map_err(|e| corrupt("count", e))?;
    if count == 0 {
        return Ok((0, Vec::new()));
    }
    let n = params.len();
    params.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
    params.push(Box::new(i64::try_from(offset).unwrap_or(i64::MAX)));
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM audit_events WHERE {filter}
                 ORDER BY create_date DESC, id DESC LIMIT ${} OFFSET ${}",
                n + 1,
                n + 2
            ),
            &refs,
        )
        .await
        .map_err(backend)?;
    let page = rows.iter().map(from_row).collect::<StoreResult<_>>()?;
    Ok((count as u64, page))
}
