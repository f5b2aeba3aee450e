//! `fieldproof serve`: open the store, set up the demo if asked, serve until SIGTERM or SIGINT,
//! then stop taking connections and let in-flight requests finish.

use anyhow::{Context, Result};
use fieldproof_api::{ApiConfig, AppState};
use tokio::net::TcpListener;

use crate::config::Settings;

pub async fn run(settings: Settings, settings_worker: bool) -> Result<()> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let store = crate::parts::open_store(&settings).await?;
    let blobs = crate::parts::open_blobs(&settings)?;
    let engine = crate::parts::load_engine(&settings).await?;
    let demo_key = if settings.demo {
        Some(
            crate::demo::ensure(
                store.as_ref(),
                blobs.as_ref(),
                Some(&engine),
                &settings.data_dir,
            )
            .await?,
        )
    } else {
        None
    };
    // Ready to serve (analysis threads started) before the address is announced.
    let state = AppState::new(
        store,
        blobs,
        engine,
        ApiConfig {
            json_body_limit: settings.json_body_limit,
            public_url: settings.public_url.clone(),
            fetch: fieldproof_fetch::FetchPolicy {
                allow: settings.allow_fetch_from.clone(),
                ..Default::default()
            },
            rate_limits: settings.rate_limits.clone(),
            analysis_workers: settings.analysis_threads,
            analysis_priority: settings.analysis_priority,
            analysis_step_aside: settings.analysis_step_aside,
        },
    );
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (setting `listen`)", settings.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %settings.data_dir.display(), "fieldproof listening");
    // Before announcing the address: a SIGTERM sent right after it must be handled.
    let signal = shutdown_signal();
    // One line on stdout that scripts and tests can wait for.
    println!("fieldproof listening on http://{addr}");
    if let Some(key) = demo_key {
        println!(
            "demo API key for admin@example.com is in {}\ntry:\n  curl -s http://{addr}/v0.2/work-orders/ -H \"Authorization: Token {key}\" -H 'Content-Type: application/json' -d '{{\"name\": \"WO-1\", \"work_order_types\": [\"installation\"], \"field_engineer_email\": \"john.doe@example.com\"}}'",
            crate::demo::key_file(&settings.data_dir).display()
        );
    }
    // One shutdown signal for the HTTP server and the in-process worker pool.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let worker = if settings_worker {
        let w = fieldproof_api::analysis_job::worker(
            state.clone(),
            fieldproof_jobs::unique_worker_id("serve"),
            fieldproof_jobs::WorkerConfig::default(),
        );
        let mut rx = stop_rx.clone();
        Some(tokio::spawn(async move {
            w.run(async move {
                let _ = rx.changed().await;
            })
            .await
        }))
    } else {
        None
    };
    let mut rx = stop_rx;
    tokio::spawn(async move {
        signal.await;
        let _ = stop_tx.send(true);
    });
    fieldproof_api::serve(listener, state, async move {
        let _ = rx.changed().await;
    })
    .await?;
    if let Some(w) = worker {
        let report = w.await?;
        tracing::info!(?report, "worker pool stopped");
    }
    tracing::info!("stopped");
    Ok(())
}

/// `fieldproof worker`: runs queued jobs (analyses submitted with `?async=true`) until SIGTERM or
/// SIGINT, then lets the jobs in hand finish.
pub async fn run_worker(settings: Settings, flags: WorkerFlags) -> Result<()> {
    let store = crate::parts::open_store(&settings).await?;
    let blobs = crate::parts::open_blobs(&settings)?;
    let engine = crate::parts::load_engine(&settings).await?;
    let analyses = ApiConfig {
        analysis_workers: settings.analysis_threads,
        analysis_priority: settings.analysis_priority,
        ..Default::default()
    };
    let state = AppState::new(store, blobs, engine, analyses);
    let config = fieldproof_jobs::WorkerConfig {
        concurrency: flags.concurrency.max(1),
        lease: std::time::Duration::from_secs(flags.lease_seconds.max(1)),
        poll_interval: std::time::Duration::from_millis(flags.poll_millis.max(10)),
        ..Default::default()
    };
    let id = fieldproof_jobs::unique_worker_id("worker");
    let signal = shutdown_signal();
    println!("fieldproof worker {id} running");
    let report = fieldproof_api::analysis_job::worker(state, id, config)
        .run(signal)
        .await;
    tracing::info!(?report, "worker stopped");
    Ok(())
}

#[derive(Debug, Clone, clap::Args)]
pub struct WorkerFlags {
    /// Jobs run at once.
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// Seconds a claimed job stays with this worker without news (it is extended while the job
    /// runs; after a crash the job goes to another worker once it expires).
    #[arg(long, default_value_t = 60)]
    pub lease_seconds: u64,
    /// How often an idle worker looks for jobs, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub poll_millis: u64,
}

/// Registers the SIGTERM and SIGINT handlers now (a signal that arrives before registration
/// would kill the process with its default action), and returns a future that completes on the
/// first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
                _ = int.recv() => tracing::info!("SIGINT: finishing in-flight requests"),
            },
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM/SIGINT");
                std::future::pending::<()>().await;
            }
        }
    }
}
