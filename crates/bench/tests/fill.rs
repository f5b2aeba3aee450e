//! The generated data is what the real store lists and retrieves: counts, newest-first pages and
//! ids agree with the generator's own rows, on SQLite and (when a server is given) PostgreSQL.
//! This is what keeps the fill, which writes the engines' schemas directly, from drifting.

use std::sync::Arc;

use fieldproof_bench::fill::data::{generate, work_order_id, Plan};
use fieldproof_bench::fill::{postgres, sqlite};
use fieldproof_domain::app::parse_and_validate;
use fieldproof_store::{Site, Store, WorkOrderFilter};
use uuid::Uuid;

const APP: &str = r#"
[application]
name = "fill-test"

[[metadata]]
name = "region"
type = "text"

[[task_groups]]
name = "after"
display_name = "After"
order = 0

[[task_groups.tasks]]
name = "after_ok"
label = "Is it done?"
type = "Boolean"
conform = { equals = true }

[[task_groups.tasks]]
name = "after_damage"
label = "Number of degradations"
type = "Number"
conform = { max = 0 }

[[work_order_types]]
name = "installation"
task_groups = ["after"]

[[work_order_types]]
name = "maintenance"
task_groups = ["after"]

[[work_order_types]]
name = "one-equipment"
task_groups = ["after"]
"#;

const ROWS: u64 = 3_000;

async fn plan(store: &dyn Store) -> Plan {
    let site = store
        .create_site(Site {
            id: Uuid::new_v4(),
            name: "fill".into(),
            current_app_version_id: None,
            create_date: 0,
        })
        .await
        .unwrap();
    let version = store
        .publish_app_version(site.id, parse_and_validate(APP).unwrap(), 0)
        .await
        .unwrap();
    Plan {
        rows: ROWS,
        seed: 11,
        site_id: site.id,
        version,
        engineers: Vec::new(),
    }
}

/// Every filter shape the benchmark asks for, checked against the generator.
async fn check(store: &dyn Store, plan: &Plan) {
    let rows: Vec<_> = (0..ROWS).map(|i| generate(plan, i).row).collect();
    let filters = [
        (vec!["campaign-3"], vec![]),
        (vec![], vec![("region", "Lyon")]),
        (vec!["campaign-3"], vec![("region", "Lyon")]),
        (
            vec!["contract-2", "priority-high"],
            vec![("region", "North")],
        ),
        (vec![], vec![]),
        (vec!["no-such-tag"], vec![]),
    ];
    for (tags, metadata) in filters {
        let filter = WorkOrderFilter {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let mut expected: Vec<_> = rows
            .iter()
            .filter(|w| tags.iter().all(|t| w.tags.iter().any(|x| x == t)))
            .filter(|w| metadata.iter().all(|(k, v)| w.metadata[*k] == *v))
            .collect();
        expected.sort_by_key(|w| std::cmp::Reverse((w.create_date, w.id.to_string())));
        let (count, page) = store
            .list_work_orders(plan.site_id, &filter, 5, 20)
            .await
            .unwrap();
        assert_eq!(
            count,
            expected.len() as u64,
            "count for {tags:?} {metadata:?}"
        );
        let want: Vec<Uuid> = expected.iter().skip(5).take(20).map(|w| w.id).collect();
        let got: Vec<Uuid> = page.iter().map(|w| w.id).collect();
        assert_eq!(got, want, "page for {tags:?} {metadata:?}");
    }
    let i = ROWS / 2;
    let wo = store
        .get_work_order(plan.site_id, work_order_id(plan.seed, plan.rows, i))
        .await
        .unwrap()
        .expect("a generated id is found");
    assert_eq!(wo, rows[i as usize]);
    let states = store.task_states(plan.site_id, wo.id).await.unwrap();
    assert_eq!(states.len(), generate(plan, i).states.len());
}

#[tokio::test]
async fn sqlite_fill_is_what_the_store_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fill.sqlite");
    let plan = {
        let store = fieldproof_store_sqlite::SqliteStore::open(&path).unwrap();
        plan(&store).await
    };
    sqlite::fill(&path, &plan, &|_| {}).unwrap();
    let store = fieldproof_store_sqlite::SqliteStore::open(&path).unwrap();
    check(&store, &plan).await;
}

#[tokio::test]
async fn postgres_fill_is_what_the_store_reads() {
    use fieldproof_store_postgres::{testing, PostgresStore};
    let Some(server) = testing::server_url_from_env() else {
        eprintln!("skipped: set {} to run on PostgreSQL", testing::URL_VAR);
        return;
    };
    let db = testing::TestDatabase::create(&server).await.unwrap();
    let store = Arc::new(PostgresStore::connect(db.url()).await.unwrap());
    let plan = plan(store.as_ref()).await;
    postgres::fill(db.url(), &plan, &|_| {}).await.unwrap();
    check(store.as_ref(), &plan).await;
    drop(store);
    db.drop_database().await.unwrap();
}
