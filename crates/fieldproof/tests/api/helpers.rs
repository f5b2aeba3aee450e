//! `spawn_app()`: a fresh database with the demo site, the server on an ephemeral loopback port,
//! and a client that speaks JSON like an integrator does.

use std::sync::{Arc, OnceLock};

use fieldproof::admin::{create_site, create_user};
use fieldproof::app::publish;
use fieldproof_analysis::Engine;
use fieldproof_api::{ApiConfig, AppState};
use fieldproof_blobs::{Blobs, LocalBlobs};
use fieldproof_domain::app::parse_and_validate;
use fieldproof_domain::role::Role;
use fieldproof_store::{Site, Store};
use fieldproof_store_postgres::testing::TestDatabase;
use fieldproof_store_postgres::PostgresStore;
use fieldproof_store_sqlite::SqliteStore;
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn Blobs>,
    pub engine: Arc<Engine>,
    /// The demo site and the key of its administrator.
    pub site: Site,
    pub key: String,
    /// The server's state, to run job workers on it.
    pub state: AppState,
    _db: Option<TestDatabase>,
    _dir: TempDir,
}

/// The store the suite runs against: SQLite in the test's directory by default, or a fresh
/// PostgreSQL database with `FIELDPROOF_TEST_ENGINE=postgres` (scripts/test runs the suite
/// both ways).
async fn open_store(dir: &std::path::Path) -> (Arc<dyn Store>, Option<TestDatabase>) {
    match std::env::var("FIELDPROOF_TEST_ENGINE").as_deref() {
        Ok("postgres") => {
            let server = fieldproof_store_postgres::testing::server_url_from_env()
                .expect("FIELDPROOF_TEST_ENGINE=postgres needs FIELDPROOF_TEST_POSTGRES_URL");
            let db = TestDatabase::create(&server)
                .await
                .expect("create a test database");
            let store = PostgresStore::connect(db.url()).await.expect("connect");
            (Arc::new(store), Some(db))
        }
        Ok("sqlite") | Err(_) => (
            Arc::new(SqliteStore::open(&dir.join("fieldproof.sqlite")).expect("open store")),
            None,
        ),
        Ok(other) => panic!("FIELDPROOF_TEST_ENGINE={other:?}: expected sqlite or postgres"),
    }
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(ApiConfig::default()).await
}

/// The models, loaded once for the whole test binary (loading and warming up takes a while).
/// A missing or corrupt model fails the tests: they never run without their real models.
pub fn engine() -> Arc<Engine> {
    static ENGINE: OnceLock<Arc<Engine>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let manifest = std::env::var("FIELDPROOF_TEST_MODELS").unwrap_or_else(|_| {
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/manifest.toml").to_string()
            });
            let manifest = manifest.as_str();
            Arc::new(
                Engine::load(std::path::Path::new(manifest)).unwrap_or_else(|e| {
                    panic!("the API tests need the real models ({manifest}): {e}")
                }),
            )
        })
        .clone()
}

pub async fn spawn_app_with(config: ApiConfig) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, db) = open_store(dir.path()).await;
    let blobs: Arc<dyn Blobs> =
        Arc::new(LocalBlobs::open(&dir.path().join("blobs")).expect("open blobs"));
    let engine = tokio::task::spawn_blocking(engine).await.unwrap();
    let key = fieldproof::demo::ensure(store.as_ref(), blobs.as_ref(), Some(&engine), dir.path())
        .await
        .expect("demo set-up");
    let site = store.find_site("demo").await.unwrap().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(store.clone(), blobs.clone(), engine.clone(), config);
    let served = state.clone();
    tokio::spawn(async move {
        fieldproof_api::serve(listener, served, std::future::pending())
            .await
            .expect("server")
    });
    TestApp {
        base: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
        blobs,
        engine,
        site,
        key,
        state,
        _db: db,
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The SQLite database file, when the suite runs on SQLite (`None` on PostgreSQL).
    pub fn sqlite_path(&self) -> Option<std::path::PathBuf> {
        self._db
            .is_none()
            .then(|| self._dir.path().join("fieldproof.sqlite"))
    }

    /// A request with the admin key, `Content-Type: application/json` always (as clients do).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.call_as(&self.key, method, path, body).await
    }

    pub async fn call_as(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, self.url(path))
            .header("Authorization", format!("Token {key}"))
            .header("Content-Type", "application/json");
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        send(req).await
    }

    pub async fn create(&self, body: Value) -> Value {
        let r = self
            .call(Method::POST, "/v0.2/work-orders/", Some(body))
            .await;
        assert_eq!(r.status, 201, "{}", r.body);
        r.body
    }

    /// A second site with the demo application, an administrator and its key.
    pub async fn add_site(&self, name: &str) -> (Site, String) {
        let site = create_site(self.store.as_ref(), name).await.unwrap();
        let v = parse_and_validate(fieldproof::demo::APPLICATION).unwrap();
        publish(
            self.store.as_ref(),
            self.blobs.as_ref(),
            Some(&self.engine),
            &site,
            v,
            &fieldproof::demo::example,
        )
        .await
        .unwrap();
        let key = self.key_for(&site, Role::Administrator).await;
        (site, key)
    }

    /// A new user of `site` with `role`, and a key for it.
    pub async fn key_for(&self, site: &Site, role: Role) -> String {
        let email = format!(
            "{}-{}@example.com",
            role.as_str(),
            uuid::Uuid::new_v4().simple()
        );
        let user = create_user(self.store.as_ref(), site, &email, "Test", "User", role)
            .await
            .unwrap();
        fieldproof::keys::create(self.store.as_ref(), &user, "test")
            .await
            .unwrap()
            .0
    }

    /// Publishes an application from TOML text as the demo site's new version.
    pub async fn publish_app(&self, toml: &str) {
        let v = parse_and_validate(toml).expect("valid test application");
        publish(
            self.store.as_ref(),
            self.blobs.as_ref(),
            Some(&self.engine),
            &self.site,
            v,
            &fieldproof::demo::example,
        )
        .await
        .unwrap();
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "status {status}: body is not JSON: {:?}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    if status != 204 && status != 304 {
        assert_eq!(
            headers.get("content-type").map(|v| v.to_str().unwrap()),
            Some("application/json"),
            "every answer with a body is JSON (status {status})"
        );
    }
    assert!(status < 500, "the server answered {status}: {body}");
    let timing = headers
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.strip_prefix("app;dur="))
        .and_then(|ms| ms.parse::<f64>().ok());
    assert!(
        timing.is_some_and(|ms| (0.0..60_000.0).contains(&ms)),
        "every answer says the server's own time as `Server-Timing: app;dur=<ms>` (status {status}): {:?}",
        headers.get("server-timing")
    );
    Reply {
        status,
        body,
        headers,
    }
}

/// Both forms of a path: with and without the trailing slash.
pub fn both_forms(path: &str) -> [String; 2] {
    let bare = path.trim_end_matches('/').to_string();
    [format!("{bare}/"), bare]
}

pub fn wo(name: &str) -> Value {
    json!({ "name": name })
}
