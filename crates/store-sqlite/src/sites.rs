//! Sites.

use fieldproof_store::{Site, StoreResult};
use rusqlite::{Connection, OptionalExtension, Row};

use crate::{backend, conflict_or_backend, parse_uuid};

const COLUMNS: &str = "id, name, current_app_version_id, create_date";

fn from_row(r: &Row) -> rusqlite::Result<Site> {
    Ok(Site {
        id: parse_uuid(&r.get::<_, String>(0)?)?,
        name: r.get(1)?,
        current_app_version_id: r
            .get::<_, Option<String>>(2)?
            .map(|s| parse_uuid(&s))
            .transpose()?,
        create_date: r.get(3)?,
    })
}

pub fn insert(c: &Connection, site: &Site) -> StoreResult<()> {
    c.execute(
        "INSERT INTO sites (id, name, current_app_version_id, create_date) VALUES (?1, ?2, NULL, ?3)",
        (site.id.to_string(), &site.name, site.create_date),
    )
    .map_err(|e| conflict_or_backend(e, || format!("a site named {:?} already exists", site.name)))?;
    Ok(())
}

pub fn list(c: &Connection) -> StoreResult<Vec<Site>> {
    let mut stmt = c
        .prepare_cached(&format!("SELECT {COLUMNS} FROM sites ORDER BY name"))
        .map_err(backend)?;
    let rows = stmt.query_map([], from_row).map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub fn find(c: &Connection, name_or_id: &str) -> StoreResult<Option<Site>> {
    c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sites WHERE name = ?1 OR id = ?1"
    ))
    .map_err(backend)?
    .query_row([name_or_id.to_lowercase()], from_row)
    .optional()
    .map_err(backend)
}
