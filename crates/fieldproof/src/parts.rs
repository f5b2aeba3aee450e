//! Opening the parts a command needs from its settings: the store (SQLite or PostgreSQL), the
//! blob store (a directory in the data dir) and the analysis engine (the models of the manifest).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use fieldproof_analysis::Engine;
use fieldproof_blobs::{Blobs, LocalBlobs, S3Blobs, S3Config};
use fieldproof_store::Store;
use fieldproof_store_postgres::PostgresStore;
use fieldproof_store_sqlite::SqliteStore;

use crate::config::{BlobSettings, DatabaseUrl, Settings, Source};

/// Opens the configured store, creating the data directory and running migrations.
pub async fn open_store(settings: &Settings) -> Result<Arc<dyn Store>> {
    match &settings.database {
        DatabaseUrl::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create the directory {}", dir.display()))?;
            }
            Ok(Arc::new(SqliteStore::open(path)?))
        }
        DatabaseUrl::Postgres(url) => Ok(Arc::new(
            PostgresStore::connect(url)
                .await
                .map_err(|e| anyhow!("{e} (setting `database_url`)"))?,
        )),
    }
}

pub fn open_blobs(settings: &Settings) -> Result<Arc<dyn Blobs>> {
    match &settings.blobs {
        BlobSettings::Local(dir) => Ok(Arc::new(LocalBlobs::open(dir)?)),
        BlobSettings::S3 {
            url,
            endpoint,
            region,
        } => {
            let config = S3Config {
                url: url.clone(),
                endpoint: endpoint.clone(),
                region: region.clone(),
                access_key_id: std::env::var("AWS_ACCESS_KEY_ID").ok(),
                secret_access_key: std::env::var("AWS_SECRET_ACCESS_KEY").ok(),
                // S3-compatible servers other than AWS want path-style addressing.
                path_style: endpoint.is_some(),
            };
            Ok(Arc::new(
                S3Blobs::new(&config).map_err(|e| anyhow!("{e} (setting `blob_url`)"))?,
            ))
        }
    }
}

/// The model manifest to load: the configured one; when only the default was given and it is
/// not in the current directory, the one of the source checkout this binary was built from.
pub fn manifest_path(settings: &Settings) -> Result<PathBuf> {
    if settings.models.is_file() {
        return Ok(settings.models.clone());
    }
    let built = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../models/manifest.toml"
    ));
    if settings.models_source == Source::Default && built.is_file() {
        return Ok(built);
    }
    Err(anyhow!(
        "the model manifest {} (setting `models`, from {}) does not exist: run from the repository root or set --models to the models/manifest.toml file",
        settings.models.display(),
        settings.models_source
    ))
}

/// Loads, checks and warms up the models (seconds of CPU: off the reactor).
pub async fn load_engine(settings: &Settings) -> Result<Arc<Engine>> {
    let path = manifest_path(settings)?;
    let started = std::time::Instant::now();
    let engine = tokio::task::spawn_blocking(move || {
        Engine::load(&path).map_err(|e| anyhow!("cannot load the models: {e}"))
    })
    .await??;
    tracing::info!(
        ms = started.elapsed().as_millis() as u64,
        "models loaded and warmed up"
    );
    Ok(Arc::new(engine))
}
