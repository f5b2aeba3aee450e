//! The store conformance suite on the PostgreSQL engine: every check on a database of its own,
//! created on the server named by `FIELDPROOF_TEST_POSTGRES_URL` and dropped afterwards.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fieldproof_store::Store;
use fieldproof_store_conformance::{run_all, Engine};
use fieldproof_store_postgres::testing::{
    drop_databases, server_url_from_env, TestDatabase, URL_VAR,
};
use fieldproof_store_postgres::PostgresStore;

struct Postgres {
    server_url: String,
    databases: Mutex<Vec<TestDatabase>>,
}

#[async_trait]
impl Engine for Postgres {
    async fn create(&self) -> String {
        let db = TestDatabase::create(&self.server_url)
            .await
            .unwrap_or_else(|e| panic!("cannot create a test database: {e}"));
        let url = db.url().to_string();
        self.databases.lock().unwrap().push(db);
        url
    }

    async fn open(&self, storage: &str) -> Arc<dyn Store> {
        let store = PostgresStore::connect(storage)
            .await
            .unwrap_or_else(|e| panic!("cannot open the PostgreSQL store: {e}"));
        Arc::new(store)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_postgres_store_passes_the_conformance_suite() {
    let Some(server_url) = server_url_from_env() else {
        eprintln!("skipped: {URL_VAR} is not set (PostgreSQL tests need a server)");
        return;
    };
    let engine = Arc::new(Postgres {
        server_url,
        databases: Mutex::new(Vec::new()),
    });
    // Run in a task so that the databases are dropped before a failure is reported.
    let outcome = tokio::spawn(run_all(engine.clone())).await;
    let databases = std::mem::take(&mut *engine.databases.lock().unwrap());
    if let Err(e) = drop_databases(databases).await {
        eprintln!("could not drop every test database: {e}");
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
