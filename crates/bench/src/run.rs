//! `fieldproof bench load` from start to end: the phases, in order, each on a fresh server, and
//! the figures as they come.
//!
//! 1. Empty database: creates in closed loop, creates in open loop at a fixed offered rate, then
//!    the mixed workload; memory at rest with and without the models.
//! 2. The baselines (`baseline`), same phases, same run: our throughput as a ratio of theirs
//!    (the disk's sync latency drifts within an hour here, so only same-run figures compare).
//! 3. Scale: a database filled with `rows` generated work orders; retrieves and each kind of
//!    filtered list at low concurrency (latency, not throughput), size on disk, memory at rest.
//!
//! What only the binary knows (how to set up a site, how to start its server) comes through
//! [`Harness`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use fieldproof_domain::app::AppVersion;
use fieldproof_store::FieldEngineer;
use fieldproof_store_postgres::testing::TestDatabase;
use uuid::Uuid;

use crate::baseline::Commit;
use crate::child::{ChildServer, Memory};
use crate::drive::{self, Pace, Phase, PhaseResult, Target};
use crate::fill::{self, data::Plan};
use crate::report;
use crate::workload::{Known, ListKind, Mix, Op, Workload};

/// Where a server keeps its data.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(PathBuf),
    Postgres(String),
}

/// A site ready for load.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// API keys of administrators of the site (several: the server limits each key's rate).
    pub keys: Vec<String>,
    pub site_id: Uuid,
    pub version: Arc<AppVersion>,
    pub engineers: Vec<FieldEngineer>,
}

/// What the binary provides.
pub trait Harness {
    /// Creates a site with the demo application, field engineers and an administrator's key in
    /// the (new, empty) database `db`, with blobs under `data_dir`.
    fn prepare(
        &self,
        db: &Db,
        data_dir: &Path,
    ) -> impl std::future::Future<Output = Result<Prepared>>;
    /// The command that serves `db` (with `data_dir`) on an ephemeral loopback port and prints
    /// `listening on http://ADDR`; `models: false` serves without loading the models.
    fn server(&self, db: &Db, data_dir: &Path, models: bool) -> Command;
    /// The command that serves a baseline on `file`.
    fn baseline(&self, commit: Commit, file: &Path) -> Command;
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `None`: SQLite; `Some(url)`: PostgreSQL, with fresh databases made on this server.
    pub postgres: Option<String>,
    pub duration: Duration,
    pub connections: usize,
    pub open_connections: usize,
    pub rate: f64,
    pub rows: u64,
    pub read_connections: usize,
    pub read_duration: Duration,
    pub baselines: bool,
    pub work_dir: PathBuf,
    pub seed: u64,
    /// Keep the databases at the end (their paths or names are printed).
    pub keep: bool,
}

/// How long a server may take to start (loading and warming up the models takes seconds).
const START_WAIT: Duration = Duration::from_secs(120);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Config {
    fn engine(&self) -> &'static str {
        if self.postgres.is_some() {
            "postgres"
        } else {
            "sqlite"
        }
    }

    fn phase(&self, connections: usize, duration: Duration, pace: Pace) -> Phase {
        Phase {
            connections,
            duration,
            pace,
            timeout: REQUEST_TIMEOUT,
            grace: Duration::from_secs(10),
            seed: self.seed,
        }
    }
}

/// A fresh database: a file in `dir`, or a new PostgreSQL database.
async fn fresh_db(config: &Config, dir: &Path) -> Result<(Db, Option<TestDatabase>)> {
    std::fs::create_dir_all(dir)?;
    Ok(match &config.postgres {
        None => (Db::Sqlite(dir.join("fieldproof.sqlite")), None),
        Some(server) => {
            let db = TestDatabase::create(server).await?;
            (Db::Postgres(db.url().to_string()), Some(db))
        }
    })
}

async fn finish_db(config: &Config, db: Option<TestDatabase>, out: &mut dyn Write) -> Result<()> {
    if let Some(db) = db {
        if config.keep {
            writeln!(out, "kept PostgreSQL database {}", db.url())?;
            std::mem::forget(db);
        } else {
            db.drop_database().await?;
        }
    }
    Ok(())
}

/// Runs `phase` against a child server, resetting its peak memory first.
async fn measured(
    server: &ChildServer,
    keys: &[String],
    workload: &Workload,
    phase: &Phase,
) -> Result<(PhaseResult, Memory)> {
    server.reset_peak()?;
    let target = Target {
        addr: server.addr,
        keys: keys.to_vec(),
    };
    let result = drive::run(&target, workload, phase).await;
    Ok((result, server.memory()?))
}

/// Memory at rest: after `settle` of idleness.
async fn at_rest(server: &ChildServer, settle: Duration) -> Result<Memory> {
    tokio::time::sleep(settle).await;
    server.memory()
}

pub async fn load(harness: &impl Harness, config: &Config, out: &mut dyn Write) -> Result<()> {
    machine(out, config)?;
    let engine = config.engine();
    let ours = format!("fieldproof ({engine})");
    let creates = Workload {
        mix: Mix::creates(),
        known: Arc::new(Known::default()),
        engineer_email: None,
    };
    let closed = config.phase(config.connections, config.duration, Pace::Closed);
    let open = config.phase(
        config.open_connections,
        config.duration,
        Pace::Open { rate: config.rate },
    );
    let closed_name = "creates, closed loop";
    let open_name = "creates, open loop";

    // 1. Our server on an empty database.
    writeln!(
        out,
        "\n== 1. empty database: creates and the mixed workload ({})",
        loadavg()
    )?;
    let dir = config.work_dir.join("empty");
    let (db, pg) = fresh_db(config, &dir).await?;
    let prepared = harness.prepare(&db, &dir).await?;
    let engineer = prepared.engineers.first().map(|e| e.email.clone());
    let creates = Workload {
        engineer_email: engineer.clone(),
        ..creates
    };
    let server = start(harness.server(&db, &dir, true), &ours, &dir)?;
    let rest_start = at_rest(&server, Duration::from_secs(2)).await?;
    report::header(out)?;
    let key = &prepared.keys;
    let (ours_closed, mem) = measured(&server, key, &creates, &closed).await?;
    report::phase(out, closed_name, &ours, &closed, &ours_closed, Some(mem))?;
    let (ours_open, mem) = measured(&server, key, &creates, &open).await?;
    report::phase(out, open_name, &ours, &open, &ours_open, Some(mem))?;
    let mixed = Workload {
        mix: Mix::mixed(),
        ..creates.clone()
    };
    let (r, mem) = measured(&server, key, &mixed, &closed).await?;
    report::phase(out, "mixed, closed loop", &ours, &closed, &r, Some(mem))?;
    let rest_after = at_rest(&server, Duration::from_secs(2)).await?;
    server.stop(Duration::from_secs(10))?;
    let bare = start(harness.server(&db, &dir, false), &ours, &dir)?;
    let rest_bare = at_rest(&bare, Duration::from_secs(2)).await?;
    bare.stop(Duration::from_secs(10))?;
    writeln!(
        out,
        "RSS at rest, empty database: {} after start with the models, {} after the phases above; {} without the models",
        report::mb(rest_start.rss_kb),
        report::mb(rest_after.rss_kb),
        report::mb(rest_bare.rss_kb)
    )?;
    finish_db(config, pg, out).await?;

    // 2. The baselines.
    if config.baselines {
        writeln!(
            out,
            "\n== 2. baselines (SQLite, WAL, synchronous=FULL, no validation), same load ({})",
            loadavg()
        )?;
        report::header(out)?;
        let mut figures = Vec::new();
        for commit in [Commit::PerRequest, Commit::Grouped] {
            let dir = config.work_dir.join(format!("baseline-{}", commit.arg()));
            std::fs::create_dir_all(&dir)?;
            let server = start(
                harness.baseline(commit, &dir.join("baseline.sqlite")),
                commit.label(),
                &dir,
            )?;
            let (c, mem) = measured(&server, &[], &creates, &closed).await?;
            report::phase(out, closed_name, commit.label(), &closed, &c, Some(mem))?;
            let (o, mem) = measured(&server, &[], &creates, &open).await?;
            report::phase(out, open_name, commit.label(), &open, &o, Some(mem))?;
            server.stop(Duration::from_secs(10))?;
            figures.push((commit, c, o));
        }
        writeln!(out, "ratios, {ours} / baseline:")?;
        for (commit, c, o) in &figures {
            let p99 = |r: &PhaseResult| r.all().summary().p99 as f64;
            writeln!(
                out,
                "  vs {:<24} closed-loop creates/s {}, open-loop p99 {} (ours {:.1} ms, theirs {:.1} ms)",
                commit.label(),
                report::ratio(ours_closed.throughput(), c.throughput()),
                report::ratio(p99(&ours_open), p99(o)),
                p99(&ours_open) / 1000.0,
                p99(o) / 1000.0,
            )?;
        }
    }

    // 3. Scale.
    if config.rows > 0 {
        scale(harness, config, &ours, out).await?;
    }
    Ok(())
}

async fn scale(
    harness: &impl Harness,
    config: &Config,
    ours: &str,
    out: &mut dyn Write,
) -> Result<()> {
    writeln!(
        out,
        "\n== 3. scale: {} work orders ({})",
        config.rows,
        loadavg()
    )?;
    let dir = config.work_dir.join("scale");
    let (db, pg) = fresh_db(config, &dir).await?;
    let prepared = harness.prepare(&db, &dir).await?;
    let plan = Plan {
        rows: config.rows,
        seed: config.seed,
        site_id: prepared.site_id,
        version: prepared.version.clone(),
        engineers: prepared.engineers.clone(),
    };
    let started = Instant::now();
    let progress = move |n: u64| {
        if n.is_multiple_of(200_000) {
            tracing::info!(rows = n, secs = started.elapsed().as_secs(), "filling");
        }
    };
    let filled = match &db {
        Db::Sqlite(path) => {
            let (path, plan) = (path.clone(), plan.clone());
            tokio::task::spawn_blocking(move || fill::sqlite::fill(&path, &plan, &|n| progress(n)))
                .await??
        }
        Db::Postgres(url) => fill::postgres::fill(url, &plan, &progress).await?,
    };
    let size = match &db {
        Db::Sqlite(path) => fill::sqlite::size_on_disk(path),
        Db::Postgres(url) => fill::postgres::size_on_disk(url).await?,
    };
    writeln!(
        out,
        "filled {} work orders in {:.1} s ({:.0} rows/s); database on disk: {:.2} GB ({:.2} GB per million)",
        filled.rows,
        filled.took.as_secs_f64(),
        filled.rows as f64 / filled.took.as_secs_f64(),
        size as f64 / 1e9,
        size as f64 / 1e9 * 1e6 / filled.rows as f64
    )?;
    let server = start(harness.server(&db, &dir, true), ours, &dir)?;
    let rest_start = at_rest(&server, Duration::from_secs(2)).await?;
    writeln!(out, "reads start ({})", loadavg())?;
    report::header(out)?;
    let key = &prepared.keys;
    let known = Arc::new(Known {
        generated: Some((config.seed, config.rows)),
    });
    let reads = config.phase(config.read_connections, config.read_duration, Pace::Closed);
    let mut kinds = vec![Op::Retrieve];
    kinds.extend(ListKind::ALL.iter().map(|k| Op::List(*k)));
    let mut peak = 0;
    for op in kinds {
        let workload = Workload {
            mix: Mix::only(op),
            known: known.clone(),
            engineer_email: None,
        };
        let (r, mem) = measured(&server, key, &workload, &reads).await?;
        peak = peak.max(mem.peak_kb);
        report::phase(out, &op.label(), ours, &reads, &r, Some(mem))?;
    }
    let rest_after = at_rest(&server, Duration::from_secs(2)).await?;
    server.stop(Duration::from_secs(10))?;
    writeln!(
        out,
        "RSS with {} work orders: {} at rest after start, {} at rest after the reads, {} peak during them",
        config.rows,
        report::mb(rest_start.rss_kb),
        report::mb(rest_after.rss_kb),
        report::mb(peak)
    )?;
    if config.keep {
        if let Db::Sqlite(path) = &db {
            writeln!(out, "kept {}", path.display())?;
        }
    }
    finish_db(config, pg, out).await?;
    Ok(())
}

fn start(cmd: Command, name: &str, dir: &Path) -> Result<ChildServer> {
    let log = dir.join(format!(
        "{}.log",
        name.replace([' ', ':', '/', '(', ')'], "_")
    ));
    ChildServer::start(name, cmd, &log, START_WAIT)
}

/// The machine and the date, printed first: figures mean nothing without them.
fn machine(out: &mut dyn Write, config: &Config) -> Result<()> {
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    writeln!(
        out,
        "fieldproof bench load: {date}, {cores} cores, {:.1} GiB RAM, Linux {}, engine {}, work dir {}",
        mem_kb as f64 / 1024.0 / 1024.0,
        kernel.trim(),
        config.engine(),
        config.work_dir.display()
    )?;
    writeln!(
        out,
        "phases: {:?} each; closed loop {} connections; open loop {:.0}/s over {} connections; reads {} connections for {:?}",
        config.duration, config.connections, config.rate, config.open_connections, config.read_connections, config.read_duration
    )?;
    Ok(())
}

/// The machine's load averages: other work on the machine shows up in every figure, so it is
/// printed with them.
fn loadavg() -> String {
    let l = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let parts: Vec<&str> = l.split_whitespace().take(3).collect();
    format!("load average {}", parts.join(" "))
}
