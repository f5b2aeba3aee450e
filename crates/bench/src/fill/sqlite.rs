//! Filling a SQLite database (already migrated by the store) with generated work orders, straight
//! through the engine's schema: the same rows and index entries `store-sqlite` writes, in
//! batches of one transaction each.
//!
//! Loading is not serving: the load runs without a journal (`journal_mode = OFF`,
//! `synchronous = OFF`) and with a large page cache, then goes back to WAL and syncs the file
//! once at the end. The server that reads it afterwards runs with its own settings. The list
//! terms are interned in memory here (the store looks each up); their counts are kept by the
//! schema's triggers as in the store.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use fieldproof_domain::metadata::index_text;
use rusqlite::Connection;

use super::data::{generate, Plan};
use super::Filled;

/// Rows per transaction.
const BATCH: u64 = 100_000;

pub fn fill(path: &Path, plan: &Plan, progress: &dyn Fn(u64)) -> Result<Filled> {
    let started = std::time::Instant::now();
    let mut conn =
        Connection::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    // The store that set the site up may still be closing its connections (its threads end
    // when they notice): leaving WAL needs them gone, so wait for them rather than fail.
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "OFF")?;
    conn.pragma_update(None, "synchronous", "OFF")?;
    conn.pragma_update(None, "cache_size", -1_024_000)?;
    let mut terms: HashMap<(String, String, String), i64> = HashMap::new();
    let site = plan.site_id.to_string();
    let version = plan.version.id.to_string();
    let mut done = 0;
    while done < plan.rows {
        let end = (done + BATCH).min(plan.rows);
        let tx = conn.transaction()?;
        {
            let mut wo = tx.prepare_cached(
                "INSERT INTO work_orders (id, site_id, app_version_id, name, metadata, tags,
                    parameters, types, field_engineer_user_id, field_engineer_email,
                    field_engineer_name, user_group_ids, progress_score, review_date, create_date,
                    update_date, first_analysis_id, latest_analysis_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, ?10, '[]', ?11, ?12, ?13, ?14,
                    NULL, NULL)",
            )?;
            let mut new_term = tx.prepare_cached(
                "INSERT INTO list_terms (site_id, kind, key, value) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut posting = tx.prepare_cached(
                "INSERT INTO work_order_terms (term_id, create_date, work_order_id)
                 VALUES (?1, ?2, ?3)",
            )?;
            let mut state = tx.prepare_cached(
                "INSERT INTO task_states (work_order_id, task_name, state) VALUES (?1, ?2, ?3)",
            )?;
            for i in done..end {
                let g = generate(plan, i);
                let w = &g.row;
                let id = w.id.to_string();
                let e = w.field_engineer.as_ref();
                wo.execute(rusqlite::params![
                    id,
                    site,
                    version,
                    w.name,
                    serde_json::to_string(&w.metadata)?,
                    serde_json::to_string(&w.tags)?,
                    serde_json::to_string(&w.types)?,
                    e.map(|e| e.user_id.to_string()),
                    e.map(|e| e.email.as_str()),
                    e.map(|e| e.name.as_str()),
                    w.progress_score,
                    w.review_date,
                    w.create_date,
                    w.update_date,
                ])?;
                let mut term = |kind: &str, key: &str, value: &str| -> rusqlite::Result<()> {
                    let k = (kind.to_string(), key.to_string(), value.to_string());
                    let term_id = match terms.get(&k) {
                        Some(id) => *id,
                        None => {
                            new_term.execute((&site, kind, key, value))?;
                            let id = tx.last_insert_rowid();
                            terms.insert(k, id);
                            id
                        }
                    };
                    posting.execute((term_id, w.create_date, &id))?;
                    Ok(())
                };
                for t in &w.tags {
                    term("t", "", t)?;
                }
                for t in &w.types {
                    term("y", "", t)?;
                }
                for (k, v) in &w.metadata {
                    if let Some(text) = index_text(v) {
                        term("m", k, &text)?;
                    }
                }
                for (name, s) in &g.states {
                    state.execute((&id, name, serde_json::to_string(s)?))?;
                }
            }
        }
        tx.commit()?;
        done = end;
        progress(done);
    }
    conn.pragma_update(None, "journal_mode", "WAL")?;
    drop(conn);
    // The load ran unsynced: make it durable before anyone measures on it.
    std::fs::File::open(path)?.sync_all()?;
    Ok(Filled {
        rows: plan.rows,
        took: started.elapsed(),
    })
}

/// Bytes on disk: the database file and its WAL.
pub fn size_on_disk(path: &Path) -> u64 {
    let wal = path.with_extension(format!(
        "{}-wal",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    [path.to_path_buf(), wal]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}
