//! `fieldproof bench load` and `fieldproof bench fill`: the load benchmark's command line, and
//! what only this binary knows about it: how a site is set up (the demo application, field
//! engineers, administrators' keys, exactly as `admin` and `app publish` do) and how its
//! server is started (`fieldproof serve`, as a child process). The program itself is the
//! `fieldproof-bench` crate.
//!
//! Two hidden subcommands are the other servers the benchmark starts as child processes: the
//! baselines, and our server without the models (to tell the models' memory from the rest).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use fieldproof_analysis::Engine;
use fieldproof_api::{ApiConfig, AppState};
use fieldproof_bench::baseline::{self, Commit};
use fieldproof_bench::run::{self, Db, Harness, Prepared};
use fieldproof_blobs::{Blobs, LocalBlobs};
use fieldproof_domain::app::parse_and_validate;
use fieldproof_domain::role::Role;
use fieldproof_store::{FieldEngineer, Store};
use fieldproof_store_postgres::PostgresStore;
use fieldproof_store_sqlite::SqliteStore;

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Durable creates/s, latency under closed and open loop, against baselines; list and
    /// retrieve latency over a million work orders; memory and size on disk.
    Load(LoadArgs),
    /// Fill a new database with generated work orders (to look at query plans).
    Fill(FillArgs),
    /// (internal) A baseline server for `bench load`.
    #[command(hide = true)]
    Baseline(BaselineArgs),
    /// (internal) Our server without the models, for `bench load`'s memory figure.
    #[command(hide = true)]
    ServeWithoutModels(BareArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Args)]
pub struct EngineFlags {
    /// Storage engine of the server under test.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub engine: EngineArg,
    /// PostgreSQL server on which fresh databases are created (and dropped) [env: FIELDPROOF_TEST_POSTGRES_URL]
    #[arg(long, value_name = "URL")]
    pub postgres_url: Option<String>,
}

impl EngineFlags {
    fn postgres(&self) -> Option<String> {
        (self.engine == EngineArg::Postgres).then(|| {
            self.postgres_url
                .clone()
                .or_else(|| std::env::var(fieldproof_store_postgres::testing::URL_VAR).ok())
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into())
        })
    }
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub engine: EngineFlags,
    /// Seconds per write phase.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Connections of the closed-loop phases.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Connections of the open-loop phase.
    #[arg(long, default_value_t = 1000)]
    pub open_connections: usize,
    /// Creates per second offered in the open-loop phase.
    #[arg(long, default_value_t = 2000.0)]
    pub rate: f64,
    /// Work orders generated for the scale phase (0: skip it).
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Connections of the read phases over the generated data.
    #[arg(long, default_value_t = 2)]
    pub read_connections: usize,
    /// Seconds per read phase.
    #[arg(long, default_value_t = 5)]
    pub read_seconds: u64,
    /// Skip the baseline servers.
    #[arg(long)]
    pub no_baselines: bool,
    /// Model manifest for the server under test (default: as `fieldproof serve` finds it).
    #[arg(long, value_name = "FILE")]
    pub server_models: Option<PathBuf>,
    /// Log filter of the server under test (it logs a line per request at `info`).
    #[arg(long, default_value = "info")]
    pub server_log: String,
    /// Directory for databases and logs (default: a new temporary directory, removed at the end
    /// unless --keep).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep databases and logs.
    #[arg(long)]
    pub keep: bool,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Clone, Args)]
pub struct FillArgs {
    #[command(flatten)]
    pub engine: EngineFlags,
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Directory of the new SQLite database and blobs (SQLite only).
    #[arg(long, value_name = "DIR", default_value = "bench-data")]
    pub dir: PathBuf,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Clone, Args)]
pub struct BaselineArgs {
    #[arg(long, value_parser = ["per-request", "grouped"])]
    pub commit: String,
    #[arg(long, value_name = "FILE")]
    pub db: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct BareArgs {
    // Not `--data-dir`/`--database-url`: those are the global flags of every command.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    #[arg(long, value_name = "URL")]
    pub db_url: Option<String>,
}

/// Keys per site: connections use them in turn, so no key goes past the default rate limit.
const KEYS: usize = 64;
const ENGINEERS: usize = 50;

pub async fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Load(args) => load(args).await,
        BenchCommand::Fill(args) => fill(args).await,
        BenchCommand::Baseline(args) => {
            let commit = if args.commit == "grouped" {
                Commit::Grouped
            } else {
                Commit::PerRequest
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            println!("baseline listening on http://{}", listener.local_addr()?);
            baseline::serve(commit, &args.db, listener).await
        }
        BenchCommand::ServeWithoutModels(args) => serve_without_models(args).await,
    }
}

struct Binary {
    exe: PathBuf,
    models: Option<PathBuf>,
    log: String,
}

impl Harness for Binary {
    async fn prepare(&self, db: &Db, data_dir: &Path) -> Result<Prepared> {
        let store = open(db).await?;
        let blobs = LocalBlobs::open(&data_dir.join("blobs"))?;
        prepare(store.as_ref(), &blobs, KEYS).await
    }

    fn server(&self, db: &Db, data_dir: &Path, models: bool) -> Command {
        let mut cmd = Command::new(&self.exe);
        if models {
            cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
                .arg(data_dir);
            if let Some(m) = &self.models {
                cmd.arg("--models").arg(m);
            }
        } else {
            cmd.args(["bench", "serve-without-models", "--dir"])
                .arg(data_dir);
        }
        if let Db::Postgres(url) = db {
            cmd.arg(if models { "--database-url" } else { "--db-url" })
                .arg(url);
        }
        clean_env(&mut cmd);
        cmd.env("FIELDPROOF_LOG", &self.log);
        cmd
    }

    fn baseline(&self, commit: Commit, file: &Path) -> Command {
        let mut cmd = Command::new(&self.exe);
        cmd.args(["bench", "baseline", "--commit", commit.arg(), "--db"])
            .arg(file);
        clean_env(&mut cmd);
        cmd.env("FIELDPROOF_LOG", "warn");
        cmd
    }
}

/// Settings come from the flags alone, never from the operator's environment or config file.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars() {
        if k.starts_with("FIELDPROOF_") {
            cmd.env_remove(k);
        }
    }
}

async fn open(db: &Db) -> Result<Arc<dyn Store>> {
    Ok(match db {
        Db::Sqlite(path) => Arc::new(SqliteStore::open(path)?),
        Db::Postgres(url) => Arc::new(PostgresStore::connect(url).await?),
    })
}

/// A site `bench` with the demo application, `ENGINEERS` field workers and `keys` keys of
/// administrators.
pub async fn prepare(store: &dyn Store, blobs: &dyn Blobs, keys: usize) -> Result<Prepared> {
    let site = crate::admin::create_site(store, "bench").await?;
    let version = parse_and_validate(crate::demo::APPLICATION)
        .map_err(|e| anyhow::anyhow!("the built-in demo application is invalid: {e:?}"))?;
    let version =
        crate::app::publish(store, blobs, None, &site, version, &crate::demo::example).await?;
    let mut engineers = Vec::new();
    for i in 0..ENGINEERS {
        let email = format!("engineer-{i:02}@example.com");
        let u = crate::admin::create_user(
            store,
            &site,
            &email,
            "Field",
            &format!("Engineer {i}"),
            Role::FieldWorker,
        )
        .await?;
        engineers.push(FieldEngineer {
            user_id: u.id,
            email: u.email,
            name: format!("{} {}", u.first_name, u.last_name),
        });
    }
    let admin = crate::admin::create_user(
        store,
        &site,
        "admin@example.com",
        "Bench",
        "Admin",
        Role::Administrator,
    )
    .await?;
    let mut made = Vec::new();
    for i in 0..keys {
        made.push(
            crate::keys::create(store, &admin, &format!("bench-{i}"))
                .await?
                .0,
        );
    }
    Ok(Prepared {
        keys: made,
        site_id: site.id,
        version,
        engineers,
    })
}

async fn load(args: LoadArgs) -> Result<()> {
    let (work_dir, _temp) = match &args.work_dir {
        Some(d) => {
            std::fs::create_dir_all(d)?;
            (d.clone(), None)
        }
        None => {
            let d = std::env::temp_dir().join(format!("fieldproof-bench-{}", std::process::id()));
            std::fs::create_dir_all(&d)?;
            (d.clone(), Some(RemoveOnDrop(d, args.keep)))
        }
    };
    let harness = Binary {
        exe: std::env::current_exe().context("cannot find this program's path")?,
        models: args.server_models.clone(),
        log: args.server_log.clone(),
    };
    let config = run::Config {
        postgres: args.engine.postgres(),
        duration: Duration::from_secs(args.seconds),
        connections: args.connections,
        open_connections: args.open_connections,
        rate: args.rate,
        rows: args.rows,
        read_connections: args.read_connections,
        read_duration: Duration::from_secs(args.read_seconds),
        baselines: !args.no_baselines,
        work_dir,
        seed: args.seed,
        keep: args.keep,
    };
    let mut out = std::io::stdout();
    run::load(&harness, &config, &mut out).await
}

/// Removes the temporary work directory at the end, unless asked to keep it.
struct RemoveOnDrop(PathBuf, bool);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if self.1 {
            println!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

async fn fill(args: FillArgs) -> Result<()> {
    let db = match args.engine.postgres() {
        Some(server) => {
            let db = fieldproof_store_postgres::testing::TestDatabase::create(&server).await?;
            let url = db.url().to_string();
            std::mem::forget(db); // kept on purpose: that is what `fill` is for
            Db::Postgres(url)
        }
        None => {
            if args.dir.join("fieldproof.sqlite").exists() {
                bail!(
                    "{} already has a database: choose a new --dir",
                    args.dir.display()
                );
            }
            std::fs::create_dir_all(&args.dir)?;
            Db::Sqlite(args.dir.join("fieldproof.sqlite"))
        }
    };
    let prepared = {
        let store = open(&db).await?;
        let blobs = LocalBlobs::open(&args.dir.join("blobs"))?;
        prepare(store.as_ref(), &blobs, 1).await?
    };
    let plan = fieldproof_bench::fill::data::Plan {
        rows: args.rows,
        seed: args.seed,
        site_id: prepared.site_id,
        version: prepared.version,
        engineers: prepared.engineers,
    };
    let report = |n: u64| {
        if n.is_multiple_of(100_000) {
            eprintln!("{n} rows");
        }
    };
    let filled = match &db {
        Db::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || {
                fieldproof_bench::fill::sqlite::fill(&path, &plan, &report)
            })
            .await??
        }
        Db::Postgres(url) => fieldproof_bench::fill::postgres::fill(url, &plan, &report).await?,
    };
    let (place, size) = match &db {
        Db::Sqlite(p) => (
            p.display().to_string(),
            fieldproof_bench::fill::sqlite::size_on_disk(p),
        ),
        Db::Postgres(url) => (
            url.clone(),
            fieldproof_bench::fill::postgres::size_on_disk(url).await?,
        ),
    };
    println!(
        "filled {place} with {} work orders in {:.1} s; {:.2} GB on disk; API key: {}",
        filled.rows,
        filled.took.as_secs_f64(),
        size as f64 / 1e9,
        prepared.keys[0]
    );
    Ok(())
}

/// The server as `serve` assembles it, minus the models (and the job workers): what the models
/// cost in memory is the difference.
async fn serve_without_models(args: BareArgs) -> Result<()> {
    let db = match &args.db_url {
        Some(url) => Db::Postgres(url.clone()),
        None => Db::Sqlite(args.dir.join("fieldproof.sqlite")),
    };
    let store = open(&db).await?;
    let blobs: Arc<dyn Blobs> = Arc::new(LocalBlobs::open(&args.dir.join("blobs"))?);
    let state = AppState::new(
        store,
        blobs,
        Arc::new(Engine::with_models(None)),
        ApiConfig {
            rate_limits: fieldproof_api::limits::RateLimits::recommended(),
            ..Default::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("fieldproof listening on http://{}", listener.local_addr()?);
    fieldproof_api::serve(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
