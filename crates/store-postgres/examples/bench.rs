//! Store benchmark: the same workload on the PostgreSQL and the SQLite engine, printed as a
//! table. Figures, not assertions: run it, read it, compare.
//!
//! ```text
//! FIELDPROOF_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo run --release -p fieldproof-store-postgres --example bench [-- <work orders>]
//! ```
//!
//! PostgreSQL runs in a throwaway database (dropped at the end, unless `FIELDPROOF_BENCH_KEEP` is
//! set, to look at query plans); SQLite in a temporary file. Without the variable only SQLite
//! runs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fieldproof_domain::app::parse_and_validate;
use fieldproof_domain::role::Role;
use fieldproof_store::*;
use fieldproof_store_postgres::testing::{TestDatabase, URL_VAR};
use fieldproof_store_postgres::PostgresStore;
use fieldproof_store_sqlite::SqliteStore;
use serde_json::json;
use tokio::task::JoinSet;
use uuid::Uuid;

const APP: &str = r#"
[application]
name = "bench"
[[task_groups]]
name = "after"
[[task_groups.tasks]]
name = "after_ok"
label = "Is it the equipment after?"
type = "Boolean"
conform = { equals = true }
computed_by = { model = "classifier", output = "logits", rule = "class_probability", class = 1 }
[[work_order_types]]
name = "repair"
task_groups = ["after"]
"#;

struct Figure {
    what: String,
    ops: usize,
    took: Duration,
}

impl Figure {
    fn print(&self, engine: &str) {
        let secs = self.took.as_secs_f64();
        println!(
            "{engine:<10} {:<44} {:>6} ops {:>9.0} ops/s {:>9.1} µs/op",
            self.what,
            self.ops,
            self.ops as f64 / secs,
            secs * 1e6 / self.ops as f64
        );
    }
}

async fn timed<F: std::future::Future<Output = ()>>(what: &str, ops: usize, f: F) -> Figure {
    let start = Instant::now();
    f.await;
    Figure {
        what: what.to_string(),
        ops,
        took: start.elapsed(),
    }
}

const REGIONS: [&str; 4] = ["North", "South", "East", "West"];

fn work_order(site: &Site, version: Uuid, i: usize) -> WorkOrderRow {
    let now = 1_700_000_000_000_000 + i as i64;
    WorkOrderRow {
        id: Uuid::new_v4(),
        site_id: site.id,
        app_version_id: version,
        name: format!("WO-{i:06}"),
        metadata: json!({"region": REGIONS[i % 4], "floor": i % 10})
            .as_object()
            .expect("object")
            .clone(),
        tags: vec![format!("batch-{}", i % 50), "bench".into()],
        parameters: None,
        types: vec!["repair".into()],
        field_engineer: None,
        user_group_ids: vec![],
        progress_score: 0.0,
        review_date: None,
        create_date: now,
        update_date: now,
        first_analysis_id: None,
        latest_analysis_id: None,
    }
}

/// An input and its analysis of the "after" group of a work order.
fn photo(
    site_id: Uuid,
    work_order_id: Uuid,
    version_id: Uuid,
    n: usize,
) -> (InputRow, AnalysisRow) {
    let (input_id, analysis_id) = (Uuid::new_v4(), Uuid::new_v4());
    let at = 1_900_000_000_000_000 + n as i64;
    let input = InputRow {
        id: input_id,
        site_id,
        work_order_id,
        task_group_name: "after".into(),
        kind: "image".into(),
        content_type: "image/jpeg".into(),
        blob_key: format!("inputs/{input_id}"),
        size: 250_000,
        sha256: "0".repeat(64),
        phash: Some(n as u64),
        status: "analysis_ok".into(),
        conformity_messages: vec![],
        analysis_id,
        create_date: at,
    };
    let analysis = AnalysisRow {
        id: analysis_id,
        site_id,
        work_order_id,
        input_id,
        task_group_name: "after".into(),
        app_version_id: version_id,
        user_id: Uuid::new_v4(),
        status: "analysis_ok".into(),
        conformity_messages: vec![],
        values: json!({"after_ok": n.is_multiple_of(2)})
            .as_object()
            .expect("object")
            .clone(),
        details: json!({"sharpness": 130.0, "brightness": 120.0}),
        model_hashes: json!({"classifier": "0".repeat(64)})
            .as_object()
            .expect("object")
            .clone(),
        create_date: at,
    };
    (input, analysis)
}

/// Runs `per_task` operations in each of `tasks` concurrent tasks; `op(store, task, n)`.
async fn concurrently<F, Fut>(store: &Arc<dyn Store>, tasks: usize, per_task: usize, op: F)
where
    F: Fn(Arc<dyn Store>, usize, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let mut set = JoinSet::new();
    for t in 0..tasks {
        let (store, op) = (store.clone(), op.clone());
        set.spawn(async move {
            for n in 0..per_task {
                op(store.clone(), t, n).await;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r.expect("a bench task panicked");
    }
}

/// Vacuums and refreshes PostgreSQL's planner statistics after the load, as autovacuum would
/// within a minute: reads measured on a just-loaded table would otherwise run plans made for an
/// empty one, and counts would visit every row's heap page.
async fn vacuum_analyze(url: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    client
        .batch_execute("VACUUM ANALYZE")
        .await
        .expect("VACUUM ANALYZE");
}

async fn run(store: Arc<dyn Store>, total: usize, analyze_url: Option<&str>) -> Vec<Figure> {
    let site = store
        .create_site(Site {
            id: Uuid::new_v4(),
            name: "bench".into(),
            current_app_version_id: None,
            create_date: 0,
        })
        .await
        .expect("site");
    let version = store
        .publish_app_version(site.id, parse_and_validate(APP).expect("app"), 0)
        .await
        .expect("publish");
    let user = store
        .create_user(User {
            id: Uuid::new_v4(),
            site_id: site.id,
            email: "bench@example.com".into(),
            first_name: "B".into(),
            last_name: "B".into(),
            role: Role::Manager,
            create_date: 0,
        })
        .await
        .expect("user");
    let key = store
        .create_key(ApiKey {
            id: Uuid::new_v4(),
            site_id: site.id,
            user_id: user.id,
            hash: "0".repeat(64),
            display_prefix: "fp_".into(),
            label: "bench".into(),
            create_date: 0,
            revoked_date: None,
        })
        .await
        .expect("key");
    let mut figures = Vec::new();
    let (site, vid) = (Arc::new(site), version.id);

    let one_by_one = total / 10;
    figures.push(
        timed("create work order, one at a time", one_by_one, async {
            for i in 0..one_by_one {
                store
                    .create_work_order(work_order(&site, vid, i), None, None)
                    .await
                    .expect("create");
            }
        })
        .await,
    );
    let tasks = 64;
    let per_task = (total - one_by_one) / tasks;
    let rest = per_task * tasks;
    let s = site.clone();
    figures.push(
        timed(
            &format!("create work order, {tasks} concurrent"),
            rest,
            async {
                concurrently(&store, tasks, per_task, move |st, t, n| {
                    let s = s.clone();
                    async move {
                        let i = one_by_one + t * per_task + n;
                        st.create_work_order(work_order(&s, vid, i), None, None)
                            .await
                            .expect("create");
                    }
                })
                .await
            },
        )
        .await,
    );
    if let Some(url) = analyze_url {
        vacuum_analyze(url).await;
    }
    let (count, page) = store
        .list_work_orders(site.id, &WorkOrderFilter::default(), 0, 1000)
        .await
        .expect("list");
    let ids: Arc<Vec<Uuid>> = Arc::new(page.iter().map(|w| w.id).collect());
    let site_id = site.id;

    let reads = 4000;
    let i2 = ids.clone();
    figures.push(
        timed("get work order, 16 concurrent", reads, async {
            concurrently(&store, 16, reads / 16, move |st, t, n| {
                let id = i2[(t * 997 + n * 31) % i2.len()];
                async move {
                    st.get_work_order(site_id, id)
                        .await
                        .expect("get")
                        .expect("found");
                }
            })
            .await
        })
        .await,
    );
    let hash = key.hash.clone();
    figures.push(
        timed("authenticate, 16 concurrent", reads, async {
            concurrently(&store, 16, reads / 16, move |st, _, _| {
                let hash = hash.clone();
                async move {
                    st.authenticate(&hash).await.expect("auth").expect("known");
                }
            })
            .await
        })
        .await,
    );
    let updates = 1600;
    let i3 = ids.clone();
    let v2 = version.clone();
    figures.push(
        timed("update work order, 16 concurrent", updates, async {
            concurrently(&store, 16, updates / 16, move |st, t, n| {
                let (id, v) = (i3[(t * 61 + n) % i3.len()], v2.clone());
                async move {
                    let changes = WorkOrderChanges {
                        tags: Some(vec![format!("t{n}")]),
                        now: 1_800_000_000_000_000,
                        ..Default::default()
                    };
                    st.update_work_order(site_id, id, changes, v, None)
                        .await
                        .expect("update");
                }
            })
            .await
        })
        .await,
    );
    let analyses = 1600;
    let (i4, v3) = (ids.clone(), version.clone());
    figures.push(
        timed("record analysis, 16 concurrent", analyses, async {
            concurrently(&store, 16, analyses / 16, move |st, t, n| {
                let (wo, v) = (i4[(t * 61 + n) % i4.len()], v3.clone());
                async move {
                    let (input, analysis) = photo(site_id, wo, v.id, n);
                    st.record_analysis(input, analysis, v, None)
                        .await
                        .expect("analysis");
                }
            })
            .await
        })
        .await,
    );
    let lists: [(&str, WorkOrderFilter); 4] = [
        (
            "list first page of 20, no filter",
            WorkOrderFilter::default(),
        ),
        (
            "list first page of 20, one tag (2%)",
            WorkOrderFilter {
                tags: vec!["batch-7".into()],
                ..Default::default()
            },
        ),
        (
            "list first page of 20, metadata + tag",
            WorkOrderFilter {
                tags: vec!["bench".into()],
                metadata: vec![("region".into(), "East".into())],
                ..Default::default()
            },
        ),
        ("list page 100 of 20, no filter", WorkOrderFilter::default()),
    ];
    for (i, (what, filter)) in lists.into_iter().enumerate() {
        let offset = if i == 3 { 2000 } else { 0 };
        let n = 200;
        figures.push(
            timed(what, n, async {
                for _ in 0..n {
                    store
                        .list_work_orders(site_id, &filter, offset, 20)
                        .await
                        .expect("list");
                }
            })
            .await,
        );
    }
    assert_eq!(count as usize, one_by_one + rest, "every create is listed");
    figures
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let total: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("a number of work orders"))
        .unwrap_or(10_000);
    println!("{total} work orders; dev machine, loopback, durable commits on both engines\n");

    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&dir.path().join("bench.sqlite")).expect("sqlite"));
    for f in run(sqlite, total, None).await {
        f.print("sqlite");
    }
    println!();

    let Ok(server) = std::env::var(URL_VAR) else {
        println!("PostgreSQL skipped: set {URL_VAR}");
        return;
    };
    let db = TestDatabase::create(&server).await.expect("test database");
    let pg: Arc<dyn Store> = Arc::new(PostgresStore::connect(db.url()).await.expect("postgres"));
    for f in run(pg.clone(), total, Some(db.url())).await {
        f.print("postgres");
    }
    drop(pg);
    if std::env::var("FIELDPROOF_BENCH_KEEP").is_ok() {
        // To look at query plans afterwards; drop it by hand.
        println!("\nkept database {}", db.name());
        std::mem::forget(db);
    } else {
        db.drop_database().await.expect("drop");
    }
}
