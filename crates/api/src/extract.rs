//! Request extractors that answer with the API's JSON errors: the caller behind the key, a JSON
//! object body with the size cap, and path ids.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::AppState;
use fieldproof_domain::role::Action;
use fieldproof_store::Principal;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl Caller {
    /// `Forbidden` unless the caller's role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), ApiError> {
        if self.0.role.allows(action) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// The SHA-256 of a key, hex: the only form in which keys are stored or compared.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let result = authenticate(parts, state).await;
        // Only guesses (a key that is not ours) are throttled, per address: past the burst they
        // get 429 instead of 401, while a valid key from the same address is never refused for
        // its neighbours' mistakes. A missing header is not a guess.
        if let (Err(ApiError::UnknownKey), Some(ip)) = (&result, peer) {
            state
                .limiter
                .failed_authentication(ip)
                .map_err(ApiError::Throttled)?;
        }
        let caller = result?;
        state
            .limiter
            .request(caller.0.key_id)
            .map_err(ApiError::Throttled)?;
        Ok(caller)
    }
}

async fn authenticate(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
    {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or(ApiError::NotAuthenticated)?;
        let text = header.to_str().map_err(|_| ApiError::NotAuthenticated)?;
        let (scheme, key) = text
            .trim()
            .split_once(' ')
            .ok_or(ApiError::NotAuthenticated)?;
        let key = key.trim();
        if !scheme.eq_ignore_ascii_case("token") || key.is_empty() || key.contains(' ') {
            return Err(ApiError::NotAuthenticated);
        }
        let principal = state
            .store
            .authenticate(&key_hash(key))
            .await?
            .ok_or(ApiError::UnknownKey)?;
        tracing::Span::current().record("site", tracing::field::display(principal.site_id));
        Ok(Caller(principal))
    }
}

/// A request body that is a JSON object, sent as `application/json`, within the size cap.
#[derive(Debug)]
pub struct JsonObject(pub Map<String, Value>);

impl JsonObject {
    /// A digest of the object in canonical form (keys sorted), for idempotency checks.
    pub fn digest(&self) -> String {
        let canonical = serde_json::to_vec(&self.0).expect("a JSON value serialises");
        hex::encode(Sha256::digest(canonical))
    }
}

impl FromRequest<AppState> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json" {
            return Err(ApiError::UnsupportedMediaType(content_type));
        }
        let limit = state.config.json_body_limit;
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        let bytes = to_bytes(req.into_body(), limit).await.map_err(|e| {
            // The only error `to_bytes` reports for an in-memory limit is going past it; a
            // broken connection surfaces here too and gets the same honest 4xx.
            tracing::debug!(error = %e, "body read failed");
            ApiError::PayloadTooLarge(limit)
        })?;
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(JsonObject(map)),
            Ok(other) => Err(ApiError::BadRequest(format!(
                "The request body must be a JSON object, got {}.",
                fieldproof_domain::metadata::json_kind(&other)
            ))),
            Err(e) if bytes.iter().all(u8::is_ascii_whitespace) => {
                let _ = e;
                Err(ApiError::BadRequest(
                    "The request body is empty; send a JSON object.".into(),
                ))
            }
            Err(e) => Err(ApiError::BadRequest(format!("JSON parse error: {e}."))),
        }
    }
}

/// A method the route does not serve.
pub fn method_not_allowed(method: &Method) -> ApiError {
    ApiError::MethodNotAllowed(method.as_str().to_string())
}

/// Path parameters, as `axum::extract::Path`, but a path that does not decode (an invalid UTF-8
/// escape such as `%FF`) is an unknown object, answered as such: `WorkOrder not found!` under
/// `/v0.2/work-orders/`, `Not found.` elsewhere. (axum's own rejection is a plain-text 400.)
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<T> FromRequestParts<AppState> for ApiPath<T>
where
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(ApiPath(v)),
            Err(_) if parts.uri.path().starts_with("/v0.2/work-orders/") => {
                Err(ApiError::WorkOrderNotFound)
            }
            Err(_) => Err(ApiError::NotFound),
        }
    }
}

/// An optional JSON object body: `None` when the body is empty; otherwise the same rules as
/// [`JsonObject`] (JSON content type, size cap, an object).
#[derive(Debug)]
pub struct OptionalJsonObject(pub Option<Map<String, Value>>);

impl FromRequest<AppState> for OptionalJsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, ApiError> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
        if declared == Some(0) || (declared.is_none() && !chunked) {
            return Ok(OptionalJsonObject(None));
        }
        JsonObject::from_request(req, state)
            .await
            .map(|JsonObject(m)| OptionalJsonObject(Some(m)))
    }
}
