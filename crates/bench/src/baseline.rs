//! The baselines: the least a durable work-order server can do, to measure ours against.
//!
//! Both answer `POST /v0.2/work-orders/` by storing the body as it came (no authentication, no
//! parsing, no validation, no index) in a SQLite file with our durability (WAL,
//! `synchronous = FULL`, acknowledged only after the commit), and `GET /v0.2/work-orders/{id}/`
//! by reading it back. Same HTTP stack as ours (axum on hyper, the same runtime), so the ratio
//! of our figures to theirs is the cost of what Fieldproof does per request, and of its store.
//!
//! - [`Commit::PerRequest`]: one transaction, so one WAL sync, per create; the writes queue on
//!   a mutex around the one connection (SQLite has one writer anyway).
//! - [`Commit::Grouped`]: a writer thread takes every insert queued, commits them in one
//!   transaction and then answers each: the group commit our SQLite store does, without the
//!   savepoints, the index or anything else.

use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rusqlite::{Connection, OptionalExtension};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    PerRequest,
    Grouped,
}

impl Commit {
    pub fn label(&self) -> &'static str {
        match self {
            Commit::PerRequest => "baseline: 1 tx/request",
            Commit::Grouped => "baseline: group commit",
        }
    }

    pub fn arg(&self) -> &'static str {
        match self {
            Commit::PerRequest => "per-request",
            Commit::Grouped => "grouped",
        }
    }
}

/// The grouped writer's batch cap, as in the SQLite store.
const MAX_BATCH: usize = 512;

type Insert = (String, Vec<u8>, oneshot::Sender<Result<(), String>>);

#[derive(Clone)]
struct Baseline {
    /// Per-request: the one write connection.
    writer: Option<Arc<Mutex<Connection>>>,
    /// Grouped: the writer thread's queue.
    queue: Option<mpsc::Sender<Insert>>,
    reader: Arc<Mutex<Connection>>,
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    Ok(conn)
}

/// Serves the baseline on `listener` until the process is stopped.
pub async fn serve(commit: Commit, db: &Path, listener: TcpListener) -> Result<()> {
    let conn = open(db).with_context(|| format!("cannot open {}", db.display()))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS work_orders (
            id TEXT PRIMARY KEY, body BLOB NOT NULL, create_date INTEGER NOT NULL)",
    )?;
    let reader = Arc::new(Mutex::new(open(db)?));
    let state = match commit {
        Commit::PerRequest => Baseline {
            writer: Some(Arc::new(Mutex::new(conn))),
            queue: None,
            reader,
        },
        Commit::Grouped => {
            let (tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("baseline-writer".into())
                .spawn(move || grouped_writer(conn, rx))?;
            Baseline {
                writer: None,
                queue: Some(tx),
                reader,
            }
        }
    };
    let app = Router::new()
        .route("/v0.2/work-orders/", post(create))
        .route("/v0.2/work-orders/{id}/", get(retrieve))
        .with_state(state);
    axum::serve(listener, app).await?;
    Ok(())
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn insert(conn: &Connection, id: &str, body: &[u8]) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT INTO work_orders (id, body, create_date) VALUES (?1, ?2, ?3)")?
        .execute((id, body, now_micros()))?;
    Ok(())
}

async fn create(State(b): State<Baseline>, body: Bytes) -> Response {
    let id = Uuid::new_v4().to_string();
    let stored = match (&b.writer, &b.queue) {
        (Some(writer), _) => {
            let (writer, id) = (writer.clone(), id.clone());
            tokio::task::spawn_blocking(move || {
                let conn = writer.lock().expect("writer lock");
                conn.execute_batch("BEGIN IMMEDIATE")?;
                let inserted = insert(&conn, &id, &body);
                conn.execute_batch(if inserted.is_ok() {
                    "COMMIT"
                } else {
                    "ROLLBACK"
                })?;
                inserted
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        }
        (None, Some(queue)) => {
            let (reply, answer) = oneshot::channel();
            match queue.send((id.clone(), body.to_vec(), reply)) {
                Ok(()) => answer
                    .await
                    .unwrap_or_else(|_| Err("writer stopped".into())),
                Err(_) => Err("writer stopped".into()),
            }
        }
        (None, None) => Err("no writer".into()),
    };
    match stored {
        Ok(()) => (
            StatusCode::CREATED,
            [(header::CONTENT_TYPE, "application/json")],
            format!("{{\"id\":\"{id}\"}}"),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "baseline insert failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn retrieve(State(b): State<Baseline>, UrlPath(id): UrlPath<String>) -> Response {
    let found = tokio::task::spawn_blocking(move || {
        let conn = b.reader.lock().expect("reader lock");
        let found = conn
            .prepare_cached("SELECT body FROM work_orders WHERE id = ?1")?
            .query_row([id], |r| r.get::<_, Vec<u8>>(0))
            .optional();
        found
    })
    .await;
    match found {
        Ok(Ok(Some(body))) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Ok(Ok(None)) => StatusCode::NOT_FOUND.into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn grouped_writer(conn: Connection, queue: mpsc::Receiver<Insert>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut results = Vec::with_capacity(batch.len());
        let begun = conn.execute_batch("BEGIN IMMEDIATE");
        for (id, body, _) in &batch {
            results.push(match &begun {
                Ok(()) => insert(&conn, id, body).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            });
        }
        let commit = conn.execute_batch("COMMIT").map_err(|e| e.to_string());
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for ((_, _, reply), result) in batch.into_iter().zip(results) {
            let _ = reply.send(commit.clone().and(result));
        }
    }
}
