//! `fieldproof app`: validate an application file, publish it as a site's new version, list
//! versions.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use fieldproof_api::time::{format_micros, now_micros};
use fieldproof_domain::app::{parse_and_validate, AppVersion};
use fieldproof_store::{Site, Store};

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

pub async fn publish(
    store: &dyn Store,
    site: &Site,
    version: AppVersion,
) -> Result<std::sync::Arc<AppVersion>> {
    Ok(store
        .publish_app_version(site.id, version, now_micros())
        .await?)
}

pub async fn run(store: &dyn Store, cmd: AppCommand) -> Result<()> {
    match cmd {
        AppCommand::Validate { file } => validate(&file),
        AppCommand::Publish { file, site } => {
            let site = crate::admin::site(store, &site).await?;
            let v = publish(store, &site, load(&file)?).await?;
            println!(
                "published {} version {} ({}) on site {}; it is now the site's current version (existing work orders stay on theirs)",
                v.app_name, v.version, v.id, site.name
            );
            Ok(())
        }
        AppCommand::List { site } => {
            let site = crate::admin::site(store, &site).await?;
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
