//! Realistic generated work orders, the same for both engines: row `i` of seed `s` is always the
//! same work order, so the load generator can retrieve any of them by recomputing its id.
//!
//! Shapes (per million): creation dates spread over a year, oldest first; one campaign tag of
//! 200 (0.5% each), one contract tag of 20 (5% each), `priority-high` on 10%, a customer tag on
//! 30% (10,000 values); metadata `region` (12 values), `intervention_date`, `customer_ref`
//! (100,000 values) and the undeclared `created_with`; a type (installation 50%, maintenance
//! 35%, one-equipment 15%); an engineer on 90%; task states on 60% (each task validated with
//! probability 0.8), the progress score computed from them by the domain; a review on 20%.

use std::collections::HashMap;

use fieldproof_domain::activation::active_tasks;
use fieldproof_domain::app::{AppVersion, TaskType};
use fieldproof_domain::score::{progress_score, TaskState};
use fieldproof_store::{FieldEngineer, WorkOrderRow};
use serde_json::{json, Map, Value};
use uuid::Uuid;

use crate::workload::{customer_ref, pick_type, Rng, CAMPAIGNS, CONTRACTS, CUSTOMERS, REGIONS};

/// 2025-01-01T00:00:00Z in microseconds: the oldest generated work order.
pub const FIRST_DATE: i64 = 1_735_689_600_000_000;
/// The generated creation dates span a year.
pub const SPAN: i64 = 365 * 24 * 3600 * 1_000_000;

/// What the generator needs from the site it fills.
#[derive(Debug, Clone)]
pub struct Plan {
    pub rows: u64,
    pub seed: u64,
    pub site_id: Uuid,
    pub version: std::sync::Arc<AppVersion>,
    /// Users work orders may be assigned to.
    pub engineers: Vec<FieldEngineer>,
}

/// One generated work order and the task states it has.
pub struct Generated {
    pub row: WorkOrderRow,
    pub states: Vec<(String, TaskState)>,
}

/// The id of row `i` of `rows`: a version 7 UUID as the server makes them
/// (`fieldproof_store::new_id`), the row's create date in milliseconds then 74 bits derived from
/// the seed, so ids grow with create dates as they do on a live server.
pub fn work_order_id(seed: u64, rows: u64, i: u64) -> Uuid {
    let mut rng = Rng::new(seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407));
    let bytes = ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128;
    let mut random = [0u8; 10];
    random.copy_from_slice(&bytes.to_be_bytes()[..10]);
    let millis = create_date(seed, rows, i).div_euclid(1000) as u64;
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

/// The generator of row `i`'s values; its first draw is the create date.
fn row_rng(seed: u64, i: u64) -> Rng {
    Rng::new(seed.wrapping_add(i.wrapping_mul(0x9E37_79B9)))
}

/// Create dates grow with the row number over `SPAN`, with some jitter within each row's step.
fn next_create_date(rng: &mut Rng, rows: u64, i: u64) -> i64 {
    let step = SPAN / rows.max(1) as i64;
    FIRST_DATE + i as i64 * step + rng.below(step.max(1) as u64) as i64
}

fn create_date(seed: u64, rows: u64, i: u64) -> i64 {
    next_create_date(&mut row_rng(seed, i), rows, i)
}

/// `MM-DD-YYYY` of a time in microseconds, as the demo's dispatcher writes dates.
fn us_date(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{m:02}-{d:02}-{y}")
}

pub fn generate(plan: &Plan, i: u64) -> Generated {
    let mut rng = row_rng(plan.seed, i);
    let create_date = next_create_date(&mut rng, plan.rows, i);
    let mut tags = vec![
        format!("campaign-{}", rng.below(CAMPAIGNS)),
        format!("contract-{}", rng.below(CONTRACTS)),
    ];
    if rng.chance(0.1) {
        tags.push("priority-high".into());
    }
    if rng.chance(0.3) {
        tags.push(format!("customer-{}", rng.below(10_000)));
    }
    let mut metadata = Map::new();
    metadata.insert("region".into(), json!(rng.pick(&REGIONS)));
    metadata.insert("intervention_date".into(), json!(us_date(create_date)));
    metadata.insert(
        "customer_ref".into(),
        json!(customer_ref(rng.below(CUSTOMERS))),
    );
    metadata.insert("created_with".into(), json!("fieldproof-bench"));
    let types = vec![pick_type(&mut rng).to_string()];
    let field_engineer = if rng.chance(0.9) && !plan.engineers.is_empty() {
        Some(rng.pick(&plan.engineers).clone())
    } else {
        None
    };
    let active = active_tasks(&plan.version, &types);
    let mut states = Vec::new();
    if rng.chance(0.6) {
        for (_, task) in &active {
            let ok = rng.chance(0.8);
            let value = match task.kind {
                TaskType::Number => json!(if ok { 0 } else { 1 + rng.below(3) }),
                _ => Value::Bool(ok),
            };
            states.push((
                task.name.clone(),
                TaskState {
                    analyzed_value: Some(value.clone()),
                    corrected_value: None,
                    value: Some(value),
                    is_conformity_validated: ok,
                    message: (!ok).then(|| "Not conform.".to_string()),
                },
            ));
        }
    }
    let by_name: HashMap<String, TaskState> = states.iter().cloned().collect();
    let review_date = rng
        .chance(0.2)
        .then(|| create_date + 3_600_000_000 + rng.below(86_400_000_000) as i64);
    Generated {
        row: WorkOrderRow {
            id: work_order_id(plan.seed, plan.rows, i),
            site_id: plan.site_id,
            app_version_id: plan.version.id,
            name: format!("WO-{i:07}"),
            metadata,
            tags,
            parameters: None,
            progress_score: progress_score(&active, &by_name),
            types,
            field_engineer,
            user_group_ids: Vec::new(),
            review_date,
            create_date,
            update_date: review_date.unwrap_or(create_date),
            first_analysis_id: None,
            latest_analysis_id: None,
        },
        states,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_written_month_first() {
        assert_eq!(us_date(FIRST_DATE), "01-01-2025");
        assert_eq!(us_date(1_685_362_331_000_000), "05-29-2023");
        assert_eq!(us_date(951_782_400_000_000), "02-29-2000");
    }

    #[test]
    fn ids_are_stable_distinct_v7_in_row_order() {
        assert_eq!(work_order_id(1, 100, 5), work_order_id(1, 100, 5));
        assert_ne!(work_order_id(1, 100, 5), work_order_id(1, 100, 6));
        assert_ne!(work_order_id(1, 100, 5), work_order_id(2, 100, 5));
        assert_eq!(work_order_id(1, 100, 5).get_version_num(), 7);
        assert!(
            work_order_id(1, 100, 5) < work_order_id(1, 100, 90),
            "ids grow with rows"
        );
    }
}
