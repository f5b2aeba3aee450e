//! The real binary as an operator runs it: start-up settings, the demo, the admin CLI, SIGTERM,
//! and a SIGKILL right after acknowledged writes.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_fieldproof");

struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts `fieldproof serve --demo` on an ephemeral port and waits for its "listening" line.
    fn start(data_dir: &Path) -> Server {
        Self::start_with(data_dir, &[])
    }

    /// [`Server::start`] with more `serve` flags.
    fn start_with(data_dir: &Path, flags: &[&str]) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(data_dir.with_extension("log"))
            .unwrap();
        let mut child = Command::new(BIN)
            .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(flags)
            .env_remove("FIELDPROOF_CONFIG")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start fieldproof");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines
                .next()
                .expect("the server printed its address before exiting")
                .unwrap();
            if let Some(addr) = line.strip_prefix("fieldproof listening on ") {
                break addr.trim().to_string();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base }
    }

    fn kill9(mut self) {
        self.child.kill().unwrap(); // SIGKILL on Unix
        self.child.wait().unwrap();
    }
}

fn read_key(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("demo-api-key"))
        .unwrap()
        .trim()
        .to_string()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn cli(data_dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("FIELDPROOF_CONFIG")
        .env("FIELDPROOF_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn acknowledged_creates_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let key = read_key(&data);
    let http = client();
    // Concurrent creates: they share group commits, and each 201 must still be durable.
    let mut tasks = Vec::new();
    for i in 0..40 {
        let req = http
            .post(format!("{}/v0.2/work-orders/", server.base))
            .header("Authorization", format!("Token {key}"))
            .header("Content-Type", "application/json")
            .body(json!({"name": format!("durable-{i}"), "tags": ["crash"]}).to_string());
        tasks.push(tokio::spawn(async move { req.send().await }));
    }
    let mut acknowledged = Vec::new();
    for t in tasks {
        let resp = t.await.unwrap().unwrap();
        assert_eq!(resp.status(), 201);
        let body: Value = resp.json().await.unwrap();
        acknowledged.push(body["id"].as_str().unwrap().to_string());
    }
    server.kill9();

    let server = Server::start(&data);
    assert_eq!(read_key(&data), key, "the demo key is reused");
    for id in &acknowledged {
        let resp = http
            .get(format!("{}/v0.2/work-orders/{id}/", server.base))
            .header("Authorization", format!("Token {key}"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            200,
            "acknowledged work order {id} lost by SIGKILL"
        );
    }
    let list: Value = http
        .get(format!(
            "{}/v0.2/work-orders/?tag=crash&page_size=100",
            server.base
        ))
        .header("Authorization", format!("Token {key}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["count"], 40);
    server.kill9();
}

#[test]
fn the_demo_is_set_up_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    Server::start(&data).kill9();
    let first = read_key(&data);
    assert!(first.starts_with("fpk_") && first.len() == 52, "{first}");
    Server::start(&data).kill9();
    assert_eq!(read_key(&data), first);
    let sites = cli(&data, &["admin", "site", "list"]);
    let text = String::from_utf8_lossy(&sites.stdout);
    assert_eq!(
        text.lines().filter(|l| l.contains(" demo ")).count(),
        1,
        "{text}"
    );
    let users =
        String::from_utf8_lossy(&cli(&data, &["admin", "user", "list", "--site", "demo"]).stdout)
            .to_string();
    for (email, name, role) in [
        ("john.doe@example.com", "John Doe", "field_worker"),
        ("richard.roe@example.com", "Richard Roe", "field_worker"),
        ("admin@example.com", "Demo Admin", "administrator"),
    ] {
        assert!(
            users
                .lines()
                .any(|l| l.contains(email) && l.contains(name) && l.ends_with(role)),
            "{email} missing in {users}"
        );
    }
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = server.child.wait().unwrap();
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
}

/// One thread of a running server as the kernel sees it.
#[cfg(target_os = "linux")]
#[derive(Debug, Clone, Copy, PartialEq)]
struct ThreadSched {
    analysis: bool,
    /// A thread that writes analysed photos (`fp-photo-io-N`): at the analyses' priority.
    photo_writer: bool,
    nice: i32,
    /// 0: SCHED_OTHER, 5: SCHED_IDLE.
    policy: u32,
}

/// Every thread of a running server, and its main thread.
#[cfg(target_os = "linux")]
fn threads_of(server: &Server) -> (Vec<ThreadSched>, ThreadSched) {
    let pid = server.child.id();
    let mut main = None;
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap();
        let stat = std::fs::read_to_string(task.join("stat")).unwrap();
        // The fields after the command name: state is field 3, nice field 19, policy field 41.
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
            .split_whitespace()
            .collect();
        let thread = ThreadSched {
            analysis: comm.trim().starts_with("fp-analysis-"),
            photo_writer: comm.trim().starts_with("fp-photo-io-"),
            nice: fields[16].parse().unwrap(),
            policy: fields[38].parse().unwrap(),
        };
        if task.ends_with(pid.to_string()) {
            main = Some(thread);
        }
        threads.push(thread);
    }
    (threads, main.expect("the main thread is listed"))
}

/// The `(nice, policy)` of the threads that `kind` picks, in the order they are listed.
fn scheduling_of(threads: &[ThreadSched], kind: fn(&ThreadSched) -> bool) -> Vec<(i32, u32)> {
    threads
        .iter()
        .filter(|t| kind(t))
        .map(|t| (t.nice, t.policy))
        .collect()
}

/// By default the analysis threads and the photo writers are SCHED_IDLE (they run only on a core
/// nothing else wants), and the threads that serve requests keep the server's own scheduling.
#[cfg(target_os = "linux")]
#[test]
fn analysis_threads_run_sched_idle_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(&dir.path().join("data"), &["--analysis-threads", "3"]);
    let (threads, main) = threads_of(&server);
    server.kill9();
    const SCHED_IDLE: u32 = 5;
    let policies = |kind| -> Vec<u32> {
        scheduling_of(&threads, kind)
            .into_iter()
            .map(|(_, policy)| policy)
            .collect()
    };
    assert_eq!(policies(|t| t.analysis), vec![SCHED_IDLE; 3], "{threads:?}");
    assert_eq!(
        policies(|t| t.photo_writer),
        vec![SCHED_IDLE; 3],
        "{threads:?}"
    );
    assert!(
        threads
            .iter()
            .filter(|t| !t.analysis && !t.photo_writer)
            .all(|t| (t.nice, t.policy) == (main.nice, main.policy)),
        "{threads:?}"
    );
}

/// With `--analysis-priority nice`, the analysis threads keep the usual policy at the nice value
/// `--analysis-nice` asks for above the server's own, while the request threads keep the server's.
#[cfg(target_os = "linux")]
#[test]
fn analysis_threads_run_at_the_configured_number_and_nice_value() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        &dir.path().join("data"),
        &[
            "--analysis-threads",
            "3",
            "--analysis-priority",
            "nice",
            "--analysis-nice",
            "7",
        ],
    );
    let (threads, main) = threads_of(&server);
    server.kill9();
    // The test itself may run at a nice value already (a CI job under `nice`).
    let lowered = (main.nice + 7).min(19);
    let expected = vec![(lowered, main.policy); 3];
    assert_eq!(
        scheduling_of(&threads, |t| t.analysis),
        expected,
        "server at nice {}",
        main.nice
    );
    assert_eq!(
        scheduling_of(&threads, |t| t.photo_writer),
        expected,
        "the photo writers too"
    );
    assert!(
        threads
            .iter()
            .filter(|t| !t.analysis && !t.photo_writer)
            .all(|t| t.nice == main.nice),
        "{threads:?}"
    );
}

#[test]
fn the_analysis_benchmark_refuses_settings_that_measure_nothing() {
    for (flag, value, says) in [
        ("--clients", "0", "--clients must be at least 1"),
        ("--analysis-rate", "-1", "--analysis-rate must be"),
    ] {
        let out = Command::new(BIN)
            .args(["bench", "analyze", &format!("{flag}={value}")])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{flag} {value}: {err}");
    }
}

#[test]
fn a_bad_setting_names_itself_and_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("FIELDPROOF_LISTEN", "localhost")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`listen`")
            && err.contains("FIELDPROOF_LISTEN")
            && err.contains("127.0.0.1:8080"),
        "{err}"
    );

    let config = dir.path().join("fieldproof.toml");
    std::fs::write(&config, "database_url = \"mysql://db\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`database_url`") && err.contains("fieldproof.toml"),
        "{err}"
    );
}

#[test]
fn the_admin_cli_manages_sites_users_groups_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ok = |args: &[&str]| {
        let out = cli(&data, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    ok(&["admin", "site", "create", "acme"]);
    let dup = cli(&data, &["admin", "site", "create", "acme"]);
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    ok(&[
        "admin",
        "user",
        "create",
        "--site",
        "acme",
        "--email",
        "Ann@Acme.io",
        "--first-name",
        "Ann",
        "--last-name",
        "Lee",
        "--role",
        "manager",
    ]);
    let bad_role = cli(
        &data,
        &[
            "admin",
            "user",
            "create",
            "--site",
            "acme",
            "--email",
            "b@acme.io",
            "--first-name",
            "B",
            "--last-name",
            "B",
            "--role",
            "boss",
        ],
    );
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("unknown role"));
    ok(&["admin", "group", "create", "--site", "acme", "north"]);
    assert!(ok(&["admin", "group", "list", "--site", "acme"]).contains("north"));
    let key = ok(&[
        "admin",
        "key",
        "create",
        "--site",
        "acme",
        "--email",
        "ann@acme.io",
        "--label",
        "erp",
    ]);
    let key = key.trim();
    assert!(key.starts_with("fpk_"), "{key}");
    let listed = ok(&["admin", "key", "list", "--site", "acme"]);
    assert!(
        listed.contains(&key[..10]) && !listed.contains(key),
        "listing shows a prefix, never the key"
    );
    let key_id = listed
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(ok(&["admin", "key", "revoke", "--site", "acme", &key_id]).contains("revoked"));
    let unknown_site = cli(&data, &["admin", "user", "list", "--site", "nope"]);
    assert!(String::from_utf8_lossy(&unknown_site.stderr).contains("no site \"nope\""));
}

#[test]
fn publishing_refuses_a_broken_application_and_moves_the_version_forward() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    Server::start(&data).kill9();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[application]\nname = \"x\"\n[[task_groups]]\nname = \"g\"\n[[task_groups.tasks]]\nname = \"t\"\nlabel = \"T?\"\ntype = \"Integer\"\n[[work_order_types]]\nname = \"w\"\ntask_groups = [\"h\"]\n",
    )
    .unwrap();
    let out = cli(
        &data,
        &["app", "publish", bad.to_str().unwrap(), "--site", "demo"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 mistake(s)"), "{err}");
    assert!(
        err.contains("task_groups[0].tasks[0].type: unknown task type \"Integer\""),
        "{err}"
    );
    assert!(
        err.contains("work_order_types[0].task_groups: no task group is named \"h\""),
        "{err}"
    );

    // The demo application where it lives: its example photos are beside it.
    let good =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo/equipment-check.toml");
    let out = cli(&data, &["app", "validate", good.to_str().unwrap()]);
    assert!(out.status.success());
    let out = cli(
        &data,
        &["app", "publish", good.to_str().unwrap(), "--site", "demo"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("version 2"));
    let list =
        String::from_utf8_lossy(&cli(&data, &["app", "list", "--site", "demo"]).stdout).to_string();
    assert_eq!(list.lines().count(), 3, "{list}");
    assert!(
        list.lines().last().unwrap().ends_with("yes"),
        "the new version is current: {list}"
    );
}

#[test]
fn a_missing_or_corrupt_model_stops_start_up_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let manifest = std::fs::read_to_string(models.join("manifest.toml")).unwrap();
    // A copy whose backbone file is corrupt: same name, other bytes.
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).unwrap();
    for entry in std::fs::read_dir(&models).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, corrupt.join(path.file_name().unwrap())).unwrap();
    }
    let mut onnx = std::fs::read(corrupt.join("mobilenet_v2.onnx")).unwrap();
    onnx[1000] ^= 0xFF;
    std::fs::write(corrupt.join("mobilenet_v2.onnx"), onnx).unwrap();
    let missing = dir.path().join("missing");
    std::fs::create_dir_all(&missing).unwrap();
    std::fs::write(missing.join("manifest.toml"), &manifest).unwrap();
    for (case, dir_of) in [("corrupt", &corrupt), ("missing", &missing)] {
        let out = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join(format!("data-{case}")))
            .arg("--models")
            .arg(dir_of.join("manifest.toml"))
            .env_remove("FIELDPROOF_MODELS")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{case}: the server started");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("mobilenet_v2.onnx"), "{case}: {err}");
        if case == "corrupt" {
            assert!(
                err.to_lowercase().contains("sha256") || err.contains("checksum"),
                "{case}: {err}"
            );
        }
    }
}

#[test]
fn the_admin_cli_records_its_changes_and_lists_the_audit_trail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let ok = |args: &[&str]| {
        let out = cli(&data, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    ok(&["admin", "site", "create", "acme"]);
    let user = [
        "admin",
        "user",
        "create",
        "--site",
        "acme",
        "--email",
        "ann@acme.io",
        "--first-name",
        "Ann",
        "--last-name",
        "Lee",
        "--role",
        "administrator",
    ];
    ok(&user);
    ok(&["admin", "group", "create", "--site", "acme", "north"]);
    let key = ok(&[
        "admin",
        "key",
        "create",
        "--site",
        "acme",
        "--email",
        "ann@acme.io",
    ]);
    let key = key.trim().to_string();
    let key_id = ok(&["admin", "key", "list", "--site", "acme"])
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    ok(&["admin", "key", "revoke", "--site", "acme", &key_id]);

    let table = ok(&["admin", "audit", "list", "--site", "acme"]);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    let actions: Vec<&str> = rows
        .iter()
        .map(|r| r.split_whitespace().nth(2).unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "key.revoke",
            "key.create",
            "group.create",
            "user.create",
            "site.create"
        ],
        "newest first:\n{table}"
    );
    assert!(
        rows.iter()
            .all(|r| r.split_whitespace().nth(1) == Some("cli")),
        "{table}"
    );
    assert!(!table.contains(&key), "the trail never shows a key");
    let of_key = ok(&[
        "admin", "audit", "list", "--site", "acme", "--object", &key_id,
    ]);
    assert_eq!(
        of_key.lines().count(),
        3,
        "header, revoke, create:\n{of_key}"
    );
    let limited = ok(&["admin", "audit", "list", "--site", "acme", "--limit", "2"]);
    assert_eq!(limited.lines().count(), 3, "{limited}");
    let none = cli(
        &data,
        &["admin", "audit", "list", "--site", "acme", "--limit", "0"],
    );
    assert!(String::from_utf8_lossy(&none.stderr).contains("--limit must be at least 1"));
}
