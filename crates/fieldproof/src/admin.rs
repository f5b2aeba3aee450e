//! `fieldproof admin`: sites, users, user groups and API keys, straight on the database, and
//! the audit trail. Every change made here is recorded in the trail with the actor `cli`.

use anyhow::{anyhow, bail, Result};
use clap::Subcommand;
use fieldproof_api::time::{format_micros, now_micros};
use fieldproof_domain::names::check_slug;
use fieldproof_domain::role::Role;
use fieldproof_store::{actions, Site, Store, User, UserGroup};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{record, AuditCommand};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Sites: create, list.
    #[command(subcommand)]
    Site(SiteCommand),
    /// Users of a site: create, list.
    #[command(subcommand)]
    User(UserCommand),
    /// User groups of a site: create, list.
    #[command(subcommand)]
    Group(GroupCommand),
    /// API keys: create (printed once), list, revoke.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The audit trail of a site: who changed what, and when.
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Subcommand)]
pub enum SiteCommand {
    /// Create a site.
    Create {
        /// Site name: letters, digits, '_' and '-'.
        name: String,
    },
    /// List sites.
    List,
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user of a site.
    Create {
        #[arg(long)]
        site: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        /// administrator, manager, reviewer, field_worker or read_only
        #[arg(long)]
        role: String,
    },
    /// List the users of a site.
    List {
        #[arg(long)]
        site: String,
    },
}

#[derive(Subcommand)]
pub enum GroupCommand {
    /// Create a user group.
    Create {
        #[arg(long)]
        site: String,
        name: String,
    },
    /// List the user groups of a site.
    List {
        #[arg(long)]
        site: String,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an API key for a user; the key is printed once and never stored.
    Create {
        #[arg(long)]
        site: String,
        /// Email of the user the key acts as.
        #[arg(long)]
        email: String,
        /// A note to recognise the key by (e.g. "ERP integration").
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the keys of a site (prefixes only).
    List {
        #[arg(long)]
        site: String,
    },
    /// Revoke a key by id.
    Revoke {
        #[arg(long)]
        site: String,
        key_id: String,
    },
}

/// A site by name or id, or an error that says how to find the right one.
pub async fn site(store: &dyn Store, name_or_id: &str) -> Result<Site> {
    store.find_site(name_or_id).await?.ok_or_else(|| {
        anyhow!("there is no site {name_or_id:?}; `fieldproof admin site list` shows the sites")
    })
}

pub async fn run(store: &dyn Store, cmd: AdminCommand) -> Result<()> {
    match cmd {
        AdminCommand::Site(SiteCommand::Create { name }) => {
            let site = create_site(store, &name).await?;
            println!("created site {} ({})", site.name, site.id);
        }
        AdminCommand::Site(SiteCommand::List) => {
            println!("{:<36}  {:<24}  current app version", "id", "name");
            for s in store.list_sites().await? {
                let current = s
                    .current_app_version_id
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into());
                println!("{}  {:<24}  {current}", s.id, s.name);
            }
        }
        AdminCommand::User(UserCommand::Create {
            site: site_name,
            email,
            first_name,
            last_name,
            role,
        }) => {
            let site = site(store, &site_name).await?;
            let role: Role = role.parse().map_err(|e: String| anyhow!("--role: {e}"))?;
            let user = create_user(store, &site, &email, &first_name, &last_name, role).await?;
            println!(
                "created user {} ({}) with role {} on site {}",
                user.email, user.id, user.role, site.name
            );
        }
        AdminCommand::User(UserCommand::List { site: site_name }) => {
            let site = site(store, &site_name).await?;
            println!("{:<36}  {:<32}  {:<24}  role", "id", "email", "name");
            for u in store.list_users(site.id).await? {
                println!(
                    "{}  {:<32}  {:<24}  {}",
                    u.id,
                    u.email,
                    u.full_name(),
                    u.role
                );
            }
        }
        AdminCommand::Group(GroupCommand::Create {
            site: site_name,
            name,
        }) => {
            let site = site(store, &site_name).await?;
            if name.trim().is_empty() {
                bail!("a group needs a name");
            }
            let g = store
                .create_group(UserGroup {
                    id: Uuid::new_v4(),
                    site_id: site.id,
                    name: name.trim().to_string(),
                    create_date: now_micros(),
                })
                .await?;
            let details = json!({ "name": g.name });
            record(
                store,
                site.id,
                actions::GROUP_CREATE,
                "group",
                g.id,
                details,
            )
            .await;
            println!("created group {} ({})", g.name, g.id);
        }
        AdminCommand::Group(GroupCommand::List { site: site_name }) => {
            let site = site(store, &site_name).await?;
            println!("{:<36}  name", "id");
            for g in store.list_groups(site.id).await? {
                println!("{}  {}", g.id, g.name);
            }
        }
        AdminCommand::Key(KeyCommand::Create {
            site: site_name,
            email,
            label,
        }) => {
            let site = site(store, &site_name).await?;
            let user = store
                .find_user_by_email(site.id, &email)
                .await?
                .ok_or_else(|| anyhow!("site {} has no user {email}; create it with `fieldproof admin user create`", site.name))?;
            let (key, record) = crate::keys::create(store, &user, &label).await?;
            eprintln!(
                "created key {} for {} ({}) on site {}; it is shown once, store it now:",
                record.id, user.email, user.role, site.name
            );
            println!("{key}");
        }
        AdminCommand::Key(KeyCommand::List { site: site_name }) => {
            let site = site(store, &site_name).await?;
            let users = store.list_users(site.id).await?;
            println!(
                "{:<36}  {:<12}  {:<32}  {:<27}  {:<27}  label",
                "id", "prefix", "user", "created", "revoked"
            );
            for k in store.list_keys(site.id).await? {
                let user = users
                    .iter()
                    .find(|u| u.id == k.user_id)
                    .map(|u| u.email.as_str())
                    .unwrap_or("?");
                let revoked = k
                    .revoked_date
                    .map(format_micros)
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{}  {:<12}  {:<32}  {}  {:<27}  {}",
                    k.id,
                    k.display_prefix,
                    user,
                    format_micros(k.create_date),
                    revoked,
                    k.label
                );
            }
        }
        AdminCommand::Key(KeyCommand::Revoke {
            site: site_name,
            key_id,
        }) => {
            let site = site(store, &site_name).await?;
            let id = Uuid::parse_str(key_id.trim()).map_err(|_| {
                anyhow!(
                    "{key_id:?} is not a key id; `fieldproof admin key list --site {}` shows them",
                    site.name
                )
            })?;
            match store.revoke_key(site.id, id, now_micros()).await {
                Ok(k) => {
                    let details = json!({"display_prefix": k.display_prefix, "user_id": k.user_id});
                    record(store, site.id, actions::KEY_REVOKE, "key", k.id, details).await;
                    println!("revoked key {} ({})", k.id, k.display_prefix)
                }
                Err(fieldproof_store::StoreError::NotFound) => {
                    bail!("site {} has no key {id}", site.name)
                }
                Err(e) => return Err(e.into()),
            }
        }
        AdminCommand::Audit(cmd) => crate::audit::run(store, cmd).await?,
    }
    Ok(())
}

/// Creates a site and records it in the site's own audit trail.
pub async fn create_site(store: &dyn Store, name: &str) -> Result<Site> {
    check_slug(name).map_err(|m| anyhow!("invalid site name: {m}"))?;
    let site = store
        .create_site(Site {
            id: Uuid::new_v4(),
            name: name.to_lowercase(),
            current_app_version_id: None,
            create_date: now_micros(),
        })
        .await?;
    let details = json!({ "name": site.name });
    record(
        store,
        site.id,
        actions::SITE_CREATE,
        "site",
        site.id,
        details,
    )
    .await;
    Ok(site)
}

pub async fn create_user(
    store: &dyn Store,
    site: &Site,
    email: &str,
    first_name: &str,
    last_name: &str,
    role: Role,
) -> Result<User> {
    let email = email.trim().to_lowercase();
    let plausible = email.split_once('@').is_some_and(|(a, b)| {
        !a.is_empty() && b.contains('.') && !email.contains(char::is_whitespace)
    });
    if !plausible {
        bail!("{email:?} is not an email address");
    }
    let user = store
        .create_user(User {
            id: Uuid::new_v4(),
            site_id: site.id,
            email,
            first_name: first_name.trim().to_string(),
            last_name: last_name.trim().to_string(),
            role,
            create_date: now_micros(),
        })
        .await?;
    let details = json!({"email": user.email, "role": user.role.as_str()});
    record(
        store,
        site.id,
        actions::USER_CREATE,
        "user",
        user.id,
        details,
    )
    .await;
    Ok(user)
}
