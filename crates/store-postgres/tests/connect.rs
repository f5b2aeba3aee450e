//! What only the PostgreSQL engine has: connection errors that name the server but never the
//! password, migrations when several processes start at once, a pool that survives the server
//! ending its sessions, and the test-database helper itself.

use std::time::Duration;

use fieldproof_store::{Store, StoreError};
use fieldproof_store_postgres::testing::{server_url_from_env, TestDatabase, URL_VAR};
use fieldproof_store_postgres::PostgresStore;
use tokio_postgres::NoTls;

fn message(result: Result<PostgresStore, StoreError>) -> String {
    match result {
        Ok(_) => panic!("the connection should have failed"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn an_unreachable_server_is_named_without_the_password() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let m =
        message(PostgresStore::connect("postgres://ann:s3cret-pw@127.0.0.1:1/fieldproof").await);
    assert!(
        m.contains("ann@127.0.0.1:1/fieldproof"),
        "names user, host, port and database: {m}"
    );
    assert!(m.contains("cannot connect"), "says what failed: {m}");
    assert!(!m.contains("s3cret-pw"), "leaks the password: {m}");
}

#[tokio::test]
async fn an_invalid_url_is_refused_without_echoing_it() {
    let m = message(PostgresStore::connect("postgres://ann:s3cret-pw@127.0.0.1:notaport/x").await);
    assert!(m.contains("not valid"), "says the URL is invalid: {m}");
    assert!(!m.contains("s3cret-pw"), "leaks the password: {m}");
}

/// The server URL, or `None` (with a note) when PostgreSQL tests are skipped here.
fn server() -> Option<String> {
    let url = server_url_from_env();
    if url.is_none() {
        eprintln!("skipped: {URL_VAR} is not set (PostgreSQL tests need a server)");
    }
    url
}

/// Runs `sql` on `url` and returns the first column of every row, as text.
async fn column(url: &str, sql: &str) -> Vec<String> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
        .simple_query(sql)
        .await
        .expect("query")
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn an_unknown_database_is_named() {
    let Some(server) = server() else { return };
    let url = fieldproof_store_postgres::testing::with_database(&server, "fp_no_such_database");
    let m = message(PostgresStore::connect(&url).await);
    assert!(
        m.contains("/fp_no_such_database"),
        "names the database: {m}"
    );
    assert!(
        m.contains("does not exist"),
        "says why, from the server: {m}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_starting_together_migrate_once() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server)
        .await
        .expect("a test database");
    let url = db.url().to_string();
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PostgresStore::connect(&url).await })
        })
        .collect();
    let mut stores = Vec::new();
    for s in starts {
        stores.push(
            s.await
                .expect("task")
                .expect("every concurrent start succeeds"),
        );
    }
    for s in &stores {
        s.ping().await.expect("ping");
    }
    let applied = column(
        &url,
        "SELECT version::text FROM schema_migrations ORDER BY version",
    )
    .await;
    // Every migration file of the crate, each recorded exactly once.
    let mut expected: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().to_string();
                name.split('_')
                    .next()
                    .and_then(|n| n.parse::<u32>().ok())
                    .map(|n| n.to_string())
            })
            .collect();
    expected.sort_by_key(|v| v.parse::<u32>().unwrap());
    assert_eq!(applied, expected, "each migration recorded once");
    drop(stores);
    db.drop_database().await.expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_replaces_connections_the_server_ended() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server)
        .await
        .expect("a test database");
    let store = PostgresStore::connect(db.url()).await.expect("connect");
    store.ping().await.expect("ping");
    let ended = column(
        &server,
        &format!(
            "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = '{}'",
            db.name()
        ),
    )
    .await;
    assert!(!ended.is_empty(), "the store had a session to end");
    // The client learns of the end asynchronously (the server's FATAL message, then EOF).
    tokio::time::sleep(Duration::from_millis(300)).await;
    store
        .ping()
        .await
        .expect("a new connection replaces the ended one");
    drop(store);
    db.drop_database().await.expect("drop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_database_is_dropped_even_without_drop_database() {
    let Some(server) = server() else { return };
    let db = TestDatabase::create(&server)
        .await
        .expect("a test database");
    let name = db.name().to_string();
    let exists = |server: String, name: String| async move {
        column(
            &server,
            &format!("SELECT datname FROM pg_database WHERE datname = '{name}'"),
        )
        .await
            == [name]
    };
    assert!(exists(server.clone(), name.clone()).await, "created");
    drop(db); // as when a test panics
    assert!(!exists(server, name).await, "dropped by Drop");
}
