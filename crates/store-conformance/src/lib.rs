//! One behaviour suite that every Fieldproof store engine must pass, unchanged.
//!
//! The suite is the written form of what `fieldproof_store::Store` promises beyond its types:
//! site scoping of every call, which errors mean what, idempotent creates, version numbering,
//! list filters and order, that concurrent writes are each atomic and durable, and the job
//! queue's leases, retries and dead letters, and that every change made through the API (a work
//! order's, an analysis, a correction, a review) commits together with its audit event. An
//! engine's test implements [`Engine`] (how to make empty storage and open a store on it) and
//! calls [`run_all`]; see `crates/store-sqlite/tests/conformance.rs`.
//!
//! Each check runs on fresh storage, in a task of its own, and prints nothing; a failed check
//! panics with a message saying what was expected. [`run_all`] runs every check even when one
//! fails, then fails with the list of checks that did, so one engine bug does not hide another.
#![forbid(unsafe_code)]

mod analyses;
mod apps;
mod audit;
mod audit_analyses;
mod concurrency;
mod fixtures;
mod isolation;
mod jobs;
mod keys;
mod list_filters;
mod list_pages;
mod lookups;
mod people;
mod queued_analyses;
mod sites;
mod work_orders;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use async_trait::async_trait;
use fieldproof_store::Store;

/// How the suite gets stores from an engine.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Makes new, empty storage (a database file, a database) and returns what [`open`] takes to
    /// open it: a path, a URL. Panics when it cannot.
    ///
    /// [`open`]: Engine::open
    async fn create(&self) -> String;

    /// Opens a store on storage made by [`create`](Engine::create). Called again on the same
    /// storage, while the first store may still be open, to check that what was acknowledged
    /// is in the storage and not only in the first store's memory. Panics when it cannot.
    async fn open(&self, storage: &str) -> Arc<dyn Store>;
}

/// What a check gets: a store on fresh storage, and the means to open that storage again.
pub struct Ctx {
    pub store: Arc<dyn Store>,
    engine: Arc<dyn Engine>,
    storage: String,
}

impl Ctx {
    /// Replaces the store by a new one opened on the same storage.
    pub async fn reopen(&mut self) {
        self.store = self.engine.open(&self.storage).await;
    }

    /// A second store on the same storage, beside the first: what another process sees.
    pub async fn open_another(&self) -> Arc<dyn Store> {
        self.engine.open(&self.storage).await
    }
}

type Check = fn(Ctx) -> Pin<Box<dyn Future<Output = ()> + Send>>;

/// Every check, by name. A name is what a failure report shows and what
/// `FIELDPROOF_CONFORMANCE_ONLY` selects.
const CHECKS: &[(&str, Check)] = &[
    ("sites", |cx| Box::pin(sites::check(cx))),
    ("users", |cx| Box::pin(people::users(cx))),
    ("groups", |cx| Box::pin(people::groups(cx))),
    ("keys", |cx| Box::pin(keys::check(cx))),
    ("app_versions", |cx| Box::pin(apps::check(cx))),
    ("work_order_round_trip", |cx| {
        Box::pin(work_orders::round_trip(cx))
    }),
    ("work_order_update", |cx| Box::pin(work_orders::update(cx))),
    ("work_order_delete", |cx| Box::pin(work_orders::delete(cx))),
    ("idempotency", |cx| Box::pin(work_orders::idempotency(cx))),
    ("list_filters", |cx| Box::pin(list_filters::filters(cx))),
    ("list_order_and_pages", |cx| {
        Box::pin(list_pages::order_and_pages(cx))
    }),
    ("list_follows_writes", |cx| {
        Box::pin(list_pages::follows_writes(cx))
    }),
    ("lookups_of_unstorable_text", |cx| {
        Box::pin(lookups::check(cx))
    }),
    ("analyses", |cx| Box::pin(analyses::fold(cx))),
    ("cross_site_isolation", |cx| Box::pin(isolation::check(cx))),
    ("concurrent_creates", |cx| {
        Box::pin(concurrency::creates(cx))
    }),
    ("concurrent_same_idempotency_key", |cx| {
        Box::pin(concurrency::same_idempotency_key(cx))
    }),
    ("concurrent_updates", |cx| {
        Box::pin(concurrency::updates(cx))
    }),
    ("concurrent_analyses", |cx| {
        Box::pin(concurrency::analyses(cx))
    }),
    ("concurrent_publishes", |cx| {
        Box::pin(concurrency::publishes(cx))
    }),
    ("concurrent_same_email", |cx| {
        Box::pin(concurrency::same_email(cx))
    }),
    ("job_lifecycle", |cx| Box::pin(jobs::lifecycle(cx))),
    ("job_claim_order", |cx| Box::pin(jobs::claim_order(cx))),
    ("job_lease_takeover", |cx| {
        Box::pin(jobs::lease_takeover(cx))
    }),
    ("job_retries_and_dead_letters", |cx| {
        Box::pin(jobs::retries_and_dead_letters(cx))
    }),
    ("concurrent_job_claims", |cx| {
        Box::pin(jobs::concurrent_claims(cx))
    }),
    ("queue_analysis_is_atomic", |cx| {
        Box::pin(queued_analyses::queue_is_atomic(cx))
    }),
    ("record_analysis_is_idempotent", |cx| {
        Box::pin(queued_analyses::record_is_idempotent(cx))
    }),
    ("audit_trail", |cx| Box::pin(audit::check(cx))),
    ("audit_with_changes", |cx| Box::pin(audit::with_changes(cx))),
    ("audit_with_analyses", |cx| {
        Box::pin(audit_analyses::analyses_with_changes(cx))
    }),
];

/// The names of every check, in the order [`run_all`] runs them.
pub fn check_names() -> Vec<&'static str> {
    CHECKS.iter().map(|(name, _)| *name).collect()
}

/// Runs every check, each on fresh storage from `engine`, and panics listing the checks that
/// failed. When `FIELDPROOF_CONFORMANCE_ONLY` is set, runs only the checks whose name contains
/// it (to chase one failure).
pub async fn run_all(engine: Arc<dyn Engine>) {
    let only = std::env::var("FIELDPROOF_CONFORMANCE_ONLY").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (name, check) in CHECKS {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        ran += 1;
        let outcome = tokio::spawn({
            let engine = engine.clone();
            async move {
                let storage = engine.create().await;
                let store = engine.open(&storage).await;
                check(Ctx {
                    store,
                    engine,
                    storage,
                })
                .await
            }
        })
        .await;
        if let Err(e) = outcome {
            let why = if e.is_panic() {
                let payload = e.into_panic();
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked".into())
            } else {
                e.to_string()
            };
            failures.push(format!("- {name}: {why}"));
        }
    }
    assert!(
        ran > 0,
        "FIELDPROOF_CONFORMANCE_ONLY={only:?} selects no check"
    );
    if !failures.is_empty() {
        panic!(
            "{} of {ran} store conformance checks failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
