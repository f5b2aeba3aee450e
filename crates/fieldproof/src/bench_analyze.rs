//! `fieldproof bench analyze`: analyses per second and their latency through the HTTP API, for
//! a 1 MB JPEG, with the server's time split into decode, checks and model; and the latency of
//! work-order CRUD at a fixed rate, alone and while analyses take every core they can.
//!
//! The CRUD load is the same in every phase, against the same data: each cycle deletes the work
//! order it created, and the filtered list matches a fixed set of seeded work orders. (Without
//! that, the list in a later phase matched every work order the earlier phases left and slowed
//! down for that reason alone.) The phases run alone, with analyses, then alone again, and the
//! baseline is both alone phases together, so that a drift of the machine over the run does not
//! count for or against the analyses.
//!
//! The server runs in this process on loopback with the real models, a temporary SQLite file and
//! blob directory. Every analysis goes to a work order of its own: the duplicate check compares a
//! photo with the earlier ones of its work order, and a duplicate would skip the models.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use fieldproof_api::{ApiConfig, AppState};
use fieldproof_blobs::{Blobs, LocalBlobs};
use fieldproof_store::Store;
use fieldproof_store_sqlite::SqliteStore;
use serde_json::{json, Value};

#[derive(Debug, Clone, clap::Args)]
pub struct AnalyzeArgs {
    /// Seconds per phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Concurrent analysis clients.
    #[arg(long, default_value_t = 4)]
    pub clients: usize,
    /// CRUD connections.
    #[arg(long, default_value_t = 16)]
    pub crud_clients: usize,
    /// CRUD requests per second, over all connections (an open loop: see `crud`).
    #[arg(long, default_value_t = 400.0)]
    pub crud_rate: f64,
    /// A JPEG to send instead of the generated 1 MB photo.
    #[arg(long)]
    pub photo: Option<std::path::PathBuf>,
    /// How the analysis threads yield the CPU to requests, as the server's setting: "idle"
    /// (SCHED_IDLE) or "nice".
    #[arg(long, default_value = "idle", value_parser = ["idle", "nice"])]
    pub analysis_priority: String,
    /// The analysis threads' nice increment with `--analysis-priority nice`, from 0 (the
    /// request threads' priority) to 19.
    #[arg(long, default_value_t = fieldproof_api::cpu_pool::DEFAULT_NICE_INCREMENT,
          value_parser = clap::value_parser!(i32).range(0..=19))]
    pub analysis_nice: i32,
    /// Analyses that run at once [default: the number of cores, as the server's].
    #[arg(long)]
    pub analysis_threads: Option<usize>,
    /// Where the database and the stored photos go: a fresh directory is made in it and removed
    /// at the end [default: the system's temporary directory]. Put it on the disk a data
    /// directory would use.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<std::path::PathBuf>,
    /// Where the stored photos go instead, to tell the disk's share from the rest [default: in
    /// the work directory].
    #[arg(long, value_name = "DIR")]
    pub blob_dir: Option<std::path::PathBuf>,
    /// Work orders created before the phases, all matching the CRUD cycle's filtered list.
    #[arg(long, default_value_t = 1000)]
    pub seed_work_orders: usize,
}

struct Latencies(Vec<Duration>);

impl Latencies {
    fn pct(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort();
        let i = ((self.0.len() as f64 - 1.0) * p).round() as usize;
        self.0[i].as_secs_f64() * 1e3
    }
}

/// A photo-like JPEG of about 1 MB: a textured, lit scene with noise (noise is what makes real
/// photos large), 1600x1200.
pub fn photo_1mb() -> Vec<u8> {
    let mut seed = 0x2545F491u32;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    let img = image::RgbImage::from_fn(1600, 1200, |x, y| {
        let light = 0.6 + 0.4 * (x as f32 / 1600.0);
        let tile = if (x / 80 + y / 80) % 2 == 0 {
            150.0
        } else {
            90.0
        };
        let mut v = |base: f32| {
            let n = (rnd() % 48) as f32 - 24.0;
            ((base + n) * light).clamp(0.0, 255.0) as u8
        };
        image::Rgb([v(tile), v(tile * 0.9 + 10.0), v(tile * 0.7 + 30.0)])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 88);
    enc.encode_image(&image::DynamicImage::ImageRgb8(img))
        .expect("encode");
    out.into_inner()
}

pub async fn run(settings: &crate::config::Settings, args: AnalyzeArgs) -> Result<()> {
    let dir = fresh_dir(args.work_dir.as_deref())?;
    let blob_dir = fresh_dir(args.blob_dir.as_deref().or(Some(&dir)))?;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("bench.sqlite"))?);
    let blobs: Arc<dyn Blobs> = Arc::new(LocalBlobs::open(&blob_dir)?);
    let engine = crate::parts::load_engine(settings).await?;
    let key = crate::demo::ensure(store.as_ref(), blobs.as_ref(), Some(&engine), &dir).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = ApiConfig {
        analysis_priority: fieldproof_api::cpu_pool::Priority::from_setting(
            &args.analysis_priority,
            args.analysis_nice,
        )
        .expect("clap accepts idle and nice only"),
        ..Default::default()
    };
    if let Some(n) = args.analysis_threads {
        config.analysis_workers = n.max(1);
    }
    let (analysis_threads, analysis_priority) = (config.analysis_workers, config.analysis_priority);
    let state = AppState::new(store, blobs, engine, config);
    tokio::spawn(fieldproof_api::serve(
        listener,
        state,
        std::future::pending(),
    ));
    let base = format!("http://{addr}");
    let photo = match &args.photo {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => photo_1mb(),
    };
    // One body for the whole run, sent without a copy per request (the client shares the cores
    // with the server it measures).
    let body: &'static str = Box::leak(
        json!({"inputs": [
            {"name": "image_input", "data": {"type": "image", "value": format!("data:image/jpeg;base64,{}", base64::engine::general_purpose::STANDARD.encode(&photo))}},
            {"name": "context", "data": {"type": "text", "value": "equipment-after-intervention"}}
        ]})
        .to_string()
        .into_boxed_str(),
    );
    let client = reqwest::Client::new();
    let auth = format!("Token {key}");
    let (clients, rate) = (args.crud_clients.max(1), args.crud_rate.max(1.0));
    println!("fieldproof bench analyze: photo {:.2} MB, {} analysis clients (closed loop), CRUD at {:.0} requests/s over {} connections (open loop), {} s per phase, {} cores, {} analysis threads at {}",
        photo.len() as f64 / 1e6, args.clients, rate, clients, args.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get()), analysis_threads, analysis_priority);

    // Warm-up: the first analysis of a version embeds the example photos.
    analyze_once(&client, &base, &auth, body).await?;
    seed(&client, &base, &auth, args.seed_work_orders).await?;

    let phase = Duration::from_secs(args.seconds);
    let probe = dir.join("probe");
    let mut crud_before = crud(&client, &base, &auth, clients, rate, phase, &probe).await?;
    println!();
    crud_before.print("CRUD alone (before)", phase);

    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, base, auth, body, stop) = (
            client.clone(),
            base.clone(),
            auth.clone(),
            body,
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut split = (0.0, 0.0, 0.0);
            let mut errors = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match analyze_once(&client, &base, &auth, body).await {
                    Ok(v) => {
                        lat.push(t.elapsed());
                        split.0 += v["timings"]["decode_ms"].as_f64().unwrap_or(0.0);
                        split.1 += v["timings"]["checks_ms"].as_f64().unwrap_or(0.0);
                        split.2 += v["timings"]["model_ms"].as_f64().unwrap_or(0.0);
                    }
                    Err(_) => errors += 1,
                }
            }
            (lat, split, errors)
        }));
    }
    let started = Instant::now();
    let mut crud_busy = crud(&client, &base, &auth, clients, rate, phase, &probe).await?;
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut all = Vec::new();
    let (mut d, mut c, mut m, mut errors) = (0.0, 0.0, 0.0, 0);
    for t in tasks {
        let (lat, split, e) = t.await?;
        all.extend(lat);
        d += split.0;
        c += split.1;
        m += split.2;
        errors += e;
    }
    let n = all.len() as f64;
    let mut lat = Latencies(all);
    println!("\nAnalyses (with CRUD running): {:.1} analyses/s, p50 {:.1} ms, p99 {:.1} ms, errors {errors}",
        n / elapsed.as_secs_f64(), lat.pct(0.5), lat.pct(0.99));
    println!(
        "  server time per analysis: decode {:.1} ms, checks {:.1} ms, model {:.1} ms (means)",
        d / n,
        c / n,
        m / n
    );
    crud_busy.print("CRUD while analyses run", phase);

    let mut crud_after = crud(&client, &base, &auth, clients, rate, phase, &probe).await?;
    crud_after.print("CRUD alone (after)", phase);
    let mut crud_alone = crud_before.merge(crud_after);
    // The physical reference, measured meanwhile: what the disk alone does to a durable write.
    println!(
        "  disk baseline, a 4 kB append + fdatasync every 10 ms beside the server: p99 {:.2} ms alone, {:.2} ms while analyses run ({:.2}x)",
        crud_alone.disk.pct(0.99),
        crud_busy.disk.pct(0.99),
        crud_busy.disk.pct(0.99) / crud_alone.disk.pct(0.99)
    );
    println!(
        "  CRUD p99 ratio (busy / both alone phases): {:.2} ({:.2} ms / {:.2} ms)",
        crud_busy.all.pct(0.99) / crud_alone.all.pct(0.99),
        crud_busy.all.pct(0.99),
        crud_alone.all.pct(0.99)
    );
    let _ = std::fs::remove_dir_all(&blob_dir);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn analyze_once(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    body: &'static str,
) -> Result<Value> {
    let wo: Value = client
        .post(format!("{base}/v0.2/work-orders/"))
        .header("Authorization", auth)
        .header("Content-Type", "application/json")
        .body(json!({"name": "bench"}).to_string())
        .send()
        .await?
        .json()
        .await?;
    let id = wo["id"]
        .as_str()
        .ok_or_else(|| anyhow!("create failed: {wo}"))?;
    let resp = client
        .post(format!("{base}/v0.2/work-orders/{id}/analyze/"))
        .header("Authorization", auth)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await?;
    if !resp.status().is_success() {
        return Err(anyhow!("analysis answered {}", resp.status()));
    }
    let v: Value = resp.json().await?;
    if v["status"] == "conformity_error" {
        return Err(anyhow!(
            "the bench photo failed data conformity: {}",
            v["conformity_messages"]
        ));
    }
    Ok(v)
}

/// Open-loop CRUD for `phase`: `clients` connections that together send `rate` requests per
/// second, each cycling through create, retrieve, update and a filtered list, every request due
/// at a fixed time. Latency runs from the time a request was due, not sent, so a stall is charged
/// to every request queued behind it (no coordinated omission). An open loop is what measures
/// latency under a given load; a closed loop at full speed would measure the queue it builds.
async fn crud(
    client: &reqwest::Client,
    base: &str,
    auth: &str,
    clients: usize,
    rate: f64,
    phase: Duration,
    probe: &std::path::Path,
) -> Result<Crud> {
    // Over the same window: the disk's own sync latency, and what other processes used.
    let disk = disk_probe(probe.to_path_buf(), phase);
    let cpu = CpuTimes::now();
    let start = tokio::time::Instant::now();
    let deadline = start + phase;
    let gap = Duration::from_secs_f64(clients as f64 / rate);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (client, base, auth) = (client.clone(), base.to_string(), auth.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat: [Vec<Duration>; KINDS] = Default::default();
            let mut errors = 0u64;
            // Clients start staggered over one gap, so requests are spread evenly.
            let mut due = start + gap.mul_f64(c as f64 / clients as f64);
            let mut id = String::new();
            let mut i = 0u64;
            'cycle: while due < deadline {
                for op in [Op::Create, Op::Retrieve, Op::Update, Op::List, Op::Delete] {
                    let kind = op as usize;
                    if due >= deadline {
                        break 'cycle;
                    }
                    tokio::time::sleep_until(due).await;
                    i += 1;
                    let one = format!("{base}/v0.2/work-orders/{id}/");
                    let request = match op {
                        Op::Create => client
                            .post(format!("{base}/v0.2/work-orders/"))
                            .header("Content-Type", "application/json")
                            .body(
                                json!({"name": format!("crud-{c}-{i}"), "tags": ["bench"]})
                                    .to_string(),
                            ),
                        Op::Retrieve => client.get(one),
                        Op::Update => client
                            .patch(one)
                            .header("Content-Type", "application/json")
                            .body(r#"{"tags":["bench","updated"]}"#),
                        Op::List => {
                            client.get(format!("{base}/v0.2/work-orders/?tag=seeded&page_size=20"))
                        }
                        Op::Delete => client.delete(one),
                    };
                    let ok = request
                        .header("Authorization", &auth)
                        .send()
                        .await
                        .ok()
                        .filter(|r| r.status().is_success());
                    // A delete answers 204 without a body; every other answer is JSON.
                    let body: Option<Value> = match ok {
                        Some(r) if op == Op::Delete => r.bytes().await.ok().map(|_| Value::Null),
                        Some(r) => r.json().await.ok(),
                        None => None,
                    };
                    let latency = tokio::time::Instant::now() - due;
                    due += gap;
                    match body {
                        Some(b) => {
                            lat[kind].push(latency);
                            if op == Op::Create {
                                id = b["id"].as_str().unwrap_or_default().to_string();
                            }
                        }
                        None => {
                            errors += 1;
                            // Without its work order the cycle cannot go on: start the next one.
                            if op == Op::Create {
                                due += gap * 3;
                                continue 'cycle;
                            }
                        }
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut kinds: [Vec<Duration>; KINDS] = Default::default();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.unwrap_or_default();
        for (kind, lat) in kinds.iter_mut().zip(lat) {
            all.extend_from_slice(&lat);
            kind.extend(lat);
        }
        errors += e;
    }
    let machine = cpu.zip(CpuTimes::now()).map(|(a, b)| b.since(&a));
    Ok(Crud {
        all: Latencies(all),
        kinds: kinds.map(Latencies),
        errors,
        disk: disk.await?,
        machine,
    })
}

/// The requests of a CRUD cycle, in order. The cycle ends by deleting its work order, so the
/// database holds as many work orders in every phase.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Create,
    Retrieve,
    Update,
    List,
    Delete,
}

const KINDS: usize = 5;
const KIND_NAMES: [&str; KINDS] = ["create", "retrieve", "update", "list", "delete"];

/// What a CRUD phase measured: every request, and each kind apart (create, retrieve, update,
/// filtered list, delete).
struct Crud {
    all: Latencies,
    kinds: [Latencies; KINDS],
    errors: u64,
    /// The disk baseline measured meanwhile (see [`disk_probe`]).
    disk: Latencies,
    /// What the rest of the machine did meanwhile; `None` off Linux, and for merged phases.
    machine: Option<Machine>,
}

impl Crud {
    /// Both phases' requests as one sample.
    fn merge(self, other: Crud) -> Crud {
        let mut kinds = self.kinds;
        for (k, o) in kinds.iter_mut().zip(other.kinds) {
            k.0.extend(o.0);
        }
        Crud {
            all: Latencies([self.all.0, other.all.0].concat()),
            kinds,
            errors: self.errors + other.errors,
            disk: Latencies([self.disk.0, other.disk.0].concat()),
            machine: None,
        }
    }

    fn print(&mut self, title: &str, phase: Duration) {
        println!(
            "{title}: {:.0} requests/s answered, p50 {:.2} ms, p99 {:.2} ms, errors {}",
            self.all.0.len() as f64 / phase.as_secs_f64(),
            self.all.pct(0.5),
            self.all.pct(0.99),
            self.errors
        );
        let kinds: Vec<String> = KIND_NAMES
            .iter()
            .zip(self.kinds.iter_mut())
            .map(|(name, lat)| format!("{name} {:.2}", lat.pct(0.99)))
            .collect();
        println!("  p99 by kind (ms): {}", kinds.join(", "));
        if let Some(m) = &self.machine {
            println!(
                "  the rest of the machine meanwhile: other processes and kernel threads {:.1}% of the CPU time, steal {:.1}%",
                m.others_pct, m.steal_pct
            );
        }
    }
}

/// Creates `n` work orders tagged `seeded`, the set the CRUD cycle's filtered list matches, over
/// 16 connections.
async fn seed(client: &reqwest::Client, base: &str, auth: &str, n: usize) -> Result<()> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, base, auth, next) = (
            client.clone(),
            base.to_string(),
            auth.to_string(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let r = client
                    .post(format!("{base}/v0.2/work-orders/"))
                    .header("Authorization", &auth)
                    .header("Content-Type", "application/json")
                    .body(r#"{"name": "seeded", "tags": ["bench", "seeded"]}"#)
                    .send()
                    .await?;
                if !r.status().is_success() {
                    return Err(anyhow!("seeding answered {}", r.status()));
                }
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

/// Times a 4 kB append and `fdatasync` of a file in the work directory every 10 ms for `phase`,
/// on a thread of its own: the disk's durable-write latency without the server. An append, as a
/// database's log makes: the file's size changes, so each sync also commits the file system's
/// journal.
fn disk_probe(path: std::path::PathBuf, phase: Duration) -> tokio::task::JoinHandle<Latencies> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut lat = Vec::new();
        let Ok(mut file) = std::fs::File::create(&path) else {
            return Latencies(lat);
        };
        let block = [0x5Au8; 4096];
        let deadline = Instant::now() + phase;
        while Instant::now() < deadline {
            let t = Instant::now();
            if file.write_all(&block).is_ok() && file.sync_data().is_ok() {
                lat.push(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_file(&path);
        Latencies(lat)
    })
}

/// A new directory in `parent` (default: the system's temporary directory).
fn fresh_dir(parent: Option<&std::path::Path>) -> Result<std::path::PathBuf> {
    let parent = parent.map_or_else(std::env::temp_dir, |p| p.to_path_buf());
    let dir = parent.join(format!(
        "fieldproof-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

/// CPU time counters, in clock ticks: the machine's (`/proc/stat`) and this process's.
#[derive(Debug, Clone, Copy)]
struct CpuTimes {
    /// Time every core spent running tasks (user, nice and system; not interrupts).
    busy: u64,
    total: u64,
    /// Time the hypervisor gave this machine's cores to someone else.
    steal: u64,
    ours: u64,
}

/// What the rest of the machine did during a phase, in percent of its CPU time: other processes
/// and kernel threads (services of other projects, say, or the writeback of our files), and the
/// hypervisor's steal. A phase that others disturbed shows here, so that its figures are not read
/// as ours.
#[derive(Debug, Clone, Copy)]
struct Machine {
    others_pct: f64,
    steal_pct: f64,
}

impl CpuTimes {
    /// `None` where `/proc` does not say (off Linux).
    fn now() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // cpu user nice system idle iowait irq softirq steal (guest time is inside user).
        let v: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        if v.len() < 8 {
            return None;
        }
        let me = std::fs::read_to_string("/proc/self/stat").ok()?;
        // After the command name, field 3 comes first: utime is field 14, stime field 15.
        let fields: Vec<&str> = me[me.rfind(')')? + 1..].split_whitespace().collect();
        let ours = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(CpuTimes {
            busy: v[0] + v[1] + v[2],
            total: v.iter().sum(),
            steal: v[7],
            ours,
        })
    }

    /// The rest of the machine's share from `before` to `self`.
    fn since(&self, before: &CpuTimes) -> Machine {
        let total = self.total.saturating_sub(before.total).max(1) as f64;
        let others = (self.busy.saturating_sub(before.busy))
            .saturating_sub(self.ours.saturating_sub(before.ours));
        Machine {
            others_pct: 100.0 * others as f64 / total,
            steal_pct: 100.0 * self.steal.saturating_sub(before.steal) as f64 / total,
        }
    }
}

#[cfg(test)]
mod tests {
    /// The benchmark's photo is what the issue asks for: a JPEG of about 1 MB.
    #[test]
    fn bench_photo_is_about_one_megabyte() {
        let photo = super::photo_1mb();
        let mb = photo.len() as f64 / 1e6;
        assert!((0.9..1.3).contains(&mb), "{mb:.2} MB");
        let img = image::load_from_memory(&photo).unwrap();
        assert_eq!((img.width(), img.height()), (1600, 1200));
    }

    /// The counters behind "the rest of the machine": a busy loop in this process moves this
    /// process's time and the machine's busy time, not only the total.
    #[cfg(target_os = "linux")]
    #[test]
    fn cpu_times_count_this_process() {
        let a = super::CpuTimes::now().expect("/proc/stat and /proc/self/stat are readable");
        // Spin until this process has used 10 clock ticks (100 ms) of CPU, however loaded the
        // machine is; a counter read from the wrong field would never get there.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let mut x = 0u64;
        let b = loop {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            let b = super::CpuTimes::now().unwrap();
            if b.ours >= a.ours + 10 || std::time::Instant::now() > deadline {
                break b;
            }
        };
        assert!(b.ours >= a.ours + 10, "{a:?} -> {b:?}");
        assert!(b.busy >= a.busy + 10, "{a:?} -> {b:?}");
        assert!(
            b.total > b.busy && b.total >= a.total + 10,
            "{a:?} -> {b:?}"
        );
    }
}
