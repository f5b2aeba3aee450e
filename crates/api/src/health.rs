//! `GET /healthz`: 200 when the store answers, 503 otherwise. No authentication.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::error::json_response;
use crate::AppState;

pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => json_response(StatusCode::OK, &json!({"status": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check: the store does not answer");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "unavailable", "detail": "The database does not answer."}),
            )
        }
    }
}
