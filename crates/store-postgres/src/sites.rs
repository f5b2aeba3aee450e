//! Sites.

use fieldproof_store::{Site, StoreResult};
use tokio_postgres::{GenericClient, Row};

use crate::error::{backend, conflict_or_backend, corrupt};
use crate::pool::Db;

const COLUMNS: &str = "id, name, current_app_version_id, create_date";

fn from_row(r: &Row) -> StoreResult<Site> {
    Ok(Site {
        id: r.try_get(0).map_err(|e| corrupt("site", e))?,
        name: r.try_get(1).map_err(|e| corrupt("site", e))?,
        current_app_version_id: r.try_get(2).map_err(|e| corrupt("site", e))?,
        create_date: r.try_get(3).map_err(|e| corrupt("site", e))?,
    })
}

pub async fn insert(db: &mut Db<'_, impl GenericClient + Sync>, site: &Site) -> StoreResult<()> {
    db.execute(
        "INSERT INTO sites (id, name, current_app_version_id, create_date) VALUES ($1, $2, NULL, $3)",
        &[&site.id, &site.name, &site.create_date],
    )
    .await
    .map_err(|e| conflict_or_backend(e, || format!("a site named {:?} already exists", site.name)))?;
    Ok(())
}

pub async fn list(db: &mut Db<'_, impl GenericClient + Sync>) -> StoreResult<Vec<Site>> {
    let rows = db
        .query(&format!("SELECT {COLUMNS} FROM sites ORDER BY name"), &[])
        .await
        .map_err(backend)?;
    rows.iter().map(from_row).collect()
}

/// By name or by id. Like the SQLite engine, the argument is lower-cased first (site names are
/// stored lower-case) and an id matches in its canonical text form.
pub async fn find(
    db: &mut Db<'_, impl GenericClient + Sync>,
    name_or_id: &str,
) -> StoreResult<Option<Site>> {
    if crate::unstorable(name_or_id) {
        return Ok(None);
    }
    let key = name_or_id.to_lowercase();
    let row = db
        .query_opt(
            &format!("SELECT {COLUMNS} FROM sites WHERE name = $1 OR id::text = $1"),
            &[&key],
        )
        .await
        .map_err(backend)?;
    row.as_ref().map(from_row).transpose()
}
