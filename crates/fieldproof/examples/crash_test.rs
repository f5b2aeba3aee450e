//! Crash test: the real server killed with SIGKILL at random moments while several clients create,
//! update and delete work orders, then restarted on the same data directory, round after round.
//!
//! After each restart it checks that
//! - every acknowledged write is there with the acknowledged content: a 201 create exists, a 200
//!   update is the work order's content (or a later write of the same client is), a 204 delete is
//!   gone, both through the list and through a retrieve of each work order touched in the round;
//! - nothing half-done appeared: every work order's name, tags, metadata and types are exactly
//!   those of one request that was sent to it (each request carries a unique operation number in
//!   all four), and a work order that nobody was told about is an unacknowledged create;
//! - the list index agrees with the rows: the `tag` filter finds each touched work order, and
//!   every row of `work_order_index` is exactly what the work order's tags, types and metadata say,
//!   and each term's count and each posting's date agree with what they count;
//! - SQLite's `PRAGMA integrity_check` and `PRAGMA foreign_key_check` pass (a read-only
//!   connection beside the running server).
//!
//! Each client owns its work orders, so the order of its acknowledgements is the order of its
//! writes. An unacknowledged write (in flight when the server died) may or may not have happened;
//! whichever it was, it must have happened whole, and the model takes what the restart shows.
//!
//! Run as a program (prints its figures):
//!   cargo build -p fieldproof --bin fieldproof --example crash_test
//!   target/debug/examples/crash_test [--rounds 20] [--seed 7] [--writers 4] [--models FILE] [--bin PATH]
//! `tests/crash.rs` runs the same code with a bounded number of rounds.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
// The benchmark's seeded generator (SplitMix64): the same seed gives the same run of choices.
use fieldproof_bench::workload::Rng;
use serde_json::{json, Map, Value};

/// How a crash run is set up.
#[derive(Debug, Clone)]
pub struct CrashConfig {
    /// The `fieldproof` binary.
    pub bin: PathBuf,
    /// The model manifest (`--models`); `None`: the server's default (the repository's models).
    pub models: Option<PathBuf>,
    pub rounds: u32,
    pub seed: u64,
    /// Concurrent clients.
    pub writers: usize,
    /// The longest a round writes before the kill.
    pub max_round: Duration,
}

/// What a run verified.
#[derive(Debug, Default, Clone)]
pub struct CrashReport {
    pub rounds: u32,
    pub requests: u64,
    pub acked_creates: u64,
    pub acked_updates: u64,
    pub acked_deletes: u64,
    /// Writes in flight at a kill: found applied, and found not applied after the restart.
    pub unacked_applied: u64,
    pub unacked_absent: u64,
    /// Work orders compared with the model (list results), retrieves, tag-filter lookups.
    pub listed_checks: u64,
    pub retrieve_checks: u64,
    pub index_lookups: u64,
    /// Rows of `work_order_index` compared with their work orders.
    pub index_rows_checked: u64,
    pub integrity_checks: u32,
    pub live_at_end: usize,
}

impl std::fmt::Display for CrashReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "crash test: {} rounds of SIGKILL and restart",
            self.rounds
        )?;
        writeln!(f, "  write requests sent          {}", self.requests)?;
        writeln!(
            f,
            "  acknowledged                 {} creates, {} updates, {} deletes",
            self.acked_creates, self.acked_updates, self.acked_deletes
        )?;
        writeln!(
            f,
            "  in flight at a kill          {} found applied whole, {} found not applied",
            self.unacked_applied, self.unacked_absent
        )?;
        writeln!(
            f,
            "  checks                       {} listed work orders, {} retrieves, {} tag lookups, {} index rows",
            self.listed_checks, self.retrieve_checks, self.index_lookups, self.index_rows_checked
        )?;
        writeln!(
            f,
            "  PRAGMA integrity_check       {} passed (and foreign_key_check)",
            self.integrity_checks
        )?;
        write!(f, "  live work orders at the end  {}", self.live_at_end)
    }
}

/// What one write request sets: all four parts carry the request's operation number, so a work
/// order whose parts disagree was written half.
#[derive(Debug, Clone, PartialEq)]
struct Content {
    name: String,
    tags: Vec<String>,
    metadata: Map<String, Value>,
    types: Vec<String>,
}

impl Content {
    fn new(op: u64, writer: usize, rng: &mut Rng, create: bool) -> Content {
        let types: &[&str] = match rng.below(4) {
            0 => &[],
            1 => &["installation"],
            2 => &["maintenance"],
            _ => &["installation", "maintenance"],
        };
        let mut metadata = Map::new();
        metadata.insert("region".into(), json!(format!("r{op}")));
        metadata.insert("op".into(), json!(op));
        metadata.insert("writer".into(), json!(writer));
        Content {
            name: format!("{}{op}", if create { "c" } else { "u" }),
            tags: vec!["crash".into(), format!("op-{op}")],
            metadata,
            types: types.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn body(&self) -> Value {
        json!({"name": self.name, "tags": self.tags, "metadata": self.metadata,
               "work_order_types": self.types})
    }

    /// The content a work order shows (list result or retrieve).
    fn of(wo: &Value) -> Result<Content> {
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        Ok(Content {
            name: wo["name"].as_str().context("name")?.to_string(),
            tags: strings(&wo["tags"]),
            metadata: wo["metadata"].as_object().context("metadata")?.clone(),
            types: wo["types"]
                .as_array()
                .context("types")?
                .iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect(),
        })
    }

    fn op(&self) -> u64 {
        self.metadata["op"].as_u64().unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
enum Known {
    Live(Content),
    Deleted,
}

#[derive(Debug, Clone)]
enum Pending {
    Update(Content),
    Delete,
}

#[derive(Debug, Clone)]
struct Tracked {
    writer: usize,
    known: Known,
    pending: Option<Pending>,
    touched: bool,
}

/// What a client did in a round, in order.
#[derive(Debug)]
enum Outcome {
    Created(String, Content),
    Updated(String, Content),
    Deleted(String),
    /// In flight when the server died (no answer): may or may not have happened.
    LostCreate(Content),
    LostUpdate(String, Content),
    LostDelete(String),
}

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(cfg: &CrashConfig, data: &Path, log_path: &Path) -> Result<Server> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)?;
        let mut cmd = Command::new(&cfg.bin);
        cmd.args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env_remove("FIELDPROOF_CONFIG")
            .env("FIELDPROOF_LOG", "warn")
            // The writers go faster than the per-key default rate; a 429 is retried anyway.
            .env("FIELDPROOF_RATE_LIMIT", "off")
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(m) = &cfg.models {
            // Through a configuration file: `fieldproof serve` reads `models` from its file
            // (the `--models` flag and FIELDPROOF_MODELS are not layered as of this writing).
            let file = log_path.with_file_name("fieldproof.toml");
            std::fs::write(&file, format!("models = {:?}\n", m.display().to_string()))?;
            cmd.arg("--config").arg(file);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start {}", cfg.bin.display()))?;
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("fieldproof listening on ") {
                    if !sent {
                        let _ = tx.send(addr.trim().to_string());
                        sent = true;
                    }
                }
                // Keep draining so the server never blocks on a full pipe.
            }
        });
        match rx.recv_timeout(Duration::from_secs(180)) {
            Ok(base) => Ok(Server { child, base }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait()?;
                bail!("the server did not print its address (exit: {status}); see its log")
            }
        }
    }

    /// SIGKILL: no shutdown code runs.
    fn kill9(&mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Client {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Token {}", self.key))
            .header("Content-Type", "application/json")
    }

    /// A read after the restart: it must answer, with JSON.
    async fn get(&self, path: &str) -> Result<(u16, Value)> {
        let resp = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status().as_u16();
        let body = resp.json().await.with_context(|| format!("GET {path}"))?;
        Ok((status, body))
    }
}

/// One client: writes until the kill, then reports what was acknowledged and what was lost.
async fn writer(
    client: Arc<Client>,
    w: usize,
    round: u32,
    mut own: Vec<String>,
    mut rng: Rng,
    killed: Arc<AtomicBool>,
) -> Result<Vec<Outcome>> {
    use reqwest::Method;
    let mut out = Vec::new();
    let mut seq = 0u64;
    while !killed.load(Ordering::SeqCst) {
        seq += 1;
        let op = u64::from(round) * 1_000_000 + (w as u64) * 100_000 + seq;
        let choice = rng.below(100);
        if own.is_empty() || choice < 40 {
            let content = Content::new(op, w, &mut rng, true);
            let sent = send(|| {
                client
                    .request(Method::POST, "/v0.2/work-orders/")
                    .body(content.body().to_string())
            })
            .await;
            let Some(resp) = answered(sent) else {
                out.push(Outcome::LostCreate(content));
                break;
            };
            let status = resp.status().as_u16();
            let Ok(body) = resp.json::<Value>().await else {
                out.push(Outcome::LostCreate(content));
                break;
            };
            ensure!(status == 201, "create answered {status}: {body}");
            ensure!(
                Content::of(&body)? == content,
                "the 201 body is not what was sent: {body}"
            );
            let id = body["id"].as_str().context("id")?.to_string();
            own.push(id.clone());
            out.push(Outcome::Created(id, content));
        } else if choice < 90 {
            let id = own[rng.below(own.len() as u64) as usize].clone();
            let content = Content::new(op, w, &mut rng, false);
            let sent = send(|| {
                client
                    .request(Method::PATCH, &format!("/v0.2/work-orders/{id}/"))
                    .body(content.body().to_string())
            })
            .await;
            let Some(resp) = answered(sent) else {
                out.push(Outcome::LostUpdate(id, content));
                break;
            };
            let status = resp.status().as_u16();
            let Ok(body) = resp.json::<Value>().await else {
                out.push(Outcome::LostUpdate(id, content));
                break;
            };
            ensure!(status == 200, "update of {id} answered {status}: {body}");
            ensure!(
                Content::of(&body)? == content,
                "the 200 body is not what was sent: {body}"
            );
            out.push(Outcome::Updated(id, content));
        } else {
            let i = rng.below(own.len() as u64) as usize;
            let id = own.swap_remove(i);
            let sent =
                send(|| client.request(Method::DELETE, &format!("/v0.2/work-orders/{id}/"))).await;
            let Some(resp) = answered(sent) else {
                out.push(Outcome::LostDelete(id));
                break;
            };
            let status = resp.status().as_u16();
            // The whole answer must have arrived for the delete to count as acknowledged.
            if resp.bytes().await.is_err() {
                out.push(Outcome::LostDelete(id));
                break;
            }
            ensure!(status == 204, "delete of {id} answered {status}");
            out.push(Outcome::Deleted(id));
        }
    }
    Ok(out)
}

/// Sends a request, again after the wait a 429 asks for (a 429 is a definite "not done"); at
/// most 20 tries.
async fn send(build: impl Fn() -> reqwest::RequestBuilder) -> reqwest::Result<reqwest::Response> {
    let mut tries = 0;
    loop {
        let resp = build().send().await?;
        tries += 1;
        if resp.status() != reqwest::StatusCode::TOO_MANY_REQUESTS || tries >= 20 {
            return Ok(resp);
        }
        let wait = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(wait.min(5))).await;
    }
}

/// The response, or `None` when the request died with the server.
fn answered(sent: reqwest::Result<reqwest::Response>) -> Option<reqwest::Response> {
    sent.ok()
}

fn read_key(data: &Path) -> Result<String> {
    Ok(std::fs::read_to_string(data.join("demo-api-key"))
        .context("the demo key file")?
        .trim()
        .to_string())
}

/// Every work order of the demo site, through the list (pages of 100).
async fn list_all(client: &Client) -> Result<BTreeMap<String, Value>> {
    let mut all = BTreeMap::new();
    let mut page = 1;
    loop {
        let (status, body) = client
            .get(&format!("/v0.2/work-orders/?page_size=100&page={page}"))
            .await?;
        if status == 404 && page > 1 {
            break;
        }
        ensure!(status == 200, "list page {page} answered {status}: {body}");
        let results = body["results"].as_array().context("results")?;
        for wo in results {
            let id = wo["id"].as_str().context("id")?.to_string();
            ensure!(
                all.insert(id.clone(), wo.clone()).is_none(),
                "work order {id} listed twice"
            );
        }
        if body["next"].is_null() {
            ensure!(
                body["count"].as_u64() == Some(all.len() as u64),
                "count {} but {} listed",
                body["count"],
                all.len()
            );
            break;
        }
        page += 1;
    }
    Ok(all)
}

/// `PRAGMA integrity_check`, `PRAGMA foreign_key_check`, and the index rows against the work
/// orders, on a read-only connection. Returns the number of index rows compared.
fn check_database(path: &Path) -> Result<u64> {
    use rusqlite::{Connection, OpenFlags};
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("open {} read-only", path.display()))?;
    let verdicts: Vec<String> = db
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    ensure!(verdicts == ["ok"], "PRAGMA integrity_check: {verdicts:?}");
    let broken: Vec<String> = db
        .prepare("PRAGMA foreign_key_check")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    ensure!(broken.is_empty(), "PRAGMA foreign_key_check: {broken:?}");

    // What the index should hold for each work order, from the work order itself.
    let mut expected: BTreeSet<(String, String, String, String)> = BTreeSet::new();
    let mut rows = db.prepare("SELECT id, tags, types, metadata FROM work_orders")?;
    let mut it = rows.query([])?;
    while let Some(r) = it.next()? {
        let id: String = r.get(0)?;
        let tags: Vec<String> = serde_json::from_str(&r.get::<_, String>(1)?)?;
        let types: Vec<String> = serde_json::from_str(&r.get::<_, String>(2)?)?;
        let metadata: Map<String, Value> = serde_json::from_str(&r.get::<_, String>(3)?)?;
        for t in tags {
            expected.insert((id.clone(), "t".into(), String::new(), t));
        }
        for t in types {
            expected.insert((id.clone(), "y".into(), String::new(), t));
        }
        for (k, v) in &metadata {
            if let Some(text) = fieldproof_domain::metadata::index_text(v) {
                expected.insert((id.clone(), "m".into(), k.clone(), text));
            }
        }
    }
    let actual: BTreeSet<(String, String, String, String)> = db
        .prepare("SELECT work_order_id, kind, key, value FROM work_order_index")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if actual != expected {
        let extra: Vec<_> = actual.difference(&expected).take(5).collect();
        let missing: Vec<_> = expected.difference(&actual).take(5).collect();
        bail!("work_order_index disagrees with work_orders: extra {extra:?}, missing {missing:?}");
    }
    // Since migration 0004 the index is interned terms with exact counts kept by triggers, and
    // postings in list order: the counts and the dates must agree with what they count.
    let has_terms: bool = db.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'list_terms'",
        [],
        |r| r.get(0),
    )?;
    if has_terms {
        for (what, sql) in [
            (
                "terms whose count is not their number of postings",
                "SELECT COUNT(*) FROM list_terms t WHERE t.kind != '*' AND t.work_orders != \
                 (SELECT COUNT(*) FROM work_order_terms p WHERE p.term_id = t.id)",
            ),
            (
                "sites whose work-order count is wrong",
                "SELECT COUNT(*) FROM list_terms t WHERE t.kind = '*' AND t.work_orders != \
                 (SELECT COUNT(*) FROM work_orders w WHERE w.site_id = t.site_id)",
            ),
            (
                "postings whose date is not their work order's",
                "SELECT COUNT(*) FROM work_order_terms p JOIN work_orders w \
                 ON w.id = p.work_order_id WHERE p.create_date != w.create_date",
            ),
        ] {
            let n: i64 = db.query_row(sql, [], |r| r.get(0))?;
            ensure!(n == 0, "{n} {what}");
        }
    }
    Ok(actual.len() as u64)
}

/// The whole run: `rounds` times write, SIGKILL, restart, verify.
pub async fn run(cfg: CrashConfig) -> Result<CrashReport> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let result = run_in(&cfg, &data, &log).await;
    if result.is_err() {
        // Keep the evidence: the data directory and the server log.
        let kept = dir.keep();
        eprintln!(
            "crash test failed; data and server log kept in {}",
            kept.display()
        );
    }
    result
}

async fn run_in(cfg: &CrashConfig, data: &Path, log: &Path) -> Result<CrashReport> {
    let mut rng = Rng::new(cfg.seed);
    let mut report = CrashReport::default();
    let mut model: HashMap<String, Tracked> = HashMap::new();
    let db_path = data.join("fieldproof.sqlite");
    let mut server = Server::start(cfg, data, log)?;
    let key = read_key(data)?;

    for round in 1..=cfg.rounds {
        let client = Arc::new(Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: server.base.clone(),
            key: key.clone(),
        });
        let killed = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for w in 0..cfg.writers {
            let own: Vec<String> = model
                .iter()
                .filter(|(_, t)| t.writer == w && matches!(t.known, Known::Live(_)))
                .map(|(id, _)| id.clone())
                .collect();
            let mut own = own;
            own.sort(); // HashMap order is not seeded: sort so the run is repeatable.
            tasks.push(tokio::spawn(writer(
                client.clone(),
                w,
                round,
                own,
                Rng::new(rng.next_u64()),
                killed.clone(),
            )));
        }
        // Kill at a random moment: sometimes at once, mostly in the middle of the writes.
        let max = cfg.max_round.as_millis() as u64;
        let wait = if rng.below(5) == 0 {
            rng.below(15)
        } else {
            rng.below(max.max(1))
        };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill9()?;
        killed.store(true, Ordering::SeqCst);

        let mut pending_creates: Vec<(usize, Content)> = Vec::new();
        for t in &mut model.values_mut() {
            t.touched = false;
        }
        for (w, task) in tasks.into_iter().enumerate() {
            for outcome in task.await?? {
                report.requests += 1;
                match outcome {
                    Outcome::Created(id, c) => {
                        report.acked_creates += 1;
                        model.insert(
                            id,
                            Tracked {
                                writer: w,
                                known: Known::Live(c),
                                pending: None,
                                touched: true,
                            },
                        );
                    }
                    Outcome::Updated(id, c) => {
                        report.acked_updates += 1;
                        let t = model.get_mut(&id).context("updated an unknown id")?;
                        t.known = Known::Live(c);
                        t.touched = true;
                    }
                    Outcome::Deleted(id) => {
                        report.acked_deletes += 1;
                        let t = model.get_mut(&id).context("deleted an unknown id")?;
                        t.known = Known::Deleted;
                        t.touched = true;
                    }
                    Outcome::LostCreate(c) => pending_creates.push((w, c)),
                    Outcome::LostUpdate(id, c) => {
                        let t = model.get_mut(&id).context("lost update of unknown id")?;
                        t.pending = Some(Pending::Update(c));
                        t.touched = true;
                    }
                    Outcome::LostDelete(id) => {
                        let t = model.get_mut(&id).context("lost delete of unknown id")?;
                        t.pending = Some(Pending::Delete);
                        t.touched = true;
                    }
                }
            }
        }

        server = Server::start(cfg, data, log)
            .with_context(|| format!("restart after the kill of round {round}"))?;
        ensure!(read_key(data)? == key, "the demo key changed");
        let client = Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: server.base.clone(),
            key: key.clone(),
        };
        verify(&client, &mut model, pending_creates, &mut rng, &mut report)
            .await
            .with_context(|| format!("round {round}"))?;
        report.index_rows_checked +=
            check_database(&db_path).with_context(|| format!("database after round {round}"))?;
        report.integrity_checks += 1;
        report.rounds = round;
    }
    server.kill9()?;
    report.live_at_end = model
        .values()
        .filter(|t| matches!(t.known, Known::Live(_)))
        .count();
    Ok(report)
}

/// Compares what the restarted server shows with the model, then folds the unacknowledged writes
/// that turned out applied (or not) into the model.
async fn verify(
    client: &Client,
    model: &mut HashMap<String, Tracked>,
    mut pending_creates: Vec<(usize, Content)>,
    rng: &mut Rng,
    report: &mut CrashReport,
) -> Result<()> {
    let listed = list_all(client).await?;
    // Work orders nobody was told about: each must be an unacknowledged create, whole.
    for (id, wo) in &listed {
        if model.contains_key(id) {
            continue;
        }
        let seen = Content::of(wo)?;
        let i = pending_creates
            .iter()
            .position(|(_, c)| *c == seen)
            .ok_or_else(|| {
                anyhow!("work order {id} matches no request that was sent (half-done?): {wo}")
            })?;
        let (w, _) = pending_creates.swap_remove(i);
        report.unacked_applied += 1;
        model.insert(
            id.clone(),
            Tracked {
                writer: w,
                known: Known::Live(seen),
                pending: None,
                touched: true,
            },
        );
        report.listed_checks += 1;
    }
    report.unacked_absent += pending_creates.len() as u64;
    // No unacknowledged create may have left a work order under another name.
    for (_, c) in &pending_creates {
        ensure!(
            !listed.values().any(|wo| wo["name"] == json!(c.name)),
            "a lost create {} left a work order that is not whole",
            c.name
        );
    }

    for (id, t) in model.iter_mut() {
        let seen = listed.get(id).map(Content::of).transpose()?;
        let expected_now = match (&t.known, &t.pending) {
            (Known::Live(c), None) => {
                ensure!(
                    seen.as_ref() == Some(c),
                    "acknowledged work order {id} (op {}) is {seen:?} after the restart",
                    c.op()
                );
                Known::Live(c.clone())
            }
            (Known::Deleted, None) => {
                ensure!(seen.is_none(), "acknowledged delete of {id} undone: {seen:?}");
                Known::Deleted
            }
            (Known::Live(c), Some(Pending::Update(u))) => match seen {
                Some(s) if s == *c => {
                    report.unacked_absent += 1;
                    Known::Live(s)
                }
                Some(s) if s == *u => {
                    report.unacked_applied += 1;
                    Known::Live(s)
                }
                other => bail!(
                    "work order {id} is {other:?}: neither its acknowledged content (op {}) nor the update in flight (op {}), whole",
                    c.op(),
                    u.op()
                ),
            },
            (Known::Live(c), Some(Pending::Delete)) => match seen {
                Some(s) if s == *c => {
                    report.unacked_absent += 1;
                    Known::Live(s)
                }
                None => {
                    report.unacked_applied += 1;
                    Known::Deleted
                }
                Some(s) => bail!("work order {id} changed without a request: {s:?}"),
            },
            (Known::Deleted, Some(_)) => bail!("a write was sent to deleted work order {id}"),
        };
        if matches!(expected_now, Known::Live(_)) {
            report.listed_checks += 1;
        }
        t.known = expected_now;
        t.pending = None;
    }

    // Retrieve each work order touched in this round, and a sample of older ones; look the
    // touched ones up through the tag index.
    let mut ids: Vec<&String> = model.keys().collect();
    ids.sort();
    let mut sample: Vec<String> = ids
        .iter()
        .filter(|id| model[**id].touched)
        .map(|id| id.to_string())
        .collect();
    let touched = sample.len();
    for _ in 0..25.min(ids.len()) {
        sample.push(ids[rng.below(ids.len() as u64) as usize].clone());
    }
    for (n, id) in sample.iter().enumerate() {
        let t = &model[id];
        let (status, body) = client.get(&format!("/v0.2/work-orders/{id}/")).await?;
        match &t.known {
            Known::Live(c) => {
                ensure!(status == 200, "retrieve {id}: {status} {body}");
                ensure!(Content::of(&body)? == *c, "retrieve {id}: {body}");
                if n < touched {
                    let tag = &c.tags[1];
                    let (status, found) =
                        client.get(&format!("/v0.2/work-orders/?tag={tag}")).await?;
                    ensure!(status == 200, "tag lookup {tag}: {status}");
                    let ids: Vec<&str> = found["results"]
                        .as_array()
                        .context("results")?
                        .iter()
                        .filter_map(|w| w["id"].as_str())
                        .collect();
                    ensure!(ids == [id.as_str()], "tag {tag} finds {ids:?}, not {id}");
                    report.index_lookups += 1;
                }
            }
            Known::Deleted => {
                ensure!(status == 404, "retrieve of deleted {id}: {status} {body}");
            }
        }
        report.retrieve_checks += 1;
    }
    // Deleted work orders need not be kept in the model once checked.
    model.retain(|_, t| matches!(t.known, Known::Live(_)) || t.touched);
    Ok(())
}

/// The `fieldproof` binary next to this example's executable (`target/debug/examples/..`).
fn sibling_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("fieldproof");
    bin.is_file().then_some(bin)
}

#[allow(dead_code)] // unused when `tests/crash.rs` includes this file as a module
fn main() -> Result<()> {
    let mut cfg = CrashConfig {
        bin: sibling_binary().unwrap_or_else(|| PathBuf::from("fieldproof")),
        models: None,
        rounds: 20,
        seed: 7,
        writers: 4,
        max_round: Duration::from_millis(800),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--bin" => cfg.bin = PathBuf::from(value()?),
            "--models" => cfg.models = Some(PathBuf::from(value()?)),
            "--rounds" => cfg.rounds = value()?.parse().context("--rounds")?,
            "--seed" => cfg.seed = value()?.parse().context("--seed")?,
            "--writers" => cfg.writers = value()?.parse().context("--writers")?,
            "--max-round-ms" => {
                cfg.max_round = Duration::from_millis(value()?.parse().context("--max-round-ms")?)
            }
            other => bail!(
                "unknown argument {other}: use --bin PATH --models FILE --rounds N --seed N --writers N --max-round-ms N"
            ),
        }
    }
    let started = Instant::now();
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cfg.clone()))?;
    println!("{report}");
    println!(
        "  seed {}, {} writers, {:.1} s",
        cfg.seed,
        cfg.writers,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
