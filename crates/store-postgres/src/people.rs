//! Users, user groups and API keys.

use fieldproof_domain::role::Role;
use fieldproof_store::{ApiKey, Principal, StoreError, StoreResult, User, UserGroup};
use tokio_postgres::{GenericClient, Row};
use uuid::Uuid;

use crate::error::{backend, conflict_or_backend, corrupt};
use crate::pool::Db;

fn role(r: &Row, i: usize) -> StoreResult<Role> {
    let text: String = r.try_get(i).map_err(|e| corrupt("role", e))?;
    text.parse().map_err(|e: String| corrupt("role", e))
}

const USER_COLUMNS: &str = "id, site_id, email, first_name, last_name, role, create_date";

fn user_from_row(r: &Row) -> StoreResult<User> {
    let bad = |e| corrupt("user", e);
    Ok(User {
        id: r.try_get(0).map_err(bad)?,
        site_id: r.try_get(1).map_err(bad)?,
        email: r.try_get(2).map_err(bad)?,
        first_name: r.try_get(3).map_err(bad)?,
        last_name: r.try_get(4).map_err(bad)?,
        role: role(r, 5)?,
        create_date: r.try_get(6).map_err(bad)?,
    })
}

/// Stores the user with its email lower-cased (emails match without regard to case).
pub async fn insert_user(db: &mut Db<'_, impl GenericClient + Sync>, u: &User) -> StoreResult<()> {
    db.execute(
        &format!("INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"),
        &[
            &u.id,
            &u.site_id,
            &u.email.to_lowercase(),
            &u.first_name,
            &u.last_name,
            &u.role.as_str(),
            &u.create_date,
        ],
    )
    .await
    .map_err(|e| conflict_or_backend(e, || format!("the site already has a user {}", u.email)))?;
    Ok(())
}

pub async fn list_users(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
) -> StoreResult<Vec<User>> {
    let rows = db
        .query(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE site_id = $1 ORDER BY email"),
            &[&site_id],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(user_from_row).collect()
}

/// `email` must already be lower-cased.
pub async fn find_user_by_email(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
    email: &str,
) -> StoreResult<Option<User>> {
    if crate::unstorable(email) {
        return Ok(None);
    }
    let row = db
        .query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE site_id = $1 AND email = $2"),
            &[&site_id, &email],
        )
        .await
        .map_err(backend)?;
    row.as_ref().map(user_from_row).transpose()
}

pub async fn insert_group(
    db: &mut Db<'_, impl GenericClient + Sync>,
    g: &UserGroup,
) -> StoreResult<()> {
    db.execute(
        "INSERT INTO user_groups (id, site_id, name, create_date) VALUES ($1, $2, $3, $4)",
        &[&g.id, &g.site_id, &g.name, &g.create_date],
    )
    .await
    .map_err(|e| conflict_or_backend(e, || format!("the site already has a group {:?}", g.name)))?;
    Ok(())
}

pub async fn list_groups(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
) -> StoreResult<Vec<UserGroup>> {
    let rows = db
        .query(
            "SELECT id, site_id, name, create_date FROM user_groups WHERE site_id = $1 ORDER BY name",
            &[&site_id],
        )
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|r| {
            let bad = |e| corrupt("user group", e);
            Ok(UserGroup {
                id: r.try_get(0).map_err(bad)?,
                site_id: r.try_get(1).map_err(bad)?,
                name: r.try_get(2).map_err(bad)?,
                create_date: r.try_get(3).map_err(bad)?,
            })
        })
        .collect()
}

const KEY_COLUMNS: &str =
    "id, site_id, user_id, hash, display_prefix, label, create_date, revoked_date";

fn key_from_row(r: &Row) -> StoreResult<ApiKey> {
    let bad = |e| corrupt("API key", e);
    Ok(ApiKey {
        id: r.try_get(0).map_err(bad)?,
        site_id: r.try_get(1).map_err(bad)?,
        user_id: r.try_get(2).map_err(bad)?,
        hash: r.try_get(3).map_err(bad)?,
        display_prefix: r.try_get(4).map_err(bad)?,
        label: r.try_get(5).map_err(bad)?,
        create_date: r.try_get(6).map_err(bad)?,
        revoked_date: r.try_get(7).map_err(bad)?,
    })
}

pub async fn insert_key(db: &mut Db<'_, impl GenericClient + Sync>, k: &ApiKey) -> StoreResult<()> {
    // The user must be of the key's site: a key grants its user's role on one site only. The
    // check is part of the insert, so no other statement can slip between check and write.
    let inserted = db
        .execute(
            &format!(
                "INSERT INTO api_keys ({KEY_COLUMNS})
                 SELECT $1, $2, $3, $4, $5, $6, $7, NULL
                 WHERE EXISTS (SELECT 1 FROM users WHERE id = $3 AND site_id = $2)"
            ),
            &[
                &k.id,
                &k.site_id,
                &k.user_id,
                &k.hash,
                &k.display_prefix,
                &k.label,
                &k.create_date,
            ],
        )
        .await
        .map_err(|e| conflict_or_backend(e, || "this key already exists".into()))?;
    if inserted == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub async fn list_keys(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
) -> StoreResult<Vec<ApiKey>> {
    let rows = db
        .query(
            &format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE site_id = $1 ORDER BY create_date, id"
            ),
            &[&site_id],
        )
        .await
        .map_err(backend)?;
    rows.iter().map(key_from_row).collect()
}

/// Revokes the key of this site; a key revoked before keeps its first revocation date.
pub async fn revoke_key(
    db: &mut Db<'_, impl GenericClient + Sync>,
    site_id: Uuid,
    key_id: Uuid,
    now: i64,
) -> StoreResult<ApiKey> {
    let row = db
        .query_opt(
            &format!(
                "UPDATE api_keys SET revoked_date = COALESCE(revoked_date, $3)
                 WHERE id = $1 AND site_id = $2 RETURNING {KEY_COLUMNS}"
            ),
            &[&key_id, &site_id, &now],
        )
        .await
        .map_err(backend)?;
    match row {
        Some(r) => key_from_row(&r),
        None => Err(StoreError::NotFound),
    }
}

pub async fn authenticate(
    db: &mut Db<'_, impl GenericClient + Sync>,
    hash: &str,
) -> StoreResult<Option<Principal>> {
    if crate::unstorable(hash) {
        return Ok(None);
    }
    let row = db
        .query_opt(
            "SELECT k.id, k.site_id, u.id, u.email, u.role, s.current_app_version_id
             FROM api_keys k
             JOIN users u ON u.id = k.user_id AND u.site_id = k.site_id
             JOIN sites s ON s.id = k.site_id
             WHERE k.hash = $1 AND k.revoked_date IS NULL",
            &[&hash],
        )
        .await
        .map_err(backend)?;
    let Some(r) = row else { return Ok(None) };
    let bad = |e| corrupt("API key", e);
    Ok(Some(Principal {
        key_id: r.try_get(0).map_err(bad)?,
        site_id: r.try_get(1).map_err(bad)?,
        user_id: r.try_get(2).map_err(bad)?,
        email: r.try_get(3).map_err(bad)?,
        role: role(&r, 4)?,
        current_app_version_id: r.try_get(5).map_err(bad)?,
    }))
}
