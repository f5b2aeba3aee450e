//! The HTTP layer of Fieldproof: the Engage-compatible v0.2 API.
//!
//! Handlers are thin: extract and authenticate (`extract`), call the domain and the store, map
//! errors to the exact bodies of `API.md` (`error`). Every route answers with and without its
//! trailing slash, directly (a redirect would turn a client's POST into a GET).
#![forbid(unsafe_code)]
// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "512"]

pub mod analysis_job;
pub mod analyze;
pub mod audit;
pub mod blob_keys;
pub mod corrections;
pub mod cpu_pool;
pub mod error;
pub mod extract;
mod health;
pub mod limits;
pub mod openapi;
pub mod paging;
pub mod query;
pub mod step_aside;
pub mod task_groups;
pub mod time;
pub mod work_orders;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Router;
use fieldproof_analysis::Engine;
use fieldproof_blobs::Blobs;
use fieldproof_domain::role::Action;
use fieldproof_fetch::Fetcher;
use fieldproof_store::{timing, Store};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tracing::Instrument;

use crate::error::{json_response, ApiError};

/// The default cap on JSON request bodies: 2 MB.
pub const DEFAULT_JSON_BODY_LIMIT: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Cap on JSON request bodies, in bytes.
    pub json_body_limit: usize,
    /// Which URLs analysis inputs may be fetched from (internal ranges only when allowed).
    pub fetch: fieldproof_fetch::FetchPolicy,
    /// Analyses that may run at once (CPU-bound work); the default is the number of cores
    /// minus one, at least one ([`cpu_pool::default_threads`]).
    pub analysis_workers: usize,
    /// How the analysis threads yield the CPU to requests. See [`cpu_pool`].
    pub analysis_priority: cpu_pool::Priority,
    /// How long in all one analysis may wait, between its steps, while other requests are being
    /// answered; zero never waits. See [`step_aside`].
    pub analysis_step_aside: std::time::Duration,
    /// Rate limits; `RateLimits::default()` is unlimited (tests, benchmarks).
    pub rate_limits: limits::RateLimits,
    /// The URL clients reach this server at (for `next`/`previous` links); when absent, links are
    /// built from the request's `Host` header.
    pub public_url: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            json_body_limit: DEFAULT_JSON_BODY_LIMIT,
            public_url: None,
            fetch: Default::default(),
            analysis_workers: cpu_pool::default_threads(),
            analysis_priority: cpu_pool::Priority::default(),
            analysis_step_aside: step_aside::DEFAULT_BUDGET,
            rate_limits: limits::RateLimits::default(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub blobs: Arc<dyn Blobs>,
    pub engine: Arc<Engine>,
    pub fetcher: Arc<Fetcher>,
    /// The threads that run CPU-bound analyses, at a lower priority than requests; the rest wait
    /// their turn in its queue.
    pub analysis_pool: Arc<cpu_pool::CpuPool>,
    /// The threads that write analysed photos to a local blob directory, as many as analyse and
    /// at their priority, so that an analysis thread never waits for the disk.
    pub photo_pool: Arc<cpu_pool::CpuPool>,
    /// The requests being answered other than analyses, which analyses step aside for.
    pub requests: Arc<step_aside::Requests>,
    pub limiter: Arc<limits::Limiter>,
    pub config: Arc<ApiConfig>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        blobs: Arc<dyn Blobs>,
        engine: Arc<Engine>,
        config: ApiConfig,
    ) -> Self {
        Self {
            store,
            blobs,
            engine,
            fetcher: Arc::new(Fetcher::new(config.fetch.clone())),
            analysis_pool: Arc::new(cpu_pool::CpuPool::new(
                config.analysis_workers,
                config.analysis_priority,
            )),
            photo_pool: Arc::new(cpu_pool::CpuPool::named(
                "fp-photo-io",
                config.analysis_workers,
                config.analysis_priority,
            )),
            requests: Arc::default(),
            limiter: Arc::new(limits::Limiter::new(&config.rate_limits)),
            config: Arc::new(config),
        }
    }
}

/// One route of the API: method, path (without its trailing slash), the action the caller's role
/// must allow (`None`: no authentication), and a summary. The router, the OpenAPI document and the
/// tests that sweep every route (roles, site isolation, malformed input) are all built from
/// [`routes`], so a new route joins them without being listed twice.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub action: Option<Action>,
    pub summary: &'static str,
}

fn table() -> Vec<(RouteSpec, MethodRouter<AppState>)> {
    use axum::routing::{delete as del, patch, post};
    use work_orders::{create, delete, list, retrieve, update};
    use Action::*;
    let spec = |method: Method, path, action, summary| RouteSpec {
        method,
        path,
        action,
        summary,
    };
    vec![
        (
            spec(
                Method::GET,
                "/healthz",
                None,
                "Health of the server and its database",
            ),
            get(health::healthz),
        ),
        (
            spec(
                Method::GET,
                "/v0.2/work-orders",
                Some(ReadWorkOrders),
                "List work orders",
            ),
            get(list::list),
        ),
        (
            spec(
                Method::POST,
                "/v0.2/work-orders",
                Some(CreateWorkOrder),
                "Create a work order",
            ),
            post(create::create),
        ),
        (
            spec(
                Method::GET,
                "/v0.2/work-orders/{id}",
                Some(ReadWorkOrders),
                "Retrieve a work order",
            ),
            get(retrieve::retrieve),
        ),
        (
            spec(
                Method::PATCH,
                "/v0.2/work-orders/{id}",
                Some(UpdateWorkOrder),
                "Update a work order",
            ),
            patch(update::update),
        ),
        (
            spec(
                Method::DELETE,
                "/v0.2/work-orders/{id}",
                Some(DeleteWorkOrder),
                "Delete a work order",
            ),
            del(delete::delete),
        ),
        (
            spec(
                Method::POST,
                "/v0.2/work-orders/{id}/analyze",
                Some(Analyze),
                "Analyse one input for one task group",
            ),
            // Multipart uploads are capped by read_multipart itself, not axum's 2 MB default.
            post(analyze::analyze).layer(axum::extract::DefaultBodyLimit::max(
                analyze::MAX_ANALYSIS_BODY,
            )),
        ),
        (
            spec(
                Method::GET,
                "/v0.2/work-orders/{id}/inputs/{input_id}/file",
                Some(ReadWorkOrders),
                "The stored file of an input",
            ),
            get(analyze::input_file),
        ),
        (
            spec(
                Method::PATCH,
                "/v0.2/work-orders/{id}/tasks/{task_id}/correction",
                Some(Correct),
                "Correct a task value",
            ),
            patch(corrections::correct),
        ),
        (
            spec(
                Method::POST,
                "/v0.2/work-orders/{id}/review",
                Some(Review),
                "Mark a work order reviewed",
            ),
            post(corrections::review),
        ),
        (
            spec(
                Method::GET,
                "/v0.2/task-groups",
                Some(ReadTaskGroups),
                "List the task groups of the current application",
            ),
            get(task_groups::list),
        ),
        (
            spec(
                Method::GET,
                "/v0.2/task-groups/{name}",
                Some(ReadTaskGroups),
                "Retrieve a task group",
            ),
            get(task_groups::retrieve),
        ),
        (
            spec(
                Method::GET,
                "/v0.2/task-groups/{name}/examples/{index}",
                Some(ReadTaskGroups),
                "An example photo of a task group",
            ),
            get(task_groups::example),
        ),
        (
            spec(
                Method::GET,
                "/v0.2/audit-events",
                Some(ReadAudit),
                "List the site's audit events: who changed what, and when",
            ),
            get(audit::list),
        ),
        (
            spec(
                Method::GET,
                "/openapi.json",
                None,
                "The OpenAPI 3.0 document of this API",
            ),
            get(openapi::openapi_json),
        ),
    ]
}

/// Every route of the API.
pub fn routes() -> Vec<RouteSpec> {
    table().into_iter().map(|(spec, _)| spec).collect()
}

/// The whole API. Every route answers with and without its trailing slash; methods a path does
/// not serve answer 405 with a JSON body.
pub fn router(state: AppState) -> Router {
    let mut by_path: Vec<(&'static str, MethodRouter<AppState>)> = Vec::new();
    for (spec, handler) in table() {
        match by_path.iter_mut().find(|(p, _)| *p == spec.path) {
            Some((_, existing)) => *existing = std::mem::take(existing).merge(handler),
            None => by_path.push((spec.path, handler)),
        }
    }
    let requests = state.requests.clone();
    let mut r = Router::new();
    for (path, route) in by_path {
        let route =
            route.fallback(|method: Method| async move { extract::method_not_allowed(&method) });
        r = r
            .route(path, route.clone())
            .route(&format!("{path}/"), route);
    }
    r.fallback(|| async { ApiError::NotFound })
        .with_state(state)
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(trace))
        .layer(middleware::from_fn_with_state(requests, count))
        .layer(CatchPanicLayer::custom(|_| {
            // A panic is a bug: it is logged by the panic hook; the client gets the bare 500.
            ApiError::Internal("handler panicked".into()).into_response()
        }))
}

/// Counts the request while it is answered, its log line written, unless it is an analysis: the
/// analyses step aside for the others ([`step_aside`]).
async fn count(
    axum::extract::State(requests): axum::extract::State<Arc<step_aside::Requests>>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    if path.ends_with("/analyze/") || path.ends_with("/analyze") {
        return next.run(req).await;
    }
    let _answering = requests.answering();
    next.run(req).await
}

/// A safety net under the handlers' own errors: any 4xx or 5xx that is not JSON (a rejection from
/// axum or hyper that no extractor of ours mapped) becomes `{"detail": "<its text>"}`, so every
/// client error has a JSON body.
async fn json_errors(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), 4096).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_string(),
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    };
    json_response(status, &serde_json::json!({ "detail": text }))
}

/// One span and one log line per request: method, path, status, latency. Never the headers
/// (they carry keys) nor the body. The latency is also answered, as `Server-Timing: app;dur=<ms>`
/// (the W3C header browsers' developer tools show), with the store's share ([`server_timing`]):
/// what the server itself took, from the request reaching the router to its response being
/// ready, so a client can tell it from the network and from its own queueing.
async fn trace(req: Request, next: Next) -> Response {
    let span = tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        site = tracing::field::Empty,
    );
    async move {
        let start = Instant::now();
        let (mut response, spent) = timing::measure(next.run(req)).await;
        let status = response.status();
        let micros = start.elapsed().as_micros() as u64;
        if let Ok(value) = HeaderValue::from_str(&server_timing(micros, &spent)) {
            response.headers_mut().insert("server-timing", value);
        }
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), micros, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), micros, "request");
        }
        response
    }
    .instrument(span)
    .await
}

/// The `Server-Timing` value of a request that took `micros`: `app` is the whole, `db` the time
/// spent awaiting the store, `db-queue` and `db-commit` the parts of its writes spent queued
/// before their transaction began and in their transaction's commit, `db-wake` the part between
/// the store's thread answering and the request resuming on a request thread (the engine that
/// reports them: SQLite). Milliseconds, to the microsecond.
fn server_timing(micros: u64, spent: &timing::Spent) -> String {
    let ms = |d: std::time::Duration| d.as_micros() as f64 / 1e3;
    let mut value = format!("app;dur={}", micros as f64 / 1e3);
    if !spent.store().is_zero() {
        value.push_str(&format!(", db;dur={}", ms(spent.store())));
        if !spent.commit().is_zero() {
            value.push_str(&format!(
                ", db-queue;dur={}, db-commit;dur={}",
                ms(spent.queued()),
                ms(spent.commit())
            ));
        }
        if !spent.wake().is_zero() {
            value.push_str(&format!(", db-wake;dur={}", ms(spent.wake())));
        }
    }
    value
}

/// Serves the API on `listener` until `shutdown` completes, then lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // The peer address feeds the failed-authentication limit.
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// A JSON 200, for small handlers.
pub fn ok_json(body: &serde_json::Value) -> Response {
    json_response(StatusCode::OK, body)
}
