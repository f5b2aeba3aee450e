//! Folding analyses and corrections into a task's state, and parsing corrections.
//!
//! A state keeps the latest analysed value and the latest correction side by side; the value
//! that counts is the correction when there is one (corrections are definitive: a new analysis
//! does not undo them), else the analysed value. Conformity is judged on that value by the task's
//! rule.

use serde_json::Value;

use crate::app::Task;
use crate::metadata::json_kind;
use crate::score::TaskState;

/// The state after an analysis computed `analyzed` (`None`: the model could not decide) for
/// `task`, given its previous state.
pub fn after_analysis(
    task: &Task,
    previous: Option<&TaskState>,
    analyzed: Option<Value>,
) -> TaskState {
    let corrected = previous.and_then(|p| p.corrected_value.clone());
    judge(task, analyzed, corrected)
}

/// The state after a correction (`None` removes the correction and falls back to the analysis).
pub fn after_correction(
    task: &Task,
    previous: Option<&TaskState>,
    corrected: Option<Value>,
) -> TaskState {
    let analyzed = previous.and_then(|p| p.analyzed_value.clone());
    judge(task, analyzed, corrected)
}

fn judge(task: &Task, analyzed: Option<Value>, corrected: Option<Value>) -> TaskState {
    let value = corrected.clone().or_else(|| analyzed.clone());
    let (ok, message) = match &value {
        None => (
            false,
            format!("Not determined from this photo: {}", uncertain_hint(task)),
        ),
        Some(v) if task.conform.judge(v) => (true, "Conform.".to_string()),
        Some(v) => (
            false,
            format!(
                "Not conform: the value is {}; conform when {}.",
                show(v),
                task.conform.describe()
            ),
        ),
    };
    TaskState {
        analyzed_value: analyzed,
        corrected_value: corrected,
        value,
        is_conformity_validated: ok,
        message: Some(message),
    }
}

fn uncertain_hint(task: &Task) -> String {
    if task.binding.is_none() {
        "this checkpoint is set by a reviewer's correction.".to_string()
    } else {
        "retake the photo, closer and well lit.".to_string()
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

/// Parses a `corrected_value` for `task`: native JSON of the task's type, or a string that
/// converts to it (`"true"`, `"3"`). `null` removes the correction.
pub fn parse_correction(task: &Task, raw: &Value) -> Result<Option<Value>, String> {
    use crate::app::TaskType::*;
    if raw.is_null() {
        return Ok(None);
    }
    let bad = || {
        format!(
            "{} is not a valid {} value.",
            match raw {
                Value::String(s) => format!("{s:?}"),
                other => json_kind(other).to_string(),
            },
            task.kind.as_str()
        )
    };
    let value = match (task.kind, raw) {
        (Boolean, Value::Bool(b)) => Value::Bool(*b),
        (Boolean, Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Value::Bool(true),
            "false" | "0" | "no" => Value::Bool(false),
            _ => return Err(bad()),
        },
        (Number, Value::Number(n)) => Value::Number(n.clone()),
        (Number, Value::String(s)) => {
            let t = s.trim();
            if let Ok(i) = t.parse::<i64>() {
                Value::from(i)
            } else {
                match t.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                    Some(n) => Value::Number(n),
                    None => return Err(bad()),
                }
            }
        }
        (Text, Value::String(s)) => Value::String(s.clone()),
        (Text, Value::Number(n)) => Value::String(n.to_string()),
        (Enum, Value::String(s)) if task.values.contains(s) => Value::String(s.clone()),
        (Enum, Value::String(_)) => {
            return Err(format!("{} Allowed: {}.", bad(), task.values.join(", ")))
        }
        _ => return Err(bad()),
    };
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::parse_and_validate;
    use proptest::prelude::*;
    use serde_json::json;

    fn tasks() -> Vec<Task> {
        let v = parse_and_validate(include_str!("../../../demo/equipment-check.toml")).unwrap();
        v.tasks().map(|(_, t)| t.clone()).collect()
    }

    #[test]
    fn analysis_then_correction_then_analysis() {
        let t = tasks();
        let after = &t[1]; // equipment_after_intervention, conform when true
        let s1 = after_analysis(after, None, Some(json!(false)));
        assert!(!s1.is_conformity_validated);
        assert_eq!(s1.value, Some(json!(false)));
        assert!(s1
            .message
            .as_deref()
            .unwrap()
            .contains("conform when the value is true"));
        let s2 = after_correction(after, Some(&s1), Some(json!(true)));
        assert!(s2.is_conformity_validated);
        assert_eq!(
            (s2.analyzed_value.clone(), s2.corrected_value.clone()),
            (Some(json!(false)), Some(json!(true)))
        );
        // A later analysis updates the analysed value; the correction still decides.
        let s3 = after_analysis(after, Some(&s2), Some(json!(false)));
        assert_eq!(s3.value, Some(json!(true)));
        assert!(s3.is_conformity_validated);
        // Removing the correction falls back to the analysis.
        let s4 = after_correction(after, Some(&s3), None);
        assert_eq!(s4.value, Some(json!(false)));
        assert!(!s4.is_conformity_validated);
    }

    #[test]
    fn corrections_are_type_checked_and_strings_converted() {
        let t = tasks();
        let (boolean, number) = (&t[1], &t[2]);
        assert_eq!(
            parse_correction(boolean, &json!("true")).unwrap(),
            Some(json!(true))
        );
        assert_eq!(
            parse_correction(boolean, &json!("0")).unwrap(),
            Some(json!(false))
        );
        assert!(parse_correction(boolean, &json!("maybe")).is_err());
        assert!(parse_correction(boolean, &json!(1)).is_err());
        assert_eq!(
            parse_correction(number, &json!("3")).unwrap(),
            Some(json!(3))
        );
        assert_eq!(
            parse_correction(number, &json!(2.5)).unwrap(),
            Some(json!(2.5))
        );
        assert!(parse_correction(number, &json!("three")).is_err());
        assert!(parse_correction(number, &json!("NaN")).is_err());
        assert_eq!(parse_correction(number, &Value::Null).unwrap(), None);
    }

    proptest! {
        #[test]
        fn a_correction_always_decides(analysed in any::<Option<bool>>(), corrected in any::<bool>()) {
            let t = tasks();
            let s = after_analysis(&t[1], None, analysed.map(Value::Bool));
            let s = after_correction(&t[1], Some(&s), Some(Value::Bool(corrected)));
            prop_assert_eq!(s.is_conformity_validated, corrected);
            let s = after_analysis(&t[1], Some(&s), analysed.map(|b| Value::Bool(!b)));
            prop_assert_eq!(s.is_conformity_validated, corrected);
        }

        #[test]
        fn numeric_strings_convert_like_numbers(n in -1_000_000i64..1_000_000) {
            let t = tasks();
            prop_assert_eq!(parse_correction(&t[2], &json!(n.to_string())).unwrap(), Some(json!(n)));
        }
    }
}
