//! Filling a PostgreSQL database (already migrated by the store) with generated work orders,
//! straight through the engine's schema with binary `COPY`: the same rows, `terms` and task
//! states `store-postgres` writes. Then `VACUUM ANALYZE`, as autovacuum would do on its own some
//! time after a bulk load, so the planner and the visibility map know the data.

use std::pin::pin;

use anyhow::{Context, Result};
use fieldproof_domain::metadata::index_text;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{Json, ToSql, Type};
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use super::data::{generate, Plan};
use super::Filled;

/// Rows per `COPY` (one transaction each).
const BATCH: u64 = 50_000;

/// A list-filter term, exactly as `store-postgres` writes it (`[kind, key, value]` as JSON).
pub fn term(kind: &str, key: &str, value: &str) -> String {
    serde_json::to_string(&(kind, key, value)).expect("strings serialise")
}

pub async fn fill(url: &str, plan: &Plan, progress: &dyn Fn(u64)) -> Result<Filled> {
    let started = std::time::Instant::now();
    let client = connect(url).await?;
    // Bulk load: no need to wait for each batch's commit record to reach the disk.
    client
        .batch_execute("SET synchronous_commit TO off")
        .await?;
    let mut done = 0;
    while done < plan.rows {
        let end = (done + BATCH).min(plan.rows);
        let generated: Vec<_> = (done..end).map(|i| generate(plan, i)).collect();
        copy_work_orders(&client, &generated).await?;
        copy_states(&client, &generated).await?;
        done = end;
        progress(done);
    }
    client.batch_execute("VACUUM ANALYZE").await?;
    Ok(Filled {
        rows: plan.rows,
        took: started.elapsed(),
    })
}

async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .context("cannot connect to PostgreSQL to fill it")?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "fill connection closed");
        }
    });
    Ok(client)
}

async fn copy_work_orders(client: &Client, generated: &[super::data::Generated]) -> Result<()> {
    let sink = client
        .copy_in(
            "COPY work_orders (id, site_id, app_version_id, name, metadata, tags, types,
                field_engineer_user_id, field_engineer_email, field_engineer_name,
                user_group_ids, progress_score, review_date, create_date, update_date, terms)
             FROM STDIN BINARY",
        )
        .await?;
    let types = [
        Type::UUID,
        Type::UUID,
        Type::UUID,
        Type::TEXT,
        Type::JSON,
        Type::JSON,
        Type::JSON,
        Type::UUID,
        Type::TEXT,
        Type::TEXT,
        Type::UUID_ARRAY,
        Type::FLOAT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::TEXT_ARRAY,
    ];
    let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
    let no_groups: Vec<Uuid> = Vec::new();
    for g in generated {
        let w = &g.row;
        let e = w.field_engineer.as_ref();
        let mut terms: Vec<String> = w.tags.iter().map(|t| term("t", "", t)).collect();
        terms.extend(w.types.iter().map(|t| term("y", "", t)));
        terms.extend(
            w.metadata
                .iter()
                .filter_map(|(k, v)| index_text(v).map(|text| term("m", k, &text))),
        );
        let values: [&(dyn ToSql + Sync); 16] = [
            &w.id,
            &w.site_id,
            &w.app_version_id,
            &w.name,
            &Json(&w.metadata),
            &Json(&w.tags),
            &Json(&w.types),
            &e.map(|e| e.user_id),
            &e.map(|e| e.email.as_str()),
            &e.map(|e| e.name.as_str()),
            &no_groups,
            &w.progress_score,
            &w.review_date,
            &w.create_date,
            &w.update_date,
            &terms,
        ];
        writer.as_mut().write(&values).await?;
    }
    writer.finish().await?;
    Ok(())
}

async fn copy_states(client: &Client, generated: &[super::data::Generated]) -> Result<()> {
    let sink = client
        .copy_in("COPY task_states (work_order_id, task_name, state) FROM STDIN BINARY")
        .await?;
    let mut writer = pin!(BinaryCopyInWriter::new(
        sink,
        &[Type::UUID, Type::TEXT, Type::JSON]
    ));
    for g in generated {
        for (name, state) in &g.states {
            writer
                .as_mut()
                .write(&[&g.row.id, name, &Json(state)])
                .await?;
        }
    }
    writer.finish().await?;
    Ok(())
}

/// `pg_database_size` of the database at `url`, in bytes.
pub async fn size_on_disk(url: &str) -> Result<u64> {
    let client = connect(url).await?;
    let n: i64 = client
        .query_one("SELECT pg_database_size(current_database())", &[])
        .await?
        .get(0);
    Ok(n as u64)
}
