//! Which tasks of an application version a work order activates, from its work-order types.

use crate::app::{AppVersion, Task, TaskGroup};

/// Names in `type_names` that the version does not define, in request order.
pub fn unknown_types<'a>(version: &AppVersion, type_names: &'a [String]) -> Vec<&'a str> {
    type_names
        .iter()
        .filter(|n| version.work_order_type(n).is_none())
        .map(String::as_str)
        .collect()
}

/// The active tasks of a work order with these types: the union of what each type activates (its
/// task groups' tasks and its own tasks), or every task when there is no type. Returned in the
/// version's order (group order, then file order), each task once. Unknown type names activate
/// nothing; callers refuse them before storing (see [`unknown_types`]).
pub fn active_tasks<'v>(
    version: &'v AppVersion,
    type_names: &[String],
) -> Vec<(&'v TaskGroup, &'v Task)> {
    if type_names.is_empty() {
        return version.tasks().collect();
    }
    let types: Vec<_> = type_names
        .iter()
        .filter_map(|n| version.work_order_type(n))
        .collect();
    version
        .tasks()
        .filter(|(g, t)| {
            types
                .iter()
                .any(|ty| ty.task_groups.contains(&g.name) || ty.tasks.contains(&t.name))
        })
        .collect()
}

/// The groups that have at least one active task, in version order.
pub fn active_groups<'v>(active: &[(&'v TaskGroup, &'v Task)]) -> Vec<&'v TaskGroup> {
    let mut groups: Vec<&TaskGroup> = Vec::new();
    for (g, _) in active {
        if !groups.iter().any(|x| x.id == g.id) {
            groups.push(g);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::parse_and_validate;
    use proptest::prelude::*;

    fn demo() -> AppVersion {
        parse_and_validate(include_str!("../../../demo/equipment-check.toml")).unwrap()
    }

    fn names(active: &[(&TaskGroup, &Task)]) -> Vec<String> {
        active.iter().map(|(_, t)| t.name.clone()).collect()
    }

    #[test]
    fn no_type_activates_everything() {
        let v = demo();
        assert_eq!(active_tasks(&v, &[]).len(), 3);
    }

    #[test]
    fn maintenance_activates_the_after_group_only() {
        let v = demo();
        let active = active_tasks(&v, &["maintenance".into()]);
        assert_eq!(
            names(&active),
            [
                "equipment_after_intervention",
                "equipment_after_intervention_degradations"
            ]
        );
        let groups = active_groups(&active);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].name, "equipment-after-intervention");
    }

    #[test]
    fn installation_activates_both_groups() {
        let v = demo();
        let active = active_tasks(&v, &["installation".into(), "maintenance".into()]);
        assert_eq!(active.len(), 3, "a task activated twice is listed once");
        assert_eq!(active_groups(&active).len(), 2);
    }

    #[test]
    fn unknown_types_are_reported_in_order() {
        let v = demo();
        let given = vec!["repair".to_string(), "maintenance".into(), "x".into()];
        assert_eq!(unknown_types(&v, &given), ["repair", "x"]);
    }

    proptest! {
        /// Activation is a union: the tasks of a set of types are exactly the union of each type's
        /// tasks, and never more than the whole version.
        #[test]
        fn activation_is_the_union_of_each_type(picks in proptest::collection::vec(0usize..3, 1..5)) {
            let v = demo();
            let all = ["maintenance", "one-equipment", "installation"];
            let chosen: Vec<String> = picks.iter().map(|i| all[*i].to_string()).collect();
            let together = names(&active_tasks(&v, &chosen));
            let mut union: Vec<String> = Vec::new();
            for name in &chosen {
                for t in names(&active_tasks(&v, std::slice::from_ref(name))) {
                    if !union.contains(&t) { union.push(t); }
                }
            }
            let mut a = together.clone();
            a.sort();
            union.sort();
            prop_assert_eq!(a, union);
            prop_assert!(together.len() <= 3);
        }
    }
}
