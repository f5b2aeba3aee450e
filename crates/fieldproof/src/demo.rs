//! `--demo`: on an empty database, a demo site with the `equipment-check` application, its users
//! and an API key for `admin@example.com`, written to `<data-dir>/demo-api-key`. On a database
//! that already has the demo site, nothing changes and the key file is reused.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fieldproof_analysis::Engine;
use fieldproof_blobs::Blobs;
use fieldproof_domain::app::parse_and_validate;
use fieldproof_domain::role::Role;
use fieldproof_store::Store;

include!(concat!(env!("OUT_DIR"), "/demo_examples.rs"));

pub const SITE: &str = "demo";
pub const APPLICATION: &str = include_str!("../../../demo/equipment-check.toml");
const USERS: [(&str, &str, &str, Role); 3] = [
    ("john.doe@example.com", "John", "Doe", Role::FieldWorker),
    (
        "richard.roe@example.com",
        "Richard",
        "Roe",
        Role::FieldWorker,
    ),
    ("admin@example.com", "Demo", "Admin", Role::Administrator),
];
const ADMIN: &str = "admin@example.com";

pub fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("demo-api-key")
}

/// The bytes of a demo example photo by the name the demo application uses.
pub fn example(name: &str) -> Result<Vec<u8>> {
    EXAMPLES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| b.to_vec())
        .ok_or_else(|| {
            anyhow::anyhow!("the demo example photo {name} is not built into this binary")
        })
}

/// Sets up the demo if needed and returns the admin's key.
pub async fn ensure(
    store: &dyn Store,
    blobs: &dyn Blobs,
    engine: Option<&Engine>,
    data_dir: &Path,
) -> Result<String> {
    let file = key_file(data_dir);
    if let Some(site) = store.find_site(SITE).await? {
        if let Ok(key) = std::fs::read_to_string(&file) {
            tracing::info!(site = %site.id, "demo site already set up; reusing {}", file.display());
            return Ok(key.trim().to_string());
        }
        // The site is there but its key file was removed: a new key is the only way back in.
        let admin = store
            .find_user_by_email(site.id, ADMIN)
            .await?
            .context("the demo site has no admin@example.com user")?;
        let (key, _) = crate::keys::create(store, &admin, "demo").await?;
        write_key(&file, &key)?;
        tracing::warn!("{} was missing: created a new demo key", file.display());
        return Ok(key);
    }
    let site = crate::admin::create_site(store, SITE).await?;
    let version = parse_and_validate(APPLICATION)
        .map_err(|e| anyhow::anyhow!("the built-in demo application is invalid: {e:?}"))?;
    let version = crate::app::publish(store, blobs, engine, &site, version, &example).await?;
    let mut admin = None;
    for (email, first, last, role) in USERS {
        let user = crate::admin::create_user(store, &site, email, first, last, role).await?;
        if email == ADMIN {
            admin = Some(user);
        }
    }
    let admin = admin.expect("the admin is in USERS");
    let (key, _) = crate::keys::create(store, &admin, "demo").await?;
    write_key(&file, &key)?;
    tracing::info!(site = %site.id, app_version = %version.id, "demo site created");
    Ok(key)
}

fn write_key(file: &Path, key: &str) -> Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(file)
        .with_context(|| format!("cannot write the demo key to {}", file.display()))?;
    writeln!(f, "{key}")?;
    f.sync_all()?;
    Ok(())
}
