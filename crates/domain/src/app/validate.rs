//! From the text of an application file to an [`AppVersion`], or the list of every mistake in it.

use std::collections::HashSet;
use std::fmt;

use serde_json::Value;
use uuid::Uuid;

use super::file::{ApplicationFile, BindingEntry, ConformEntry, TaskEntry};
use super::version::*;
use crate::metadata::{MetadataField, MetadataType};
use crate::names::check_slug;

/// One mistake in an application file: where (`task_groups[1].tasks[0].type`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppFileError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for AppFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

struct Errors(Vec<AppFileError>);

impl Errors {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(AppFileError {
            path: path.into(),
            message: message.into(),
        });
    }

    fn slug(&mut self, path: String, name: &str) {
        if let Err(m) = check_slug(name) {
            self.add(path, m);
        }
    }
}

/// Parses and validates an application file. On success the version has fresh ids and
/// `version: 0`: the store gives it its number when it is published.
pub fn parse_and_validate(text: &str) -> Result<AppVersion, Vec<AppFileError>> {
    let file: ApplicationFile = toml::from_str(text).map_err(|e| {
        vec![AppFileError {
            path: String::new(),
            message: format!("not a valid application file: {}", e.to_string().trim_end()),
        }]
    })?;
    let mut errors = Errors(Vec::new());
    let version = build(&file, &mut errors);
    if errors.0.is_empty() {
        Ok(version)
    } else {
        Err(errors.0)
    }
}

fn build(file: &ApplicationFile, errors: &mut Errors) -> AppVersion {
    errors.slug("application.name".into(), &file.application.name);
    let metadata = build_metadata(file, errors);
    let mut task_groups = build_task_groups(file, errors);
    task_groups.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.name.cmp(&b.name)));
    let work_order_types = build_types(file, &task_groups, errors);
    if task_groups.is_empty() {
        errors.add(
            "task_groups",
            "an application needs at least one task group ([[task_groups]])",
        );
    }
    AppVersion {
        id: Uuid::new_v4(),
        app_name: file.application.name.clone(),
        version: 0,
        description: file.application.description.clone(),
        metadata,
        task_groups,
        work_order_types,
    }
}

fn build_metadata(file: &ApplicationFile, errors: &mut Errors) -> Vec<MetadataField> {
    let mut seen = HashSet::new();
    let mut fields = Vec::new();
    for (i, entry) in file.metadata.iter().enumerate() {
        let at = format!("metadata[{i}]");
        errors.slug(format!("{at}.name"), &entry.name);
        if !seen.insert(entry.name.as_str()) {
            errors.add(
                format!("{at}.name"),
                format!("metadata key {:?} is declared twice", entry.name),
            );
        }
        let Some(kind) = MetadataType::parse(&entry.kind) else {
            errors.add(
                format!("{at}.type"),
                format!(
                    "unknown metadata type {:?}; expected text, number or boolean",
                    entry.kind
                ),
            );
            continue;
        };
        fields.push(MetadataField {
            name: entry.name.clone(),
            kind,
            required: entry.required,
            description: entry.description.clone(),
        });
    }
    fields
}

fn build_task_groups(file: &ApplicationFile, errors: &mut Errors) -> Vec<TaskGroup> {
    let mut group_names = HashSet::new();
    let mut task_names = HashSet::new();
    let mut groups = Vec::new();
    for (gi, g) in file.task_groups.iter().enumerate() {
        let at = format!("task_groups[{gi}]");
        errors.slug(format!("{at}.name"), &g.name);
        if !group_names.insert(g.name.as_str()) {
            errors.add(
                format!("{at}.name"),
                format!("task group {:?} is declared twice", g.name),
            );
        }
        if g.tasks.is_empty() {
            errors.add(
                format!("{at}.tasks"),
                format!(
                    "task group {:?} has no task; add at least one [[task_groups.tasks]]",
                    g.name
                ),
            );
        }
        let mut tasks = Vec::new();
        for (ti, t) in g.tasks.iter().enumerate() {
            let tat = format!("{at}.tasks[{ti}]");
            if !task_names.insert(t.name.as_str()) {
                errors.add(
                    format!("{tat}.name"),
                    format!(
                        "task {:?} is declared twice (task names are unique in an application)",
                        t.name
                    ),
                );
            }
            if let Some(task) = build_task(t, &tat, errors) {
                tasks.push(task);
            }
        }
        let checks = build_checks(g, &at, errors);
        let examples: Vec<ExamplePhoto> = g
            .examples
            .iter()
            .enumerate()
            .map(|(ei, e)| {
                let eat = format!("{at}.examples[{ei}]");
                if e.file.trim().is_empty() {
                    errors.add(format!("{eat}.file"), "must name a photo file");
                }
                let mut values = serde_json::Map::new();
                for (task_name, v) in &e.values {
                    match tasks.iter().find(|t| &t.name == task_name) {
                        None => errors.add(
                            format!("{eat}.values.{task_name}"),
                            format!("task group {:?} has no task {task_name:?}", g.name),
                        ),
                        Some(task) => match example_value(task, v) {
                            Ok(v) => {
                                values.insert(task_name.clone(), v);
                            }
                            Err(m) => errors.add(format!("{eat}.values.{task_name}"), m),
                        },
                    }
                }
                ExamplePhoto {
                    file: e.file.clone(),
                    values,
                }
            })
            .collect();
        for (ti, task) in tasks.iter().enumerate() {
            let Some(b) = &task.binding else { continue };
            if b.rule != BindingRule::NearestExample {
                continue;
            }
            let labelled: Vec<&Value> = examples
                .iter()
                .filter_map(|e: &ExamplePhoto| e.values.get(&task.name))
                .collect();
            let distinct = labelled.iter().fold(Vec::<&Value>::new(), |mut acc, v| {
                if !acc.contains(v) {
                    acc.push(v);
                }
                acc
            });
            if distinct.len() < 2 {
                errors.add(
                    format!("{at}.tasks[{ti}].computed_by"),
                    format!(
                        "nearest_example needs example photos of this group labelled with at least two different values of {:?}; found {}",
                        task.name,
                        distinct.len()
                    ),
                );
            }
        }
        groups.push(TaskGroup {
            id: Uuid::new_v4(),
            name: g.name.clone(),
            display_name: g.display_name.clone().unwrap_or_else(|| g.name.clone()),
            description: g.description.clone(),
            order: g.order.unwrap_or(gi as i64),
            examples,
            checks,
            tasks,
        });
    }
    groups
}

fn example_value(task: &Task, v: &toml::Value) -> Result<Value, String> {
    let ok = match (task.kind, v) {
        (TaskType::Boolean, toml::Value::Boolean(b)) => Some(Value::Bool(*b)),
        (TaskType::Number, toml::Value::Integer(i)) => Some(Value::from(*i)),
        (TaskType::Number, toml::Value::Float(f)) => {
            serde_json::Number::from_f64(*f).map(Value::Number)
        }
        (TaskType::Text, toml::Value::String(s)) => Some(Value::String(s.clone())),
        (TaskType::Enum, toml::Value::String(s)) if task.values.contains(s) => {
            Some(Value::String(s.clone()))
        }
        _ => None,
    };
    ok.ok_or_else(|| {
        format!(
            "{v} is not a valid value of {} task {:?}",
            task.kind.as_str(),
            task.name
        )
    })
}

fn build_task(t: &TaskEntry, at: &str, errors: &mut Errors) -> Option<Task> {
    errors.slug(format!("{at}.name"), &t.name);
    if t.label.trim().is_empty() {
        errors.add(
            format!("{at}.label"),
            "must not be empty: it is the question shown to the field worker",
        );
    }
    let Some(kind) = TaskType::parse(&t.kind) else {
        errors.add(
            format!("{at}.type"),
            format!(
                "unknown task type {:?}; expected one of {}",
                t.kind,
                TaskType::NAMES
            ),
        );
        return None;
    };
    match kind {
        TaskType::Enum if t.values.is_empty() => errors.add(
            format!("{at}.values"),
            "an Enum task must list its allowed values",
        ),
        TaskType::Enum => {}
        _ if !t.values.is_empty() => errors.add(
            format!("{at}.values"),
            format!(
                "only Enum tasks take values; this task is {}",
                kind.as_str()
            ),
        ),
        _ => {}
    }
    let conform = build_conform(
        kind,
        &t.conform,
        &t.values,
        &format!("{at}.conform"),
        errors,
    )?;
    let binding = t
        .computed_by
        .as_ref()
        .and_then(|b| build_binding(kind, b, &t.values, &format!("{at}.computed_by"), errors));
    Some(Task {
        id: Uuid::new_v4(),
        name: t.name.clone(),
        label: t.label.clone(),
        kind,
        counts_in_score: t.counts_in_score,
        only_for_dashboard: t.only_for_dashboard,
        values: t.values.clone(),
        conform,
        binding,
    })
}

fn build_binding(
    kind: TaskType,
    b: &BindingEntry,
    values: &[String],
    at: &str,
    errors: &mut Errors,
) -> Option<Binding> {
    if b.model.trim().is_empty() || b.output.trim().is_empty() {
        errors.add(
            at,
            "name the model and its output: { model = \"...\", output = \"...\", rule = \"...\" }",
        );
        return None;
    }
    let mut unused = |key: &str, present: bool| {
        if present {
            errors.add(
                format!("{at}.{key}"),
                format!("{key} does not apply to rule {:?}", b.rule),
            );
        }
    };
    let rule = match b.rule.as_str() {
        "nearest_example" => {
            unused("class", b.class.is_some());
            unused("threshold", b.threshold.is_some());
            unused("classes", b.classes.is_some());
            unused("min_confidence", b.min_confidence.is_some());
            BindingRule::NearestExample
        }
        "class_probability" => {
            unused("classes", b.classes.is_some());
            unused("min_confidence", b.min_confidence.is_some());
            let threshold = b.threshold.unwrap_or(0.5);
            if !(0.0..=1.0).contains(&threshold) {
                errors.add(format!("{at}.threshold"), "a probability from 0 to 1");
            }
            let Some(class) = b.class else {
                errors.add(
                    format!("{at}.class"),
                    "class_probability needs the class index (class = 409)",
                );
                return None;
            };
            BindingRule::ClassProbability { class, threshold }
        }
        "count" | "regression" => {
            unused("class", b.class.is_some());
            unused("threshold", b.threshold.is_some());
            unused("classes", b.classes.is_some());
            unused("min_confidence", b.min_confidence.is_some());
            if b.rule == "count" {
                BindingRule::Count
            } else {
                BindingRule::Regression
            }
        }
        "top_class" => {
            unused("class", b.class.is_some());
            unused("threshold", b.threshold.is_some());
            let classes = b.classes.clone().unwrap_or_else(|| values.to_vec());
            for c in classes.iter().filter(|c| !values.contains(c)) {
                errors.add(
                    format!("{at}.classes"),
                    format!("{c:?} is not one of the task's values"),
                );
            }
            let min_confidence = b.min_confidence.unwrap_or(0.5);
            if !(0.0..=1.0).contains(&min_confidence) {
                errors.add(format!("{at}.min_confidence"), "a probability from 0 to 1");
            }
            BindingRule::TopClass {
                classes,
                min_confidence,
            }
        }
        other => {
            errors.add(
                format!("{at}.rule"),
                format!("unknown rule {other:?}; expected nearest_example, class_probability, count, regression or top_class"),
            );
            return None;
        }
    };
    let fits = matches!(
        (kind, &rule),
        (
            TaskType::Boolean,
            BindingRule::NearestExample | BindingRule::ClassProbability { .. }
        ) | (
            TaskType::Number,
            BindingRule::Count | BindingRule::Regression
        ) | (
            TaskType::Enum,
            BindingRule::TopClass { .. } | BindingRule::NearestExample
        ) | (TaskType::Text, BindingRule::NearestExample)
    );
    if !fits {
        errors.add(
            format!("{at}.rule"),
            format!("rule {:?} cannot compute a {} value", b.rule, kind.as_str()),
        );
        return None;
    }
    Some(Binding {
        model: b.model.clone(),
        output: b.output.clone(),
        rule,
    })
}

fn build_conform(
    kind: TaskType,
    c: &ConformEntry,
    allowed: &[String],
    at: &str,
    errors: &mut Errors,
) -> Option<ConformRule> {
    let mut misplaced = |key: &str, present: bool| {
        if present {
            errors.add(
                format!("{at}.{key}"),
                format!("{key} does not apply to a {} task", kind.as_str()),
            );
        }
    };
    match kind {
        TaskType::Boolean => {
            misplaced("min", c.min.is_some());
            misplaced("max", c.max.is_some());
            misplaced("one_of", c.one_of.is_some());
            misplaced("not_empty", c.not_empty.is_some());
            Some(ConformRule::Equals {
                value: c.equals.unwrap_or(true),
            })
        }
        TaskType::Number => {
            misplaced("equals", c.equals.is_some());
            misplaced("one_of", c.one_of.is_some());
            misplaced("not_empty", c.not_empty.is_some());
            if let (Some(min), Some(max)) = (c.min, c.max) {
                if min > max {
                    errors.add(
                        at.to_string(),
                        format!("min ({min}) is greater than max ({max})"),
                    );
                }
            }
            Some(ConformRule::Range {
                min: c.min,
                max: c.max,
            })
        }
        TaskType::Text | TaskType::Enum => {
            misplaced("equals", c.equals.is_some());
            misplaced("min", c.min.is_some());
            misplaced("max", c.max.is_some());
            match &c.one_of {
                Some(values) => {
                    if kind == TaskType::Enum {
                        for v in values.iter().filter(|v| !allowed.contains(v)) {
                            errors.add(
                                format!("{at}.one_of"),
                                format!("{v:?} is not one of the task's values {allowed:?}"),
                            );
                        }
                    }
                    Some(ConformRule::OneOf {
                        values: values.clone(),
                    })
                }
                None if kind == TaskType::Enum => Some(ConformRule::OneOf {
                    values: allowed.to_vec(),
                }),
                None => Some(ConformRule::NotEmpty),
            }
        }
    }
}

fn build_checks(
    g: &super::file::TaskGroupEntry,
    at: &str,
    errors: &mut Errors,
) -> ConformityChecks {
    let c = &g.checks;
    if let Some(r) = &c.resolution {
        if r.min_width == 0 || r.min_height == 0 {
            errors.add(
                format!("{at}.checks.resolution"),
                "min_width and min_height must be at least 1",
            );
        }
    }
    if let Some(b) = &c.blur {
        if !(b.min_sharpness.is_finite() && b.min_sharpness >= 0.0) {
            errors.add(
                format!("{at}.checks.blur.min_sharpness"),
                "must be a number of 0 or more",
            );
        }
    }
    if let Some(e) = &c.exposure {
        let in_range = |x: f64| (0.0..=255.0).contains(&x);
        if !in_range(e.min_brightness) || !in_range(e.max_brightness) {
            errors.add(
                format!("{at}.checks.exposure"),
                "min_brightness and max_brightness are mean grey levels from 0 to 255",
            );
        } else if e.min_brightness >= e.max_brightness {
            errors.add(
                format!("{at}.checks.exposure"),
                "min_brightness must be lower than max_brightness",
            );
        }
    }
    if let Some(d) = &c.duplicate {
        if d.max_distance > 64 {
            errors.add(
                format!("{at}.checks.duplicate.max_distance"),
                "is a number of differing bits of a 64-bit hash: at most 64",
            );
        }
    }
    ConformityChecks {
        resolution: c.resolution.as_ref().map(|r| ResolutionCheck {
            min_width: r.min_width,
            min_height: r.min_height,
        }),
        blur: c.blur.as_ref().map(|b| BlurCheck {
            min_sharpness: b.min_sharpness,
        }),
        exposure: c.exposure.as_ref().map(|e| ExposureCheck {
            min_brightness: e.min_brightness,
            max_brightness: e.max_brightness,
        }),
        duplicate: c.duplicate.as_ref().map(|d| DuplicateCheck {
            max_distance: d.max_distance,
        }),
    }
}

fn build_types(
    file: &ApplicationFile,
    groups: &[TaskGroup],
    errors: &mut Errors,
) -> Vec<WorkOrderType> {
    let mut seen = HashSet::new();
    let mut types = Vec::new();
    for (i, t) in file.work_order_types.iter().enumerate() {
        let at = format!("work_order_types[{i}]");
        errors.slug(format!("{at}.name"), &t.name);
        if !seen.insert(t.name.as_str()) {
            errors.add(
                format!("{at}.name"),
                format!("work-order type {:?} is declared twice", t.name),
            );
        }
        if t.task_groups.is_empty() && t.tasks.is_empty() {
            errors.add(
                at.clone(),
                format!(
                    "work-order type {:?} activates nothing; list task_groups or tasks",
                    t.name
                ),
            );
        }
        for g in &t.task_groups {
            if !groups.iter().any(|x| &x.name == g) {
                errors.add(
                    format!("{at}.task_groups"),
                    format!("no task group is named {g:?}"),
                );
            }
        }
        for name in &t.tasks {
            if !groups
                .iter()
                .flat_map(|g| &g.tasks)
                .any(|x| &x.name == name)
            {
                errors.add(format!("{at}.tasks"), format!("no task is named {name:?}"));
            }
        }
        types.push(WorkOrderType {
            id: Uuid::new_v4(),
            name: t.name.clone(),
            task_groups: t.task_groups.clone(),
            tasks: t.tasks.clone(),
        });
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = include_str!("../../../../demo/equipment-check.toml");

    #[test]
    fn the_demo_application_is_valid() {
        let v = parse_and_validate(DEMO).unwrap();
        assert_eq!(v.app_name, "equipment-check");
        let names: Vec<_> = v.task_groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "equipment-before-intervention",
                "equipment-after-intervention"
            ]
        );
        assert!(v.task_groups.iter().all(|g| {
            let c = &g.checks;
            c.resolution.is_some()
                && c.blur.is_some()
                && c.exposure.is_some()
                && c.duplicate.is_some()
        }));
        assert_eq!(v.work_order_types.len(), 3);
    }

    #[test]
    fn every_mistake_is_named() {
        let text = r#"
[application]
name = "bad app"

[[metadata]]
name = "region"
type = "string"

[[task_groups]]
name = "front"
[[task_groups.tasks]]
name = "ok"
label = ""
type = "Bool"

[[task_groups.tasks]]
name = "count"
label = "How many?"
type = "Number"
conform = { min = 3, max = 1, equals = true }

[[task_groups]]
name = "front"
[[task_groups.tasks]]
name = "count"
label = "Again"
type = "Enum"

[[work_order_types]]
name = "install"
task_groups = ["rear"]
tasks = ["missing_task"]
"#;
        let errors = parse_and_validate(text).unwrap_err();
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let expect = [
            "application.name: \"bad app\" contains ' '",
            "metadata[0].type: unknown metadata type \"string\"",
            "task_groups[0].tasks[0].label: must not be empty",
            "task_groups[0].tasks[0].type: unknown task type \"Bool\"",
            "task_groups[0].tasks[1].conform.equals: equals does not apply to a Number task",
            "task_groups[0].tasks[1].conform: min (3) is greater than max (1)",
            "task_groups[1].name: task group \"front\" is declared twice",
            "task_groups[1].tasks[0].name: task \"count\" is declared twice",
            "task_groups[1].tasks[0].values: an Enum task must list its allowed values",
            "work_order_types[0].task_groups: no task group is named \"rear\"",
            "work_order_types[0].tasks: no task is named \"missing_task\"",
        ];
        for e in expect {
            assert!(
                text.iter().any(|t| t.starts_with(e)),
                "missing {e:?} in {text:#?}"
            );
        }
        assert_eq!(text.len(), expect.len(), "{text:#?}");
    }

    #[test]
    fn structural_mistakes_give_the_line() {
        let errors = parse_and_validate("[application]\nname = \"a\"\nlable = 3\n").unwrap_err();
        assert_eq!(errors.len(), 1);
        let m = &errors[0].message;
        assert!(m.contains("lable") && m.contains("line 3"), "{m}");
    }

    #[test]
    fn ids_are_new_at_every_parse() {
        let a = parse_and_validate(DEMO).unwrap();
        let b = parse_and_validate(DEMO).unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(a.task_groups[0].id, b.task_groups[0].id);
        assert_eq!(a.task_groups[0].name, b.task_groups[0].name);
    }
}
