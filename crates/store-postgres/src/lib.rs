//! The PostgreSQL engine of the Fieldproof store, for scale-out: several `fieldproof serve`
//! replicas and workers share one database.
//!
//! Same behaviour as the SQLite engine, checked by the same conformance suite
//! (`fieldproof-store-conformance`). Each call is one statement or one transaction on a pooled
//! connection (`pool`); writes that must see what they change (publishing a version, updating a
//! work order) lock the row they start from, so concurrent requests from any number of processes
//! serialise where they must. Commits are durable (`synchronous_commit = on`) before a call
//! returns.
//!
//! Driver: `tokio-postgres` without TLS and without its default features beyond the TCP runtime;
//! see `pool` for why there is no pool crate.
#![forbid(unsafe_code)]

mod analyses;
mod apps;
mod audit;
mod creates;
mod error;
mod jobs;
mod list;
mod migrations;
mod people;
mod pool;
mod sites;
mod store;
pub mod testing;
mod work_orders;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use fieldproof_domain::app::AppVersion;
use fieldproof_store::*;
use tokio_postgres::config::Host;
use tokio_postgres::Config;
use uuid::Uuid;

use pool::Pool;

/// Connections in the pool unless the caller says otherwise. PostgreSQL serves each connection
/// with a process; a few per replica keep a shared server comfortable (100 connections by
/// default) while letting commits of concurrent requests overlap.
pub const DEFAULT_POOL_SIZE: usize = 8;

pub struct PostgresStore {
    pool: Arc<Pool>,
    /// Creates without an idempotency key, committed in groups (`creates`).
    creates: creates::Creates,
    target: String,
    /// Application versions never change once published, so they are cached by id, with the
    /// site they belong to (a version is only ever handed to its own site).
    versions: Mutex<HashMap<Uuid, (Uuid, Arc<AppVersion>)>>,
    /// Users found by (site, email), as `find_user_by_email` found them: a create that names its
    /// field engineer saves a round trip. Right forever because users are never changed or
    /// deleted (the store has no such call); a user not found is not remembered, so one created
    /// a moment later, by any process, is found. Bounded: starts over past `MAX_CACHED_USERS`.
    users: Mutex<HashMap<(Uuid, String), User>>,
}

/// Most users [`PostgresStore`] remembers by email.
const MAX_CACHED_USERS: usize = 10_000;

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`, or libpq's
    /// `key=value` form), runs the migrations, and keeps up to [`DEFAULT_POOL_SIZE`] connections.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, DEFAULT_POOL_SIZE).await
    }

    /// [`connect`](Self::connect) with at most `pool_size` connections.
    pub async fn connect_with(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        let config: Config = url.parse().map_err(|e| {
            // The parser's message names the bad part, never echoes the URL (no password leak).
            StoreError::Backend(format!(
                "the PostgreSQL URL is not valid ({e}); expected postgres://user@host:port/database"
            ))
        })?;
        let target = describe_target(&config);
        let pool = Pool::new(config, target.clone(), pool_size);
        {
            // The first connection checks the URL now rather than at the first request, and
            // brings the schema up to date.
            let mut conn = pool.get().await?;
            migrations::run(&mut conn.client).await.map_err(|e| {
                StoreError::Backend(format!("cannot migrate the database at {target}: {e}"))
            })?;
        }
        let pool = Arc::new(pool);
        Ok(Self {
            creates: creates::Creates::start(pool.clone()),
            pool,
            target,
            versions: Mutex::new(HashMap::new()),
            users: Mutex::new(HashMap::new()),
        })
    }

    /// Where the store is, for logs: `user@host:port/database`, never the password.
    pub fn target(&self) -> &str {
        &self.target
    }

    fn cached_user(&self, site_id: Uuid, email: &str) -> Option<User> {
        let cache = self.users.lock().expect("cache lock");
        cache.get(&(site_id, email.to_string())).cloned()
    }

    fn cache_user(&self, user: &User) {
        let mut cache = self.users.lock().expect("cache lock");
        if cache.len() >= MAX_CACHED_USERS {
            cache.clear();
        }
        cache.insert((user.site_id, user.email.clone()), user.clone());
    }

    fn cached_version(&self, site_id: Uuid, id: Uuid) -> Option<Arc<AppVersion>> {
        let cache = self.versions.lock().expect("cache lock");
        cache
            .get(&id)
            .filter(|(site, _)| *site == site_id)
            .map(|(_, v)| v.clone())
    }

    fn cache_version(&self, site_id: Uuid, v: AppVersion) -> Arc<AppVersion> {
        let v = Arc::new(v);
        let mut cache = self.versions.lock().expect("cache lock");
        cache.insert(v.id, (site_id, v.clone()));
        v
    }
}

/// Whether `s` cannot be stored in PostgreSQL text (it holds NUL). A lookup by such a string
/// matches nothing, as in SQLite, instead of failing the query on the way in.
pub(crate) fn unstorable(s: &str) -> bool {
    s.contains('\0')
}

/// `user@host:port/database` of a parsed URL, never the password; PostgreSQL's defaults where
/// the URL says nothing (port 5432, the database named like the user).
fn describe_target(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(p)) => p.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user();
    let database = config.get_dbname().or(user).unwrap_or("(default database)");
    match user {
        Some(user) => format!("{user}@{host}:{port}/{database}"),
        None => format!("{host}:{port}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_target_names_user_host_port_and_database_but_not_the_password() {
        let cases = [
            (
                "postgres://ann:s3cret@db.local:5433/fieldproof",
                "ann@db.local:5433/fieldproof",
            ),
            ("postgres://ann@127.0.0.1/test", "ann@127.0.0.1:5432/test"),
            ("postgres://ann:s3cret@db.local", "ann@db.local:5432/ann"),
            (
                "host=/run/postgresql user=ann password=s3cret",
                "ann@/run/postgresql:5432/ann",
            ),
            ("postgres://db.local/x", "db.local:5432/x"),
        ];
        for (url, want) in cases {
            let config: Config = url.parse().expect("a valid URL");
            assert_eq!(describe_target(&config), want, "for {url}");
        }
    }
}
