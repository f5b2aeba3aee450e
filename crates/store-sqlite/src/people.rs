//! Users, user groups and API keys.

use fieldproof_domain::role::Role;
use fieldproof_store::{ApiKey, Principal, StoreError, StoreResult, User, UserGroup};
use rusqlite::{Connection, OptionalExtension, Row};
use uuid::Uuid;

use crate::{backend, conflict_or_backend, parse_uuid};

fn parse_role(s: &str) -> rusqlite::Result<Role> {
    s.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
    })
}

const USER_COLUMNS: &str = "id, site_id, email, first_name, last_name, role, create_date";

fn user_from_row(r: &Row) -> rusqlite::Result<User> {
    Ok(User {
        id: parse_uuid(&r.get::<_, String>(0)?)?,
        site_id: parse_uuid(&r.get::<_, String>(1)?)?,
        email: r.get(2)?,
        first_name: r.get(3)?,
        last_name: r.get(4)?,
        role: parse_role(&r.get::<_, String>(5)?)?,
        create_date: r.get(6)?,
    })
}

pub fn insert_user(c: &Connection, u: &User) -> StoreResult<()> {
    c.execute(
        &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        (
            u.id.to_string(),
            u.site_id.to_string(),
            u.email.to_lowercase(),
            &u.first_name,
            &u.last_name,
            u.role.as_str(),
            u.create_date,
        ),
    )
    .map_err(|e| conflict_or_backend(e, || format!("the site already has a user {}", u.email)))?;
    Ok(())
}

pub fn list_users(c: &Connection, site_id: Uuid) -> StoreResult<Vec<User>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {USER_COLUMNS} FROM users WHERE site_id = ?1 ORDER BY email"
        ))
        .map_err(backend)?;
    let rows = stmt
        .query_map([site_id.to_string()], user_from_row)
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub fn find_user_by_email(c: &Connection, site_id: Uuid, email: &str) -> StoreResult<Option<User>> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE site_id = ?1 AND email = ?2"
    ))
    .map_err(backend)?
    .query_row((site_id.to_string(), email), user_from_row)
    .optional()
    .map_err(backend)
}

pub fn insert_group(c: &Connection, g: &UserGroup) -> StoreResult<()> {
    c.execute(
        "INSERT INTO user_groups (id, site_id, name, create_date) VALUES (?1, ?2, ?3, ?4)",
        (
            g.id.to_string(),
            g.site_id.to_string(),
            &g.name,
            g.create_date,
        ),
    )
    .map_err(|e| conflict_or_backend(e, || format!("the site already has a group {:?}", g.name)))?;
    Ok(())
}

pub fn list_groups(c: &Connection, site_id: Uuid) -> StoreResult<Vec<UserGroup>> {
    let mut stmt = c
        .prepare_cached(
            "SELECT id, site_id, name, create_date FROM user_groups WHERE site_id = ?1 ORDER BY name",
        )
        .map_err(backend)?;
    let rows = stmt
        .query_map([site_id.to_string()], |r| {
            Ok(UserGroup {
                id: parse_uuid(&r.get::<_, String>(0)?)?,
                site_id: parse_uuid(&r.get::<_, String>(1)?)?,
                name: r.get(2)?,
                create_date: r.get(3)?,
            })
        })
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

const KEY_COLUMNS: &str =
    "id, site_id, user_id, hash, display_prefix, label, create_date, revoked_date";

fn key_from_row(r: &Row) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        id: parse_uuid(&r.get::<_, String>(0)?)?,
        site_id: parse_uuid(&r.get::<_, String>(1)?)?,
        user_id: parse_uuid(&r.get::<_, String>(2)?)?,
        hash: r.get(3)?,
        display_prefix: r.get(4)?,
        label: r.get(5)?,
        create_date: r.get(6)?,
        revoked_date: r.get(7)?,
    })
}

pub fn insert_key(c: &Connection, k: &ApiKey) -> StoreResult<()> {
    // The user must be of the key's site: a key grants its user's role on one site only.
    let same_site: bool = c
        .query_row(
            "SELECT EXISTS (SELECT 1 FROM users WHERE id = ?1 AND site_id = ?2)",
            (k.user_id.to_string(), k.site_id.to_string()),
            |r| r.get(0),
        )
        .map_err(backend)?;
    if !same_site {
        return Err(StoreError::NotFound);
    }
    c.execute(
        &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL)"),
        (
            k.id.to_string(),
            k.site_id.to_string(),
            k.user_id.to_string(),
            &k.hash,
            &k.display_prefix,
            &k.label,
            k.create_date,
        ),
    )
    .map_err(|e| conflict_or_backend(e, || "this key already exists".into()))?;
    Ok(())
}

pub fn list_keys(c: &Connection, site_id: Uuid) -> StoreResult<Vec<ApiKey>> {
    let mut stmt = c
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE site_id = ?1 ORDER BY create_date"
        ))
        .map_err(backend)?;
    let rows = stmt
        .query_map([site_id.to_string()], key_from_row)
        .map_err(backend)?;
    rows.collect::<Result<_, _>>().map_err(backend)
}

pub fn revoke_key(c: &Connection, site_id: Uuid, key_id: Uuid, now: i64) -> StoreResult<ApiKey> {
    c.execute(
        "UPDATE api_keys SET revoked_date = COALESCE(revoked_date, ?3) WHERE id = ?1 AND site_id = ?2",
        (key_id.to_string(), site_id.to_string(), now),
    )
    .map_err(backend)?;
    c.prepare_cached(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?1 AND site_id = ?2"
    ))
    .map_err(backend)?
    .query_row((key_id.to_string(), site_id.to_string()), key_from_row)
    .optional()
    .map_err(backend)?
    .ok_or(StoreError::NotFound)
}

pub fn authenticate(c: &Connection, hash: &str) -> StoreResult<Option<Principal>> {
    c.prepare_cached(
        "SELECT k.id, k.site_id, u.id, u.email, u.role, s.current_app_version_id
         FROM api_keys k
         JOIN users u ON u.id = k.user_id AND u.site_id = k.site_id
         JOIN sites s ON s.id = k.site_id
         WHERE k.hash = ?1 AND k.revoked_date IS NULL",
    )
    .map_err(backend)?
    .query_row([hash], |r| {
        Ok(Principal {
            key_id: parse_uuid(&r.get::<_, String>(0)?)?,
            site_id: parse_uuid(&r.get::<_, String>(1)?)?,
            user_id: parse_uuid(&r.get::<_, String>(2)?)?,
            email: r.get(3)?,
            role: parse_role(&r.get::<_, String>(4)?)?,
            current_app_version_id: r
                .get::<_, Option<String>>(5)?
                .map(|s| parse_uuid(&s))
                .transpose()?,
        })
    })
    .optional()
    .map_err(backend)
}
