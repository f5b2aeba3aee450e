//! Task states and the progress score.
//!
//! `progress_score` = 100 × (active tasks counted in the conformity score whose state is
//! conformity-validated) ÷ (active tasks counted in the conformity score), rounded to two
//! decimals; 0 when no active task is counted. A task with no state yet is not validated.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::app::{Task, TaskGroup};

/// The current state of one task of a work order, folded from its analyses and corrections.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub analyzed_value: Option<Value>,
    pub corrected_value: Option<Value>,
    /// The corrected value if any, else the analysed one.
    pub value: Option<Value>,
    pub is_conformity_validated: bool,
    pub message: Option<String>,
}

/// The progress score of a work order from its active tasks and the states it has, keyed by task
/// name.
pub fn progress_score(active: &[(&TaskGroup, &Task)], states: &HashMap<String, TaskState>) -> f64 {
    let counted: Vec<_> = active.iter().filter(|(_, t)| t.counts_in_score).collect();
    if counted.is_empty() {
        return 0.0;
    }
    let validated = counted
        .iter()
        .filter(|(_, t)| {
            states
                .get(&t.name)
                .is_some_and(|s| s.is_conformity_validated)
        })
        .count();
    let score = 100.0 * validated as f64 / counted.len() as f64;
    (score * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::active_tasks;
    use crate::app::parse_and_validate;
    use proptest::prelude::*;

    fn state(ok: bool) -> TaskState {
        TaskState {
            analyzed_value: Some(Value::Bool(ok)),
            corrected_value: None,
            value: Some(Value::Bool(ok)),
            is_conformity_validated: ok,
            message: None,
        }
    }

    #[test]
    fn new_work_orders_score_zero_and_validated_tasks_count() {
        let v = parse_and_validate(include_str!("../../../demo/equipment-check.toml")).unwrap();
        let active = active_tasks(&v, &[]);
        let mut states = HashMap::new();
        assert_eq!(progress_score(&active, &states), 0.0);
        states.insert("equipment_after_intervention".to_string(), state(true));
        assert_eq!(progress_score(&active, &states), 33.33);
        states.insert("equipment_before_intervention".to_string(), state(false));
        assert_eq!(progress_score(&active, &states), 33.33);
        states.insert("equipment_before_intervention".to_string(), state(true));
        states.insert(
            "equipment_after_intervention_degradations".to_string(),
            state(true),
        );
        assert_eq!(progress_score(&active, &states), 100.0);
    }

    proptest! {
        #[test]
        fn the_score_stays_within_0_and_100(flags in proptest::collection::vec(any::<Option<bool>>(), 3)) {
            let v = parse_and_validate(include_str!("../../../demo/equipment-check.toml")).unwrap();
            let active = active_tasks(&v, &[]);
            let mut states = HashMap::new();
            for ((_, t), f) in active.iter().zip(&flags) {
                if let Some(ok) = f { states.insert(t.name.clone(), state(*ok)); }
            }
            let s = progress_score(&active, &states);
            prop_assert!((0.0..=100.0).contains(&s));
            let validated = flags.iter().filter(|f| **f == Some(true)).count();
            prop_assert_eq!(s == 100.0, validated == 3);
            prop_assert_eq!(s == 0.0, validated == 0);
        }
    }
}
