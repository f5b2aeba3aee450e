//! `fieldproof admin audit`: the site's audit trail, read straight from the database, and how the
//! command line records its own changes in it (as the actor `cli`).
//!
//! Unlike the API's changes, which write their event in their own transaction, a command records
//! its event after its change has committed, in a write of its own
//! (`fieldproof_api::audit::record`). A command whose change was made but whose event could not be
//! recorded still succeeds: the failure is logged, because reporting an error would lead the
//! operator to make the change twice.

use anyhow::{bail, Result};
use clap::Subcommand;
use fieldproof_api::time::{format_micros, now_micros};
use fieldproof_store::{user_actor, AuditEvent, AuditFilter, Store, CLI_ACTOR};
use serde_json::Value;
use uuid::Uuid;

/// Events listed when `--limit` is not given.
const DEFAULT_LIMIT: u64 = 50;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// List a site's audit events, newest first.
    List {
        #[arg(long)]
        site: String,
        /// Only the events about this object (a work order's id gives its whole history).
        #[arg(long)]
        object: Option<String>,
        /// At most this many events.
        #[arg(long, default_value_t = DEFAULT_LIMIT)]
        limit: u64,
    },
}

/// Records a change made from the command line, now.
pub async fn record(
    store: &dyn Store,
    site_id: Uuid,
    action: &str,
    object_type: &str,
    object_id: impl ToString,
    details: Value,
) {
    let event = AuditEvent::new(
        site_id,
        CLI_ACTOR,
        action,
        object_type,
        object_id,
        details,
        now_micros(),
    );
    fieldproof_api::audit::record(store, event).await;
}

pub async fn run(store: &dyn Store, cmd: AuditCommand) -> Result<()> {
    let AuditCommand::List {
        site,
        object,
        limit,
    } = cmd;
    if limit == 0 {
        bail!("--limit must be at least 1");
    }
    let site = crate::admin::site(store, &site).await?;
    let filter = AuditFilter {
        object_id: object.map(|o| o.trim().to_lowercase()),
        ..Default::default()
    };
    let (count, events) = store.list_audit(site.id, &filter, 0, limit).await?;
    let users = store.list_users(site.id).await?;
    println!(
        "{:<27}  {:<32}  {:<19}  {:<11}  {:<36}  details",
        "time", "actor", "action", "object", "object id"
    );
    for e in &events {
        // A user is shown by email, which people recognise; the id when the user is unknown.
        let actor = users
            .iter()
            .find(|u| user_actor(u.id) == e.actor)
            .map(|u| u.email.as_str())
            .unwrap_or(&e.actor);
        println!(
            "{}  {:<32}  {:<19}  {:<11}  {:<36}  {}",
            format_micros(e.create_date),
            actor,
            e.action,
            e.object_type,
            e.object_id,
            e.details
        );
    }
    eprintln!("{} of {count} event(s) of site {}", events.len(), site.name);
    Ok(())
}
