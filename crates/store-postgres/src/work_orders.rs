//! Work orders (create, read, update, delete), their task states and idempotency records. The
//! list query lives in `list`.

use std::collections::HashMap;

use fieldproof_domain::activation::active_tasks;
use fieldproof_domain::app::AppVersion;
use fieldproof_domain::metadata::index_text;
use fieldproof_domain::score::{progress_score, TaskState};
use fieldproof_store::*;
use tokio_postgres::types::{Json, ToSql};
use tokio_postgres::{GenericClient, Row, Transaction};
use uuid::Uuid;

use crate::audit;
use crate::error::{backend, corrupt};
use crate::pool::Db;

pub(crate) const COLUMNS: &str = "id, site_id, app_version_id, name, metadata, tags, parameters, \
    types, field_engineer_user_id, field_engineer_email, field_engineer_name, user_group_ids, \
    progress_score, review_date, create_date, update_date, first_analysis_id, latest_analysis_id";

pub(crate) fn from_row(r: &Row) -> StoreResult<WorkOrderRow> {
    let bad = |e| corrupt("work order", e);
    let engineer_id: Option<Uuid> = r.try_get(8).map_err(bad)?;
    let field_engineer = match engineer_id {
        Some(user_id) => Some(FieldEngineer {
            user_id,
            email: r
                .try_get::<_, Option<String>>(9)
                .map_err(bad)?
                .unwrap_or_default(),
            name: r
                .try_get::<_, Option<String>>(10)
                .map_err(bad)?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(WorkOrderRow {
        id: r.try_get(0).map_err(bad)?,
        site_id: r.try_get(1).map_err(bad)?,
        app_version_id: r.try_get(2).map_err(bad)?,
        name: r.try_get(3).map_err(bad)?,
        metadata: r.try_get::<_, Json<_>>(4).map_err(bad)?.0,
        tags: r.try_get::<_, Json<_>>(5).map_err(bad)?.0,
        parameters: r
            .try_get::<_, Option<Json<_>>>(6)
            .map_err(bad)?
            .map(|j| j.0),
        types: r.try_get::<_, Json<_>>(7).map_err(bad)?.0,
        field_engineer,
        user_group_ids: r.try_get(11).map_err(bad)?,
        progress_score: r.try_get(12).map_err(bad)?,
        review_date: r.try_get(13).map_err(bad)?,
        create_date: r.try_get(14).map_err(bad)?,
        update_date: r.try_get(15).map_err(bad)?,
        first_analysis_id: r.try_get(16).map_err(bad)?,
        latest_analysis_id: r.try_get(17).map_err(bad)?,
    })
}

/// One term of the list-filter index: `[kind, key, value]` as JSON text, with kind `t` for a tag,
/// `y` for a type name and `m` for a metadata value under its key (the kinds of the SQLite
/// engine's `work_order_index`). JSON keeps the three parts apart whatever they contain, and
/// escapes NUL, which PostgreSQL text cannot hold.
pub(crate) fn term(kind: &str, key: &str, value: &str) -> String {
    serde_json::to_string(&(kind, key, value)).expect("strings serialise")
}

/// Every term a work order is found under.
fn terms(wo: &WorkOrderRow) -> Vec<String> {
    let tags = wo.tags.iter().map(|t| term("t", "", t));
    let types = wo.types.iter().map(|t| term("y", "", t));
    let metadata = wo
        .metadata
        .iter()
        .filter_map(|(k, v)| index_text(v).map(|text| term("m", k, &text)));
    tags.chain(types).chain(metadata).collect()
}

/// Inserts the work order and, when given, its audit event, in one statement (so one implicit
/// transaction and one round trip when the caller has no transaction of its own: the event rides
/// in a data-modifying `WITH`).
pub async fn insert(
    db: &mut Db<'_, impl GenericClient + Sync>,
    wo: &WorkOrderRow,
    event: Option<&AuditEvent>,
) -> StoreResult<()> {
    let insert = Insert::new(wo, event);
    db.execute(&insert.sql(), &insert.params())
        .await
        // The event's failures are the engine's too (see `audit::insert_with_change`).
        .map_err(backend)?;
    Ok(())
}

/// The statement of [`insert`] and its parameters, for callers that send several at once
/// (`creates` pipelines a batch's inserts on one connection).
pub(crate) struct Insert<'a> {
    wo: &'a WorkOrderRow,
    event: Option<&'a AuditEvent>,
    engineer_id: Option<Uuid>,
    engineer_email: Option<&'a str>,
    engineer_name: Option<&'a str>,
    metadata: Json<&'a serde_json::Map<String, serde_json::Value>>,
    tags: Json<&'a Vec<String>>,
    types: Json<&'a Vec<String>>,
    parameters: Option<Json<&'a serde_json::Value>>,
    terms: Vec<String>,
    details: Option<Json<&'a serde_json::Value>>,
}

impl<'a> Insert<'a> {
    pub fn new(wo: &'a WorkOrderRow, event: Option<&'a AuditEvent>) -> Self {
        let engineer = wo.field_engineer.as_ref();
        Self {
            wo,
            event,
            engineer_id: engineer.map(|e| e.user_id),
            engineer_email: engineer.map(|e| e.email.as_str()),
            engineer_name: engineer.map(|e| e.name.as_str()),
            metadata: Json(&wo.metadata),
            tags: Json(&wo.tags),
            types: Json(&wo.types),
            parameters: wo.parameters.as_ref().map(Json),
            terms: terms(wo),
            details: event.map(|e| Json(&e.details)),
        }
    }

    pub fn sql(&self) -> String {
        let insert = format!(
            "INSERT INTO work_orders ({COLUMNS}, terms) VALUES
             ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
        );
        match self.event {
            Some(_) => format!("WITH event AS ({}) {insert}", audit::insert_sql(20)),
            None => insert,
        }
    }

    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let wo = self.wo;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &wo.id,
            &wo.site_id,
            &wo.app_version_id,
            &wo.name,
            &self.metadata,
            &self.tags,
            &self.parameters,
            &self.types,
            &self.engineer_id,
            &self.engineer_email,
            &self.engineer_name,
            &wo.user_group_ids,
            &wo.progress_score,
            &wo.review_date,
            &wo.create_date,
            &wo.update_date,
            &wo.first_analysis_id,
            &wo.latest_analysis_id,
            &self.terms,
        ];
        if let (Some(e), Some(details)) = (self.event, &self.details) {
            params.extend(audit::params(e, details));
        }
        params
    }
}

/// Claims the idempotency key for this site; `false` when another request holds it. A claim made
/// by a transaction still running is waited for, so two creates with one key never both win.
pub async fn claim_idempotency_key(
    db: &mut Db<'_, Transaction<'_>>,
    site_id: Uuid,
    record: &IdempotencyRecord,
) -> StoreResult<bool> {
    let inserted = db
        .execute(
            "INSERT INTO idempotency_keys (site_id, key, request_hash, status, body, create_date)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (site_id, key) DO NOTHING",
            &[
                &site_id,
                &record.key,
                &record.request_hash,
                &i32::from(record.status),
                &record.body,
                &record.create_date,
            ],
        )
        .await
        .map_err(backend)?;
    Ok(inserted == 1)
}

pub async fn get(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
    id: Uuid,
) -> StoreResult<Option<WorkOrderRow>> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM work_orders WHERE id = $1 AND site_id = $2"),
            &[&id, &site_id],
        )
        .await
        .map_err(backend)?;
    row.as_ref().map(from_row).transpose()
}

/// The work order, locked until the caller's transaction ends: concurrent writes to one work
/// order (updates, analyses, corrections, reviews) run one after the other, each seeing the one
/// before (`update_date` grows by at least a microsecond each time). `NotFound` when the site has
/// no such work order.
pub async fn lock(
    db: &mut Db<'_, Transaction<'_>>,
    site_id: Uuid,
    id: Uuid,
) -> StoreResult<WorkOrderRow> {
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM work_orders WHERE id = $1 AND site_id = $2 FOR UPDATE"),
            &[&id, &site_id],
        )
        .await
        .map_err(backend)?;
    from_row(&row.ok_or(StoreError::NotFound)?)
}

/// Applies `changes` to the locked work order in the caller's transaction.
pub async fn update(
    db: &mut Db<'_, Transaction<'_>>,
    site_id: Uuid,
    id: Uuid,
    changes: WorkOrderChanges,
    version: &AppVersion,
) -> StoreResult<WorkOrderRow> {
    let mut wo = lock(db, site_id, id).await?;
    if let Some(v) = changes.name {
        wo.name = v;
    }
    if let Some(v) = changes.metadata {
        wo.metadata = v;
    }
    if let Some(v) = changes.tags {
        wo.tags = v;
    }
    if let Some(v) = changes.field_engineer {
        wo.field_engineer = v;
    }
    if let Some(v) = changes.user_group_ids {
        wo.user_group_ids = v;
    }
    if let Some(v) = changes.types {
        wo.types = v;
    }
    wo.update_date = changes.now.max(wo.update_date + 1);
    let states = task_states(db, site_id, id).await?;
    wo.progress_score = progress_score(&active_tasks(version, &wo.types), &states);
    let engineer = wo.field_engineer.as_ref();
    db.execute(
        "UPDATE work_orders SET name = $3, metadata = $4, tags = $5, types = $6,
            field_engineer_user_id = $7, field_engineer_email = $8, field_engineer_name = $9,
            user_group_ids = $10, progress_score = $11, update_date = $12, terms = $13
         WHERE id = $1 AND site_id = $2",
        &[
            &id,
            &site_id,
            &wo.name,
            &Json(&wo.metadata),
            &Json(&wo.tags),
            &Json(&wo.types),
            &engineer.map(|e| e.user_id),
            &engineer.map(|e| e.email.as_str()),
            &engineer.map(|e| e.name.as_str()),
            &wo.user_group_ids,
            &wo.progress_score,
            &wo.update_date,
            &terms(&wo),
        ],
    )
    .await
    .map_err(backend)?;
    Ok(wo)
}

/// Deletes the work order; its task states go with it (`ON DELETE CASCADE`).
/// Deletes the work order and, when given and when there was one to delete, writes its audit
/// event, in one statement (one implicit transaction, one round trip).
pub async fn delete(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
    id: Uuid,
    event: Option<&AuditEvent>,
) -> StoreResult<()> {
    let n = match event {
        None => db
            .execute(
                "DELETE FROM work_orders WHERE id = $1 AND site_id = $2",
                &[&id, &site_id],
            )
            .await
            .map_err(backend)?,
        Some(e) => {
            let details = Json(&e.details);
            let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id, &site_id];
            params.extend(audit::params(e, &details));
            let row = db
                .query_one(
                    "WITH gone AS (DELETE FROM work_orders WHERE id = $1 AND site_id = $2
                                   RETURNING id),
                          event AS (INSERT INTO audit_events
                                    (id, site_id, actor, action, object_type, object_id,
                                     details, create_date)
                                    SELECT $3, $4, $5, $6, $7, $8, $9, $10 FROM gone)
                     SELECT count(*) FROM gone",
                    &params,
                )
                .await
                .map_err(backend)?;
            row.try_get::<_, i64>(0).map_err(backend)? as u64
        }
    };
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

fn state_from_row(r: &Row) -> StoreResult<(Uuid, String, TaskState)> {
    let bad = |e| corrupt("task state", e);
    Ok((
        r.try_get(0).map_err(bad)?,
        r.try_get(1).map_err(bad)?,
        r.try_get::<_, Json<TaskState>>(2).map_err(bad)?.0,
    ))
}

pub async fn task_states(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
    work_order_id: Uuid,
) -> StoreResult<TaskStates> {
    let rows = db
        .query(
            "SELECT s.work_order_id, s.task_name, s.state FROM task_states s
             JOIN work_orders w ON w.id = s.work_order_id
             WHERE s.work_order_id = $1 AND w.site_id = $2",
            &[&work_order_id, &site_id],
        )
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|r| state_from_row(r).map(|(_, name, state)| (name, state)))
        .collect()
}

/// The states of several work orders in one query; a work order without states has no entry,
/// as in the SQLite engine.
pub async fn task_states_of(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
    ids: &[Uuid],
) -> StoreResult<HashMap<Uuid, TaskStates>> {
    let rows = db
        .query(
            "SELECT s.work_order_id, s.task_name, s.state FROM task_states s
             JOIN work_orders w ON w.id = s.work_order_id
             WHERE s.work_order_id = ANY($1) AND w.site_id = $2",
            &[&ids, &site_id],
        )
        .await
        .map_err(backend)?;
    let mut out: HashMap<Uuid, TaskStates> = HashMap::new();
    for r in &rows {
        let (id, name, state) = state_from_row(r)?;
        out.entry(id).or_default().insert(name, state);
    }
    Ok(out)
}

pub async fn idempotency_record(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
    key: &str,
) -> StoreResult<Option<IdempotencyRecord>> {
    if crate::unstorable(key) {
        return Ok(None);
    }
    let row = db
        .query_opt(
            "SELECT request_hash, status, body, create_date FROM idempotency_keys
             WHERE site_id = $1 AND key = $2",
            &[&site_id, &key],
        )
        .await
        .map_err(backend)?;
    let Some(r) = row else { return Ok(None) };
    let bad = |e| corrupt("idempotency record", e);
    let status: i32 = r.try_get(1).map_err(bad)?;
    Ok(Some(IdempotencyRecord {
        key: key.to_string(),
        request_hash: r.try_get(0).map_err(bad)?,
        status: u16::try_from(status).map_err(|e| corrupt("idempotency record", e))?,
        body: r.try_get(2).map_err(bad)?,
        create_date: r.try_get(3).map_err(bad)?,
    }))
}

#[cfg(test)]
mod tests {
    use super::term;
    use proptest::prelude::*;

    proptest! {
        /// Terms of different (kind, key, value) never collide, whatever the parts contain
        /// (quotes, commas, brackets, NUL): otherwise a filter could find a work order under a
        /// tag it does not have.
        #[test]
        fn terms_are_distinct_for_distinct_parts(
            a in ("[tym]", "\\PC{0,6}|[\",\\[\\]\\\\\u{0}]{0,4}", "\\PC{0,6}|[\",\\[\\]\\\\\u{0}]{0,4}"),
            b in ("[tym]", "\\PC{0,6}|[\",\\[\\]\\\\\u{0}]{0,4}", "\\PC{0,6}|[\",\\[\\]\\\\\u{0}]{0,4}"),
        ) {
            let (ta, tb) = (term(&a.0, &a.1, &a.2), term(&b.0, &b.1, &b.2));
            prop_assert_eq!(ta == tb, a == b);
            prop_assert!(!ta.contains('\u{0}'), "PostgreSQL text cannot hold NUL");
        }
    }
}
