//! The store conformance suite on the SQLite engine: every check on a fresh database file in a
//! temporary directory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use fieldproof_store::Store;
use fieldproof_store_conformance::{run_all, Engine};
use fieldproof_store_sqlite::SqliteStore;

struct Sqlite {
    dir: tempfile::TempDir,
    files: AtomicUsize,
}

#[async_trait]
impl Engine for Sqlite {
    async fn create(&self) -> String {
        let n = self.files.fetch_add(1, Ordering::Relaxed);
        self.dir
            .path()
            .join(format!("store-{n}.sqlite"))
            .display()
            .to_string()
    }

    async fn open(&self, storage: &str) -> Arc<dyn Store> {
        let store = SqliteStore::open(std::path::Path::new(storage))
            .unwrap_or_else(|e| panic!("cannot open the SQLite store {storage}: {e}"));
        Arc::new(store)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sqlite_store_passes_the_conformance_suite() {
    let engine = Sqlite {
        dir: tempfile::tempdir().expect("a temporary directory"),
        files: AtomicUsize::new(0),
    };
    run_all(Arc::new(engine)).await;
}
