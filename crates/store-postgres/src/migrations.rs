//! Embedded migrations, applied in order at connect and recorded in `schema_migrations`.
//!
//! Several processes may start at once against one database (replicas behind a load balancer,
//! workers). Each takes a transaction-scoped advisory lock before looking at what is applied, so
//! one applies the migrations while the others wait, then find them done. All pending migrations
//! run in that one transaction: PostgreSQL's DDL is transactional, so a failed migration leaves
//! the schema as it was.

use fieldproof_store::StoreResult;
use tokio_postgres::Client;

use crate::error::backend;

/// `(version, name, sql)`. Append only: an applied migration is never edited.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "init", include_str!("../migrations/0001_init.sql")),
    (
        2,
        "analyses",
        include_str!("../migrations/0002_analyses.sql"),
    ),
    (3, "jobs", include_str!("../migrations/0003_jobs.sql")),
    (
        4,
        "list_indexes",
        include_str!("../migrations/0004_list_indexes.sql"),
    ),
    (5, "audit", include_str!("../migrations/0005_audit.sql")),
];

/// The advisory lock key of migrations (advisory locks are per database): "fprfmigr" in ASCII.
const LOCK_KEY: i64 = 0x6670_7266_6d69_6772;

pub async fn run(client: &mut Client) -> StoreResult<()> {
    let tx = client.transaction().await.map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY])
        .await
        .map_err(backend)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version bigint PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)",
    )
    .await
    .map_err(backend)?;
    let applied: Vec<i64> = tx
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(backend)?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tracing::info!(version, name, "applying migration");
        tx.batch_execute(sql).await.map_err(backend)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at)
             VALUES ($1, $2, (extract(epoch FROM now()) * 1000000)::bigint)",
            &[version, name],
        )
        .await
        .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}
