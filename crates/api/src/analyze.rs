//! `POST /v0.2/work-orders/{id}/analyze/`: one input analysed in the context of one task group;
//! and `GET /v0.2/work-orders/{id}/inputs/{input_id}/file`, the stored input.
//!
//! The body is either JSON with named inputs (`image_input`, `context`) or `multipart/form-data`
//! with a `context` field and a `file` part. The input is sniffed from its bytes; a PDF gives the
//! photo its scanned page carries. Nothing is stored for an input that cannot be decoded. The
//! file is written to the blob store (durably) before the analysis is recorded, so a crash leaves
//! at most an unreferenced file, never a record without its file.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{FromRequest, Multipart, RawQuery, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use fieldproof_analysis::{
    extract_pdf_photo, sniff, AnalysisError, InputKind, Prototypes, Verdict,
};
use fieldproof_domain::activation::active_tasks;
use fieldproof_domain::app::{AppVersion, BindingRule, TaskGroup};
use fieldproof_domain::role::Action;
use fieldproof_domain::FieldErrors;
use fieldproof_store::{actions, AnalysisRow, InputRow, TaskStates, WorkOrderRow};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::audit::change_event;
use crate::error::{json_response, ApiError, ApiResult};
use crate::extract::{ApiPath, Caller};
use crate::step_aside::StepAside;
use crate::time::{format_micros, now_micros};
use crate::work_orders::{load, parse_id, render};
use crate::{blob_keys, AppState};

/// Largest decoded image, and largest PDF (decimal megabytes, as phones show sizes).
pub const MAX_IMAGE_BYTES: usize = 5_000_000;
pub const MAX_PDF_BYTES: usize = 8_000_000;
/// Largest analysis request body: a base64 PDF of 8 MB plus the JSON around it.
pub const MAX_ANALYSIS_BODY: usize = 11_000_000;

/// An input as received, before decoding.
struct Received {
    bytes: Vec<u8>,
    context: String,
    metadata: Map<String, Value>,
}

pub async fn analyze(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    RawQuery(query): RawQuery,
    req: Request,
) -> ApiResult<Response> {
    caller.require(Action::Analyze)?;
    state
        .limiter
        .analysis(caller.0.key_id)
        .map_err(ApiError::Throttled)?;
    let queued = crate::query::QueryParams::parse(query.as_deref())
        .last("async")
        .and_then(crate::query::parse_bool)
        .unwrap_or(false);
    let site_id = caller.0.site_id;
    let (wo, version) = load(&state, site_id, parse_id(&id)?).await?;
    let received = read_input(&state, req).await?;
    let group = version.task_group(&received.context).ok_or_else(|| {
        let known: Vec<&str> = version
            .task_groups
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        field_error(
            "context",
            format!(
                "There is no task group named {:?}. Known task groups: {}.",
                received.context,
                known.join(", ")
            ),
        )
    })?;
    // Identifying the file, extracting a PDF's photo and hashing: CPU work, on the analysis
    // threads (see `read_input`).
    let (received, prepared) = state
        .analysis_pool
        .run(move || {
            let prepared = prepare(&received.bytes)
                .map(|(kind, photo)| (kind, photo, hex::encode(Sha256::digest(&received.bytes))));
            (received, prepared)
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (kind, photo_bytes, sha256) = prepared?;
    let now = now_micros();
    let input_id = Uuid::new_v4();
    let analysis_id = Uuid::new_v4();
    let blob_key = blob_keys::input(site_id, wo.id, input_id, kind.extension());
    let mut input = InputRow {
        id: input_id,
        site_id,
        work_order_id: wo.id,
        task_group_name: group.name.clone(),
        kind: if kind == InputKind::Pdf {
            "pdf"
        } else {
            "image"
        }
        .to_string(),
        content_type: kind.content_type().to_string(),
        blob_key: blob_key.clone(),
        size: received.bytes.len() as u64,
        sha256,
        phash: None,
        status: "queued".into(),
        conformity_messages: Vec::new(),
        analysis_id,
        create_date: now,
    };
    // The analysis's audit event, committed with it (or with its queued input and job).
    let event = |details: Value| {
        change_event(
            &caller.0,
            actions::ANALYSIS_CREATE,
            "work_order",
            wo.id,
            details,
        )
    };

    if queued {
        // Stored now, analysed by a worker: the file first, then the input row and its job in
        // one transaction.
        state
            .blobs
            .put_new(&blob_key, received.bytes)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let job = crate::analysis_job::new_job(&input, caller.0.user_id, received.metadata, now);
        let job_id = job.id;
        // Recorded when asked for, with the input and its job: the worker that runs it later
        // acts for this caller and records no event of its own (`analysis_job`).
        let event = event(json!({
            "analysis_id": analysis_id, "input_id": input_id, "task_group_name": group.name,
            "status": "queued", "queued": true, "job_id": job_id,
        }));
        if let Err(e) = state.store.queue_analysis(input, job, Some(event)).await {
            let _ = state.blobs.delete(&blob_key).await;
            return Err(match e {
                fieldproof_store::StoreError::NotFound => ApiError::WorkOrderNotFound,
                other => other.into(),
            });
        }
        return Ok(json_response(
            StatusCode::ACCEPTED,
            &json!({
                "id": analysis_id, "input_id": input_id, "job_id": job_id,
                "work_order_id": wo.id, "task_group_name": group.name, "status": "queued",
            }),
        ));
    }

    // A file on this machine is written on a photo writer thread, at the analysis threads'
    // priority, once the photo is found decodable (see `evaluate`); a bucket's, here.
    let (keep, remote) = match state.blobs.as_local() {
        Some(blobs) => {
            let keep = KeepFile {
                blobs,
                key: blob_key.clone(),
                bytes: received.bytes,
            };
            (Some(keep), None)
        }
        None => (None, Some(received.bytes)),
    };
    let verdict = evaluate(&state, &wo, &version, group, photo_bytes, keep)
        .await?
        .map_err(|m| field_error("image_input", capitalise(&m)))?;
    if let Some(bytes) = remote {
        state
            .blobs
            .put_new(&blob_key, bytes)
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    let analysis = analysis_row(
        &mut input,
        &verdict,
        &version,
        caller.0.user_id,
        received.metadata,
        now,
    );
    let event = event(json!({
        "analysis_id": analysis_id, "input_id": input_id, "task_group_name": group.name,
        "status": verdict.status.as_str(), "queued": false,
    }));
    let (wo, states) = match state
        .store
        .record_analysis(input, analysis, version.clone(), Some(event))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            // The work order was deleted meanwhile, or the store failed: the file goes too.
            let _ = state.blobs.delete(&blob_key).await;
            return Err(match e {
                fieldproof_store::StoreError::NotFound => ApiError::WorkOrderNotFound,
                other => other.into(),
            });
        }
    };
    let tasks = group_tasks(&wo, &version, group, &states);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "id": analysis_id,
            "input_id": input_id,
            "work_order_id": wo.id,
            "task_group_name": group.name,
            "status": verdict.status.as_str(),
            "conformity_messages": verdict.conformity_messages,
            "tasks": tasks,
            "progress_score": render::score(wo.progress_score),
            // Where the time went on the server, for integrators and the benchmark.
            "timings": timings_ms(&verdict),
        }),
    ))
}

/// What the file is, from its bytes, within its size limit; and the photo to analyse (a PDF's
/// page photo).
pub(crate) fn prepare(bytes: &[u8]) -> ApiResult<(InputKind, Vec<u8>)> {
    let kind = sniff(bytes).ok_or_else(|| {
        field_error(
            "image_input",
            "The file is not a JPEG, PNG or PDF: send a photo (JPEG or PNG) or a scanned PDF.",
        )
    })?;
    let limit = if kind == InputKind::Pdf {
        MAX_PDF_BYTES
    } else {
        MAX_IMAGE_BYTES
    };
    if bytes.len() > limit {
        return Err(too_large(kind, bytes.len(), limit));
    }
    let photo = if kind == InputKind::Pdf {
        extract_pdf_photo(bytes)
            .map_err(|e| field_error("image_input", capitalise(&e.to_string())))?
    } else {
        bytes.to_vec()
    };
    Ok((kind, photo))
}

/// An input's file to write in a local blob directory (`LocalBlobs::write_new`), on a photo
/// writer thread (`AppState::photo_pool`), once its photo is found decodable.
pub(crate) struct KeepFile {
    blobs: fieldproof_blobs::LocalBlobs,
    key: String,
    bytes: Vec<u8>,
}

/// Decodes and analyses a photo on the analysis threads (`cpu_pool`), then, if the photo could
/// be decoded, writes `keep` on a photo writer thread: the analysis thread goes on to the next
/// photo meanwhile instead of waiting for the disk, and the write keeps the analyses' priority
/// (with `SCHED_IDLE`, the idle I/O class). The inner error is the caller's (an undecodable
/// photo, and then nothing is written), the outer one the server's.
pub(crate) async fn evaluate(
    state: &AppState,
    wo: &WorkOrderRow,
    version: &Arc<AppVersion>,
    group: &TaskGroup,
    photo: Vec<u8>,
    keep: Option<KeepFile>,
) -> ApiResult<Result<Verdict, String>> {
    let prototypes = prototypes(state, wo.site_id, version, group).await?;
    let earlier: Vec<u64> = state
        .store
        .list_inputs(wo.site_id, wo.id)
        .await?
        .iter()
        .filter_map(|i| i.phash)
        .collect();
    let engine = state.engine.clone();
    let group = group.clone();
    let mut aside = StepAside::new(state.requests.clone(), state.config.analysis_step_aside);
    let result = state
        .analysis_pool
        .run(move || {
            engine.decode_and_analyze_pausing(&photo, &group, &earlier, &prototypes, &mut || {
                aside.now()
            })
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    if let (Ok(_), Some(k)) = (&result, keep) {
        state
            .photo_pool
            .run(move || k.blobs.write_new(&k.key, &k.bytes))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    }
    match result {
        Ok(v) => Ok(Ok(v)),
        Err(AnalysisError::Input(m)) => Ok(Err(m)),
        Err(AnalysisError::Setup(m)) => Err(ApiError::Internal(m)),
    }
}

fn timings_ms(verdict: &Verdict) -> Value {
    json!({
        "decode_ms": verdict.timings.decode.as_secs_f64() * 1e3,
        "checks_ms": verdict.timings.checks.as_secs_f64() * 1e3,
        "model_ms": verdict.timings.model.as_secs_f64() * 1e3,
        "waited_ms": verdict.timings.waited.as_secs_f64() * 1e3,
    })
}

/// The analysis record of a verdict; sets the input's status, messages and hash from it.
pub(crate) fn analysis_row(
    input: &mut InputRow,
    verdict: &Verdict,
    version: &AppVersion,
    user_id: Uuid,
    metadata: Map<String, Value>,
    now: i64,
) -> AnalysisRow {
    input.phash = Some(verdict.phash);
    input.status = verdict.status.as_str().to_string();
    input.conformity_messages = verdict.conformity_messages.clone();
    let mut details = verdict.details.clone();
    details["timings"] = timings_ms(verdict);
    details["conformity_codes"] = json!(verdict.conformity_codes);
    details["request_metadata"] = Value::Object(metadata);
    AnalysisRow {
        id: input.analysis_id,
        site_id: input.site_id,
        work_order_id: input.work_order_id,
        input_id: input.id,
        task_group_name: input.task_group_name.clone(),
        app_version_id: version.id,
        user_id,
        status: verdict.status.as_str().to_string(),
        conformity_messages: verdict.conformity_messages.clone(),
        values: verdict.values.clone(),
        details,
        model_hashes: verdict.model_hashes.clone(),
        create_date: now,
    }
}

/// The active tasks of `group` in this work order, with their states.
fn group_tasks(
    wo: &WorkOrderRow,
    version: &AppVersion,
    group: &TaskGroup,
    states: &TaskStates,
) -> Vec<Value> {
    active_tasks(version, &wo.types)
        .into_iter()
        .filter(|(g, _)| g.id == group.id)
        .map(|(g, t)| {
            json!({
                "id": t.id, "name": t.name, "label": t.label, "type": t.kind.as_str(),
                "group_id": g.id, "group_name": g.name, "state": states.get(&t.name),
            })
        })
        .collect()
}

/// Prototypes of the group's nearest-example tasks: from the engine's cache, or computed from
/// the example photos in the blob store (once per version).
async fn prototypes(
    state: &AppState,
    site_id: Uuid,
    version: &Arc<AppVersion>,
    group: &TaskGroup,
) -> ApiResult<HashMap<String, Arc<Prototypes>>> {
    let mut out = HashMap::new();
    let group_index = version
        .task_groups
        .iter()
        .position(|g| g.id == group.id)
        .unwrap_or(0);
    let mut examples: Option<Vec<Option<Vec<u8>>>> = None;
    for task in &group.tasks {
        let Some(binding) = &task.binding else {
            continue;
        };
        if binding.rule != BindingRule::NearestExample {
            continue;
        }
        if let Some(p) = state.engine.cached_prototypes(version, task) {
            out.insert(task.name.clone(), p);
            continue;
        }
        if examples.is_none() {
            let mut bytes = Vec::with_capacity(group.examples.len());
            for (i, e) in group.examples.iter().enumerate() {
                let key = blob_keys::example(site_id, version.id, group_index, i, &e.file);
                bytes.push(
                    state
                        .blobs
                        .get(&key)
                        .await
                        .map_err(|e| ApiError::Internal(e.to_string()))?,
                );
            }
            examples = Some(bytes);
        }
        let (engine, version, group, task_c, binding) = (
            state.engine.clone(),
            version.clone(),
            group.clone(),
            task.clone(),
            binding.clone(),
        );
        let ex = examples.clone().unwrap_or_default();
        let protos = state
            .analysis_pool
            .run(move || engine.compute_prototypes(&version, &group, &task_c, &binding, &ex))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        out.insert(task.name.clone(), protos);
    }
    Ok(out)
}

async fn read_input(state: &AppState, req: Request) -> ApiResult<Received> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_ANALYSIS_BODY as u64) {
        return Err(ApiError::PayloadTooLarge(MAX_ANALYSIS_BODY));
    }
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => {
            let pieces = receive(req.into_body(), MAX_ANALYSIS_BODY).await?;
            // Joining the pieces, parsing a body of megabytes and decoding its base64 is CPU
            // work of the analysis: on the analysis threads, at their priority, not on the
            // threads serving requests.
            let parsed = state
                .analysis_pool
                .run(move || parse_json_input(&join(pieces)))
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))??;
            let bytes = match parsed.image {
                ImageValue::Bytes(bytes) => bytes,
                ImageValue::Url(url) => fetch_url(state, &url).await?,
            };
            Ok(Received {
                bytes,
                context: parsed.context,
                metadata: parsed.metadata,
            })
        }
        "multipart/form-data" => read_multipart(state, req).await,
        _ => Err(ApiError::UnsupportedMediaType(content_type)),
    }
}

fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    let mut e = FieldErrors::new();
    e.add(field, message);
    ApiError::Fields(e)
}

fn too_large(kind: InputKind, size: usize, limit: usize) -> ApiError {
    let what = if kind == InputKind::Pdf {
        "PDF"
    } else {
        "image"
    };
    ApiError::PayloadTooLarge413(format!(
        "The {what} is {:.1} MB; at most {} MB are accepted: send a smaller file.",
        size as f64 / 1e6,
        limit / 1_000_000
    ))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => {
            f.to_uppercase().chain(c).collect::<String>() + if s.ends_with('.') { "" } else { "." }
        }
        None => String::new(),
    }
}

/// How much of a body [`receive`] takes in before letting the thread's other requests run.
const YIELD_EVERY: usize = 256 * 1024;

/// Counts the bytes a request takes in, and lets the request thread's other requests run every
/// [`YIELD_EVERY`] of them (see [`receive`]).
#[derive(Default)]
struct Yielding {
    since: usize,
}

impl Yielding {
    async fn took(&mut self, bytes: usize) {
        self.since += bytes;
        if self.since >= YIELD_EVERY {
            self.since = 0;
            tokio::task::yield_now().await;
        }
    }
}

/// Receives a body of at most `limit` bytes, as the pieces it arrived in.
///
/// A photo's body is megabytes, which a client on a fast link delivers faster than it is
/// copied: taken in one go and joined, as `to_bytes` does, it keeps this request thread for as
/// long as the copying takes, and every request queued on the thread waits that long. Here the
/// request yields every [`YIELD_EVERY`] bytes so that they run in between, and the pieces are
/// joined later, off the request threads ([`join`]). Measured with `fieldproof bench analyze`
/// (docs/PERFORMANCE.md, 2026-11-30 13:17-13:30): CRUD p99 ratio 1.25-1.40 against 1.40-1.61.
async fn receive(mut body: Body, limit: usize) -> ApiResult<Vec<Bytes>> {
    let mut pieces = Vec::new();
    let (mut total, mut yielding) = (0usize, Yielding::default());
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        // What a body raises here is the route's size limit (or a client gone mid-body), which
        // `to_bytes` also reported as too large.
        let frame = frame.map_err(|_| ApiError::PayloadTooLarge(limit))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry no body
        };
        total += data.len();
        if total > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        let taken = data.len();
        pieces.push(data);
        yielding.took(taken).await;
    }
    Ok(pieces)
}

/// The pieces of a body as one buffer; a single piece is not copied.
fn join(mut pieces: Vec<Bytes>) -> Bytes {
    if pieces.len() == 1 {
        return pieces.pop().unwrap_or_default();
    }
    let mut joined = Vec::with_capacity(pieces.iter().map(Bytes::len).sum());
    for piece in &pieces {
        joined.extend_from_slice(piece);
    }
    Bytes::from(joined)
}

/// The JSON form's image: decoded from a data URI, or a URL still to fetch.
enum ImageValue {
    Bytes(Vec<u8>),
    Url(String),
}

struct JsonInput {
    image: ImageValue,
    context: String,
    metadata: Map<String, Value>,
}

/// Parses and checks the JSON form, and decodes a data URI (CPU work: see `read_input`).
fn parse_json_input(bytes: &[u8]) -> ApiResult<JsonInput> {
    let body: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("JSON parse error: {e}.")))?;
    let Value::Object(body) = body else {
        return Err(ApiError::BadRequest(
            "The request body must be a JSON object.".into(),
        ));
    };
    let mut errors = FieldErrors::new();
    let metadata = match body.get("metadata") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => {
            errors.add("metadata", "The metadata must be a key-value object.");
            Map::new()
        }
    };
    let Some(Value::Array(inputs)) = body.get("inputs") else {
        errors.add(
            "inputs",
            "Field 'inputs' is missing or not a list: send [{\"name\": \"image_input\", ...}, {\"name\": \"context\", ...}].",
        );
        return Err(ApiError::Fields(errors));
    };
    let mut images = Vec::new();
    let mut context = None;
    for (i, input) in inputs.iter().enumerate() {
        let name = input.get("name").and_then(Value::as_str);
        let data = input.get("data");
        let value = data.and_then(|d| d.get("value")).and_then(Value::as_str);
        let kind = data.and_then(|d| d.get("type")).and_then(Value::as_str);
        match (name, kind, value) {
            (Some("context"), _, Some(v)) => {
                if context.replace(v.to_string()).is_some() {
                    errors.add("context", "Give the context (task group name) once.");
                }
            }
            (Some("context"), _, None) => errors.add("context", "The context needs data.value: the task group name."),
            (Some(_), Some("image" | "pdf" | "file"), Some(v)) => images.push(v),
            (Some(_), Some("image" | "pdf" | "file"), None) => {
                errors.add("image_input", "The image input needs data.value: a URL or a data URI.")
            }
            _ => errors.add(
                "inputs",
                format!("inputs[{i}] is not understood: each input is {{\"name\": ..., \"data\": {{\"type\": \"image\" or \"text\", \"value\": ...}}}}."),
            ),
        }
    }
    if images.is_empty() {
        errors.add(
            "image_input",
            "Field 'image_input' is missing. This field is required.",
        );
    } else if images.len() > 1 {
        errors.add(
            "image_input",
            format!("Exactly one image per analysis; got {}.", images.len()),
        );
    }
    if context.is_none() {
        errors.add(
            "context",
            "Field 'context' is missing. This field is required.",
        );
    }
    errors.into_result().map_err(ApiError::Fields)?;
    Ok(JsonInput {
        image: image_value(images[0])?,
        context: context.expect("checked"),
        metadata,
    })
}

/// An image value: a data URI (decoded here) or an http(s) URL (to fetch).
fn image_value(value: &str) -> ApiResult<ImageValue> {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix("data:") {
        let (meta, payload) = rest.split_once(',').ok_or_else(|| {
            field_error(
                "image_input",
                "The data URI has no comma: use data:image/jpeg;base64,<base64>.",
            )
        })?;
        let media = meta.trim_end_matches(";base64").to_ascii_lowercase();
        if !meta.ends_with(";base64") {
            return Err(field_error(
                "image_input",
                "Only base64 data URIs are accepted: data:image/jpeg;base64,<base64>.",
            ));
        }
        if !matches!(
            media.as_str(),
            "image/jpg" | "image/jpeg" | "image/png" | "application/pdf"
        ) {
            return Err(field_error(
                "image_input",
                format!("Unsupported data URI type {media:?}: use image/jpeg, image/jpg, image/png or application/pdf."),
            ));
        }
        // Check the size before decoding: base64 is 4 characters per 3 bytes.
        if payload.len() / 4 * 3 > MAX_PDF_BYTES + 3 {
            return Err(ApiError::PayloadTooLarge413(format!(
                "The file is over {} MB: send a smaller file.",
                MAX_PDF_BYTES / 1_000_000
            )));
        }
        // Line breaks inside base64 are tolerated. The payload is decoded as it is first: the
        // decoder refuses any whitespace, so only a payload that has some, or that is not base64
        // at all, is looked through again (a scan of every byte that most photos, sent in one
        // line, do not need).
        let engine = &base64::engine::general_purpose::STANDARD;
        let decoded = engine.decode(payload).or_else(|e| {
            if payload.bytes().any(|b| b.is_ascii_whitespace()) {
                let cleaned: Vec<u8> = payload
                    .bytes()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                engine.decode(cleaned)
            } else {
                Err(e)
            }
        });
        return decoded.map(ImageValue::Bytes).map_err(|e| {
            field_error(
                "image_input",
                format!("The data URI is not valid base64 ({e})."),
            )
        });
    }
    if value.starts_with("http://") || value.starts_with("https://") {
        return Ok(ImageValue::Url(value.to_string()));
    }
    Err(field_error(
        "image_input",
        "The image must be an http(s) URL or a data URI (data:image/jpeg;base64,...).",
    ))
}

/// Fetches an image URL through the guarded fetcher.
async fn fetch_url(state: &AppState, url: &str) -> ApiResult<Vec<u8>> {
    state
        .fetcher
        .fetch(url, MAX_PDF_BYTES)
        .await
        .map(|f| f.bytes)
        .map_err(|e| field_error("image_input", capitalise(&e.to_string())))
}

async fn read_multipart(state: &AppState, req: Request) -> ApiResult<Received> {
    let mut multipart = Multipart::from_request(req, state)
        .await
        .map_err(|e| ApiError::BadRequest(format!("Malformed multipart body: {e}.")))?;
    let mut file: Option<Vec<u8>> = None;
    let mut context = None;
    let mut files = 0;
    let (mut total, mut yielding) = (0usize, Yielding::default());
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return Err(ApiError::BadRequest(format!(
                    "Malformed multipart body: {e}."
                )))
            }
        };
        let name = field.name().unwrap_or("").to_string();
        let mut data = Vec::new();
        let mut field = field;
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    total += chunk.len();
                    if total > MAX_ANALYSIS_BODY {
                        return Err(ApiError::PayloadTooLarge(MAX_ANALYSIS_BODY));
                    }
                    data.extend_from_slice(&chunk);
                    // As in `receive`: the thread's other requests run between the pieces of
                    // a file of megabytes.
                    yielding.took(chunk.len()).await;
                }
                Ok(None) => break,
                Err(e) => {
                    return Err(ApiError::BadRequest(format!(
                        "Malformed multipart body: {e}."
                    )))
                }
            }
        }
        match name.as_str() {
            "context" => {
                context = Some(
                    String::from_utf8(data)
                        .map_err(|_| field_error("context", "The context must be text."))?
                        .trim()
                        .to_string(),
                )
            }
            "file" | "image" | "image_input" => {
                files += 1;
                file = Some(data);
            }
            _ => {}
        }
    }
    let mut errors = FieldErrors::new();
    if files == 0 {
        errors.add("file", "Field 'file' is missing. This field is required.");
    } else if files > 1 {
        errors.add(
            "file",
            format!("Exactly one image per analysis; got {files}."),
        );
    }
    if context.as_deref().is_none_or(str::is_empty) {
        errors.add(
            "context",
            "Field 'context' is missing. This field is required.",
        );
    }
    errors.into_result().map_err(ApiError::Fields)?;
    Ok(Received {
        bytes: file.expect("checked"),
        context: context.expect("checked"),
        metadata: Map::new(),
    })
}

/// `GET /v0.2/work-orders/{id}/inputs/{input_id}/file`: the stored input, to the work order's
/// site only.
pub async fn input_file(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, input_id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    caller.require(Action::ReadWorkOrders)?;
    let site_id = caller.0.site_id;
    let wo_id = parse_id(&id)?;
    let input_id = Uuid::parse_str(&input_id).map_err(|_| ApiError::NotFound)?;
    let inputs = state.store.list_inputs(site_id, wo_id).await?;
    let input = inputs
        .into_iter()
        .find(|i| i.id == input_id)
        .ok_or(ApiError::NotFound)?;
    let bytes = state
        .blobs
        .get(&input.blob_key)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .ok_or(ApiError::NotFound)?;
    let mut resp = (StatusCode::OK, Body::from(bytes)).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&input.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    Ok(resp)
}

/// The `inputs` of a work order as the API shows them.
pub fn render_inputs(base: &str, inputs: &[InputRow]) -> Vec<Value> {
    inputs
        .iter()
        .map(|i| {
            json!({
                "id": i.id,
                "task_group_name": i.task_group_name,
                "create_date": format_micros(i.create_date),
                "status": i.status,
                "conformity_messages": i.conformity_messages,
                "analysis_id": i.analysis_id,
                "kind": i.kind,
                "content_type": i.content_type,
                "url": format!("{base}/v0.2/work-orders/{}/inputs/{}/file", i.work_order_id, i.id),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_join_in_order_and_one_piece_is_not_copied() {
        let one = Bytes::from_static(b"{\"inputs\": []}");
        let joined = join(vec![one.clone()]);
        assert_eq!(
            joined.as_ptr(),
            one.as_ptr(),
            "a single piece is handed over"
        );
        let parts = vec![
            Bytes::from_static(b"{\"in"),
            Bytes::from_static(b"puts\": "),
            Bytes::from_static(b"[]}"),
        ];
        assert_eq!(&join(parts)[..], b"{\"inputs\": []}");
        assert!(join(Vec::new()).is_empty());
    }

    #[tokio::test]
    async fn a_body_is_received_whole_and_refused_past_its_limit() {
        let body = vec![7u8; 3 * YIELD_EVERY + 5];
        let pieces = receive(Body::from(body.clone()), body.len())
            .await
            .expect("within the limit");
        assert_eq!(&join(pieces)[..], &body[..]);
        let too_big = receive(Body::from(body.clone()), body.len() - 1).await;
        assert!(matches!(too_big, Err(ApiError::PayloadTooLarge(_))));
    }
}
