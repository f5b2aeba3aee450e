//! The one error type of the HTTP layer and the exact bodies `API.md` gives each case.
//!
//! Internal errors are logged with their cause and answered with a bare 500 body: no stack
//! trace, SQL text or file path ever reaches a client.

use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use fieldproof_domain::FieldErrors;
use fieldproof_store::StoreError;
use serde_json::{json, Value};

#[derive(Debug)]
pub enum ApiError {
    /// No `Authorization` header, or not of the form `Token <key>`.
    NotAuthenticated,
    /// A well-formed header whose key is unknown or revoked.
    UnknownKey,
    Forbidden,
    WorkOrderNotFound,
    NotFound,
    /// A list page past the last one (404, as Django REST framework answers).
    InvalidPage,
    /// 400 keyed by field, each a list of messages (create).
    Fields(FieldErrors),
    /// 400 `{"detail": {field: message}}`: a reference to something that does not exist.
    References(BTreeMap<String, String>),
    /// 400 `{"error": "Serialization error", "detail": {field: message}}` (update).
    Serialization(BTreeMap<String, String>),
    /// 400 `{"detail": message}`.
    BadRequest(String),
    /// 409 `{"detail": message}`.
    Conflict(String),
    /// 413, with the limit in bytes.
    PayloadTooLarge(usize),
    /// 413 with a message of its own (an input file over its limit).
    PayloadTooLarge413(String),
    /// 415, with the content type received.
    UnsupportedMediaType(String),
    MethodNotAllowed(String),
    /// 429, with how long to wait.
    Throttled(std::time::Duration),
    /// 500: the cause is logged, never shown.
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            NotAuthenticated | UnknownKey => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            WorkOrderNotFound | NotFound | InvalidPage => StatusCode::NOT_FOUND,
            Fields(_) | References(_) | Serialization(_) | BadRequest(_) => StatusCode::BAD_REQUEST,
            Conflict(_) => StatusCode::CONFLICT,
            PayloadTooLarge(_) | PayloadTooLarge413(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn body(&self) -> Value {
        use ApiError::*;
        match self {
            NotAuthenticated => json!({"detail": "Authentication credentials not provided."}),
            UnknownKey => json!({"detail": "No user found for such apiKey."}),
            Forbidden => json!({"detail": "You do not have permission to perform this action."}),
            WorkOrderNotFound => json!({"detail": "WorkOrder not found!"}),
            NotFound => json!({"detail": "Not found."}),
            InvalidPage => json!({"detail": "Invalid page."}),
            Fields(errors) => {
                let map: serde_json::Map<String, Value> =
                    errors.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                Value::Object(map)
            }
            References(map) => json!({ "detail": map }),
            Serialization(map) => json!({"error": "Serialization error", "detail": map}),
            BadRequest(m) | Conflict(m) | PayloadTooLarge413(m) => json!({ "detail": m }),
            PayloadTooLarge(limit) => json!({
                "detail": format!("Request body is too large: the limit is {limit} bytes.")
            }),
            UnsupportedMediaType(ct) => json!({
                "detail": format!(
                    "Unsupported media type \"{ct}\" in request. Send a JSON object with Content-Type: application/json."
                )
            }),
            MethodNotAllowed(m) => json!({ "detail": format!("Method \"{m}\" not allowed.") }),
            Throttled(wait) => json!({
                "detail": format!("Request was throttled. Expected available in {} seconds.", retry_after(*wait))
            }),
            Internal(_) => json!({"detail": "Internal server error. The error was logged."}),
        }
    }

    /// An update's field errors in the PATCH shape: one message per field.
    pub fn serialization(errors: FieldErrors) -> Self {
        ApiError::Serialization(
            errors
                .iter()
                .map(|(k, v)| (k.clone(), v.join(" ")))
                .collect(),
        )
    }

    pub fn reference(field: &str, message: impl Into<String>) -> Self {
        ApiError::References(BTreeMap::from([(field.to_string(), message.into())]))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Backend(m) => ApiError::Internal(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        }
        let mut response = json_response(self.status(), &self.body());
        if let ApiError::Throttled(wait) = &self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                HeaderValue::from(retry_after(*wait)),
            );
        }
        response
    }
}

/// Whole seconds to wait, rounded up (at least 1).
fn retry_after(wait: std::time::Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

/// A JSON response with the given status.
pub fn json_response<T: serde::Serialize + ?Sized>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).expect("a response body serialises");
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub type ApiResult<T> = Result<T, ApiError>;
