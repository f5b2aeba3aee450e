//! Application versions: stored whole as JSON, immutable once written.

use fieldproof_domain::app::AppVersion;
use fieldproof_store::{AppVersionSummary, StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

use crate::{backend, parse_json, parse_uuid};

pub fn publish(
    c: &Connection,
    site_id: Uuid,
    mut v: AppVersion,
    now: i64,
) -> StoreResult<AppVersion> {
    let site = site_id.to_string();
    let exists: bool = c
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM sites WHERE id = ?1)",
            [&site],
            |r| r.get(0),
        )
        .map_err(backend)?;
    if !exists {
        return Err(StoreError::NotFound);
    }
    let last: Option<u32> = c
        .query_row(
            "SELECT MAX(version) FROM app_versions WHERE site_id = ?1 AND app_name = ?2",
            (&site, &v.app_name),
            |r| r.get(0),
        )
        .map_err(backend)?;
    v.version = last.unwrap_or(0) + 1;
    let spec = serde_json::to_string(&v).map_err(|e| StoreError::Backend(e.to_string()))?;
    c.execute(
        "INSERT INTO app_versions (id, site_id, app_name, version, spec, create_date) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        (v.id.to_string(), &site, &v.app_name, v.version, spec, now),
    )
    .map_err(backend)?;
    c.execute(
        "UPDATE sites SET current_app_version_id = ?1 WHERE id = ?2",
        (v.id.to_string(), &site),
    )
    .map_err(backend)?;
    Ok(v)
}

pub fn get(c: &Connection, site_id: Uuid, id: Uuid) -> StoreResult<Option<AppVersion>> {
    c.prepare_cached("SELECT spec FROM app_versions WHERE id = ?1 AND site_id = ?2")
        .map_err(backend)?
        .query_row((id.to_string(), site_id.to_string()), |r| {
            parse_json::<AppVersion>(&r.get::<_, String>(0)?)
        })
        .optional()
        .map_err(backend)
}

pub fn current_id(c: &Connection, site_id: Uuid) -> StoreResult<Option<Uuid>> {
    let id: Option<Option<String>> = c
        .prepare_cached("SELECT current_app_version_id FROM sites WHERE id = ?1")
        .map_err(backend)?
        .query_row([site_id.to_string()], |r| r.get(0))
        .optional()
        .map_err(backend)?;
    id.flatten()
        .map(|s| parse_uuid(&s))
        .transpose()
        .map_err(backend)
}

pub fn list(c: &Connection, site_id: Uuid) -> StoreResult<Vec<AppVersionSummary>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT v.id, v.app_name, v.version, v.create_date, v.id = s.current_app_version_id
             FROM app_versions v JOIN sites s ON s.id = v.site_id
             WHERE v.site_id = ?1 ORDER BY v.app_name, v.version",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([site_id.to_string()], |r| {
            Ok(AppVersionSummary {
                id: parse_uuid(&r.get::<_, String>(0)?)?,
                app_name: r.get(1)?,
                version: r.get(2)?,
                create_date: r.get(3)?,
                is_current: r.get::<_, Option<bool>>(4)?.unwrap_or(false),
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}
