//! `S3Blobs` against a real S3-compatible server (moto, from PyPI; see
//! `scripts/start_s3_test_server.sh`) started on a free loopback port for this test and killed
//! at its end. Off CI, a server that cannot be started skips the test with a note; on CI
//! (`CI=true`) it fails it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fieldproof_blobs::{BlobError, Blobs, S3Blobs, S3Config};

/// The server process; killed (and reaped) when dropped, also when the test panics.
struct Server {
    child: Child,
    endpoint: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// How long the first start may take: installing moto into its venv can mean a download.
const START_LIMIT: Duration = Duration::from_secs(300);

/// Starts the server, or says why it could not.
fn start() -> Result<Server, String> {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("no free loopback port: {e}"))?
        .port();
    let script = repo_root().join("scripts/start_s3_test_server.sh");
    let log = repo_root().join("target/s3-test-server/server.log");
    std::fs::create_dir_all(log.parent().unwrap()).map_err(|e| e.to_string())?;
    let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let child = Command::new("bash")
        .arg(&script)
        .arg(port.to_string())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let mut server = Server {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let started = Instant::now();
    loop {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(server);
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            let tail = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "the S3 test server exited ({status}); its log ({}):\n{tail}",
                log.display()
            ));
        }
        if started.elapsed() > START_LIMIT {
            return Err(format!(
                "the S3 test server did not listen within {START_LIMIT:?}; see {}",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn blobs(server: &Server, url: &str) -> S3Blobs {
    S3Blobs::new(&S3Config {
        url: url.into(),
        endpoint: Some(server.endpoint.clone()),
        region: "us-east-1".into(),
        access_key_id: Some("fieldproof-test".into()),
        secret_access_key: Some("fieldproof-test-secret".into()),
        path_style: true,
    })
    .expect("an S3 client")
}

/// Creates a bucket (object_store has no bucket API; moto accepts an unsigned request).
async fn create_bucket(server: &Server, bucket: &str) {
    let status = reqwest::Client::new()
        .put(format!("{}/{bucket}", server.endpoint))
        .send()
        .await
        .expect("the bucket request")
        .status();
    assert!(status.is_success(), "creating bucket {bucket}: {status}");
}

/// Deterministic bytes that differ along the object (a shifted or cut copy would show).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_blobs_on_a_real_s3_compatible_server() {
    let server = match start() {
        Ok(server) => server,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the S3 test server is required on CI: {why}")
        }
        Err(why) => {
            eprintln!("skipped: cannot start the S3 test server: {why}");
            return;
        }
    };
    create_bucket(&server, "fieldproof").await;
    let b = blobs(&server, "s3://fieldproof/site-1/blobs");

    // Missing, put, get, overwrite, delete, delete again.
    let key = "inputs/wo-1/photo.jpg";
    assert_eq!(b.get(key).await.expect("get missing"), None);
    b.put(key, b"first".to_vec()).await.expect("put");
    assert_eq!(
        b.get(key).await.expect("get").as_deref(),
        Some(&b"first"[..])
    );
    b.put(key, b"second, longer".to_vec())
        .await
        .expect("overwrite");
    assert_eq!(
        b.get(key).await.expect("get").as_deref(),
        Some(&b"second, longer"[..]),
        "an overwrite replaces the whole object"
    );
    b.delete(key).await.expect("delete");
    assert_eq!(b.get(key).await.expect("get deleted"), None);
    b.delete(key)
        .await
        .expect("deleting a missing key is not an error");

    // An empty object, and keys with nested prefixes beside each other.
    b.put("empty", Vec::new()).await.expect("put empty");
    assert_eq!(b.get("empty").await.unwrap().as_deref(), Some(&[][..]));
    let nested = [
        ("a/b.jpg", 1u8),
        ("a/b/c.jpg", 2),
        ("a/b/c/d.pdf", 3),
        ("a.b/c-d_e.x", 4),
    ];
    for (k, seed) in nested {
        b.put(k, pattern(1_000, seed)).await.expect("put nested");
    }
    for (k, seed) in nested {
        assert_eq!(b.get(k).await.unwrap(), Some(pattern(1_000, seed)), "{k}");
    }

    // The prefix is where the keys live: seen from the bucket's root, and not from another
    // prefix.
    let root = blobs(&server, "s3://fieldproof");
    assert_eq!(
        root.get("site-1/blobs/a/b/c.jpg").await.unwrap(),
        Some(pattern(1_000, 2))
    );
    let other = blobs(&server, "s3://fieldproof/site-2");
    assert_eq!(other.get("a/b/c.jpg").await.unwrap(), None);

    // A large object, whole and in order.
    let large = pattern(24 * 1024 * 1024 + 7, 9);
    let started = Instant::now();
    b.put("exports/large.zip", large.clone())
        .await
        .expect("put large");
    let put_time = started.elapsed();
    let started = Instant::now();
    let back = b
        .get("exports/large.zip")
        .await
        .expect("get large")
        .expect("present");
    let get_time = started.elapsed();
    assert!(back == large, "the large object comes back byte for byte");
    eprintln!(
        "24 MiB through the S3 test server: put {put_time:.2?}, get {get_time:.2?} (moto is a \
         test server: figures of the client path, not of S3)"
    );

    // Bad keys never reach the server; a missing bucket is an error that names it.
    assert!(matches!(
        b.put("../escape", vec![1]).await,
        Err(BlobError::BadKey(_))
    ));
    let nowhere = blobs(&server, "s3://no-such-bucket");
    let e = nowhere.put("x", vec![1]).await.expect_err("no such bucket");
    assert!(e.to_string().contains("s3://no-such-bucket"), "{e}");
    drop(server);
}
