//! The `fieldproof` command line: `serve` runs the API; `admin` manages sites, users, groups and
//! keys; `app` validates and publishes application versions. A library so that the integration
//! tests can set up sites and keys exactly as the CLI does.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod audit;
pub mod bench;
pub mod bench_analyze;
pub mod config;
pub mod cpu;
pub mod demo;
pub mod keys;
pub mod parts;
pub mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

use config::{ServeFlags, StorageFlags};

#[derive(Parser)]
#[command(
    name = "fieldproof",
    version,
    about = "Proof of field work from photos."
)]
pub struct Cli {
    #[command(flatten)]
    storage: StorageFlags,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (and, unless --no-worker, a pool of job workers).
    Serve {
        #[command(flatten)]
        flags: ServeFlags,
        /// Do not run job workers in this process (run `fieldproof worker` instead).
        #[arg(long)]
        no_worker: bool,
    },
    /// Run job workers only (analyses submitted with ?async=true).
    Worker(serve::WorkerFlags),
    /// Manage sites, users, user groups and API keys.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Validate and publish application versions.
    #[command(subcommand)]
    App(app::AppCommand),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Analyses per second and latency through the HTTP API, and CRUD latency meanwhile.
    Analyze(bench_analyze::AnalyzeArgs),
    #[command(flatten)]
    Load(bench::BenchCommand),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    // Before anything that might use the instructions in question (see `cpu`).
    let missing = cpu::missing();
    if !missing.is_empty() {
        eprintln!("error: {}", cpu::refusal(&missing));
        return ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    match cli.command {
        Command::Serve { flags, no_worker } => {
            let settings = config::resolve(&cli.storage, Some(&flags), &env)?;
            serve::run(settings, !no_worker).await
        }
        Command::Worker(flags) => {
            let settings = config::resolve(&cli.storage, None, &env)?;
            serve::run_worker(settings, flags).await
        }
        Command::Admin(cmd) => {
            let settings = config::resolve(&cli.storage, None, &env)?;
            let store = parts::open_store(&settings).await?;
            admin::run(store.as_ref(), cmd).await
        }
        Command::App(cmd) => {
            let settings = config::resolve(&cli.storage, None, &env)?;
            app::run(&settings, cmd).await
        }
        Command::Bench(BenchCommand::Analyze(args)) => {
            let settings = config::resolve(&cli.storage, None, &env)?;
            bench_analyze::run(&settings, args).await
        }
        Command::Bench(BenchCommand::Load(cmd)) => bench::run(cmd).await,
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("FIELDPROOF_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
