//! Throwaway databases for tests that need a real PostgreSQL: the store's own tests and the API
//! tests. Each test makes a database of its own, named `fp_test_<random>`, on the server named by
//! `FIELDPROOF_TEST_POSTGRES_URL`, and drops it afterwards, also when the test panics.
//!
//! Not behind a feature: it is a few functions over the driver the crate already has, and an
//! always-compiled module cannot rot unnoticed.
//!
//! ```no_run
//! # async fn a_test() -> Result<(), fieldproof_store::StoreError> {
//! use fieldproof_store_postgres::{testing, PostgresStore};
//!
//! // `None` off CI without a server: skip (and say so); on CI this panics instead.
//! let Some(server) = testing::server_url_from_env() else { return Ok(()) };
//! let db = testing::TestDatabase::create(&server).await?;
//! let store = PostgresStore::connect(db.url()).await?;
//! // ... the test; a panic here still drops the database (best effort, in `Drop`) ...
//! drop(store);
//! db.drop_database().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Many databases at the end of a run: [`drop_databases`] drops them together, sharing the
//! checkpoint each `DROP DATABASE` waits for.

use fieldproof_store::StoreError;
use tokio_postgres::NoTls;
use uuid::Uuid;

/// The variable naming the PostgreSQL server tests use, e.g.
/// `postgres://postgres@127.0.0.1:5432/test`.
pub const URL_VAR: &str = "FIELDPROOF_TEST_POSTGRES_URL";

/// The test server's URL from [`URL_VAR`]. `None` when it is unset on a developer machine (the
/// caller skips and says so). On CI (`CI=true`) a missing server is a failure, not a skip: this
/// panics, so PostgreSQL coverage cannot silently disappear.
pub fn server_url_from_env() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "PostgreSQL is required on CI: set {URL_VAR} (for example \
             postgres://postgres@127.0.0.1:5432/test) to a server tests may create databases on"
        ),
        _ => None,
    }
}

/// A database created for one test. Dropped (with `DROP DATABASE ... WITH (FORCE)`, which ends
/// any session still in it; PostgreSQL 13 or later) by [`TestDatabase::drop_database`], or, best
/// effort, when the value is dropped without it (a test that panicked).
pub struct TestDatabase {
    server_url: String,
    name: String,
    url: String,
    dropped: bool,
}

impl TestDatabase {
    /// Creates a new, empty database on the server at `server_url` (any database of the server
    /// the user may connect to; the user needs `CREATEDB`).
    pub async fn create(server_url: &str) -> Result<Self, StoreError> {
        let name = format!("fp_test_{}", Uuid::new_v4().simple());
        admin(server_url, &format!("CREATE DATABASE \"{name}\"")).await?;
        Ok(Self {
            url: with_database(server_url, &name),
            server_url: server_url.to_string(),
            name,
            dropped: false,
        })
    }

    /// The URL of the new database: the server URL with its database replaced.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, ending the sessions still connected to it.
    pub async fn drop_database(mut self) -> Result<(), StoreError> {
        self.dropped = true;
        admin(&self.server_url, &drop_sql(&self.name)).await
    }
}

/// Drops several databases at once. Each `DROP DATABASE` waits for a checkpoint (about a second
/// on a busy test server); run together, they share one.
pub async fn drop_databases(databases: Vec<TestDatabase>) -> Result<(), StoreError> {
    let mut drops = tokio::task::JoinSet::new();
    for db in databases {
        drops.spawn(db.drop_database());
    }
    let mut result = Ok(());
    while let Some(joined) = drops.join_next().await {
        let outcome = joined
            .map_err(|e| StoreError::Backend(format!("a drop task failed: {e}")))
            .and_then(|r| r);
        if result.is_ok() {
            result = outcome;
        }
    }
    result
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Drop cannot await, and may run inside a runtime (a panicking async test): a thread of
        // its own with a runtime of its own does the round trip.
        let (server_url, sql) = (self.server_url.clone(), drop_sql(&self.name));
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            rt.block_on(admin(&server_url, &sql))
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            tracing::warn!(database = %self.name, "could not drop the test database");
        }
    }
}

fn drop_sql(name: &str) -> String {
    format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")
}

/// Runs one statement on its own short connection to the server.
async fn admin(server_url: &str, sql: &str) -> Result<(), StoreError> {
    let (client, connection) = tokio_postgres::connect(server_url, NoTls)
        .await
        .map_err(|e| {
            StoreError::Backend(format!(
                "cannot connect to the test PostgreSQL server ({URL_VAR}): {}",
                crate::error::describe(&e)
            ))
        })?;
    let task = tokio::spawn(connection);
    let result = client
        .batch_execute(sql)
        .await
        .map_err(crate::error::backend);
    drop(client);
    let _ = task.await;
    result
}

/// `url` with its database replaced by `name`, in either URL form (`postgres://...`) or libpq's
/// `key=value` form (where a later `dbname` wins).
pub fn with_database(url: &str, name: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return format!("{url} dbname={name}");
    };
    let rest = &url[scheme_end + 3..];
    let query_start = rest.find('?').unwrap_or(rest.len());
    // The authority ends at the first '/' after the user info (whose password may hold a '/').
    let host_start = rest[..query_start].rfind('@').map_or(0, |i| i + 1);
    let path_start = rest[host_start..query_start]
        .find('/')
        .map_or(query_start, |i| host_start + i);
    format!(
        "{}{}/{}{}",
        &url[..scheme_end + 3],
        &rest[..path_start],
        name,
        &rest[query_start..]
    )
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_of_a_url_is_replaced_and_the_rest_kept() {
        let cases = [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u:p%2F@h/test?sslmode=disable",
                "postgres://u:p%2F@h/x?sslmode=disable",
            ),
            ("postgresql://h:5432", "postgresql://h:5432/x"),
            ("postgres://u:a/b@h:1/db?x=1", "postgres://u:a/b@h:1/x?x=1"),
            ("postgres://h?user=u", "postgres://h/x?user=u"),
            (
                "host=h user=u dbname=test",
                "host=h user=u dbname=test dbname=x",
            ),
        ];
        for (given, want) in cases {
            assert_eq!(with_database(given, "x"), want, "for {given}");
        }
    }
}
