//! `fieldproof serve`: open the store, set up the demo if asked, serve until SIGTERM or SIGINT,
//! then stop taking connections and let in-flight requests finish.

use anyhow::{Context, Result};
use fieldproof_api::{ApiConfig, AppState};
use tokio::net::TcpListener;

use crate::config::Settings;

pub async fn run(settings: Settings) -> Result<()> {
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
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {} (setting `listen`)", settings.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %settings.data_dir.display(), "fieldproof listening");
    // One line on stdout that scripts and tests can wait for.
    println!("fieldproof listening on http://{addr}");
    if let Some(key) = demo_key {
        println!(
            "demo API key for admin@example.com is in {}\ntry:\n  curl -s http://{addr}/v0.2/work-orders/ -H \"Authorization: Token {key}\" -H 'Content-Type: application/json' -d '{{\"name\": \"WO-1\", \"work_order_types\": [\"installation\"], \"field_engineer_email\": \"john.doe@example.com\"}}'",
            crate::demo::key_file(&settings.data_dir).display()
        );
    }
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
            ..Default::default()
        },
    );
    fieldproof_api::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGTERM");
            std::future::pending::<()>().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: finishing in-flight requests"),
    }
}
