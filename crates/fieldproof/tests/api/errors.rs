//! Transport and authentication: 401, 403, 404 for unknown routes, 405, 413, 415 and malformed
//! bodies, each with its JSON body.

use fieldproof_domain::role::Role;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

#[tokio::test]
async fn missing_or_malformed_authorization_is_401_not_provided() {
    let app = spawn_app().await;
    let not_provided = json!({"detail": "Authentication credentials not provided."});
    for header in [
        None,
        Some("".to_string()),
        Some("Token".into()),
        Some(format!("Bearer {}", app.key)),
        Some("Token a b".into()),
    ] {
        for p in both_forms("/v0.2/work-orders/") {
            let mut req = app
                .client
                .get(app.url(&p))
                .header("Content-Type", "application/json");
            if let Some(h) = &header {
                req = req.header("Authorization", h);
            }
            let r = send(req).await;
            assert_eq!(
                (r.status, &r.body),
                (401, &not_provided),
                "header {header:?}"
            );
        }
    }
}

#[tokio::test]
async fn unknown_and_revoked_keys_are_401_no_user() {
    let app = spawn_app().await;
    let no_user = json!({"detail": "No user found for such apiKey."});
    let r = app
        .call_as("fpk_0000", Method::GET, "/v0.2/work-orders/", None)
        .await;
    assert_eq!((r.status, r.body), (401, no_user.clone()));
    let key = app.key_for(&app.site, Role::Manager).await;
    assert_eq!(
        app.call_as(&key, Method::GET, "/v0.2/work-orders/", None)
            .await
            .status,
        200
    );
    let keys = app.store.list_keys(app.site.id).await.unwrap();
    let record = keys
        .iter()
        .find(|k| key.starts_with(&k.display_prefix) && k.label == "test")
        .unwrap();
    app.store
        .revoke_key(app.site.id, record.id, 1)
        .await
        .unwrap();
    let r = app
        .call_as(&key, Method::GET, "/v0.2/work-orders/", None)
        .await;
    assert_eq!((r.status, r.body), (401, no_user));
    // "token" in any case is accepted, as Django REST framework does.
    let req = app
        .client
        .get(app.url("/v0.2/work-orders/"))
        .header("Authorization", format!("token {}", app.key));
    assert_eq!(send(req).await.status, 200);
}

#[tokio::test]
async fn keys_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    for k in app.store.list_keys(app.site.id).await.unwrap() {
        assert_ne!(k.hash, app.key);
        assert_eq!(k.hash.len(), 64);
        assert!(app.key.len() >= 4 + 32, "at least 128 random bits");
    }
}

#[tokio::test]
async fn roles_that_may_not_write_get_403() {
    let app = spawn_app().await;
    let forbidden = json!({"detail": "You do not have permission to perform this action."});
    let wo = app.create(wo("r")).await;
    let path = format!("/v0.2/work-orders/{}/", wo["id"].as_str().unwrap());
    let read_only = app.key_for(&app.site, Role::ReadOnly).await;
    let reviewer = app.key_for(&app.site, Role::Reviewer).await;
    let field = app.key_for(&app.site, Role::FieldWorker).await;
    for (key, method, p, body) in [
        (
            &read_only,
            Method::POST,
            "/v0.2/work-orders/",
            Some(wo_body()),
        ),
        (
            &read_only,
            Method::PATCH,
            path.as_str(),
            Some(json!({"tags": []})),
        ),
        (&read_only, Method::DELETE, path.as_str(), None),
        (
            &reviewer,
            Method::POST,
            "/v0.2/work-orders/",
            Some(wo_body()),
        ),
        (&field, Method::DELETE, path.as_str(), None),
    ] {
        let r = app.call_as(key, method.clone(), p, body).await;
        assert_eq!((r.status, &r.body), (403, &forbidden), "{method} {p}");
    }
    for key in [&read_only, &reviewer, &field] {
        assert_eq!(app.call_as(key, Method::GET, &path, None).await.status, 200);
        assert_eq!(
            app.call_as(key, Method::GET, "/v0.2/work-orders/", None)
                .await
                .status,
            200
        );
    }
    assert_eq!(
        app.call_as(&field, Method::POST, "/v0.2/work-orders/", Some(wo_body()))
            .await
            .status,
        201
    );
    assert_eq!(
        app.call_as(&field, Method::PATCH, &path, Some(json!({"tags": ["f"]})))
            .await
            .status,
        200
    );
}

fn wo_body() -> Value {
    json!({"name": "x"})
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = spawn_app().await;
    for p in [
        "/",
        "/v0.2",
        "/v0.2/work-order/",
        "/v0.2/work-orders/x/y/z",
        "/v1/work-orders/",
    ] {
        let r = app.call(Method::GET, p, None).await;
        assert_eq!(
            (r.status, r.body),
            (404, json!({"detail": "Not found."})),
            "{p}"
        );
    }
    for p in both_forms("/v0.2/work-orders/") {
        let r = app.call(Method::PUT, &p, Some(wo_body())).await;
        assert_eq!(r.status, 405);
        assert_eq!(r.body, json!({"detail": "Method \"PUT\" not allowed."}));
    }
    let r = app.call(Method::DELETE, "/v0.2/task-groups/", None).await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn health_needs_no_key() {
    let app = spawn_app().await;
    for p in both_forms("/healthz") {
        let r = send(app.client.get(app.url(&p))).await;
        assert_eq!((r.status, r.body), (200, json!({"status": "ok"})));
    }
}

async fn raw(app: &TestApp, content_type: Option<&str>, body: Vec<u8>) -> Reply {
    let mut req = app
        .client
        .post(app.url("/v0.2/work-orders/"))
        .header("Authorization", format!("Token {}", app.key))
        .body(body);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    send(req).await
}

#[tokio::test]
async fn malformed_bodies_are_4xx_json_and_write_nothing() {
    let app = spawn_app().await;
    let json_ct = Some("application/json");
    let cases: Vec<(Option<&str>, Vec<u8>, u16)> = vec![
        (json_ct, b"{\"name\": ".to_vec(), 400),
        (json_ct, b"[{\"name\": \"a\"}]".to_vec(), 400),
        (json_ct, b"\"name\"".to_vec(), 400),
        (json_ct, b"null".to_vec(), 400),
        (json_ct, b"".to_vec(), 400),
        (json_ct, b"   ".to_vec(), 400),
        (json_ct, b"{\"name\": \"a\"} trailing".to_vec(), 400),
        (
            json_ct,
            vec![b'{', b'"', 0xff, 0xfe, b'"', b':', b'1', b'}'],
            400,
        ),
        (
            json_ct,
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            400,
        ),
        (
            json_ct,
            format!(
                "{{\"name\": \"a\", \"metadata\": {}1{}}}",
                "{\"a\":".repeat(200),
                "}".repeat(200)
            )
            .into_bytes(),
            400,
        ),
        (
            json_ct,
            b"{\"name\": \"a\", \"metadata\": {\"n\": 1e999999}}".to_vec(),
            400,
        ),
        (None, b"{\"name\": \"a\"}".to_vec(), 415),
        (Some("text/plain"), b"{\"name\": \"a\"}".to_vec(), 415),
        (
            Some("application/x-www-form-urlencoded"),
            b"name=a".to_vec(),
            415,
        ),
        (
            Some("multipart/form-data; boundary=x"),
            b"--x--".to_vec(),
            415,
        ),
    ];
    for (ct, body, status) in cases {
        let r = raw(&app, ct, body.clone()).await;
        assert_eq!(
            r.status,
            status,
            "{ct:?} {:?}: {}",
            String::from_utf8_lossy(&body[..body.len().min(40)]),
            r.body
        );
        assert!(r.body["detail"].is_string(), "{}", r.body);
    }
    let ok = raw(
        &app,
        Some("application/json; charset=utf-8"),
        b"{\"name\": \"a\"}".to_vec(),
    )
    .await;
    assert_eq!(ok.status, 201);
    let (count, _) = app
        .store
        .list_work_orders(app.site.id, &Default::default(), 0, 10)
        .await
        .unwrap();
    assert_eq!(count, 1, "only the valid request wrote");
}

#[tokio::test]
async fn oversized_bodies_get_413_json() {
    let app = spawn_app().await;
    let big = json!({"name": "big", "metadata": {"blob": "x".repeat(3 * 1024 * 1024)}});
    let r = raw(&app, Some("application/json"), big.to_string().into_bytes()).await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.body,
        json!({"detail": "Request body is too large: the limit is 2097152 bytes."})
    );
    // Streamed in chunks without a Content-Length, it is cut at the limit all the same.
    let (status, body) = chunked_post(&app, "/v0.2/work-orders/", 40, 100 * 1024).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("too large"), "{body}");
    // Just under the limit is fine.
    let fits = json!({"name": "fits", "metadata": {"blob": "x".repeat(2 * 1024 * 1024 - 100)}});
    assert_eq!(
        raw(
            &app,
            Some("application/json"),
            fits.to_string().into_bytes()
        )
        .await
        .status,
        201
    );
}

/// Sends `chunks` chunks of `size` spaces with `Transfer-Encoding: chunked` over a raw socket
/// and returns the status and body of the answer.
async fn chunked_post(app: &TestApp, path: &str, chunks: usize, size: usize) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Token {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.key
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; size];
    for _ in 0..chunks {
        // The server may answer and close before everything is sent.
        if s.write_all(format!("{size:x}\r\n").as_bytes())
            .await
            .is_err()
            || s.write_all(&chunk).await.is_err()
            || s.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test]
async fn an_analysis_body_streamed_past_its_limit_gets_413_and_changes_nothing() {
    let app = spawn_app().await;
    let wo = app.create(wo_body()).await;
    let id = wo["id"].as_str().unwrap();
    // 12 MB in chunks of 256 kB without a Content-Length: the analysis route's limit is 11 MB.
    let path = format!("/v0.2/work-orders/{id}/analyze/");
    let (status, body) = chunked_post(&app, &path, 48, 256 * 1024).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("too large"), "{body}");
    let after = app
        .call(Method::GET, &format!("/v0.2/work-orders/{id}/"), None)
        .await;
    assert_eq!(after.body["inputs"], json!([]), "{}", after.body);
    assert_eq!(after.body["latest_analysis_id"], Value::Null);
}

#[tokio::test]
async fn get_and_delete_with_a_json_content_type_and_no_body_work() {
    let app = spawn_app().await;
    let wo = app.create(wo_body()).await;
    let p = format!("/v0.2/work-orders/{}/", wo["id"].as_str().unwrap());
    assert_eq!(app.call(Method::GET, &p, None).await.status, 200);
    assert_eq!(app.call(Method::DELETE, &p, None).await.status, 204);
}
