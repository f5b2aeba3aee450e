//! Embedded migrations, applied in order at open, each in its own transaction.

use rusqlite::Connection;

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

pub fn run(conn: &mut Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    for (version, name, sql) in MIGRATIONS {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [version],
            |r| r.get(0),
        )?;
        if !done {
            tracing::info!(version, name, "applying migration");
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, strftime('%s','now'))",
                (version, name),
            )?;
        }
        tx.commit()?;
    }
    Ok(())
}
