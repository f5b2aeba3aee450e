//! The OpenAPI 3.0 document of the API, served at `GET /openapi.json`.
//!
//! Paths and methods come from [`crate::routes`], the table the router is built from, so a route
//! cannot be served without being in the document. What each operation takes and answers is
//! written here by hand, from the handlers: the request bodies, the exact error bodies of
//! `error.rs`, and the representations of `work_orders/render.rs`, `analyze.rs`,
//! `corrections.rs` and `task_groups.rs`. A route with no description here still appears (with
//! `x-undescribed: true`), and the unit test below fails until it is described.
//!
//! What the document cannot say: which metadata keys, work-order types, users, user groups and
//! task groups exist depends on the caller's site and its application version, so those values
//! are plain strings and objects here; the server answers 400 for names it does not know.
//!
//! We write the document with `serde_json` rather than derive it (utoipa) because most bodies
//! are built as JSON values in the handlers, not typed structs; the schemas are checked against
//! the live server by `scripts/schemathesis.sh`.

use axum::http::Method;
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::{ok_json, RouteSpec};

/// `GET /openapi.json`: the document, no key needed.
pub async fn openapi_json() -> Response {
    ok_json(&document())
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for spec in crate::routes() {
        let item = paths
            .entry(spec.path.to_string())
            .or_insert_with(|| json!({}));
        item[spec.method.as_str().to_ascii_lowercase()] = operation(&spec);
    }
    add_links(&mut paths);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Fieldproof API",
            "version": "0.2",
            "description": "The Deepomatic Engage customer API v0.2, as Fieldproof serves it. \
                Every path is also served with a trailing slash. Send \
                `Authorization: Token <key>` and `Content-Type: application/json`. \
                See docs/api.md for the rules behind each field."
        },
        "servers": [{"url": "/"}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`Token <key>`: a key is `fpk_` and 48 hex digits, for one user on one site."
                }
            },
            "schemas": schemas(),
        }
    })
}

/// Links from the answers that name new objects to the operations on them, so that stateful
/// testing (and readers) can follow a work order from its creation, and an input from its
/// analysis. Built from the route table: every operation whose path parameters an answer can
/// fill gets a link.
fn add_links(paths: &mut Map<String, Value>) {
    // (path, method, status, where each path parameter comes from in the answer)
    type LinkSource = (
        &'static str,
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
    );
    let sources: [LinkSource; 3] = [
        (
            "/v0.2/work-orders",
            "post",
            "201",
            &[
                ("id", "$response.body#/id"),
                ("task_id", "$response.body#/tasks/0/id"),
            ],
        ),
        (
            "/v0.2/work-orders/{id}/analyze",
            "post",
            "200",
            &[
                ("id", "$response.body#/work_order_id"),
                ("input_id", "$response.body#/input_id"),
            ],
        ),
        (
            "/v0.2/work-orders/{id}/analyze",
            "post",
            "202",
            &[
                ("id", "$response.body#/work_order_id"),
                ("input_id", "$response.body#/input_id"),
            ],
        ),
    ];
    let routes = crate::routes();
    for (path, method, status, fills) in sources {
        let mut links = Map::new();
        for r in &routes {
            let params: Vec<&str> = path_params(r.path).collect();
            if params.is_empty() || !params.iter().all(|p| fills.iter().any(|(f, _)| f == p)) {
                continue;
            }
            // From an analysis, only what is about its input.
            if path.ends_with("/analyze") && !params.contains(&"input_id") {
                continue;
            }
            let parameters: Map<String, Value> = params
                .iter()
                .map(|p| {
                    let from = fills.iter().find(|(f, _)| f == p).expect("checked").1;
                    (p.to_string(), json!(from))
                })
                .collect();
            let id = operation_id(r);
            links.insert(
                id.clone(),
                json!({"operationId": id, "parameters": parameters}),
            );
        }
        if let Some(response) = paths
            .get_mut(path)
            .and_then(|item| item.get_mut(method))
            .and_then(|op| op["responses"].get_mut(status))
        {
            if !links.is_empty() {
                response["links"] = Value::Object(links);
            }
        }
    }
}

/// The operation of one route: hand-written when known, else a bare one marked undescribed.
fn operation(spec: &RouteSpec) -> Value {
    let mut op = described(spec).unwrap_or_else(|| {
        json!({
            "x-undescribed": true,
            "responses": {"default": {"description": "Not described yet."}},
        })
    });
    op["summary"] = json!(spec.summary);
    op["operationId"] = json!(operation_id(spec));
    let mut params: Vec<Value> = path_params(spec.path).map(path_param).collect();
    if let Some(extra) = op.get("parameters").and_then(Value::as_array) {
        params.extend(extra.iter().cloned());
    }
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    let responses = op["responses"].as_object_mut().expect("responses");
    match spec.action {
        None => op["security"] = json!([]),
        Some(_) => {
            responses.insert(
                "401".into(),
                error(
                    "Authentication credentials not provided, or an unknown or revoked key.",
                    "Detail",
                ),
            );
            responses.insert(
                "403".into(),
                error("The caller's role may not do this.", "Detail"),
            );
            responses.insert(
                "429".into(),
                error("Over a rate limit of the key (or of failed authentications from the address); see Retry-After.", "Detail"),
            );
        }
    }
    op
}

/// `GET /v0.2/work-orders/{id}` → `retrieve_work_order`-like ids: method and path words.
fn operation_id(spec: &RouteSpec) -> String {
    let words: Vec<String> = spec
        .path
        .split('/')
        .filter(|s| !s.is_empty() && *s != "v0.2")
        .map(|s| {
            s.trim_matches(|c| c == '{' || c == '}')
                .replace(['-', '.'], "_")
        })
        .collect();
    format!(
        "{}_{}",
        spec.method.as_str().to_ascii_lowercase(),
        words.join("_")
    )
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

fn path_param(name: &str) -> Value {
    let (schema, description) = match name {
        "id" => (
            json!({"type": "string", "format": "uuid"}),
            "The work order's id. Another site's id, or anything not a UUID, is 404.",
        ),
        "input_id" => (
            json!({"type": "string", "format": "uuid"}),
            "The input's id, from the work order's `inputs`.",
        ),
        "task_id" => (
            json!({"type": "string"}),
            "The task's id or its name, among the work order's active tasks.",
        ),
        "name" => (
            json!({"type": "string"}),
            "The task group's name or id, in the site's current application version.",
        ),
        "index" => (
            json!({"type": "integer", "minimum": 0}),
            "The example photo's position in the task group, from 0.",
        ),
        _ => (json!({"type": "string"}), "Undescribed path parameter."),
    };
    json!({"name": name, "in": "path", "required": true, "schema": schema, "description": description})
}

fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": json_content(schema)})
}

fn error(description: &str, schema: &str) -> Value {
    ok(description, schema_ref(schema))
}

/// 400 whose body is one of several error shapes.
fn bad_request(description: &str, shapes: &[&str]) -> Value {
    let schema = if shapes.len() == 1 {
        schema_ref(shapes[0])
    } else {
        json!({"anyOf": shapes.iter().map(|s| schema_ref(s)).collect::<Vec<_>>()})
    };
    ok(description, schema)
}

fn json_body(schema: Value, required: bool) -> Value {
    json!({"required": required, "content": json_content(schema)})
}

fn binary(description: &str) -> Value {
    let b = json!({"schema": {"type": "string", "format": "binary"}});
    json!({"description": description, "content": {
        "image/jpeg": b, "image/png": b, "application/pdf": b, "application/octet-stream": b,
    }})
}

/// The errors of reading a JSON body (`extract::JsonObject`).
fn body_errors(responses: &mut Map<String, Value>) {
    responses.insert(
        "413".into(),
        error("The body is over the size cap.", "Detail"),
    );
    responses.insert(
        "415".into(),
        error("The body is not sent as application/json.", "Detail"),
    );
}

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn described(spec: &RouteSpec) -> Option<Value> {
    let wo_404 = error("No such work order in the caller's site.", "Detail");
    let not_found = error("No such object in the caller's site.", "Detail");
    let mut op = match (spec.method.clone(), spec.path) {
        (Method::GET, "/healthz") => json!({
            "responses": {
                "200": ok("The server and its database answer.", schema_ref("Health")),
                "503": ok("The database does not answer.", schema_ref("Health")),
            }
        }),
        (Method::GET, "/openapi.json") => json!({
            "responses": {"200": ok("This document.", json!({"type": "object"}))}
        }),
        (Method::GET, "/v0.2/work-orders") => json!({
            "parameters": list_parameters(),
            "responses": {
                "200": ok("A page of the site's work orders, newest first.", schema_ref("WorkOrderPage")),
                "400": bad_request("A bad query parameter, keyed by its name.", &["FieldErrors"]),
                "404": error("A page past the last one.", "Detail"),
            }
        }),
        (Method::POST, "/v0.2/work-orders") => json!({
            "parameters": [{
                "name": "Idempotency-Key", "in": "header", "required": false,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                "description": "A retry with the same key and body returns the first answer (with `Idempotent-Replayed: true`) and creates nothing, also when that work order was deleted since."
            }],
            "requestBody": json_body(schema_ref("WorkOrderCreate"), true),
            "responses": {
                "201": ok("The new work order.", schema_ref("WorkOrder")),
                "400": bad_request(
                    "Invalid fields keyed by field; unknown references under `detail`; a body that is not a JSON object.",
                    &["FieldErrors", "ReferenceErrors", "Detail"],
                ),
                "409": error("The Idempotency-Key was used with another body, or the site has no application.", "Detail"),
            }
        }),
        (Method::GET, "/v0.2/work-orders/{id}") => json!({
            "parameters": [query("include_inputs", json!({"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}), "Whether to include `inputs` (default true).")],
            "responses": {
                "200": ok("The work order.", schema_ref("WorkOrder")),
                "400": bad_request("A bad `include_inputs`.", &["FieldErrors"]),
                "404": wo_404,
            }
        }),
        (Method::PATCH, "/v0.2/work-orders/{id}") => json!({
            "requestBody": json_body(schema_ref("WorkOrderUpdate"), true),
            "responses": {
                "200": ok("The updated work order.", schema_ref("WorkOrder")),
                "400": bad_request("Invalid fields or references; a body that is not a JSON object.", &["SerializationError", "Detail"]),
                "404": wo_404,
            }
        }),
        (Method::DELETE, "/v0.2/work-orders/{id}") => json!({
            "responses": {
                "204": {"description": "Deleted; no body."},
                "404": wo_404,
            }
        }),
        (Method::POST, "/v0.2/work-orders/{id}/analyze") => json!({
            "parameters": [query("async", json!({"type": "string"}),
                "`true` (also `1`, `yes`): store the input and queue its analysis (202); anything else analyses now (200).")],
            "requestBody": {"required": true, "content": {
                "application/json": {"schema": schema_ref("AnalysisRequest")},
                "multipart/form-data": {"schema": schema_ref("AnalysisUpload")},
            }},
            "responses": {
                "200": ok("The analysis.", schema_ref("Analysis")),
                "202": ok("Queued (`async=true`): the input is stored and a worker analyses it.", schema_ref("AnalysisQueued")),
                "400": bad_request("A missing, undecodable or refused input, or an unknown task group, keyed by field.", &["FieldErrors", "Detail"]),
                "404": wo_404,
                "413": error("The body or the file is over its limit.", "Detail"),
                "415": error("Neither application/json nor multipart/form-data.", "Detail"),
            }
        }),
        (Method::GET, "/v0.2/work-orders/{id}/inputs/{input_id}/file") => json!({
            "responses": {
                "200": binary("The stored file, as received."),
                "404": not_found,
            }
        }),
        (Method::PATCH, "/v0.2/work-orders/{id}/tasks/{task_id}/correction") => json!({
            "requestBody": json_body(schema_ref("CorrectionRequest"), true),
            "responses": {
                "200": ok("The task with its new state.", schema_ref("Correction")),
                "400": bad_request("A missing or ill-typed `corrected_value`; a body that is not a JSON object.", &["FieldErrors", "Detail"]),
                "404": not_found,
            }
        }),
        (Method::POST, "/v0.2/work-orders/{id}/review") => json!({
            "requestBody": json_body(schema_ref("ReviewRequest"), false),
            "responses": {
                "200": ok("The work order.", schema_ref("WorkOrder")),
                "400": bad_request("A `reviewed` that is not a boolean; a body that is not a JSON object.", &["FieldErrors", "Detail"]),
                "404": wo_404,
            }
        }),
        (Method::GET, "/v0.2/task-groups") => json!({
            "responses": {
                "200": ok("The task groups of the site's current application version.", json!({"type": "array", "items": schema_ref("TaskGroup")})),
            }
        }),
        (Method::GET, "/v0.2/task-groups/{name}") => json!({
            "responses": {
                "200": ok("The task group.", schema_ref("TaskGroup")),
                "404": not_found,
            }
        }),
        (Method::GET, "/v0.2/task-groups/{name}/examples/{index}") => json!({
            "responses": {
                "200": binary("The example photo."),
                "404": not_found,
            }
        }),
        (Method::GET, "/v0.2/audit-events") => json!({
            "parameters": audit_parameters(),
            "responses": {
                "200": ok("A page of the site's audit events, newest first.", schema_ref("AuditEventPage")),
                "400": bad_request("A bad query parameter, keyed by its name.", &["FieldErrors"]),
                "404": error("A page past the last one.", "Detail"),
            }
        }),
        _ => return None,
    };
    let responses = op["responses"].as_object_mut().expect("responses");
    if op_takes_json(spec) {
        body_errors(responses);
    }
    Some(op)
}

/// Whether the route reads a JSON object body through `JsonObject` (413/415 on a bad body).
fn op_takes_json(spec: &RouteSpec) -> bool {
    matches!(
        (spec.method.clone(), spec.path),
        (Method::POST, "/v0.2/work-orders")
            | (Method::PATCH, "/v0.2/work-orders/{id}")
            | (
                Method::PATCH,
                "/v0.2/work-orders/{id}/tasks/{task_id}/correction"
            )
    )
}

fn list_parameters() -> Value {
    let positive = json!({"type": "integer", "minimum": 1, "maximum": u64::MAX});
    let date = date_filter();
    let progress = json!({"type": "number", "minimum": 0, "maximum": 100});
    json!([
        query("page", positive.clone(), "From 1; past the last page is 404."),
        query("page_size", json!({"type": "integer", "minimum": 1, "maximum": 100}), "Default 20, at most 100."),
        query("name", json!({"type": "string"}), "Exact name."),
        {"name": "tag", "in": "query", "required": false, "schema": {"type": "array", "items": {"type": "string"}},
         "style": "form", "explode": true, "description": "Repeatable: every tag must be on the work order."},
        query("type", json!({"type": "string"}), "Has this work-order type."),
        query("field_engineer_email", json!({"type": "string"}), "Assigned to this user (any case)."),
        query("created_after", date.clone(), "Created strictly after (a date is its midnight UTC)."),
        query("created_before", date, "Created strictly before."),
        query("reviewed", json!({"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}), "Has (true) or has not (false) a review date."),
        query("min_progress", progress.clone(), "Progress score at least this."),
        query("max_progress", progress, "Progress score at most this."),
    ])
}

fn audit_parameters() -> Value {
    let date = date_filter();
    json!([
        query(
            "page",
            json!({"type": "integer", "minimum": 1, "maximum": u64::MAX}),
            "From 1; past the last page is 404."
        ),
        query(
            "page_size",
            json!({"type": "integer", "minimum": 1, "maximum": 100}),
            "Default 20, at most 100."
        ),
        query(
            "object_id",
            json!({"type": "string"}),
            "Events about this object (a work order's id gives its whole history)."
        ),
        query(
            "action",
            json!({"type": "string", "enum": fieldproof_store::actions::ALL}),
            "Events of this action."
        ),
        query(
            "created_after",
            date.clone(),
            "Recorded strictly after (a date is its midnight UTC)."
        ),
        query("created_before", date, "Recorded strictly before."),
    ])
}

/// A time filter: a date (its midnight UTC) or an RFC 3339 date-time.
fn date_filter() -> Value {
    json!({
        "anyOf": [
            {"type": "string", "format": "date"},
            {"type": "string", "format": "date-time"},
        ],
        "description": "2024-05-01 or 2024-05-01T10:00:00Z",
    })
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    schema
}

fn date_time() -> Value {
    json!({"type": "string", "format": "date-time", "example": "2023-05-29T12:12:11.584841Z"})
}

fn object(required: &[&str], properties: Value) -> Value {
    json!({"type": "object", "required": required, "properties": properties})
}

/// A task's state: values are of the task's type (boolean, number or text), `null` when unknown.
fn task_state() -> Value {
    let any = json!({"nullable": true, "description": "A value of the task's type: boolean, number or text."});
    nullable(object(
        &[
            "analyzed_value",
            "corrected_value",
            "value",
            "is_conformity_validated",
            "message",
        ],
        json!({
            "analyzed_value": any,
            "corrected_value": any,
            "value": any,
            "is_conformity_validated": {"type": "boolean"},
            "message": {"type": "string", "nullable": true},
        }),
    ))
}

fn task_type() -> Value {
    json!({"type": "string", "enum": ["Boolean", "Number", "Text", "Enum"]})
}

fn schemas() -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let work_order_fields = |name: Value| {
        json!({
            "name": name,
            "metadata": {"type": "object", "maxProperties": 200, "description": "Checked against the metadata the site's application declares; undeclared keys are stored as they are. Keys have 1 to 128 characters."},
            "tags": {"type": "array", "maxItems": 200, "items": {"type": "string", "minLength": 1, "maxLength": 256}},
            "field_engineer_email": {"type": "string", "nullable": true, "description": "A user of the site (any case); null or blank: nobody."},
            "user_group_ids": {"type": "array", "items": {"type": "string"}, "description": "Ids of the site's user groups."},
            "work_order_types": {"type": "array", "items": {"type": "string"}, "description": "Names of the current version's work-order types; none: every task."},
        })
    };
    let name = json!({"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"});
    let update_fields = work_order_fields(name.clone());
    let task = object(
        &[
            "id",
            "name",
            "label",
            "type",
            "group_id",
            "group_name",
            "state",
        ],
        json!({
            "id": uuid(), "name": {"type": "string"}, "label": {"type": "string"},
            "type": task_type(), "group_id": uuid(), "group_name": {"type": "string"},
            "state": task_state(),
        }),
    );
    json!({
        "Detail": object(&["detail"], json!({"detail": {"type": "string"}})),
        "FieldErrors": {
            "type": "object", "minProperties": 1,
            "description": "Messages keyed by field (or query parameter).",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "ReferenceErrors": object(&["detail"], json!({
            "detail": {"type": "object", "additionalProperties": {"type": "string"}},
        })),
        "SerializationError": object(&["error", "detail"], json!({
            "error": {"type": "string", "enum": ["Serialization error"]},
            "detail": {"type": "object", "additionalProperties": {"type": "string"}},
        })),
        "Health": object(&["status"], json!({
            "status": {"type": "string", "enum": ["ok", "unavailable"]},
            "detail": {"type": "string"},
        })),
        "WorkOrderCreate": {
            "type": "object", "required": ["name"],
            "properties": work_order_fields(name),
        },
        "WorkOrderUpdate": {"type": "object", "properties": update_fields},
        "WorkOrder": object(
            &["id", "name", "site_id", "app_version_id", "engage_app_id", "progress_score",
              "review_date", "create_date", "update_date", "tags", "parameters", "metadata",
              "types", "field_engineer_email", "field_engineer_name", "assigned_user_id",
              "user_group_ids", "first_analysis_id", "latest_analysis_id", "tasks", "task_groups"],
            json!({
                "id": uuid(), "name": {"type": "string"}, "site_id": uuid(),
                "app_version_id": uuid(), "engage_app_id": uuid(),
                "progress_score": {"type": "number", "minimum": 0, "maximum": 100},
                "review_date": nullable(date_time()),
                "create_date": date_time(), "update_date": date_time(),
                "tags": strings,
                "parameters": {"type": "object", "nullable": true},
                "metadata": {"type": "object"},
                "types": {"type": "array", "items": object(&["id", "name"], json!({"id": uuid(), "name": {"type": "string"}}))},
                "field_engineer_email": {"type": "string", "nullable": true},
                "field_engineer_name": {"type": "string", "nullable": true},
                "assigned_user_id": nullable(uuid()),
                "user_group_ids": {"type": "array", "items": uuid()},
                "first_analysis_id": nullable(uuid()),
                "latest_analysis_id": nullable(uuid()),
                "tasks": {"type": "array", "items": task},
                "task_groups": {"type": "array", "items": object(&["id", "name", "display_name", "order"], json!({
                    "id": uuid(), "name": {"type": "string"}, "display_name": {"type": "string"},
                    "order": {"type": "integer"},
                }))},
                "inputs": {"type": "array", "items": schema_ref("Input"),
                           "description": "Left out with include_inputs=false and in list results."},
            }),
        ),
        "WorkOrderPage": object(&["count", "next", "previous", "results"], json!({
            "count": {"type": "integer", "minimum": 0},
            "next": {"type": "string", "nullable": true},
            "previous": {"type": "string", "nullable": true},
            "results": {"type": "array", "items": schema_ref("WorkOrder")},
        })),
        "AuditEvent": object(
            &["id", "site_id", "actor", "actor_email", "action", "object_type", "object_id",
              "details", "create_date"],
            json!({
                "id": uuid(), "site_id": uuid(),
                "actor": {"type": "string", "description": "`user:<uuid>` for a user of the API, `cli` for the command line."},
                "actor_email": {"type": "string", "nullable": true, "description": "The acting user's email; null for the command line."},
                "action": {"type": "string", "enum": fieldproof_store::actions::ALL},
                "object_type": {"type": "string", "enum": ["work_order", "user", "group", "key", "app_version", "site"]},
                "object_id": {"type": "string"},
                "details": {"type": "object", "description": "What changed: the fields of an update, the corrected value. Never a secret."},
                "create_date": date_time(),
            }),
        ),
        "AuditEventPage": object(&["count", "next", "previous", "results"], json!({
            "count": {"type": "integer", "minimum": 0},
            "next": {"type": "string", "nullable": true},
            "previous": {"type": "string", "nullable": true},
            "results": {"type": "array", "items": schema_ref("AuditEvent")},
        })),
        "Input": object(
            &["id", "task_group_name", "create_date", "status", "conformity_messages",
              "analysis_id", "kind", "content_type", "url"],
            json!({
                "id": uuid(), "task_group_name": {"type": "string"}, "create_date": date_time(),
                "status": schema_ref("InputStatus"),
                "conformity_messages": strings,
                "analysis_id": uuid(),
                "kind": {"type": "string", "enum": ["image", "pdf"]},
                "content_type": {"type": "string"},
                "url": {"type": "string"},
            }),
        ),
        "AnalysisStatus": {"type": "string", "enum": ["analysis_ok", "analysis_ko", "conformity_error"]},
        "InputStatus": {"type": "string", "enum": ["queued", "analysis_ok", "analysis_ko", "conformity_error"]},
        "AnalysisQueued": object(
            &["id", "input_id", "job_id", "work_order_id", "task_group_name", "status"],
            json!({
                "id": uuid(), "input_id": uuid(), "job_id": uuid(), "work_order_id": uuid(),
                "task_group_name": {"type": "string"},
                "status": {"type": "string", "enum": ["queued"]},
            }),
        ),
        "AnalysisRequest": object(&["inputs"], json!({
            "inputs": {
                "type": "array",
                "description": "One image input (an http(s) URL or a base64 data URI) and one `context` (the task group name).",
                "items": object(&["name", "data"], json!({
                    "name": {"type": "string", "example": "image_input"},
                    "data": object(&["type", "value"], json!({
                        "type": {"type": "string", "enum": ["image", "pdf", "file", "text"]},
                        "value": {"type": "string"},
                    })),
                })),
            },
            "metadata": {"type": "object", "nullable": true},
        })),
        "AnalysisUpload": object(&["context", "file"], json!({
            "context": {"type": "string", "description": "The task group name."},
            "file": {"type": "string", "format": "binary"},
        })),
        "Analysis": object(
            &["id", "input_id", "work_order_id", "task_group_name", "status",
              "conformity_messages", "tasks", "progress_score", "timings"],
            json!({
                "id": uuid(), "input_id": uuid(), "work_order_id": uuid(),
                "task_group_name": {"type": "string"},
                "status": schema_ref("AnalysisStatus"),
                "conformity_messages": strings,
                "tasks": {"type": "array", "items": task},
                "progress_score": {"type": "number", "minimum": 0, "maximum": 100},
                "timings": object(&["decode_ms", "checks_ms", "model_ms", "waited_ms"], json!({
                    "decode_ms": {"type": "number"}, "checks_ms": {"type": "number"},
                    "model_ms": {"type": "number"}, "waited_ms": {"type": "number"},
                })),
            }),
        ),
        "CorrectionRequest": object(&["corrected_value"], json!({
            "corrected_value": {"nullable": true, "description": "A value of the task's type, or a string that converts (\"true\", \"3\"); null removes the correction."},
        })),
        "Correction": object(&["id", "name", "state"], json!({
            "id": uuid(), "name": {"type": "string"}, "state": task_state(),
        })),
        "ReviewRequest": {"type": "object", "properties": {
            "reviewed": {"type": "boolean", "default": true, "description": "false undoes the review."},
        }},
        "TaskGroup": object(
            &["id", "name", "display_name", "description", "order", "input_examples", "tasks"],
            json!({
                "id": uuid(), "name": {"type": "string"}, "display_name": {"type": "string"},
                "description": {"type": "string"}, "order": {"type": "integer"},
                "input_examples": strings,
                "tasks": {"type": "array", "items": object(
                    &["id", "name", "label", "type", "outcome_type", "only_for_dashboard",
                      "conformity_status", "values", "conform_when", "computed_by"],
                    json!({
                        "id": uuid(), "name": {"type": "string"}, "label": {"type": "string"},
                        "type": task_type(), "outcome_type": task_type(),
                        "only_for_dashboard": {"type": "boolean"},
                        "conformity_status": {"type": "boolean"},
                        "values": {"type": "array", "items": {"type": "string"}, "nullable": true},
                        "conform_when": object(&["rule", "description"], json!({
                            "rule": {"type": "string", "enum": ["equals", "range", "one_of", "not_empty"]},
                            "description": {"type": "string"},
                        })),
                        "computed_by": {"type": "object", "nullable": true, "required": ["rule", "model", "output"],
                            "properties": {"rule": {"type": "string"}, "model": {"type": "string"}, "output": {"type": "string"}}},
                    }),
                )},
            }),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_in_the_document_and_described() {
        let doc = document();
        let mut undescribed = Vec::new();
        for spec in crate::routes() {
            let op = &doc["paths"][spec.path][spec.method.as_str().to_ascii_lowercase()];
            assert!(
                op.is_object(),
                "{} {} is not in the OpenAPI document",
                spec.method,
                spec.path
            );
            if op.get("x-undescribed").is_some() {
                undescribed.push(format!("{} {}", spec.method, spec.path));
            }
            for p in path_params(spec.path) {
                assert!(
                    op["parameters"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|q| q["name"] == p && q["in"] == "path"),
                    "{} {}: path parameter {p} is not declared",
                    spec.method,
                    spec.path
                );
            }
        }
        assert!(
            undescribed.is_empty(),
            "describe these routes in crates/api/src/openapi.rs (`described`): {undescribed:?}"
        );
    }

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        let text = doc.to_string();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "dangling $ref {name}"
            );
        }
    }

    #[test]
    fn links_name_real_operations() {
        let doc = document();
        let ids: Vec<String> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .map(|op| op["operationId"].as_str().unwrap().to_string())
            .collect();
        let create = &doc["paths"]["/v0.2/work-orders"]["post"]["responses"]["201"]["links"];
        assert!(create["get_work_orders_id"].is_object(), "{create}");
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                for response in op["responses"].as_object().unwrap().values() {
                    for link in response["links"].as_object().into_iter().flatten() {
                        let target = link.1["operationId"].as_str().unwrap();
                        assert!(ids.iter().any(|i| i == target), "link to {target}");
                    }
                }
            }
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut seen = std::collections::HashSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap().to_string();
                assert!(seen.insert(id.clone()), "duplicate operationId {id}");
            }
        }
    }
}
