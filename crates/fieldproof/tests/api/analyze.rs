//! `POST /v0.2/work-orders/{id}/analyze/`, the stored inputs, corrections, reviews and the
//! progress score through a whole work order, with the real models.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::*;

/// A demo example photo by a fragment of its name (e.g. "before", "after").
pub fn demo_photo(fragment: &str) -> Vec<u8> {
    fieldproof::demo::EXAMPLES
        .iter()
        .find(|(n, _)| n.contains(fragment))
        .unwrap_or_else(|| panic!("no demo example photo named like {fragment:?}"))
        .1
        .to_vec()
}

pub fn data_uri(bytes: &[u8], media: &str) -> String {
    format!(
        "data:{media};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

pub fn body(image: &str, group: &str) -> Value {
    json!({"inputs": [
        {"name": "image_input", "data": {"type": "image", "value": image}},
        {"name": "context", "data": {"type": "text", "value": group}}
    ]})
}

/// A JPEG of a textured scene, sharp and well exposed, `seed` varying its content.
pub fn scene(seed: u32, brightness: f32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        let v = ((x * 7 + y * 13 + seed * 31) % 64) as f32 * 2.0
            + if (x / 40 + y / 40 + seed).is_multiple_of(2) {
                60.0
            } else {
                0.0
            };
        let v = ((v + 40.0) * brightness).clamp(0.0, 255.0) as u8;
        image::Rgb([v, v.saturating_add((seed % 50) as u8), v / 2 + 20])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

fn wo_path(wo: &Value) -> String {
    format!("/v0.2/work-orders/{}/", wo["id"].as_str().unwrap())
}

async fn analyze(app: &TestApp, wo: &Value, body: Value) -> Reply {
    app.call(
        Method::POST,
        &format!("{}analyze/", wo_path(wo)),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn an_analysis_stores_the_input_and_updates_the_work_order() {
    let app = spawn_app().await;
    let wo = app
        .create(json!({"name": "a", "work_order_types": ["installation"]}))
        .await;
    let photo = demo_photo("after");
    let r = analyze(
        &app,
        &wo,
        body(
            &data_uri(&photo, "image/jpeg"),
            "equipment-after-intervention",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    for k in [
        "id",
        "input_id",
        "task_group_name",
        "status",
        "conformity_messages",
        "tasks",
        "progress_score",
    ] {
        assert!(r.body.get(k).is_some(), "{k} missing in {}", r.body);
    }
    assert_eq!(r.body["task_group_name"], "equipment-after-intervention");
    assert_eq!(r.body["conformity_messages"], json!([]));
    // The stored analysis names what produced its values: each model's file and the input it
    // was fed (the same file can run at another size).
    let id = r.body["id"].as_str().unwrap().parse().unwrap();
    let row = app.store.get_analysis(app.site.id, id).await.unwrap();
    let row = row.expect("the analysis is stored");
    let used = app.engine.models().expect("models loaded").models();
    assert_eq!(row.model_hashes.len(), used.len(), "{:?}", row.model_hashes);
    for m in &used {
        assert_eq!(row.model_hashes[&m.name], json!(m.sha256), "{}", m.name);
        assert_eq!(
            row.details["model_inputs"][&m.name],
            json!(m.input),
            "{}",
            m.name
        );
    }
    let backbone = &row.details["model_inputs"]["mobilenet_v2"];
    assert_eq!(backbone["kind"], "image", "{backbone}");
    assert!(
        backbone["width"].as_u64().is_some_and(|w| w > 0),
        "{backbone}"
    );
    let tasks = r.body["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    for t in tasks {
        let s = &t["state"];
        assert!(!s.is_null(), "{t}");
        for k in [
            "analyzed_value",
            "corrected_value",
            "value",
            "is_conformity_validated",
            "message",
        ] {
            assert!(s.get(k).is_some(), "state key {k}");
        }
    }
    let after = wo_path(&wo);
    let now = app.call(Method::GET, &after, None).await.body;
    assert_eq!(now["first_analysis_id"], r.body["id"]);
    assert_eq!(now["latest_analysis_id"], r.body["id"]);
    assert_eq!(now["progress_score"], r.body["progress_score"]);
    let inputs = now["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 1);
    assert_eq!(inputs[0]["id"], r.body["input_id"]);
    assert_eq!(inputs[0]["status"], r.body["status"]);
    // The stored file comes back byte for byte, to the same site only.
    let url = inputs[0]["url"].as_str().unwrap();
    let file = app
        .client
        .get(url)
        .header("Authorization", format!("Token {}", app.key))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "image/jpeg");
    assert_eq!(file.bytes().await.unwrap().as_ref(), photo.as_slice());
    let (_, other_key) = app.add_site("other").await;
    let r2 = app
        .client
        .get(url)
        .header("Authorization", format!("Token {other_key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r2.status(), 404);
    // A second analysis moves only the latest id.
    let r3 = analyze(
        &app,
        &wo,
        body(
            &data_uri(&demo_photo("before"), "image/jpeg"),
            "equipment-before-intervention",
        ),
    )
    .await;
    assert_eq!(r3.status, 200, "{}", r3.body);
    let now = app.call(Method::GET, &after, None).await.body;
    assert_eq!(now["first_analysis_id"], r.body["id"]);
    assert_eq!(now["latest_analysis_id"], r3.body["id"]);
    assert_eq!(now["inputs"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn multipart_uploads_work() {
    let app = spawn_app().await;
    let wo = app.create(json!({"name": "m"})).await;
    // Built by hand, as a phone browser's form sends it.
    let boundary = "----fieldproof-test-boundary";
    // A photo of over a megabyte, which the server takes in several pieces.
    let photo = fieldproof::bench_analyze::photo_1mb(0);
    assert!(photo.len() > 1_000_000);
    let mut form = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"context\"\r\n\r\nequipment-after-intervention\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    form.extend_from_slice(&photo);
    form.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = send(
        app.client
            .post(app.url(&format!("{}analyze/", wo_path(&wo))))
            .header("Authorization", format!("Token {}", app.key))
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(form),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["task_group_name"], "equipment-after-intervention");
    assert_ne!(r.body["status"], "conformity_error", "{}", r.body);
    assert_eq!(
        first_input_file(&app, &wo).await,
        photo,
        "stored byte for byte"
    );
}

#[tokio::test]
async fn unusable_photos_get_conformity_errors_and_no_values() {
    let app = spawn_app().await;
    let wo = app.create(json!({"name": "c"})).await;
    let dark = scene(1, 0.08);
    let r = analyze(
        &app,
        &wo,
        body(
            &data_uri(&dark, "image/jpeg"),
            "equipment-after-intervention",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["status"], "conformity_error");
    let messages = r.body["conformity_messages"].as_array().unwrap();
    assert!(
        messages
            .iter()
            .any(|m| m.as_str().unwrap().contains("too dark")),
        "{messages:?}"
    );
    assert!(
        r.body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["state"].is_null()),
        "no value computed"
    );
    // The same usable photo twice: the second is a duplicate.
    let photo = scene(2, 1.0);
    let first = analyze(
        &app,
        &wo,
        body(
            &data_uri(&photo, "image/jpeg"),
            "equipment-after-intervention",
        ),
    )
    .await;
    assert_ne!(first.body["status"], "conformity_error", "{}", first.body);
    let again = analyze(
        &app,
        &wo,
        body(
            &data_uri(&photo, "image/jpeg"),
            "equipment-after-intervention",
        ),
    )
    .await;
    assert_eq!(again.body["status"], "conformity_error");
    assert!(
        again.body["conformity_messages"][0]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("already"),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn bad_inputs_are_4xx_and_change_nothing() {
    let app = spawn_app().await;
    let wo = app.create(json!({"name": "bad"})).await;
    let jpeg = demo_photo("after");
    let group = "equipment-after-intervention";
    let two_images = json!({"inputs": [
        {"name": "image_input", "data": {"type": "image", "value": data_uri(&jpeg, "image/jpeg")}},
        {"name": "image_input2", "data": {"type": "image", "value": data_uri(&jpeg, "image/jpeg")}},
        {"name": "context", "data": {"type": "text", "value": group}}]});
    let no_context = json!({"inputs": [{"name": "image_input", "data": {"type": "image", "value": data_uri(&jpeg, "image/jpeg")}}]});
    let truncated = data_uri(&jpeg[..jpeg.len() / 2], "image/jpeg");
    let mut big = vec![0xFF, 0xD8, 0xFF, 0xE0];
    big.resize(6_000_000, 0);
    let oversized = data_uri(&big, "image/jpeg");
    // A decompression bomb: the real photo with its frame header declaring 65535x65535 pixels
    // (4.3 gigapixels) in a body of a few hundred kilobytes. Refused from the header: 400, not
    // 413 (the body is small; what is too large is the picture it declares).
    let mut bomb = jpeg.clone();
    let sof = bomb
        .windows(2)
        .position(|w| w[0] == 0xFF && matches!(w[1], 0xC0..=0xC2))
        .expect("a JPEG frame header");
    bomb[sof + 5..sof + 9].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF]);
    let bomb = data_uri(&bomb, "image/jpeg");
    let r = analyze(&app, &wo, body(&bomb, group)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let message = r.body["image_input"].to_string();
    assert!(
        message.contains("65535x65535") && message.contains("megapixels"),
        "{message}"
    );
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            body(&data_uri(&jpeg, "image/jpeg"), "no-such-group"),
            400,
            "context",
        ),
        (no_context, 400, "context"),
        (two_images, 400, "image_input"),
        (json!({"inputs": "x"}), 400, "inputs"),
        (json!({}), 400, "inputs"),
        (
            body(&data_uri(b"GIF89a.......", "image/jpeg"), group),
            400,
            "image_input",
        ),
        (body(&truncated, group), 400, "image_input"),
        (
            body("data:image/jpeg;base64,@@@not-base64@@@", group),
            400,
            "image_input",
        ),
        (
            body("data:image/gif;base64,R0lGODlh", group),
            400,
            "image_input",
        ),
        (body("ftp://example.com/a.jpg", group), 400, "image_input"),
        (
            body("http://127.0.0.1:9/photo.jpg", group),
            400,
            "image_input",
        ),
        (
            body("http://localhost:9/photo.jpg", group),
            400,
            "image_input",
        ),
        (
            body("http://169.254.169.254/latest/meta-data/", group),
            400,
            "image_input",
        ),
        (body(&oversized, group), 413, "detail"),
    ];
    for (b, status, key) in cases {
        let r = analyze(&app, &wo, b.clone()).await;
        assert_eq!(
            r.status,
            status,
            "{}: {}",
            &b.to_string()[..b.to_string().len().min(120)],
            r.body
        );
        assert!(
            r.body.get(key).is_some(),
            "expected an error about {key}: {}",
            r.body
        );
    }
    let r = app
        .call(
            Method::POST,
            "/v0.2/work-orders/7b0a0b8e-3f43-4d55-9d0e-6c0a4b9f2a11/analyze/",
            Some(body(&data_uri(&jpeg, "image/jpeg"), group)),
        )
        .await;
    assert_eq!(
        (r.status, r.body),
        (404, json!({"detail": "WorkOrder not found!"}))
    );
    let raw = send(
        app.client
            .post(app.url(&format!("{}analyze/", wo_path(&wo))))
            .header("Authorization", format!("Token {}", app.key))
            .header("Content-Type", "image/jpeg")
            .body(jpeg.clone()),
    )
    .await;
    assert_eq!(raw.status, 415);
    let now = app.call(Method::GET, &wo_path(&wo), None).await.body;
    assert_eq!(now["inputs"], json!([]), "nothing was stored");
    assert_eq!(now["latest_analysis_id"], Value::Null);
    assert_eq!(now["update_date"], wo["update_date"]);
}

/// Base64 wrapped in lines (as MIME encoders write it) decodes to the same file: the stored input
/// is byte for byte the photo that was sent.
#[tokio::test]
async fn a_data_uri_wrapped_in_lines_is_the_same_photo() {
    let app = spawn_app().await;
    let wo = app.create(json!({"name": "wrapped"})).await;
    let photo = demo_photo("after");
    let encoded = base64::engine::general_purpose::STANDARD.encode(&photo);
    let wrapped: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let uri = format!("data:image/jpeg;base64,{}", wrapped.join("\r\n"));
    let r = analyze(&app, &wo, body(&uri, "equipment-after-intervention")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(first_input_file(&app, &wo).await, photo);
}

/// The file of the work order's first input, fetched from its URL with the site's key.
async fn first_input_file(app: &TestApp, wo: &Value) -> Vec<u8> {
    let now = app.call(Method::GET, &wo_path(wo), None).await.body;
    let url = now["inputs"][0]["url"].as_str().expect("an input URL");
    let file = app
        .client
        .get(url)
        .header("Authorization", format!("Token {}", app.key))
        .send()
        .await
        .unwrap();
    assert_eq!(file.status(), 200);
    file.bytes().await.unwrap().to_vec()
}

#[tokio::test]
async fn a_scanned_pdf_is_analysed_from_its_page_photo() {
    let app = spawn_app().await;
    let wo = app.create(json!({"name": "pdf"})).await;
    let jpeg = demo_photo("after");
    let mut pdf =
        b"%PDF-1.4\n1 0 obj << /Type /XObject /Subtype /Image /Filter /DCTDecode /Length ".to_vec();
    pdf.extend_from_slice(format!("{} >>\nstream\n", jpeg.len()).as_bytes());
    pdf.extend_from_slice(&jpeg);
    pdf.extend_from_slice(b"\nendstream\nendobj\n%%EOF\n");
    let r = analyze(
        &app,
        &wo,
        body(
            &data_uri(&pdf, "application/pdf"),
            "equipment-after-intervention",
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let now = app.call(Method::GET, &wo_path(&wo), None).await.body;
    assert_eq!(now["inputs"][0]["content_type"], "application/pdf");
    let vector =
        b"%PDF-1.4\n1 0 obj << /Length 10 >>\nstream\nBT (x) ET\nendstream\nendobj\n%%EOF".to_vec();
    let r = analyze(
        &app,
        &wo,
        body(
            &data_uri(&vector, "application/pdf"),
            "equipment-after-intervention",
        ),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.body["image_input"][0]
            .as_str()
            .unwrap()
            .contains("no photo"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn corrections_decide_and_the_score_reaches_100() {
    let app = spawn_app().await;
    let wo = app
        .create(json!({"name": "full", "work_order_types": ["installation"]}))
        .await;
    assert_eq!(wo["progress_score"], 0);
    for (fragment, group) in [
        ("before", "equipment-before-intervention"),
        ("after", "equipment-after-intervention"),
    ] {
        let r = analyze(
            &app,
            &wo,
            body(&data_uri(&demo_photo(fragment), "image/jpeg"), group),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let path = wo_path(&wo);
    let tasks = app.call(Method::GET, &path, None).await.body["tasks"].clone();
    // Correct every task to a conform value, by name for one and by id for the others.
    let fixes = [
        ("equipment_before_intervention", json!("true")),
        ("equipment_after_intervention", json!(true)),
        ("equipment_after_intervention_degradations", json!("0")),
    ];
    let mut last = Value::Null;
    for (i, (name, value)) in fixes.iter().enumerate() {
        let task = tasks
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == *name)
            .unwrap();
        let id = if i == 0 {
            name.to_string()
        } else {
            task["id"].as_str().unwrap().to_string()
        };
        for p in both_forms(&format!("{path}tasks/{id}/correction/")) {
            let r = app
                .call(Method::PATCH, &p, Some(json!({"corrected_value": value})))
                .await;
            assert_eq!(r.status, 200, "{p}: {}", r.body);
            assert_eq!(r.body["id"], task["id"]);
            assert_eq!(
                r.body["state"]["is_conformity_validated"], true,
                "{}",
                r.body
            );
            assert!(!r.body["state"]["corrected_value"].is_null());
            last = r.body;
        }
    }
    let _ = last;
    let now = app.call(Method::GET, &path, None).await.body;
    assert_eq!(now["progress_score"], 100);
    assert_eq!(now["tasks"][0]["state"]["corrected_value"], true);
    // Wrong types, unknown tasks, missing value.
    let bad = [
        (
            "equipment_after_intervention",
            json!({"corrected_value": "perhaps"}),
            400,
        ),
        (
            "equipment_after_intervention_degradations",
            json!({"corrected_value": "many"}),
            400,
        ),
        ("equipment_after_intervention", json!({}), 400),
        ("no_such_task", json!({"corrected_value": true}), 404),
    ];
    for (task, b, status) in bad {
        let r = app
            .call(
                Method::PATCH,
                &format!("{path}tasks/{task}/correction/"),
                Some(b.clone()),
            )
            .await;
        assert_eq!(r.status, status, "{task} {b}: {}", r.body);
    }
    // Undoing a correction falls back to the analysis.
    let r = app
        .call(
            Method::PATCH,
            &format!("{path}tasks/equipment_after_intervention_degradations/correction/"),
            Some(json!({"corrected_value": 2})),
        )
        .await;
    assert_eq!(r.body["state"]["is_conformity_validated"], false);
    let now = app.call(Method::GET, &path, None).await.body;
    assert_eq!(now["progress_score"], 66.67);
}

#[tokio::test]
async fn roles_for_analyses_corrections_and_reviews() {
    use fieldproof_domain::role::Role;
    let app = spawn_app().await;
    let wo = app.create(json!({"name": "roles"})).await;
    let path = wo_path(&wo);
    let read_only = app.key_for(&app.site, Role::ReadOnly).await;
    let reviewer = app.key_for(&app.site, Role::Reviewer).await;
    let field = app.key_for(&app.site, Role::FieldWorker).await;
    let photo = body(
        &data_uri(&demo_photo("after"), "image/jpeg"),
        "equipment-after-intervention",
    );
    assert_eq!(
        app.call_as(
            &read_only,
            Method::POST,
            &format!("{path}analyze/"),
            Some(photo.clone())
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.call_as(
            &reviewer,
            Method::POST,
            &format!("{path}analyze/"),
            Some(photo.clone())
        )
        .await
        .status,
        403
    );
    assert_eq!(
        app.call_as(
            &field,
            Method::POST,
            &format!("{path}analyze/"),
            Some(photo)
        )
        .await
        .status,
        200
    );
    let correction = Some(json!({"corrected_value": true}));
    let c = format!("{path}tasks/equipment_after_intervention/correction/");
    assert_eq!(
        app.call_as(&read_only, Method::PATCH, &c, correction.clone())
            .await
            .status,
        403
    );
    assert_eq!(
        app.call_as(&reviewer, Method::PATCH, &c, correction)
            .await
            .status,
        200
    );
    assert_eq!(
        app.call_as(&field, Method::POST, &format!("{path}review/"), None)
            .await
            .status,
        403
    );
    let r = app
        .call_as(&reviewer, Method::POST, &format!("{path}review/"), None)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["review_date"].is_string());
    let listed = app
        .call(Method::GET, "/v0.2/work-orders/?reviewed=true", None)
        .await
        .body;
    assert_eq!(listed["count"], 1);
    let r = app
        .call_as(
            &reviewer,
            Method::POST,
            &format!("{path}review/"),
            Some(json!({"reviewed": false})),
        )
        .await;
    assert_eq!(r.body["review_date"], Value::Null);
}

#[tokio::test]
async fn task_groups_show_example_photos_that_can_be_fetched() {
    let app = spawn_app().await;
    let groups = app.call(Method::GET, "/v0.2/task-groups/", None).await.body;
    for g in groups.as_array().unwrap() {
        let examples = g["input_examples"].as_array().unwrap();
        assert!(!examples.is_empty(), "{} has no example photo", g["name"]);
        for url in examples {
            let resp = app
                .client
                .get(url.as_str().unwrap())
                .header("Authorization", format!("Token {}", app.key))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-type"], "image/jpeg");
        }
        for t in g["tasks"].as_array().unwrap() {
            assert!(t["computed_by"].is_object(), "{t}");
        }
    }
}

#[tokio::test]
async fn queued_analyses_are_run_by_a_worker_once() {
    let app = spawn_app().await;
    let wo = app.create(json!({"name": "queued"})).await;
    let path = wo_path(&wo);
    let mut accepted = Vec::new();
    for fragment in ["after", "before"] {
        let r = app
            .call(
                Method::POST,
                &format!("{path}analyze/?async=true"),
                Some(body(
                    &data_uri(&demo_photo(fragment), "image/jpeg"),
                    "equipment-after-intervention",
                )),
            )
            .await;
        assert_eq!(r.status, 202, "{}", r.body);
        assert_eq!(r.body["status"], "queued");
        assert!(r.body["job_id"].is_string());
        accepted.push(r.body);
    }
    let now = app.call(Method::GET, &path, None).await.body;
    assert!(now["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["status"] == "queued"));
    assert_eq!(now["latest_analysis_id"], Value::Null);
    // Two workers on the same store: each job runs once.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut workers = Vec::new();
    for n in 0..2 {
        let w = fieldproof_api::analysis_job::worker(
            app.state.clone(),
            format!("test-{n}"),
            fieldproof_jobs::WorkerConfig {
                poll_interval: std::time::Duration::from_millis(20),
                ..Default::default()
            },
        );
        let mut rx = stopped.clone();
        workers.push(tokio::spawn(async move {
            w.run(async move {
                let _ = rx.changed().await;
            })
            .await
        }));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let done = loop {
        let now = app.call(Method::GET, &path, None).await.body;
        if now["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] != "queued")
        {
            break now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "queued analyses were not run: {now}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    stop.send(true).unwrap();
    let mut completed = 0;
    for w in workers {
        completed += w.await.unwrap().completed;
    }
    assert_eq!(completed, 2, "each job ran once");
    let ids: Vec<&Value> = accepted.iter().map(|a| &a["id"]).collect();
    assert!(ids.contains(&&done["latest_analysis_id"]));
    let analysed: Vec<&Value> = done["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["group_name"] == "equipment-after-intervention")
        .collect();
    assert_eq!(analysed.len(), 2);
    assert!(analysed.iter().all(|t| !t["state"].is_null()), "{done}");

    // One audit event per analysis, written with its input and job when it was asked for: the
    // workers that ran the jobs add none.
    let r = app
        .call(
            Method::GET,
            &format!(
                "/v0.2/audit-events/?action=analysis.create&object_id={}",
                wo["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let events = r.body["results"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:#?}");
    for e in events {
        assert_eq!(e["details"]["queued"], true, "{e}");
        assert!(ids.contains(&&e["details"]["analysis_id"]), "{e}");
    }
}

/// An analysis steps aside, between its steps, while the server answers another request, up
/// to its budget; it never waits for analyses, its own request included.
#[tokio::test]
async fn analyses_step_aside_while_other_requests_are_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let budget_ms = 400.0;
    let app = spawn_app_with(fieldproof_api::ApiConfig {
        analysis_step_aside: std::time::Duration::from_millis(400),
        ..Default::default()
    })
    .await;
    // A work order for each analysis: the same photo twice in one would be a duplicate.
    let mut wos = Vec::new();
    for name in ["alone", "meanwhile", "after"] {
        wos.push(app.create(json!({ "name": name })).await);
    }
    let photo = data_uri(&demo_photo("after"), "image/jpeg");
    let waited = |r: &Reply| {
        assert_eq!(r.status, 200, "{}", r.body);
        r.body["timings"]["waited_ms"].as_f64().expect("waited_ms")
    };
    let alone = analyze(&app, &wos[0], body(&photo, "equipment-after-intervention")).await;
    assert_eq!(waited(&alone), 0.0, "nothing else was being answered");

    // A create whose body has not all arrived: the server is answering it.
    let created = json!({"name": "slow"}).to_string();
    let mut slow = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /v0.2/work-orders/ HTTP/1.1\r\nHost: x\r\nAuthorization: Token {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        app.key,
        created.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&created.as_bytes()[..5]).await.unwrap();
    let wait_for = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.state.requests.in_flight() == 0 {
        assert!(
            std::time::Instant::now() < wait_for,
            "the create never began"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let meanwhile = analyze(&app, &wos[1], body(&photo, "equipment-after-intervention")).await;
    let w = waited(&meanwhile);
    assert!(
        (budget_ms..budget_ms + 5_000.0).contains(&w),
        "it waits its whole budget for a request that never ends, and no more: {w} ms"
    );
    assert_eq!(meanwhile.body["status"], alone.body["status"]);

    // The create ends; the next analysis does not wait.
    slow.write_all(&created.as_bytes()[5..]).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = slow.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    drop(slow);
    while app.state.requests.in_flight() > 0 {
        assert!(
            std::time::Instant::now() < wait_for,
            "the create never ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let after = analyze(&app, &wos[2], body(&photo, "equipment-after-intervention")).await;
    assert_eq!(waited(&after), 0.0);
}
