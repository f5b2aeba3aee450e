//! `/v0.2/work-orders/`: one file per operation.

pub mod create;
pub mod delete;
pub mod list;
pub mod render;
pub mod retrieve;
pub mod update;

use std::collections::BTreeMap;
use std::sync::Arc;

use fieldproof_domain::activation::unknown_types;
use fieldproof_domain::app::AppVersion;
use fieldproof_domain::work_order::WorkOrderFields;
use fieldproof_store::{FieldEngineer, WorkOrderRow};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::AppState;

/// Parses a work-order id from the path: anything that is not a UUID is simply not found.
pub fn parse_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::WorkOrderNotFound)
}

/// A work order of the caller's site with its version, or `WorkOrderNotFound`.
pub async fn load(
    state: &AppState,
    site_id: Uuid,
    id: Uuid,
) -> ApiResult<(WorkOrderRow, Arc<AppVersion>)> {
    let wo = state
        .store
        .get_work_order(site_id, id)
        .await?
        .ok_or(ApiError::WorkOrderNotFound)?;
    let version = state
        .store
        .app_version(site_id, wo.app_version_id)
        .await?
        .ok_or_else(|| ApiError::Internal(format!("work order {id} has no application version")))?;
    Ok((wo, version))
}

/// References of a request, checked against the site: each `Some` when the request carried it.
#[derive(Default)]
pub struct References {
    pub field_engineer: Option<Option<FieldEngineer>>,
    pub user_group_ids: Option<Vec<Uuid>>,
    pub types: Option<Vec<String>>,
}

/// Checks the field engineer, user groups and work-order types of a request against the site
/// and the version. The error map holds one message per field that names something unknown.
pub async fn resolve_references(
    state: &AppState,
    site_id: Uuid,
    version: &AppVersion,
    fields: &WorkOrderFields,
) -> ApiResult<Result<References, BTreeMap<String, String>>> {
    let mut errors = BTreeMap::new();
    let mut out = References::default();
    if let Some(email) = &fields.field_engineer_email {
        out.field_engineer = match email {
            None => Some(None),
            Some(email) => match state.store.find_user_by_email(site_id, email).await? {
                Some(user) => Some(Some(FieldEngineer {
                    user_id: user.id,
                    email: user.email.clone(),
                    name: user.full_name(),
                })),
                None => {
                    errors.insert(
                        "field_engineer_email".into(),
                        "There is no user with this email.".into(),
                    );
                    None
                }
            },
        };
    }
    if let Some(ids) = &fields.user_group_ids {
        let groups = state.store.list_groups(site_id).await?;
        let mut resolved = Vec::with_capacity(ids.len());
        for raw in ids {
            match Uuid::parse_str(raw)
                .ok()
                .filter(|id| groups.iter().any(|g| g.id == *id))
            {
                Some(id) => resolved.push(id),
                None => {
                    errors.insert(
                        "user_group_ids".into(),
                        format!("There is no user group with id {raw:?}."),
                    );
                    break;
                }
            }
        }
        out.user_group_ids = Some(resolved);
    }
    if let Some(types) = &fields.work_order_types {
        let unknown = unknown_types(version, types);
        if let Some(first) = unknown.first() {
            let known: Vec<&str> = version
                .work_order_types
                .iter()
                .map(|t| t.name.as_str())
                .collect();
            errors.insert(
                "work_order_types".into(),
                format!(
                    "There is no work order type named {first:?}. Known types: {}.",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        out.types = Some(types.clone());
    }
    Ok(if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    })
}

/// The absolute URL prefix of this server: the configured public URL, else `http://<Host>`.
pub fn base_url(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    match &state.config.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let host = headers
                .get(axum::http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// The work order with its task states and (when asked) its inputs, as create, update,
/// retrieve and review return it.
pub async fn full_representation(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    wo: &WorkOrderRow,
    version: &AppVersion,
    include_inputs: bool,
) -> ApiResult<serde_json::Value> {
    let states = state.store.task_states(wo.site_id, wo.id).await?;
    let inputs = if include_inputs {
        let rows = state.store.list_inputs(wo.site_id, wo.id).await?;
        Some(crate::analyze::render_inputs(
            &base_url(state, headers),
            &rows,
        ))
    } else {
        None
    };
    Ok(render::work_order(wo, version, Some(&states), inputs))
}
