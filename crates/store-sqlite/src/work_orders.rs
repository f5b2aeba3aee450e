//! Work orders, their list index and their task states.

use fieldproof_domain::activation::active_tasks;
use fieldproof_domain::app::AppVersion;
use fieldproof_domain::metadata::index_text;
use fieldproof_domain::score::progress_score;
use fieldproof_store::*;
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OptionalExtension, Row};
use uuid::Uuid;

use crate::{backend, parse_json, parse_uuid};

const COLUMNS: &str = "id, site_id, app_version_id, name, metadata, tags, parameters, types, \
    field_engineer_user_id, field_engineer_email, field_engineer_name, user_group_ids, \
    progress_score, review_date, create_date, update_date, first_analysis_id, latest_analysis_id";

fn opt_uuid(s: Option<String>) -> rusqlite::Result<Option<Uuid>> {
    s.map(|s| parse_uuid(&s)).transpose()
}

fn from_row(r: &Row) -> rusqlite::Result<WorkOrderRow> {
    let engineer_id = opt_uuid(r.get(8)?)?;
    let field_engineer = match engineer_id {
        Some(user_id) => Some(FieldEngineer {
            user_id,
            email: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
            name: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(WorkOrderRow {
        id: parse_uuid(&r.get::<_, String>(0)?)?,
        site_id: parse_uuid(&r.get::<_, String>(1)?)?,
        app_version_id: parse_uuid(&r.get::<_, String>(2)?)?,
        name: r.get(3)?,
        metadata: parse_json(&r.get::<_, String>(4)?)?,
        tags: parse_json(&r.get::<_, String>(5)?)?,
        parameters: r
            .get::<_, Option<String>>(6)?
            .map(|s| parse_json(&s))
            .transpose()?,
        types: parse_json(&r.get::<_, String>(7)?)?,
        field_engineer,
        user_group_ids: parse_json(&r.get::<_, String>(11)?)?,
        progress_score: r.get(12)?,
        review_date: r.get(13)?,
        create_date: r.get(14)?,
        update_date: r.get(15)?,
        first_analysis_id: opt_uuid(r.get(16)?)?,
        latest_analysis_id: opt_uuid(r.get(17)?)?,
    })
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("plain data serialises")
}

pub fn create(
    c: &Connection,
    wo: WorkOrderRow,
    idempotency: Option<IdempotencyRecord>,
) -> StoreResult<CreateOutcome> {
    if let Some(record) = &idempotency {
        if let Some(existing) = idempotency_record(c, wo.site_id, &record.key)? {
            return Ok(CreateOutcome::Replayed(existing));
        }
        c.prepare_cached(
            "INSERT INTO idempotency_keys (site_id, key, request_hash, status, body, create_date)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .map_err(backend)?
        .execute((
            wo.site_id.to_string(),
            &record.key,
            &record.request_hash,
            record.status,
            &record.body,
            record.create_date,
        ))
        .map_err(backend)?;
    }
    let engineer = wo.field_engineer.as_ref();
    c.prepare_cached(&format!(
        "INSERT INTO work_orders ({COLUMNS}) VALUES
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
    ))
    .map_err(backend)?
    .execute(rusqlite::params![
        wo.id.to_string(),
        wo.site_id.to_string(),
        wo.app_version_id.to_string(),
        wo.name,
        json(&wo.metadata),
        json(&wo.tags),
        wo.parameters.as_ref().map(json),
        json(&wo.types),
        engineer.map(|e| e.user_id.to_string()),
        engineer.map(|e| e.email.clone()),
        engineer.map(|e| e.name.clone()),
        json(&wo.user_group_ids),
        wo.progress_score,
        wo.review_date,
        wo.create_date,
        wo.update_date,
        wo.first_analysis_id.map(|u| u.to_string()),
        wo.latest_analysis_id.map(|u| u.to_string()),
    ])
    .map_err(backend)?;
    write_index(c, &wo, Kinds::Fresh)?;
    Ok(CreateOutcome::Created(wo))
}

/// Which kinds of list-filter entries [`write_index`] writes: `Fresh` for a new work order (it
/// has none to clear), `Changed` for the kinds an update replaced.
enum Kinds {
    Fresh,
    Changed {
        tags: bool,
        types: bool,
        metadata: bool,
    },
}

/// Most term ids the writer thread remembers; past it the map starts over. A few MB at most,
/// whatever the number of rows (a site's terms include one per `customer_ref`-like value).
const MAX_CACHED_TERMS: usize = 16_384;

thread_local! {
    /// Ids of list terms (by site, kind, key and value) known to be in the database, kept by the
    /// writer thread (the only one that runs writes, so one map per store): with it a posting is
    /// one statement instead of an upsert of the term and a posting insert that looks it up.
    ///
    /// Terms are never deleted and their ids never change (`INTEGER PRIMARY KEY`, kept by
    /// `VACUUM`), so an id stays right once its row is committed. What could make one wrong is a
    /// rollback of the row's creation, so a term is remembered only when it was already there
    /// before the job asking for it (a job's own new term may still be rolled back with its
    /// savepoint), and the writer forgets everything when a group commit fails
    /// ([`forget_terms`]). Another process adds terms but never removes one.
    static TERM_IDS: std::cell::RefCell<std::collections::HashMap<String, i64>> =
        Default::default();
}

/// Forgets every remembered term id: the writer calls it when a transaction did not commit, since
/// terms its jobs found may have been created earlier in that same transaction.
pub fn forget_terms() {
    TERM_IDS.with(|t| t.borrow_mut().clear());
}

/// The id of a term of `site`, creating the term when it is new.
fn term_id(c: &Connection, site: &str, kind: &str, key: &str, value: &str) -> StoreResult<i64> {
    // Unambiguous whatever the key and value hold: the site id and the kind have fixed lengths,
    // and the key's length says where the value starts.
    let name = format!("{site}{kind}{}:{key}{value}", key.len());
    if let Some(id) = TERM_IDS.with(|t| t.borrow().get(&name).copied()) {
        return Ok(id);
    }
    let inserted = c
        .prepare_cached(
            "INSERT INTO list_terms (site_id, kind, key, value) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (site_id, kind, key, value) DO NOTHING",
        )
        .map_err(backend)?
        .execute((site, kind, key, value))
        .map_err(backend)?;
    if inserted == 1 {
        // New in this job: not remembered (see `TERM_IDS`).
        return Ok(c.last_insert_rowid());
    }
    let id: i64 = c
        .prepare_cached(
            "SELECT id FROM list_terms WHERE site_id = ?1 AND kind = ?2 AND key = ?3 AND value = ?4",
        )
        .map_err(backend)?
        .query_row((site, kind, key, value), |r| r.get(0))
        .map_err(backend)?;
    TERM_IDS.with(|t| {
        let mut t = t.borrow_mut();
        if t.len() >= MAX_CACHED_TERMS {
            t.clear();
        }
        t.insert(name, id);
    });
    Ok(id)
}

/// Writes the list-filter entries of the given kinds, replacing the old ones of those kinds
/// (see migration 0004: interned terms, postings in list order; the triggers keep the counts).
fn write_index(c: &Connection, wo: &WorkOrderRow, kinds: Kinds) -> StoreResult<()> {
    let id = wo.id.to_string();
    let site = wo.site_id.to_string();
    let (clear, (tags, types, metadata)) = match kinds {
        Kinds::Fresh => (false, (true, true, true)),
        Kinds::Changed {
            tags,
            types,
            metadata,
        } => (true, (tags, types, metadata)),
    };
    let clear_kind = |kind: &str| -> StoreResult<()> {
        if clear {
            c.prepare_cached(
                "DELETE FROM work_order_terms WHERE work_order_id = ?1 AND term_id IN
                    (SELECT p.term_id FROM work_order_terms p JOIN list_terms t ON t.id = p.term_id
                     WHERE p.work_order_id = ?1 AND t.kind = ?2)",
            )
            .map_err(backend)?
            .execute((&id, kind))
            .map_err(backend)?;
        }
        Ok(())
    };
    let mut posting = c
        .prepare_cached(
            "INSERT OR IGNORE INTO work_order_terms (term_id, create_date, work_order_id)
             VALUES (?1, ?2, ?3)",
        )
        .map_err(backend)?;
    let mut insert = |kind: &str, key: &str, value: &str| -> StoreResult<()> {
        let term = term_id(c, &site, kind, key, value)?;
        posting
            .execute((term, wo.create_date, &id))
            .map_err(backend)?;
        Ok(())
    };
    if tags {
        clear_kind("t")?;
        for t in &wo.tags {
            insert("t", "", t)?;
        }
    }
    if types {
        clear_kind("y")?;
        for t in &wo.types {
            insert("y", "", t)?;
        }
    }
    if metadata {
        clear_kind("m")?;
        for (k, v) in &wo.metadata {
            if let Some(text) = index_text(v) {
                insert("m", k, &text)?;
            }
        }
    }
    Ok(())
}

pub fn get(c: &Connection, site_id: Uuid, id: Uuid) -> StoreResult<Option<WorkOrderRow>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM work_orders WHERE id = ?1 AND site_id = ?2"
    ))
    .map_err(backend)?
    .query_row((id.to_string(), site_id.to_string()), from_row)
    .optional()
    .map_err(backend)
}

pub fn update(
    c: &Connection,
    site_id: Uuid,
    id: Uuid,
    changes: WorkOrderChanges,
    version: &AppVersion,
) -> StoreResult<WorkOrderRow> {
    let mut wo = get(c, site_id, id)?.ok_or(StoreError::NotFound)?;
    let (tags, types, metadata) = (
        changes.tags.is_some(),
        changes.types.is_some(),
        changes.metadata.is_some(),
    );
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
    let states = task_states(c, site_id, id)?;
    wo.progress_score = progress_score(&active_tasks(version, &wo.types), &states);
    let engineer = wo.field_engineer.as_ref();
    c.prepare_cached(
        "UPDATE work_orders SET name = ?3, metadata = ?4, tags = ?5, types = ?6,
            field_engineer_user_id = ?7, field_engineer_email = ?8, field_engineer_name = ?9,
            user_group_ids = ?10, progress_score = ?11, update_date = ?12
         WHERE id = ?1 AND site_id = ?2",
    )
    .map_err(backend)?
    .execute(rusqlite::params![
        id.to_string(),
        site_id.to_string(),
        wo.name,
        json(&wo.metadata),
        json(&wo.tags),
        json(&wo.types),
        engineer.map(|e| e.user_id.to_string()),
        engineer.map(|e| e.email.clone()),
        engineer.map(|e| e.name.clone()),
        json(&wo.user_group_ids),
        wo.progress_score,
        wo.update_date,
    ])
    .map_err(backend)?;
    write_index(
        c,
        &wo,
        Kinds::Changed {
            tags,
            types,
            metadata,
        },
    )?;
    Ok(wo)
}

pub fn delete(c: &Connection, site_id: Uuid, id: Uuid) -> StoreResult<()> {
    let n = c
        .prepare_cached("DELETE FROM work_orders WHERE id = ?1 AND site_id = ?2")
        .map_err(backend)?
        .execute((id.to_string(), site_id.to_string()))
        .map_err(backend)?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// A page of a site's work orders, newest first, with the exact count of all that match.
///
/// Tag, type and metadata filters are terms (migration 0004). Their counts are read first: a
/// term no work order has ends the search; otherwise the term with the fewest work orders
/// drives. Its postings are read in list order and every other term is probed by primary key, so
/// a page costs one page's worth of matches and the count costs one probe per posting of the
/// smallest term, never a scan of the site. One term and no other filter: the count is the
/// term's own. No term: the site's count, or a scan of the site's work orders when other
/// filters apply.
pub fn list(
    c: &Connection,
    site_id: Uuid,
    f: &WorkOrderFilter,
    offset: u64,
    limit: u64,
) -> StoreResult<(u64, Vec<WorkOrderRow>)> {
    let site = site_id.to_string();
    let mut terms: Vec<(&str, &str, &str)> = f.tags.iter().map(|t| ("t", "", t.as_str())).collect();
    terms.extend(f.type_name.iter().map(|t| ("y", "", t.as_str())));
    terms.extend(
        f.metadata
            .iter()
            .map(|(k, v)| ("m", k.as_str(), v.as_str())),
    );
    // Filters on the work order's own columns, as `w`.
    let mut clauses: Vec<String> = Vec::new();
    let mut params: Vec<Sql> = Vec::new();
    if let Some(n) = &f.name {
        clauses.push("w.name = ?".into());
        params.push(Sql::Text(n.clone()));
    }
    if let Some(e) = &f.field_engineer_email {
        clauses.push("w.field_engineer_email = ?".into());
        params.push(Sql::Text(e.to_lowercase()));
    }
    match f.reviewed {
        Some(true) => clauses.push("w.review_date IS NOT NULL".into()),
        Some(false) => clauses.push("w.review_date IS NULL".into()),
        None => {}
    }
    if let Some(p) = f.min_progress {
        clauses.push("w.progress_score >= ?".into());
        params.push(Sql::Real(p));
    }
    if let Some(p) = f.max_progress {
        clauses.push("w.progress_score <= ?".into());
        params.push(Sql::Real(p));
    }
    // Dates are in the postings too, so they never need the work order.
    let date = if terms.is_empty() { "w" } else { "d" };
    if let Some(t) = f.created_after {
        clauses.push(format!("{date}.create_date > ?"));
        params.push(Sql::Integer(t));
    }
    if let Some(t) = f.created_before {
        clauses.push(format!("{date}.create_date < ?"));
        params.push(Sql::Integer(t));
    }
    let page_params = |mut p: Vec<Sql>| {
        p.push(Sql::Integer(limit.min(i64::MAX as u64) as i64));
        p.push(Sql::Integer(offset.min(i64::MAX as u64) as i64));
        p
    };

    if terms.is_empty() {
        let mut all = vec![Sql::Text(site.clone())];
        all.extend(params.iter().cloned());
        let filter = std::iter::once("w.site_id = ?".to_string())
            .chain(clauses.iter().cloned())
            .collect::<Vec<_>>()
            .join(" AND ");
        let count = if clauses.is_empty() {
            term_count(c, &site, ("*", "", ""))?.map_or(0, |(_, n)| n)
        } else {
            c.prepare_cached(&format!(
                "SELECT COUNT(*) FROM work_orders w WHERE {filter}"
            ))
            .map_err(backend)?
            .query_row(rusqlite::params_from_iter(all.iter()), |r| {
                r.get::<_, i64>(0)
            })
            .map_err(backend)? as u64
        };
        if count == 0 {
            return Ok((0, Vec::new()));
        }
        let rows = query_rows(
            c,
            &format!(
                "SELECT {} FROM work_orders w WHERE {filter}
                 ORDER BY w.create_date DESC, w.id DESC LIMIT ? OFFSET ?",
                w_columns()
            ),
            page_params(all),
        )?;
        return Ok((count, rows));
    }

    let mut found = Vec::with_capacity(terms.len());
    for t in &terms {
        match term_count(c, &site, *t)? {
            Some((id, n)) if n > 0 => found.push((id, n)),
            _ => return Ok((0, Vec::new())),
        }
    }
    found.sort_by_key(|(_, n)| *n);
    let (driver, driver_count) = found[0];
    let mut filter = vec!["d.term_id = ?".to_string()];
    let mut all = vec![Sql::Integer(driver)];
    for (other, _) in &found[1..] {
        filter.push(
            "EXISTS (SELECT 1 FROM work_order_terms o WHERE o.term_id = ?
                 AND o.create_date = d.create_date AND o.work_order_id = d.work_order_id)"
                .into(),
        );
        all.push(Sql::Integer(*other));
    }
    let needs_row = clauses.iter().any(|c| c.starts_with("w."));
    filter.extend(clauses.iter().cloned());
    all.extend(params);
    let filter = filter.join(" AND ");
    // CROSS JOIN keeps the postings outermost: the planner has no statistics to know better.
    let join = "CROSS JOIN work_orders w ON w.id = d.work_order_id";
    let count = if found.len() == 1 && clauses.is_empty() {
        driver_count
    } else {
        c.prepare_cached(&format!(
            "SELECT COUNT(*) FROM work_order_terms d {} WHERE {filter}",
            if needs_row { join } else { "" }
        ))
        .map_err(backend)?
        .query_row(rusqlite::params_from_iter(all.iter()), |r| {
            r.get::<_, i64>(0)
        })
        .map_err(backend)? as u64
    };
    if count == 0 {
        return Ok((0, Vec::new()));
    }
    let rows = query_rows(
        c,
        &format!(
            "SELECT {} FROM work_order_terms d {join} WHERE {filter}
             ORDER BY d.create_date DESC, d.work_order_id DESC LIMIT ? OFFSET ?",
            w_columns()
        ),
        page_params(all),
    )?;
    Ok((count, rows))
}

/// The id of a term and how many work orders have it.
fn term_count(
    c: &Connection,
    site: &str,
    (kind, key, value): (&str, &str, &str),
) -> StoreResult<Option<(i64, u64)>> {
    c.prepare_cached(
        "SELECT id, work_orders FROM list_terms
         WHERE site_id = ?1 AND kind = ?2 AND key = ?3 AND value = ?4",
    )
    .map_err(backend)?
    .query_row((site, kind, key, value), |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
    })
    .optional()
    .map_err(backend)
}

/// `COLUMNS` of the work order aliased `w`.
fn w_columns() -> String {
    COLUMNS
        .split(',')
        .map(|c| format!("w.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn query_rows(c: &Connection, sql: &str, params: Vec<Sql>) -> StoreResult<Vec<WorkOrderRow>> {
    let mut stmt = c.prepare_cached(sql).map_err(backend)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(params.iter()), from_row)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    Ok(rows)
}

pub fn task_states(c: &Connection, site_id: Uuid, work_order_id: Uuid) -> StoreResult<TaskStates> {
    let mut stmt = c
        .prepare_cached(
            "SELECT s.task_name, s.state FROM task_states s
             JOIN work_orders w ON w.id = s.work_order_id
             WHERE s.work_order_id = ?1 AND w.site_id = ?2",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map((work_order_id.to_string(), site_id.to_string()), |r| {
            Ok((r.get::<_, String>(0)?, parse_json(&r.get::<_, String>(1)?)?))
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub fn task_states_of(
    c: &Connection,
    site_id: Uuid,
    ids: &[Uuid],
) -> StoreResult<std::collections::HashMap<Uuid, TaskStates>> {
    let mut out = std::collections::HashMap::new();
    for id in ids {
        let states = task_states(c, site_id, *id)?;
        if !states.is_empty() {
            out.insert(*id, states);
        }
    }
    Ok(out)
}

pub fn idempotency_record(
    c: &Connection,
    site_id: Uuid,
    key: &str,
) -> StoreResult<Option<IdempotencyRecord>> {
    c.prepare_cached(
        "SELECT request_hash, status, body, create_date FROM idempotency_keys
         WHERE site_id = ?1 AND key = ?2",
    )
    .map_err(backend)?
    .query_row((site_id.to_string(), key), |r| {
        Ok(IdempotencyRecord {
            key: key.to_string(),
            request_hash: r.get(0)?,
            status: r.get(1)?,
            body: r.get(2)?,
            create_date: r.get(3)?,
        })
    })
    .optional()
    .map_err(backend)
}
