//! The malformed-input corpus: hundreds of bad requests, most of them generated over the route
//! table (`fieldproof_api::routes()`) so a new route is attacked without being listed here.
//!
//! Every case must get a 4xx whose body is JSON (and the status the contract names, where it
//! names one); `GET /healthz` must answer 200 between batches and at the end; and nothing may be
//! left half-written: the work orders, the fixture work order's representation (its
//! `update_date` included) and the job queue are the same before and after.
//!
//! Requests go through the bare TCP client of `raw.rs`, so bytes arrive exactly as written here
//! (no client-side normalisation of paths, headers or bodies). A few cases are refused by the
//! HTTP layer itself (hyper) before any route runs; those are marked `protocol` and may answer
//! with an empty body.

use std::collections::BTreeMap;

use fieldproof_api::RouteSpec;
use fieldproof_domain::role::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::fixtures::*;
use crate::helpers::*;
use crate::raw::{chunked, request, send_raw, RawReply};

enum Auth {
    Key(String),
    None,
    Header(Vec<u8>),
}

struct Case {
    group: &'static str,
    label: String,
    method: String,
    path: String,
    auth: Auth,
    content_type: Option<Vec<u8>>,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<Vec<u8>>,
    chunked: bool,
    /// The whole request, as bytes (overrides everything above).
    raw: Option<Vec<u8>>,
    expect: Option<u16>,
    /// Refused by the HTTP layer before routing: the body may be empty.
    protocol: bool,
}

impl Case {
    fn new(
        group: &'static str,
        label: impl Into<String>,
        method: &str,
        path: &str,
        key: &str,
    ) -> Case {
        Case {
            group,
            label: label.into(),
            method: method.to_string(),
            path: path.to_string(),
            auth: Auth::Key(key.to_string()),
            content_type: Some(b"application/json".to_vec()),
            headers: Vec::new(),
            body: None,
            chunked: false,
            raw: None,
            expect: None,
            protocol: false,
        }
    }
    fn body(mut self, b: impl Into<Vec<u8>>) -> Case {
        self.body = Some(b.into());
        self
    }
    fn json(self, v: &Value) -> Case {
        self.body(v.to_string())
    }
    fn maybe_json(self, v: Option<Value>) -> Case {
        match v {
            Some(v) => self.json(&v),
            None => self,
        }
    }
    fn expect(mut self, status: u16) -> Case {
        self.expect = Some(status);
        self
    }
    fn content_type(mut self, ct: Option<&[u8]>) -> Case {
        self.content_type = ct.map(<[u8]>::to_vec);
        self
    }
    fn auth(mut self, auth: Auth) -> Case {
        self.auth = auth;
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Case {
        self.headers.push((name, value.into()));
        self
    }
    fn chunked(mut self) -> Case {
        self.chunked = true;
        self
    }
    fn protocol(mut self) -> Case {
        self.protocol = true;
        self
    }

    fn bytes(&self) -> Vec<u8> {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut headers: Vec<(&str, Vec<u8>)> = Vec::new();
        match &self.auth {
            Auth::Key(k) => headers.push(("Authorization", format!("Token {k}").into_bytes())),
            Auth::None => {}
            Auth::Header(h) => headers.push(("Authorization", h.clone())),
        }
        if let Some(ct) = &self.content_type {
            headers.push(("Content-Type", ct.clone()));
        }
        headers.extend(self.headers.iter().cloned());
        match (&self.body, self.chunked) {
            (Some(b), true) => chunked(&self.method, &self.path, &headers, b),
            (b, _) => request(&self.method, &self.path, &headers, b.as_deref()),
        }
    }
}

/// What the corpus needs to know about the server under attack.
struct Ctx {
    key: String,
    read_only: String,
    reviewer: String,
    field_worker: String,
    revoked: String,
    /// The fixture work order every body reaches.
    wo: String,
}

impl Ctx {
    /// A route's path with every parameter filled with a real object of the fixture.
    fn fill(&self, path: &str) -> String {
        fill_with(path, |p| self.good(p))
    }

    fn good(&self, param: &str) -> String {
        match param {
            "id" => self.wo.clone(),
            "task_id" => TASK.to_string(),
            "input_id" => uuid::Uuid::new_v4().to_string(),
            "name" => GROUP.to_string(),
            "index" => "0".to_string(),
            other => panic!(
                "the corpus does not know how to fill the path parameter {{{other}}}: teach Ctx::good in tests/adversarial/corpus.rs"
            ),
        }
    }

    /// A body the route would accept (so that the one thing wrong in a case is what it tests).
    fn good_body(&self, spec: &RouteSpec) -> Option<Value> {
        match (spec.method.as_str(), spec.path) {
            ("POST", "/v0.2/work-orders") => Some(json!({"name": "must-not-exist"})),
            ("PATCH", "/v0.2/work-orders/{id}") => Some(json!({"name": "must-not-change"})),
            ("POST", "/v0.2/work-orders/{id}/analyze") => {
                Some(analysis(&data_uri(&photo(), "image/jpeg"), GROUP))
            }
            ("PATCH", "/v0.2/work-orders/{id}/tasks/{task_id}/correction") => {
                Some(json!({"corrected_value": false}))
            }
            ("POST", "/v0.2/work-orders/{id}/review") => Some(json!({"reviewed": true})),
            (m, _) if m == "POST" || m == "PATCH" || m == "PUT" => Some(json!({})),
            _ => None,
        }
    }
}

pub fn fill_with(path: &str, mut value: impl FnMut(&str) -> String) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(p) => value(p),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

pub fn params(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .collect()
}

/// Routes that read a body.
fn body_routes() -> Vec<RouteSpec> {
    fieldproof_api::routes()
        .into_iter()
        .filter(|r| matches!(r.method.as_str(), "POST" | "PATCH" | "PUT"))
        .collect()
}

fn nested(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

/// Bodies that are not a JSON object, or not JSON at all. `true`: also bad for the review route,
/// whose body is optional (an empty body there means "reviewed").
fn bad_json() -> Vec<(&'static str, Vec<u8>, bool)> {
    let utf16: Vec<u8> = "{\"name\": \"a\"}"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    vec![
        ("empty body", b"".to_vec(), false),
        ("whitespace only", b" \n\t ".to_vec(), false),
        ("open brace", b"{".to_vec(), true),
        ("close brace", b"}".to_vec(), true),
        ("unterminated string", br#"{"name": "abc"#.to_vec(), true),
        ("missing value", br#"{"name": }"#.to_vec(), true),
        ("trailing comma", br#"{"name": "a",}"#.to_vec(), true),
        ("single quotes", b"{'name': 'a'}".to_vec(), true),
        ("bare key", br#"{name: "a"}"#.to_vec(), true),
        ("empty array", b"[]".to_vec(), true),
        ("array of an object", br#"[{"name": "a"}]"#.to_vec(), true),
        ("a string", br#""name""#.to_vec(), true),
        ("a number", b"42".to_vec(), true),
        ("null", b"null".to_vec(), true),
        ("true", b"true".to_vec(), true),
        (
            "two objects",
            br#"{"name": "a"} {"name": "b"}"#.to_vec(),
            true,
        ),
        ("trailing garbage", br#"{"name": "a"} xyz"#.to_vec(), true),
        ("NaN", br#"{"name": NaN}"#.to_vec(), true),
        ("Infinity", br#"{"name": Infinity}"#.to_vec(), true),
        (
            "number overflow 1e999",
            br#"{"name": "a", "x": 1e999}"#.to_vec(),
            true,
        ),
        ("number overflow -1e999", br#"{"x": -1e999}"#.to_vec(), true),
        ("hex number", br#"{"x": 0x10}"#.to_vec(), true),
        ("leading zero", br#"{"x": 01}"#.to_vec(), true),
        (
            "100000 open brackets",
            "[".repeat(100_000).into_bytes(),
            true,
        ),
        (
            "50000 unclosed objects",
            "{\"a\":".repeat(50_000).into_bytes(),
            true,
        ),
        ("nesting 200 deep", nested(200).into_bytes(), true),
        ("nesting 5000 deep", nested(5000).into_bytes(), true),
        ("invalid UTF-8", b"{\"name\": \"\xff\xfe\"}".to_vec(), true),
        ("overlong UTF-8", b"{\"name\": \"\xc0\xaf\"}".to_vec(), true),
        (
            "lone surrogate escape",
            br#"{"name": "\ud800"}"#.to_vec(),
            true,
        ),
        ("invalid escape", br#"{"name": "\x41"}"#.to_vec(), true),
        (
            "raw control character",
            b"{\"name\": \"a\x01b\"}".to_vec(),
            true,
        ),
        ("raw NUL byte", b"{\"name\": \"a\x00b\"}".to_vec(), true),
        (
            "byte order mark",
            b"\xef\xbb\xbf{\"name\": \"a\"}".to_vec(),
            true,
        ),
        ("UTF-16", utf16, true),
        ("comment", b"{/* c */ \"name\": \"a\"}".to_vec(), true),
        ("NUL padding", b"{\"name\": \"a\"}\x00\x00".to_vec(), true),
    ]
}

fn json_syntax(ctx: &Ctx) -> Vec<Case> {
    let mut out = Vec::new();
    for spec in body_routes() {
        let is_review = spec.path.ends_with("/review");
        for (label, body, bad_for_review) in bad_json() {
            if is_review && !bad_for_review {
                continue;
            }
            out.push(
                Case::new(
                    "json syntax",
                    format!("{} {}: {label}", spec.method, spec.path),
                    spec.method.as_str(),
                    &ctx.fill(spec.path),
                    &ctx.key,
                )
                .body(body)
                .expect(400),
            );
        }
    }
    out
}

fn content_types(ctx: &Ctx) -> Vec<Case> {
    let types: [(&str, Option<&[u8]>); 11] = [
        ("no Content-Type", None),
        ("empty Content-Type", Some(b"")),
        ("text/plain", Some(b"text/plain")),
        (
            "form-urlencoded",
            Some(b"application/x-www-form-urlencoded"),
        ),
        ("application/xml", Some(b"application/xml")),
        ("application/jsonx", Some(b"application/jsonx")),
        ("json without type", Some(b"json")),
        ("text/json", Some(b"text/json")),
        ("application/javascript", Some(b"application/javascript")),
        ("*/*", Some(b"*/*")),
        ("multipart without boundary", Some(b"multipart/form-data")),
    ];
    let mut out = Vec::new();
    for spec in body_routes() {
        let body = ctx.good_body(&spec);
        for (label, ct) in types {
            let is_analyze = spec.path.ends_with("/analyze");
            // The analysis route reads multipart too: a multipart body without a boundary is a
            // malformed multipart body (400), not an unsupported type.
            let expect = if is_analyze && label.starts_with("multipart") {
                400
            } else {
                415
            };
            out.push(
                Case::new(
                    "content type",
                    format!("{} {}: {label}", spec.method, spec.path),
                    spec.method.as_str(),
                    &ctx.fill(spec.path),
                    &ctx.key,
                )
                .content_type(ct)
                .maybe_json(body.clone())
                .expect(expect),
            );
        }
    }
    out
}

fn oversized(ctx: &Ctx) -> Vec<Case> {
    let mut out = Vec::new();
    for spec in body_routes() {
        let limit = if spec.path.ends_with("/analyze") {
            fieldproof_api::analyze::MAX_ANALYSIS_BODY
        } else {
            fieldproof_api::DEFAULT_JSON_BODY_LIMIT
        };
        let pad = "x".repeat(limit + 1);
        let body = format!(r#"{{"name": "big", "pad": "{pad}"}}"#).into_bytes();
        let path = ctx.fill(spec.path);
        let m = spec.method.as_str();
        let what = format!("{m} {}", spec.path);
        out.push(
            Case::new(
                "oversized",
                format!("{what}: body over the cap"),
                m,
                &path,
                &ctx.key,
            )
            .body(body.clone())
            .expect(413),
        );
        out.push(
            Case::new(
                "oversized",
                format!("{what}: chunked body over the cap"),
                m,
                &path,
                &ctx.key,
            )
            .body(body)
            .chunked()
            .expect(413),
        );
        // Declares 1 TB and sends a few bytes: refused from the declaration.
        let mut lying = Case::new(
            "oversized",
            format!("{what}: Content-Length of 1 TB"),
            m,
            &path,
            &ctx.key,
        );
        lying.raw = Some(
            format!(
                "{m} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Token {}\r\nContent-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{{}}",
                ctx.key
            )
            .into_bytes(),
        );
        out.push(lying.expect(413));
    }
    out
}

fn analysis_inputs(ctx: &Ctx) -> Vec<Case> {
    let path = format!("/v0.2/work-orders/{}/analyze/", ctx.wo);
    let image = |v: Value| json!({"name": "image_input", "data": {"type": "image", "value": v}});
    let context = |v: Value| json!({"name": "context", "data": {"type": "text", "value": v}});
    let img = image(json!(data_uri(&photo(), "image/jpeg")));
    let ctx_ok = context(json!(GROUP));
    let mut bodies: Vec<(String, Value, u16)> = vec![
        ("no inputs".into(), json!({}), 400),
        ("inputs not a list".into(), json!({"inputs": "x"}), 400),
        ("inputs empty".into(), json!({"inputs": []}), 400),
        ("inputs of numbers".into(), json!({"inputs": [1, 2]}), 400),
        (
            "image without context".into(),
            json!({"inputs": [img]}),
            400,
        ),
        (
            "context without image".into(),
            json!({"inputs": [ctx_ok]}),
            400,
        ),
        (
            "two images".into(),
            json!({"inputs": [img, img, ctx_ok]}),
            400,
        ),
        (
            "two contexts".into(),
            json!({"inputs": [img, ctx_ok, ctx_ok]}),
            400,
        ),
        (
            "unknown task group".into(),
            json!({"inputs": [img, context(json!("nope"))]}),
            400,
        ),
        (
            "context is a number".into(),
            json!({"inputs": [img, context(json!(5))]}),
            400,
        ),
        (
            "context with NUL".into(),
            json!({"inputs": [img, context(json!(format!("{GROUP}\u{0}")))]}),
            400,
        ),
        (
            "metadata not an object".into(),
            json!({"inputs": [img, ctx_ok], "metadata": "x"}),
            400,
        ),
        (
            "image without value".into(),
            json!({"inputs": [{"name": "image_input", "data": {"type": "image"}}, ctx_ok]}),
            400,
        ),
        (
            "image value a number".into(),
            json!({"inputs": [image(json!(5)), ctx_ok]}),
            400,
        ),
        (
            "unknown data type".into(),
            json!({"inputs": [{"name": "image_input", "data": {"type": "video", "value": "x"}}, ctx_ok]}),
            400,
        ),
    ];
    let values: Vec<(&str, String, u16)> = vec![
        ("not a URL", "not a url".into(), 400),
        ("ftp URL", "ftp://example.com/x.jpg".into(), 400),
        ("file URL", "file:///etc/passwd".into(), 400),
        ("loopback URL", "http://127.0.0.1:1/x.jpg".into(), 400),
        ("localhost URL", "http://localhost/x.jpg".into(), 400),
        (
            "cloud metadata URL",
            "http://169.254.169.254/latest/meta-data/".into(),
            400,
        ),
        ("IPv6 loopback URL", "http://[::1]/x.jpg".into(), 400),
        ("private range URL", "http://10.0.0.1/x.jpg".into(), 400),
        (
            "unspecified address URL",
            "http://0.0.0.0/x.jpg".into(),
            400,
        ),
        (
            "IPv4-mapped loopback URL",
            "http://[::ffff:127.0.0.1]/x.jpg".into(),
            400,
        ),
        (
            "decimal loopback URL",
            "http://2130706433/x.jpg".into(),
            400,
        ),
        ("short loopback URL", "http://127.1/x.jpg".into(), 400),
        (
            "credentials in URL",
            "http://user:pass@example.com/x.jpg".into(),
            400,
        ),
        ("gopher URL", "gopher://127.0.0.1:25/x".into(), 400),
        ("javascript URL", "javascript:alert(1)".into(), 400),
        ("URL without host", "http:///x.jpg".into(), 400),
        ("bad base64", "data:image/jpeg;base64,!!!!".into(), 400),
        (
            "base64 bad padding",
            "data:image/jpeg;base64,QUJD=".into(),
            400,
        ),
        ("empty data URI", "data:image/jpeg;base64,".into(), 400),
        ("data URI not base64", "data:image/jpeg,abc".into(), 400),
        (
            "data URI without comma",
            "data:image/jpeg;base64".into(),
            400,
        ),
        (
            "HTML data URI",
            "data:text/html;base64,PGgxPmhpPC9oMT4=".into(),
            400,
        ),
        (
            "SVG data URI",
            "data:image/svg+xml;base64,PHN2Zy8+".into(),
            400,
        ),
        (
            "truncated JPEG (half)",
            data_uri(&truncated_jpeg(0.5), "image/jpeg"),
            400,
        ),
        (
            "JPEG header only",
            data_uri(&photo()[..20], "image/jpeg"),
            400,
        ),
        (
            "PNG header only",
            data_uri(&png_declaring(640, 480)[..33], "image/png"),
            400,
        ),
        (
            "PNG declaring 100000x100000",
            data_uri(&png_declaring(100_000, 100_000), "image/png"),
            0,
        ),
        (
            "PNG declaring 65535x65535",
            data_uri(&png_declaring(65_535, 65_535), "image/png"),
            0,
        ),
        (
            "JPEG declaring 65000x65000",
            data_uri(&jpeg_declaring(65_000, 65_000), "image/jpeg"),
            0,
        ),
        (
            "JPEG declaring 0x0",
            data_uri(&jpeg_declaring(0, 0), "image/jpeg"),
            400,
        ),
        (
            "GIF",
            data_uri(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/jpeg"),
            400,
        ),
        (
            "BMP",
            data_uri(
                b"BM\x1e\x00\x00\x00\x00\x00\x00\x00\x1a\x00\x00\x00",
                "image/jpeg",
            ),
            400,
        ),
        (
            "random bytes",
            data_uri(
                &(0..4096u32)
                    .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
                    .collect::<Vec<_>>(),
                "image/jpeg",
            ),
            400,
        ),
        (
            "PDF without an image",
            data_uri(&pdf_without_image(), "application/pdf"),
            400,
        ),
        (
            "PDF header only",
            data_uri(b"%PDF-", "application/pdf"),
            400,
        ),
        (
            "image over 5 MB",
            data_uri(
                &[&[0xFF, 0xD8, 0xFF][..], &vec![0u8; 5_100_000]].concat(),
                "image/jpeg",
            ),
            413,
        ),
    ];
    for (label, v, status) in values {
        bodies.push((
            label.to_string(),
            json!({"inputs": [image(json!(v)), ctx_ok]}),
            status,
        ));
    }
    let mut out: Vec<Case> = bodies
        .into_iter()
        .map(|(label, body, status)| {
            let c = Case::new("analysis input", label, "POST", &path, &ctx.key).json(&body);
            if status == 0 {
                c
            } else {
                c.expect(status)
            }
        })
        .collect();

    // Multipart uploads.
    let part = |name: &str, filename: Option<&str>, data: &[u8]| -> Vec<u8> {
        let mut p =
            format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"").into_bytes();
        if let Some(f) = filename {
            p.extend_from_slice(
                format!("; filename=\"{f}\"\r\nContent-Type: image/jpeg").as_bytes(),
            );
        }
        p.extend_from_slice(b"\r\n\r\n");
        p.extend_from_slice(data);
        p.extend_from_slice(b"\r\n");
        p
    };
    let end = b"--XyZ--\r\n".to_vec();
    let good_file = part("file", Some("a.jpg"), &photo());
    let good_ctx = part("context", None, GROUP.as_bytes());
    let multipart: Vec<(&str, Vec<u8>, &[u8], u16)> = vec![
        (
            "no file part",
            [good_ctx.clone(), end.clone()].concat(),
            b"multipart/form-data; boundary=XyZ",
            400,
        ),
        (
            "no context part",
            [good_file.clone(), end.clone()].concat(),
            b"multipart/form-data; boundary=XyZ",
            400,
        ),
        (
            "two files",
            [
                good_file.clone(),
                good_file.clone(),
                good_ctx.clone(),
                end.clone(),
            ]
            .concat(),
            b"multipart/form-data; boundary=XyZ",
            400,
        ),
        (
            "empty file",
            [
                part("file", Some("a.jpg"), b""),
                good_ctx.clone(),
                end.clone(),
            ]
            .concat(),
            b"multipart/form-data; boundary=XyZ",
            400,
        ),
        (
            "truncated JPEG file",
            [
                part("file", Some("a.jpg"), &truncated_jpeg(0.5)),
                good_ctx.clone(),
                end.clone(),
            ]
            .concat(),
            b"multipart/form-data; boundary=XyZ",
            400,
        ),
        (
            "PNG bomb file",
            [
                part("file", Some("a.png"), &png_declaring(100_000, 100_000)),
                good_ctx.clone(),
                end.clone(),
            ]
            .concat(),
            b"multipart/form-data; boundary=XyZ",
            0,
        ),
        (
            "unknown task group",
            [
                good_file.clone(),
                part("context", None, b"nope"),
                end.clone(),
            ]
            .concat(),
            b"multipart/form-data; boundary=XyZ",
            400,
        ),
        (
            "context not UTF-8",
            [
                good_file.clone(),
                part("context", None, b"\xff\xfe"),
                end.clone(),
            ]
            .concat(),
            b"multipart/form-data; boundary=XyZ",
            400,
        ),
        (
            "wrong boundary",
            [good_file.clone(), good_ctx.clone(), end.clone()].concat(),
            b"multipart/form-data; boundary=Other",
            400,
        ),
        (
            "unterminated",
            [good_file.clone(), good_ctx.clone()].concat(),
            b"multipart/form-data; boundary=XyZ",
            400,
        ),
        (
            "garbage",
            b"this is not multipart".to_vec(),
            b"multipart/form-data; boundary=XyZ",
            400,
        ),
    ];
    for (label, body, ct, status) in multipart {
        let c = Case::new(
            "analysis input",
            format!("multipart: {label}"),
            "POST",
            &path,
            &ctx.key,
        )
        .content_type(Some(ct))
        .body(body);
        out.push(if status == 0 { c } else { c.expect(status) });
    }
    out
}

fn path_ids(ctx: &Ctx) -> Vec<Case> {
    let random = uuid::Uuid::new_v4();
    let long = "a".repeat(10_000);
    let wo_bad: Vec<(&str, String)> = vec![
        ("word", "x".into()),
        ("digit", "1".into()),
        ("negative", "-1".into()),
        ("null", "null".into()),
        ("SQL injection", "%27%20OR%20%271%27%3D%271".into()),
        ("NUL", "%00".into()),
        ("traversal", "..%2F..%2Fetc%2Fpasswd".into()),
        ("nil UUID", uuid::Uuid::nil().to_string()),
        ("unknown UUID", random.to_string()),
        (
            "unknown UUID, upper case",
            random.to_string().to_uppercase(),
        ),
        ("unknown UUID, no hyphens", random.simple().to_string()),
        ("emoji", "%F0%9F%92%A9".into()),
        ("10000 characters", long.clone()),
        ("invalid UTF-8 escape", "%FF".into()),
        ("overlong UTF-8 escape", "%C0%AF".into()),
        ("the id with a suffix", format!("{}x", ctx.wo)),
        ("the id cut short", ctx.wo[..35].to_string()),
        ("the id and a NUL", format!("{}%00", ctx.wo)),
    ];
    let by_param: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("id", wo_bad),
        (
            "task_id",
            vec![
                ("unknown name", "nope".into()),
                ("NUL", "%00".into()),
                ("unknown UUID", random.to_string()),
                ("upper-case name", TASK.to_uppercase()),
                ("name and a NUL", format!("{TASK}%00")),
                ("invalid UTF-8 escape", "%FF".into()),
                ("5000 characters", "t".repeat(5000)),
            ],
        ),
        (
            "input_id",
            vec![
                ("word", "x".into()),
                ("unknown UUID", random.to_string()),
                ("invalid UTF-8 escape", "%FF".into()),
                ("NUL", "%00".into()),
            ],
        ),
        (
            "name",
            vec![
                ("unknown name", "nope".into()),
                ("unknown UUID", random.to_string()),
                ("NUL", "%00".into()),
                ("traversal", "..%2F..".into()),
                ("invalid UTF-8 escape", "%FF".into()),
                ("5000 characters", "g".repeat(5000)),
            ],
        ),
        (
            "index",
            vec![
                ("negative", "-1".into()),
                ("word", "abc".into()),
                ("overflow", "99999999999999999999999".into()),
                ("fraction", "1.5".into()),
                ("hex", "0x1".into()),
                ("exponent", "1e3".into()),
                ("past the end", "99".into()),
                ("NUL", "%00".into()),
                ("invalid UTF-8 escape", "%FF".into()),
            ],
        ),
    ];
    let mut out = Vec::new();
    for spec in fieldproof_api::routes() {
        for param in params(spec.path) {
            let values = &by_param
                .iter()
                .find(|(p, _)| *p == param)
                .unwrap_or_else(|| panic!("the corpus has no bad values for {{{param}}}: teach path_ids in tests/adversarial/corpus.rs"))
                .1;
            for (label, bad) in values {
                let path = fill_with(spec.path, |p| {
                    if p == param {
                        bad.clone()
                    } else {
                        ctx.good(p)
                    }
                });
                out.push(
                    Case::new(
                        "path ids",
                        format!("{} {} {{{param}}}: {label}", spec.method, spec.path),
                        spec.method.as_str(),
                        &path,
                        &ctx.key,
                    )
                    .maybe_json(ctx.good_body(&spec))
                    .expect(404),
                );
            }
        }
    }
    out
}

fn queries(ctx: &Ctx) -> Vec<Case> {
    let list = [
        ("page=0", 400),
        ("page=-1", 400),
        ("page=abc", 400),
        ("page=1.5", 400),
        ("page=", 400),
        ("page=99999999999999999999999", 400),
        ("page=1000000", 404),
        ("page=18446744073709551615", 404),
        ("page=%FF", 400),
        ("page_size=0", 400),
        ("page_size=101", 400),
        ("page_size=-5", 400),
        ("page_size=1e2", 400),
        ("page_size=abc", 400),
        ("created_after=yesterday", 400),
        ("created_after=2024-13-45", 400),
        ("created_before=2024-02-30", 400),
        ("created_after=2024-05-01T25:00:00Z", 400),
        ("created_after=%00", 400),
        ("created_before=99999-01-01", 400),
        ("reviewed=maybe", 400),
        ("reviewed=", 400),
        ("min_progress=-1", 400),
        ("min_progress=101", 400),
        ("min_progress=NaN", 400),
        ("max_progress=inf", 400),
        ("max_progress=abc", 400),
        ("min_progress=1e400", 400),
        ("metadata.=x", 400),
        ("page=0&page_size=0&reviewed=x", 400),
    ];
    let mut out: Vec<Case> = list
        .iter()
        .map(|(q, status)| {
            Case::new(
                "query",
                format!("list ?{q}"),
                "GET",
                &format!("/v0.2/work-orders/?{q}"),
                &ctx.key,
            )
            .expect(*status)
        })
        .collect();
    for q in [
        "include_inputs=maybe",
        "include_inputs=",
        "include_inputs=%00",
        "include_inputs=2",
    ] {
        out.push(
            Case::new(
                "query",
                format!("retrieve ?{q}"),
                "GET",
                &format!("/v0.2/work-orders/{}/?{q}", ctx.wo),
                &ctx.key,
            )
            .expect(400),
        );
    }
    out
}

fn authorization(ctx: &Ctx) -> Vec<Case> {
    let key = &ctx.key;
    let variants: Vec<(&str, Auth)> = vec![
        ("no header", Auth::None),
        ("empty header", Auth::Header(Vec::new())),
        ("scheme only", Auth::Header(b"Token".to_vec())),
        (
            "Bearer scheme",
            Auth::Header(format!("Bearer {key}").into_bytes()),
        ),
        ("Basic scheme", Auth::Header(b"Basic dXNlcjpwYXNz".to_vec())),
        ("no space", Auth::Header(format!("Token{key}").into_bytes())),
        (
            "tab instead of space",
            Auth::Header(format!("Token\t{key}").into_bytes()),
        ),
        (
            "extra word",
            Auth::Header(format!("Token {key} extra").into_bytes()),
        ),
        (
            "unknown key",
            Auth::Header(format!("Token fpk_{}", "0".repeat(48)).into_bytes()),
        ),
        (
            "key with a suffix",
            Auth::Header(format!("Token {key}x").into_bytes()),
        ),
        (
            "key cut short",
            Auth::Header(format!("Token {}", &key[..key.len() - 1]).into_bytes()),
        ),
        ("revoked key", Auth::Key(ctx.revoked.clone())),
        (
            "non-ASCII bytes",
            Auth::Header(b"Token \xff\xfe\xfd".to_vec()),
        ),
        (
            "8000-character key",
            Auth::Header(format!("Token {}", "k".repeat(8000)).into_bytes()),
        ),
        ("SQL injection", Auth::Header(b"Token ' OR '1'='1".to_vec())),
    ];
    let mut out = Vec::new();
    for spec in fieldproof_api::routes()
        .into_iter()
        .filter(|r| r.action.is_some())
    {
        for (label, auth) in &variants {
            let auth = match auth {
                Auth::Key(k) => Auth::Key(k.clone()),
                Auth::None => Auth::None,
                Auth::Header(h) => Auth::Header(h.clone()),
            };
            out.push(
                Case::new(
                    "authorization",
                    format!("{} {}: {label}", spec.method, spec.path),
                    spec.method.as_str(),
                    &ctx.fill(spec.path),
                    key,
                )
                .auth(auth)
                .maybe_json(ctx.good_body(&spec))
                .expect(401),
            );
        }
    }
    out
}

fn forbidden(ctx: &Ctx) -> Vec<Case> {
    let mut out = Vec::new();
    for spec in fieldproof_api::routes() {
        let Some(action) = spec.action else { continue };
        for (role, key) in [
            (Role::ReadOnly, &ctx.read_only),
            (Role::Reviewer, &ctx.reviewer),
            (Role::FieldWorker, &ctx.field_worker),
        ] {
            if role.allows(action) {
                continue;
            }
            out.push(
                Case::new(
                    "forbidden",
                    format!("{} {} as {role}", spec.method, spec.path),
                    spec.method.as_str(),
                    &ctx.fill(spec.path),
                    key,
                )
                .maybe_json(ctx.good_body(&spec))
                .expect(403),
            );
        }
    }
    out
}

fn methods(ctx: &Ctx) -> Vec<Case> {
    let routes = fieldproof_api::routes();
    let mut paths: Vec<&str> = routes.iter().map(|r| r.path).collect();
    paths.sort_unstable();
    paths.dedup();
    let mut out = Vec::new();
    for path in paths {
        let served: Vec<&str> = routes
            .iter()
            .filter(|r| r.path == path)
            .map(|r| r.method.as_str())
            .collect();
        for m in [
            "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "PROPFIND", "FOO",
        ] {
            if served.contains(&m) {
                continue;
            }
            let filled = ctx.fill(path);
            for p in [filled.clone(), format!("{filled}/")] {
                out.push(
                    Case::new("methods", format!("{m} {p}"), m, &p, &ctx.key)
                        .body("{}")
                        .expect(405),
                );
            }
        }
    }
    out
}

fn fields(ctx: &Ctx) -> Vec<Case> {
    let create = "/v0.2/work-orders/";
    let update = format!("/v0.2/work-orders/{}/", ctx.wo);
    let correct = format!("/v0.2/work-orders/{}/tasks/{TASK}/correction/", ctx.wo);
    let count = format!(
        "/v0.2/work-orders/{}/tasks/equipment_after_intervention_degradations/correction/",
        ctx.wo
    );
    let review = format!("/v0.2/work-orders/{}/review/", ctx.wo);
    let n = |name: Value| json!({ "name": name });
    let with = |k: &str, v: Value| {
        let mut o = json!({"name": "ok"});
        o[k] = v;
        o
    };
    let many_tags: Vec<String> = (0..201).map(|i| format!("t{i}")).collect();
    let many_types: Vec<String> = (0..10_000).map(|i| format!("type{i}")).collect();
    let creates: Vec<(&str, Value)> = vec![
        ("name missing", json!({})),
        ("name empty", n(json!(""))),
        ("name a number", n(json!(5))),
        ("name null", n(Value::Null)),
        ("name a list", n(json!(["a"]))),
        ("name with a space", n(json!("has space"))),
        ("name with a slash", n(json!("a/b"))),
        ("name not ASCII", n(json!("é"))),
        ("name of 129 characters", n(json!("a".repeat(129)))),
        ("name of 1 MB", n(json!("a".repeat(1_000_000)))),
        ("name with NUL", n(json!("a\u{0}b"))),
        ("name of a huge number", n(json!(1e308))),
        ("metadata a string", with("metadata", json!("x"))),
        ("metadata a list", with("metadata", json!([]))),
        (
            "declared text metadata a number",
            with("metadata", json!({"region": 5})),
        ),
        (
            "declared text metadata an object",
            with("metadata", json!({"region": {"a": 1}})),
        ),
        ("tags a string", with("tags", json!("a"))),
        ("tags of numbers", with("tags", json!([1]))),
        ("an empty tag", with("tags", json!([""]))),
        ("a null tag", with("tags", json!([null]))),
        ("tags an object", with("tags", json!({}))),
        ("201 tags", with("tags", json!(many_tags))),
        (
            "a tag of 257 characters",
            with("tags", json!(["t".repeat(257)])),
        ),
        ("engineer a number", with("field_engineer_email", json!(5))),
        (
            "unknown engineer",
            with("field_engineer_email", json!("nobody@example.com")),
        ),
        (
            "engineer with NUL",
            with("field_engineer_email", json!("john.doe@example.com\u{0}")),
        ),
        (
            "engineer of 100 kB",
            with("field_engineer_email", json!("e".repeat(100_000))),
        ),
        ("user groups a string", with("user_group_ids", json!("x"))),
        (
            "user group not a UUID",
            with("user_group_ids", json!(["not-a-uuid"])),
        ),
        (
            "unknown user group",
            with("user_group_ids", json!([uuid::Uuid::new_v4()])),
        ),
        ("user group NUL", with("user_group_ids", json!(["\u{0}"]))),
        (
            "types a string",
            with("work_order_types", json!("installation")),
        ),
        ("unknown type", with("work_order_types", json!(["unknown"]))),
        (
            "type with NUL",
            with("work_order_types", json!(["installation\u{0}"])),
        ),
        ("type a number", with("work_order_types", json!([5]))),
        (
            "10000 unknown types",
            with("work_order_types", json!(many_types)),
        ),
    ];
    let mut out: Vec<Case> = creates
        .into_iter()
        .map(|(label, body)| {
            Case::new(
                "fields",
                format!("create: {label}"),
                "POST",
                create,
                &ctx.key,
            )
            .json(&body)
            .expect(400)
        })
        .collect();
    // Duplicate keys: the last one counts (serde_json), and it is the bad one here.
    let raw_bodies: Vec<(&str, &str, &str)> = vec![
        (
            "create: duplicate name, last bad",
            create,
            r#"{"name": "ok", "name": "bad name"}"#,
        ),
        (
            "create: duplicate tags, last bad",
            create,
            r#"{"name": "ok", "tags": ["a"], "tags": "notalist"}"#,
        ),
    ];
    let updates: Vec<(&str, Value)> = vec![
        ("name empty", n(json!(""))),
        ("name a number", n(json!(5))),
        ("name null", n(Value::Null)),
        ("name with NUL", n(json!("a\u{0}"))),
        ("metadata a string", json!({"metadata": "x"})),
        (
            "declared text metadata a boolean",
            json!({"metadata": {"region": true}}),
        ),
        ("tags a string", json!({"tags": "a"})),
        ("tags of numbers", json!({"tags": [1]})),
        (
            "unknown engineer",
            json!({"field_engineer_email": "nobody@example.com"}),
        ),
        ("unknown type", json!({"work_order_types": ["unknown"]})),
        ("user group not a UUID", json!({"user_group_ids": ["x"]})),
    ];
    for (label, body) in updates {
        out.push(
            Case::new(
                "fields",
                format!("update: {label}"),
                "PATCH",
                &update,
                &ctx.key,
            )
            .json(&body)
            .expect(400),
        );
    }
    let corrections: Vec<(&str, &str, &str)> = vec![
        ("Boolean: missing", &correct, "{}"),
        ("Boolean: an object", &correct, r#"{"corrected_value": {}}"#),
        ("Boolean: a list", &correct, r#"{"corrected_value": []}"#),
        (
            "Boolean: maybe",
            &correct,
            r#"{"corrected_value": "maybe"}"#,
        ),
        ("Boolean: a number", &correct, r#"{"corrected_value": 5}"#),
        (
            "Boolean: NUL inside",
            &correct,
            r#"{"corrected_value": "tr\u0000ue"}"#,
        ),
        (
            "Boolean: duplicate, last bad",
            &correct,
            r#"{"corrected_value": "true", "corrected_value": "maybe"}"#,
        ),
        ("Number: a word", &count, r#"{"corrected_value": "abc"}"#),
        ("Number: a boolean", &count, r#"{"corrected_value": true}"#),
        (
            "Number: 1e999 as text",
            &count,
            r#"{"corrected_value": "1e999"}"#,
        ),
        (
            "Number: NaN as text",
            &count,
            r#"{"corrected_value": "NaN"}"#,
        ),
        (
            "Number: an object",
            &count,
            r#"{"corrected_value": {"n": 1}}"#,
        ),
    ];
    let reviews: Vec<(&str, &str)> = vec![
        ("reviewed a string", r#"{"reviewed": "yes"}"#),
        ("reviewed a number", r#"{"reviewed": 1}"#),
        ("reviewed null", r#"{"reviewed": null}"#),
        (
            "duplicate, last bad",
            r#"{"reviewed": true, "reviewed": "no"}"#,
        ),
    ];
    for (label, path, body) in raw_bodies {
        out.push(
            Case::new("fields", label, "POST", path, &ctx.key)
                .body(body)
                .expect(400),
        );
    }
    for (label, path, body) in corrections {
        out.push(
            Case::new(
                "fields",
                format!("correction {label}"),
                "PATCH",
                path,
                &ctx.key,
            )
            .body(body)
            .expect(400),
        );
    }
    for (label, body) in reviews {
        out.push(
            Case::new(
                "fields",
                format!("review: {label}"),
                "POST",
                &review,
                &ctx.key,
            )
            .body(body)
            .expect(400),
        );
    }
    out
}

fn headers(ctx: &Ctx) -> Vec<Case> {
    let create = "/v0.2/work-orders/";
    let body = json!({"name": "must-not-exist"});
    let mut out = vec![
        Case::new("headers", "Idempotency-Key empty", "POST", create, &ctx.key)
            .json(&body)
            .header("Idempotency-Key", "")
            .expect(400),
        Case::new(
            "headers",
            "Idempotency-Key of 256 characters",
            "POST",
            create,
            &ctx.key,
        )
        .json(&body)
        .header("Idempotency-Key", "k".repeat(256))
        .expect(400),
        Case::new(
            "headers",
            "Idempotency-Key of 64 kB",
            "POST",
            create,
            &ctx.key,
        )
        .json(&body)
        .header("Idempotency-Key", "k".repeat(65_536))
        .expect(400),
        Case::new(
            "headers",
            "Idempotency-Key not ASCII",
            "POST",
            create,
            &ctx.key,
        )
        .json(&body)
        .header("Idempotency-Key", b"\xff\xfe".to_vec())
        .expect(400),
        Case::new(
            "headers",
            "Idempotency-Key reused with another body",
            "POST",
            create,
            &ctx.key,
        )
        .json(&json!({"name": "another"}))
        .header("Idempotency-Key", "corpus-used")
        .expect(409),
        Case::new(
            "headers",
            "Authorization of 64 kB",
            "GET",
            "/v0.2/work-orders/",
            &ctx.key,
        )
        .auth(Auth::Header(
            format!("Token {}", "k".repeat(65_536)).into_bytes(),
        ))
        .expect(401),
        // Refused by the HTTP layer (hyper) before any route runs.
        Case::new(
            "headers",
            "a header of 1 MB",
            "GET",
            "/v0.2/work-orders/",
            &ctx.key,
        )
        .header("X-Junk", "j".repeat(1_000_000))
        .protocol(),
        Case::new(
            "headers",
            "a path of 100 kB",
            "GET",
            &format!("/v0.2/work-orders/{}", "p".repeat(100_000)),
            &ctx.key,
        )
        .protocol(),
        Case::new(
            "headers",
            "a query of 100 kB",
            "GET",
            &format!("/v0.2/work-orders/?name={}", "q".repeat(100_000)),
            &ctx.key,
        )
        .protocol(),
        Case::new(
            "headers",
            "Content-Length not a number",
            "POST",
            create,
            &ctx.key,
        )
        .header("Content-Length", "abc")
        .protocol(),
    ];
    let mut many = Case::new(
        "headers",
        "200 headers",
        "GET",
        "/v0.2/work-orders/",
        &ctx.key,
    )
    .protocol();
    for _ in 0..200 {
        many = many.header("X-Many", "v");
    }
    out.push(many);
    let mut two_lengths = Case::new(
        "headers",
        "two different Content-Lengths",
        "POST",
        create,
        &ctx.key,
    )
    .protocol();
    two_lengths.raw = Some(format!("POST {create} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Token {}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 30\r\n\r\n{{}}", ctx.key).into_bytes());
    out.push(two_lengths);
    for (label, raw) in [
        ("garbage request line", b"GARBAGE\r\n\r\n".to_vec()),
        (
            "unknown HTTP version",
            b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        ),
        (
            "space in a header name",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: x\r\n\r\n".to_vec(),
        ),
        (
            "NUL in a header value",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n".to_vec(),
        ),
        (
            "bare LF in a header",
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\nb\r\n\r\n".to_vec(),
        ),
    ] {
        let mut c = Case::new("headers", label, "GET", "/", &ctx.key).protocol();
        c.raw = Some(raw);
        out.push(c);
    }
    out
}

#[derive(Default)]
struct Tally {
    cases: usize,
    protocol: usize,
    statuses: BTreeMap<u16, usize>,
    groups: BTreeMap<&'static str, usize>,
    failures: Vec<String>,
}

fn short(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() > 200 {
        format!(
            "{}…",
            &s[..s.char_indices().nth(200).map_or(s.len(), |(i, _)| i)]
        )
    } else {
        s.into_owned()
    }
}

fn judge(case: &Case, reply: &RawReply, tally: &mut Tally) {
    if std::env::var_os("ADVERSARIAL_VERBOSE").is_some() {
        println!(
            "{} [{}] {}: {}",
            reply.status,
            case.group,
            case.label,
            short(&reply.body)
        );
    }
    tally.cases += 1;
    *tally.statuses.entry(reply.status).or_default() += 1;
    *tally.groups.entry(case.group).or_default() += 1;
    if case.protocol {
        tally.protocol += 1;
    }
    let path: String = case.path.chars().take(100).collect();
    let what = format!("[{}] {}: {} {}", case.group, case.label, case.method, path);
    let mut problems = Vec::new();
    if !(400..500).contains(&reply.status) {
        problems.push(format!("status {} (a 4xx was expected)", reply.status));
    } else if let Some(e) = case.expect {
        if reply.status != e {
            problems.push(format!("status {} ({e} expected)", reply.status));
        }
    }
    let empty_ok = case.protocol && reply.body.is_empty();
    if !empty_ok {
        let ct = reply.header("content-type").unwrap_or("");
        if ct != "application/json" {
            problems.push(format!("Content-Type {ct:?}, not application/json"));
        }
        if serde_json::from_slice::<Value>(&reply.body).is_err() {
            problems.push("the body is not JSON".to_string());
        }
    }
    if !problems.is_empty() {
        tally.failures.push(format!(
            "{what}\n    → {}; body {}",
            problems.join(", "),
            short(&reply.body)
        ));
    }
}

async fn healthy(app: &TestApp, after: &str) {
    let r = app.call(Method::GET, "/healthz", None).await;
    assert_eq!(r.status, 200, "unhealthy after {after}: {}", r.body);
}

/// What must not change: the number of work orders, the fixture work order as a whole, the jobs.
async fn snapshot(app: &TestApp, wo: &str) -> (Value, Value, usize) {
    let count = app.call(Method::GET, "/v0.2/work-orders/", None).await.body["count"].clone();
    let fixture = app
        .call(Method::GET, &format!("/v0.2/work-orders/{wo}/"), None)
        .await
        .body;
    let jobs = app.store.list_jobs(None, 10_000).await.unwrap().len();
    (count, fixture, jobs)
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_json_answer_and_change_nothing() {
    let app = spawn_app().await;
    let wo = app
        .create(json!({"name": "fixture", "work_order_types": ["installation"], "tags": ["fixture"], "metadata": {"region": "North"}}))
        .await;
    // The create whose Idempotency-Key a case reuses with another body.
    let first = app
        .client
        .post(app.url("/v0.2/work-orders/"))
        .header("Authorization", format!("Token {}", app.key))
        .header("Content-Type", "application/json")
        .header("Idempotency-Key", "corpus-used")
        .body(json!({"name": "first"}).to_string());
    assert_eq!(send(first).await.status, 201);
    let revoked = app.key_for(&app.site, Role::Administrator).await;
    let hash = fieldproof_api::extract::key_hash(&revoked);
    let record = app
        .store
        .list_keys(app.site.id)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.hash == hash)
        .unwrap();
    app.store
        .revoke_key(app.site.id, record.id, fieldproof_api::time::now_micros())
        .await
        .unwrap();
    let ctx = Ctx {
        key: app.key.clone(),
        read_only: app.key_for(&app.site, Role::ReadOnly).await,
        reviewer: app.key_for(&app.site, Role::Reviewer).await,
        field_worker: app.key_for(&app.site, Role::FieldWorker).await,
        revoked,
        wo: wo["id"].as_str().unwrap().to_string(),
    };
    let before = snapshot(&app, &ctx.wo).await;

    let batches: Vec<(&str, Vec<Case>)> = vec![
        ("json syntax", json_syntax(&ctx)),
        ("content type", content_types(&ctx)),
        ("oversized", oversized(&ctx)),
        ("analysis input", analysis_inputs(&ctx)),
        ("path ids", path_ids(&ctx)),
        ("query", queries(&ctx)),
        ("authorization", authorization(&ctx)),
        ("forbidden", forbidden(&ctx)),
        ("methods", methods(&ctx)),
        ("fields", fields(&ctx)),
        ("headers", headers(&ctx)),
    ];
    let mut tally = Tally::default();
    for (name, cases) in &batches {
        for (i, case) in cases.iter().enumerate() {
            match send_raw(&app.base, case.bytes()).await {
                Ok(reply) => judge(case, &reply, &mut tally),
                Err(why) => {
                    tally.cases += 1;
                    *tally.groups.entry(case.group).or_default() += 1;
                    let path: String = case.path.chars().take(100).collect();
                    tally.failures.push(format!(
                        "[{}] {}: {} {}\n    → {why}",
                        case.group, case.label, case.method, path
                    ));
                }
            }
            if i % 50 == 49 {
                healthy(&app, name).await;
            }
        }
        healthy(&app, name).await;
    }
    let after = snapshot(&app, &ctx.wo).await;

    report!(
        "malformed-input corpus: {} cases ({} refused by the HTTP layer before routing), {} failed",
        tally.cases,
        tally.protocol,
        tally.failures.len()
    );
    for (group, n) in &tally.groups {
        report!("  {group:<16} {n}");
    }
    let histogram: Vec<String> = tally
        .statuses
        .iter()
        .map(|(s, n)| format!("{s}: {n}"))
        .collect();
    report!("  statuses         {}", histogram.join(", "));
    assert!(
        tally.cases >= 300,
        "the corpus shrank to {} cases",
        tally.cases
    );
    if before.0 != after.0 {
        tally.failures.push(format!(
            "the number of work orders changed: {} → {}",
            before.0, after.0
        ));
    }
    if before.1 != after.1 {
        tally.failures.push(format!(
            "the fixture work order changed:\n    {}\n  → {}",
            before.1, after.1
        ));
    }
    if before.2 != after.2 {
        tally
            .failures
            .push(format!("jobs were queued: {} → {}", before.2, after.2));
    }
    assert!(
        tally.failures.is_empty(),
        "{} of {} malformed requests were not answered as they should:\n{}",
        tally.failures.len(),
        tally.cases,
        tally.failures.join("\n")
    );
}
