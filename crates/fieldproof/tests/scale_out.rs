//! Scale-out, as deployed: two `fieldproof serve --no-worker` processes and `fieldproof worker`
//! processes on one PostgreSQL database and one S3-compatible bucket (moto, on loopback).
//!
//! Work orders created through either server are visible through both; a burst of queued
//! analyses is processed exactly once each; a worker killed with SIGKILL in the middle of a job
//! leaves it to another worker once its lease expires, with no duplicate effect; the input files
//! go to the bucket and come back through the other server.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use fieldproof_store::{JobState, Store};
use fieldproof_store_postgres::testing::{server_url_from_env, TestDatabase};
use fieldproof_store_postgres::PostgresStore;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_fieldproof");

struct Proc {
    child: Child,
    line: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary and waits for the stdout line that starts with `ready`.
fn start(args: &[&str], env: &[(&str, String)], ready: &str, log: &Path) -> Proc {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("FIELDPROOF_CONFIG")
        .env("FIELDPROOF_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).unwrap());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start fieldproof");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = loop {
        match lines.next() {
            Some(Ok(l)) if l.starts_with(ready) => break l,
            Some(_) => continue,
            None => panic!(
                "fieldproof {args:?} exited before {ready:?}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            ),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Proc { child, line }
}

fn s3_server(dir: &Path) -> Option<(Proc, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/start_s3_test_server.sh");
    let child = Command::new("bash")
        .arg(&script)
        .arg(port.to_string())
        .stdout(std::fs::File::create(dir.join("s3.log")).unwrap())
        .stderr(std::fs::File::create(dir.join("s3.err")).unwrap())
        .spawn()
        .ok()?;
    let proc = Proc {
        child,
        line: String::new(),
    };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(240) {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some((proc, format!("http://127.0.0.1:{port}")))
}

fn photo(seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        let v = ((x * 7 + y * 13 + seed * 97) % 64) as u8 * 2
            + if (x / (30 + seed % 20) + y / 40).is_multiple_of(2) {
                70
            } else {
                10
            };
        image::Rgb([v, v.saturating_add((seed * 37 % 90) as u8), v / 2 + 30])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_and_workers_share_one_database_and_one_bucket() {
    let Some(pg) = server_url_from_env() else {
        eprintln!(
            "skipped: FIELDPROOF_TEST_POSTGRES_URL is not set (CI=true makes this a failure)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_s3, endpoint) = match s3_server(dir.path()) {
        Some(s) => s,
        None if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("the S3 test server did not start")
        }
        None => {
            eprintln!(
                "skipped: the S3 test server (scripts/start_s3_test_server.sh) did not start"
            );
            return;
        }
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    assert!(http
        .put(format!("{endpoint}/fieldproof"))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let db = TestDatabase::create(&pg).await.unwrap();
    let data = dir.path().join("data");
    let env = vec![
        ("FIELDPROOF_DATABASE_URL", db.url().to_string()),
        (
            "FIELDPROOF_BLOB_URL",
            "s3://fieldproof/site-files".to_string(),
        ),
        ("FIELDPROOF_BLOB_ENDPOINT", endpoint.clone()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
        ("FIELDPROOF_DATA_DIR", data.display().to_string()),
        ("FIELDPROOF_RATE_LIMIT", "off".to_string()),
        ("FIELDPROOF_ANALYSIS_RATE_LIMIT", "off".to_string()),
    ];
    let serve = ["serve", "--demo", "--no-worker", "--listen", "127.0.0.1:0"];
    let one = start(
        &serve,
        &env,
        "fieldproof listening on ",
        &dir.path().join("one.log"),
    );
    let two = start(
        &serve,
        &env,
        "fieldproof listening on ",
        &dir.path().join("two.log"),
    );
    let base = |p: &Proc| {
        p.line
            .trim_start_matches("fieldproof listening on ")
            .trim()
            .to_string()
    };
    let (b1, b2) = (base(&one), base(&two));
    let key = std::fs::read_to_string(data.join("demo-api-key"))
        .unwrap()
        .trim()
        .to_string();
    let auth = format!("Token {key}");
    let post = |base: String, path: String, body: Value| {
        let (http, auth) = (http.clone(), auth.clone());
        async move {
            let r = http
                .post(format!("{base}{path}"))
                .header("Authorization", auth)
                .header("Content-Type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let get = |url: String| {
        let (http, auth) = (http.clone(), auth.clone());
        async move {
            http.get(url)
                .header("Authorization", auth)
                .send()
                .await
                .unwrap()
        }
    };

    // Work orders through both servers, visible through both.
    let mut work_orders = Vec::new();
    for i in 0..12 {
        let base = if i % 2 == 0 { &b1 } else { &b2 };
        let (status, wo) = post(
            base.clone(),
            "/v0.2/work-orders/".into(),
            json!({"name": format!("wo-{i}"), "tags": ["scale"]}),
        )
        .await;
        assert_eq!(status, 201, "{wo}");
        work_orders.push(wo["id"].as_str().unwrap().to_string());
    }
    for b in [&b1, &b2] {
        let list: Value = get(format!("{b}/v0.2/work-orders/?tag=scale&page_size=100"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(list["count"], 12, "through {b}");
    }

    // A burst of queued analyses, one per work order, through both servers.
    let mut queued = Vec::new();
    for (i, id) in work_orders.iter().enumerate() {
        let base = if i % 2 == 0 { &b2 } else { &b1 };
        let uri = format!(
            "data:image/jpeg;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(photo(i as u32))
        );
        let body = json!({"inputs": [
            {"name": "image_input", "data": {"type": "image", "value": uri}},
            {"name": "context", "data": {"type": "text", "value": "equipment-after-intervention"}}]});
        let (status, r) = post(
            base.clone(),
            format!("/v0.2/work-orders/{id}/analyze/?async=true"),
            body,
        )
        .await;
        assert_eq!(status, 202, "{r}");
        queued.push(r);
    }

    // A worker with a short lease, killed with SIGKILL while it holds a job.
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let worker_args = [
        "worker",
        "--concurrency",
        "1",
        "--lease-seconds",
        "3",
        "--poll-millis",
        "50",
    ];
    let doomed = start(
        &worker_args,
        &env,
        "fieldproof worker ",
        &dir.path().join("w1.log"),
    );
    let doomed_id = doomed.line.split_whitespace().nth(2).unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(120);
    let held = loop {
        let running = store.list_jobs(Some(JobState::Running), 100).await.unwrap();
        if let Some(job) = running.into_iter().find(|j| {
            j.lease_owner
                .as_deref()
                .is_some_and(|o| o.starts_with(&doomed_id))
        }) {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "the first worker never claimed a job"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let mut doomed = doomed;
    doomed.child.kill().unwrap(); // SIGKILL
    doomed.child.wait().unwrap();
    let killed_mid_job =
        store.get_job(None, held.id).await.unwrap().unwrap().state == JobState::Running;

    // Another worker finishes everything, the orphaned job once its lease has expired.
    let _rescuer = start(
        &worker_args,
        &env,
        "fieldproof worker ",
        &dir.path().join("w2.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let pending = store
            .list_jobs(Some(JobState::Queued), 100)
            .await
            .unwrap()
            .len()
            + store
                .list_jobs(Some(JobState::Running), 100)
                .await
                .unwrap()
                .len();
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "{pending} jobs still pending");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let done = store.list_jobs(Some(JobState::Done), 100).await.unwrap();
    let dead = store.list_jobs(Some(JobState::Dead), 100).await.unwrap();
    assert!(dead.is_empty(), "dead jobs: {dead:?}");
    assert_eq!(done.len(), 12, "every queued analysis ran");
    let orphan = done.iter().find(|j| j.id == held.id).unwrap();
    if killed_mid_job {
        assert!(
            orphan.attempts >= 2,
            "the killed worker's job was taken over: {orphan:?}"
        );
    }

    // Exactly once: every input analysed once, with the analysis id given at queue time.
    for (id, q) in work_orders.iter().zip(&queued) {
        let wo: Value = get(format!("{b1}/v0.2/work-orders/{id}/"))
            .await
            .json()
            .await
            .unwrap();
        let inputs = wo["inputs"].as_array().unwrap();
        assert_eq!(inputs.len(), 1, "{wo}");
        assert_ne!(inputs[0]["status"], "queued");
        assert_eq!(wo["latest_analysis_id"], q["id"]);
        assert_eq!(wo["first_analysis_id"], q["id"]);
        let analysis = store
            .get_analysis(
                store_site(&store).await,
                uuid::Uuid::parse_str(q["id"].as_str().unwrap()).unwrap(),
            )
            .await
            .unwrap();
        assert!(analysis.is_some());
    }

    // The files are in the bucket: uploaded through one server, read back through the other.
    for (i, id) in work_orders.iter().enumerate().take(4) {
        let other = if i % 2 == 0 { &b1 } else { &b2 };
        let wo: Value = get(format!("{other}/v0.2/work-orders/{id}/"))
            .await
            .json()
            .await
            .unwrap();
        let url = wo["inputs"][0]["url"].as_str().unwrap().to_string();
        let bytes = get(url).await.bytes().await.unwrap();
        assert_eq!(
            bytes.as_ref(),
            photo(i as u32).as_slice(),
            "input {i} read back from the bucket"
        );
    }
    let listing = http
        .get(format!(
            "{endpoint}/fieldproof?list-type=2&prefix=site-files/"
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listing.matches("<Key>").count() >= 12,
        "the bucket holds the inputs: {listing}"
    );
    println!(
        "scale-out: 2 servers, 2 workers, 12 work orders, 12 queued analyses done once each; killed worker held job {} (mid-job: {killed_mid_job}, attempts {})",
        held.id, orphan.attempts
    );
    drop((one, two));
    let _ = db.drop_database().await;
}

async fn store_site(store: &PostgresStore) -> uuid::Uuid {
    store.find_site("demo").await.unwrap().unwrap().id
}
