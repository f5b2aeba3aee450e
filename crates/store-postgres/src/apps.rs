//! Application versions: stored whole as JSON, immutable once written.

use fieldproof_domain::app::AppVersion;
use fieldproof_store::{AppVersionSummary, StoreError, StoreResult};
use tokio_postgres::types::Json;
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use crate::error::{backend, corrupt};
use crate::pool::Db;

/// Numbers the version after the last one of its application on this site, stores it and makes
/// it the site's current version. Runs in the caller's transaction.
pub async fn publish(
    db: &mut Db<'_, Transaction<'_>>,
    site_id: Uuid,
    mut v: AppVersion,
    now: i64,
) -> StoreResult<AppVersion> {
    // Locking the site row serialises publications on one site: two concurrent publishers
    // cannot both read the same last version number (the loser would hit the unique key).
    let site = db
        .query_opt("SELECT 1 FROM sites WHERE id = $1 FOR UPDATE", &[&site_id])
        .await
        .map_err(backend)?;
    if site.is_none() {
        return Err(StoreError::NotFound);
    }
    let last: i32 = db
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM app_versions WHERE site_id = $1 AND app_name = $2",
            &[&site_id, &v.app_name],
        )
        .await
        .map_err(backend)?
        .try_get(0)
        .map_err(|e| corrupt("version number", e))?;
    v.version = u32::try_from(last).map_err(|e| corrupt("version number", e))? + 1;
    let number = i32::try_from(v.version)
        .map_err(|_| StoreError::Backend("too many versions of one application".into()))?;
    db.execute(
        "INSERT INTO app_versions (id, site_id, app_name, version, spec, create_date)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[&v.id, &site_id, &v.app_name, &number, &Json(&v), &now],
    )
    .await
    .map_err(backend)?;
    db.execute(
        "UPDATE sites SET current_app_version_id = $1 WHERE id = $2",
        &[&v.id, &site_id],
    )
    .await
    .map_err(backend)?;
    Ok(v)
}

pub async fn get(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
    id: Uuid,
) -> StoreResult<Option<AppVersion>> {
    let row = db
        .query_opt(
            "SELECT spec FROM app_versions WHERE id = $1 AND site_id = $2",
            &[&id, &site_id],
        )
        .await
        .map_err(backend)?;
    row.map(|r| {
        r.try_get::<_, Json<AppVersion>>(0)
            .map(|j| j.0)
            .map_err(|e| corrupt("application version", e))
    })
    .transpose()
}

pub async fn current_id(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
) -> StoreResult<Option<Uuid>> {
    let row = db
        .query_opt(
            "SELECT current_app_version_id FROM sites WHERE id = $1",
            &[&site_id],
        )
        .await
        .map_err(backend)?;
    Ok(row
        .map(|r| r.try_get::<_, Option<Uuid>>(0))
        .transpose()
        .map_err(|e| corrupt("site", e))?
        .flatten())
}

pub async fn list(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
) -> StoreResult<Vec<AppVersionSummary>> {
    let rows = db
        .query(
            "SELECT v.id, v.app_name, v.version, v.create_date,
                    v.id IS NOT DISTINCT FROM s.current_app_version_id
             FROM app_versions v JOIN sites s ON s.id = v.site_id
             WHERE v.site_id = $1 ORDER BY v.app_name, v.version",
            &[&site_id],
        )
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|r| {
            let bad = |e| corrupt("application version", e);
            let version: i32 = r.try_get(2).map_err(bad)?;
            Ok(AppVersionSummary {
                id: r.try_get(0).map_err(bad)?,
                app_name: r.try_get(1).map_err(bad)?,
                version: u32::try_from(version).map_err(|e| corrupt("version number", e))?,
                create_date: r.try_get(3).map_err(bad)?,
                is_current: r.try_get(4).map_err(bad)?,
            })
        })
        .collect()
}
