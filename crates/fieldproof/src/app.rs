//! `fieldproof app`: validate an application file, publish it as a site's new version, list
//! versions.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use fieldproof_analysis::Engine;
use fieldproof_api::time::{format_micros, now_micros};
use fieldproof_blobs::Blobs;
use fieldproof_domain::app::{parse_and_validate, AppVersion};
use fieldproof_store::{Site, Store};

use crate::config::Settings;
use crate::parts::{load_engine, open_blobs, open_store};

#[derive(Subcommand)]
pub enum AppCommand {
    /// Check an application file and print every mistake in it.
    Validate { file: PathBuf },
    /// Validate and publish an application file as the site's new current version.
    Publish {
        file: PathBuf,
        #[arg(long)]
        site: String,
    },
    /// List the application versions of a site.
    List {
        #[arg(long)]
        site: String,
    },
}

/// Reads and validates a file, checking that its example photos exist beside it.
pub fn load(file: &Path) -> Result<AppVersion> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let version = parse_and_validate(&text).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(|e| format!("  - {e}")).collect();
        anyhow!(
            "{} has {} mistake(s):\n{}",
            file.display(),
            errors.len(),
            list.join("\n")
        )
    })?;
    let dir = file.parent().unwrap_or(Path::new("."));
    let missing: Vec<String> = version
        .task_groups
        .iter()
        .flat_map(|g| g.examples.iter().map(move |e| (g, e)))
        .filter(|(_, e)| !dir.join(&e.file).is_file())
        .map(|(g, e)| {
            format!(
                "  - task group {:?}: example photo {} not found",
                g.name,
                dir.join(&e.file).display()
            )
        })
        .collect();
    if !missing.is_empty() {
        bail!("{}:\n{}", file.display(), missing.join("\n"));
    }
    Ok(version)
}

pub fn validate(file: &Path) -> Result<()> {
    let v = load(file)?;
    println!(
        "{} is valid: application {:?}, {} task group(s), {} task(s), {} work-order type(s)",
        file.display(),
        v.app_name,
        v.task_groups.len(),
        v.tasks().count(),
        v.work_order_types.len()
    );
    Ok(())
}

/// Publishes a validated version with its example photos. `read` gives the bytes of an example
/// photo by the file name the application file uses. The photos are stored before the version,
/// so a published version never lacks its examples. Bindings are checked against the models
/// when `engine` is given. The publication is recorded in the site's audit trail.
pub async fn publish(
    store: &dyn Store,
    blobs: &dyn Blobs,
    engine: Option<&Engine>,
    site: &Site,
    version: AppVersion,
    read: &dyn Fn(&str) -> Result<Vec<u8>>,
) -> Result<std::sync::Arc<AppVersion>> {
    if let Some(engine) = engine {
        engine.check_bindings(&version).map_err(|errors| {
            anyhow!(
                "the application does not fit the models:\n  - {}",
                errors.join("\n  - ")
            )
        })?;
    }
    for (gi, g) in version.task_groups.iter().enumerate() {
        for (ei, e) in g.examples.iter().enumerate() {
            let bytes = read(&e.file)?;
            if fieldproof_analysis::sniff(&bytes)
                .is_none_or(|k| k == fieldproof_analysis::InputKind::Pdf)
            {
                bail!(
                    "example photo {} of task group {:?} is not a JPEG or PNG photo",
                    e.file,
                    g.name
                );
            }
            let key = fieldproof_api::blob_keys::example(site.id, version.id, gi, ei, &e.file);
            blobs.put(&key, bytes).await?;
        }
    }
    let v = store
        .publish_app_version(site.id, version, now_micros())
        .await?;
    let details = serde_json::json!({"app_name": v.app_name, "version": v.version});
    let action = fieldproof_store::actions::APP_VERSION_PUBLISH;
    crate::audit::record(store, site.id, action, "app_version", v.id, details).await;
    Ok(v)
}

fn binds_models(v: &AppVersion) -> bool {
    v.tasks().any(|(_, t)| t.binding.is_some())
}

pub async fn run(settings: &Settings, cmd: AppCommand) -> Result<()> {
    match cmd {
        AppCommand::Validate { file } => validate(&file),
        AppCommand::Publish { file, site } => {
            let version = load(&file)?;
            let store = open_store(settings).await?;
            let blobs = open_blobs(settings)?;
            let engine = if binds_models(&version) {
                Some(load_engine(settings).await?)
            } else {
                None
            };
            let site = crate::admin::site(store.as_ref(), &site).await?;
            let dir = file.parent().unwrap_or(Path::new(".")).to_path_buf();
            let read = move |name: &str| -> Result<Vec<u8>> {
                std::fs::read(dir.join(name))
                    .with_context(|| format!("cannot read example photo {name}"))
            };
            let v = publish(
                store.as_ref(),
                blobs.as_ref(),
                engine.as_deref(),
                &site,
                version,
                &read,
            )
            .await?;
            println!(
                "published {} version {} ({}) on site {}; it is now the site's current version (existing work orders stay on theirs)",
                v.app_name, v.version, v.id, site.name
            );
            Ok(())
        }
        AppCommand::List { site } => {
            let store = open_store(settings).await?;
            let site = crate::admin::site(store.as_ref(), &site).await?;
            println!(
                "{:<36}  {:<24}  {:>7}  {:<27}  current",
                "id", "application", "version", "published"
            );
            for v in store.list_app_versions(site.id).await? {
                println!(
                    "{}  {:<24}  {:>7}  {}  {}",
                    v.id,
                    v.app_name,
                    v.version,
                    format_micros(v.create_date),
                    if v.is_current { "yes" } else { "" }
                );
            }
            Ok(())
        }
    }
}
