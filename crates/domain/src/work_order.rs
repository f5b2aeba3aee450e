//! Parsing create and update requests of work orders into typed commands.
//!
//! Parsing works on the JSON object the API received (`serde_json` is data, not I/O), so every
//! message says which field was wrong and how. References to other objects (the field engineer,
//! user groups) are checked by the caller against the store; work-order type names against the
//! application version with [`crate::activation::unknown_types`].

use serde_json::{Map, Value};

use crate::errors::{missing_field, FieldErrors};
use crate::metadata::{check_metadata, json_kind, MetadataField};
use crate::names::WorkOrderName;

/// The most tags one work order carries, and the longest tag.
pub const MAX_TAGS: usize = 200;
pub const MAX_TAG_LEN: usize = 256;
/// The most metadata keys one work order carries, and the longest key.
pub const MAX_METADATA_KEYS: usize = 200;
pub const MAX_METADATA_KEY_LEN: usize = 128;

/// The fields of a create or update request, each `None` when the request did not carry it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkOrderFields {
    pub name: Option<WorkOrderName>,
    pub metadata: Option<Map<String, Value>>,
    pub tags: Option<Vec<String>>,
    /// `Some(None)`: the request asks to unassign the field engineer (`null`).
    pub field_engineer_email: Option<Option<String>>,
    pub user_group_ids: Option<Vec<String>>,
    pub work_order_types: Option<Vec<String>>,
}

/// A create request: the fields, with a name that is always there.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateWorkOrder {
    pub name: WorkOrderName,
    pub fields: WorkOrderFields,
}

/// Parses a create request. `schema` is the metadata schema of the site's current version.
pub fn parse_create(
    body: &Map<String, Value>,
    schema: &[MetadataField],
) -> Result<CreateWorkOrder, FieldErrors> {
    let mut errors = FieldErrors::new();
    if !body.contains_key("name") {
        errors.add("name", missing_field("name"));
    }
    let fields = parse_fields(body, &mut errors);
    if !errors.contains("metadata") {
        for m in check_metadata(schema, fields.metadata.as_ref()) {
            errors.add("metadata", m);
        }
    }
    errors.into_result()?;
    let name = fields.name.clone().expect("checked above");
    Ok(CreateWorkOrder { name, fields })
}

/// Parses an update request. `schema` is the metadata schema of the work order's version: a
/// new `metadata` replaces the old one whole, so it must be complete.
pub fn parse_update(
    body: &Map<String, Value>,
    schema: &[MetadataField],
) -> Result<WorkOrderFields, FieldErrors> {
    let mut errors = FieldErrors::new();
    let fields = parse_fields(body, &mut errors);
    if let Some(metadata) = &fields.metadata {
        if !errors.contains("metadata") {
            for m in check_metadata(schema, Some(metadata)) {
                errors.add("metadata", m);
            }
        }
    }
    errors.into_result()?;
    Ok(fields)
}

fn parse_fields(body: &Map<String, Value>, errors: &mut FieldErrors) -> WorkOrderFields {
    let mut out = WorkOrderFields::default();
    if let Some(v) = body.get("name") {
        match v {
            Value::String(s) => match WorkOrderName::parse(s) {
                Ok(n) => out.name = Some(n),
                Err(m) => errors.add("name", m),
            },
            other => errors.add(
                "name",
                format!("Expected a string, got {}.", json_kind(other)),
            ),
        }
    }
    if let Some(v) = body.get("metadata") {
        match v {
            Value::Object(m) if m.len() > MAX_METADATA_KEYS => errors.add(
                "metadata",
                format!("At most {MAX_METADATA_KEYS} keys are accepted."),
            ),
            Value::Object(m) => match m
                .keys()
                .find(|k| k.is_empty() || k.chars().count() > MAX_METADATA_KEY_LEN)
            {
                Some(k) => errors.add(
                    "metadata",
                    format!(
                        "Metadata keys must have 1 to {MAX_METADATA_KEY_LEN} characters; got {:?}.",
                        k.chars().take(40).collect::<String>()
                    ),
                ),
                None => out.metadata = Some(m.clone()),
            },
            other => errors.add(
                "metadata",
                format!(
                    "The metadata must be a key-value object, got {}.",
                    json_kind(other)
                ),
            ),
        }
    }
    if let Some(v) = body.get("tags") {
        out.tags = string_list(v, "tags", errors).and_then(|tags| {
            if tags.len() > MAX_TAGS {
                errors.add("tags", format!("At most {MAX_TAGS} tags are accepted."));
                return None;
            }
            if let Some(t) = tags
                .iter()
                .find(|t| t.is_empty() || t.chars().count() > MAX_TAG_LEN)
            {
                errors.add(
                    "tags",
                    format!("Each tag must have 1 to {MAX_TAG_LEN} characters; got {t:?}."),
                );
                return None;
            }
            Some(tags)
        });
    }
    if let Some(v) = body.get("field_engineer_email") {
        match v {
            Value::Null => out.field_engineer_email = Some(None),
            Value::String(s) if s.trim().is_empty() => out.field_engineer_email = Some(None),
            Value::String(s) => out.field_engineer_email = Some(Some(s.trim().to_string())),
            other => errors.add(
                "field_engineer_email",
                format!("Expected a string, got {}.", json_kind(other)),
            ),
        }
    }
    if let Some(v) = body.get("user_group_ids") {
        out.user_group_ids = string_list(v, "user_group_ids", errors);
    }
    if let Some(v) = body.get("work_order_types") {
        out.work_order_types = string_list(v, "work_order_types", errors);
    }
    out
}

fn string_list(v: &Value, field: &str, errors: &mut FieldErrors) -> Option<Vec<String>> {
    let Value::Array(items) = v else {
        errors.add(
            field,
            format!("Expected a list of strings, got {}.", json_kind(v)),
        );
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(s) => {
                if !out.contains(s) {
                    out.push(s.clone());
                }
            }
            other => {
                errors.add(
                    field,
                    format!(
                        "Expected a list of strings; one item is {}.",
                        json_kind(other)
                    ),
                );
                return None;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataType;
    use proptest::prelude::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn required_region() -> Vec<MetadataField> {
        vec![MetadataField {
            name: "region".into(),
            kind: MetadataType::Text,
            required: true,
            description: String::new(),
        }]
    }

    #[test]
    fn missing_name_uses_the_documented_message() {
        let e = parse_create(&body(json!({})), &[]).unwrap_err();
        let (field, messages) = e.iter().next().unwrap();
        assert_eq!(field, "name");
        assert_eq!(
            messages,
            &["Field 'name' is missing. This field is required."]
        );
    }

    #[test]
    fn missing_required_metadata_uses_the_documented_message() {
        let e = parse_create(&body(json!({"name": "wo"})), &required_region()).unwrap_err();
        let (field, messages) = e.iter().next().unwrap();
        assert_eq!(field, "metadata");
        assert_eq!(
            messages,
            &["Field 'metadata' is missing. This field is required."]
        );
    }

    #[test]
    fn wrong_types_are_reported_per_field() {
        let e = parse_create(
            &body(json!({"name": 3, "metadata": [1], "tags": "a", "work_order_types": [1], "field_engineer_email": false})),
            &[],
        )
        .unwrap_err();
        let fields: Vec<_> = e.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "field_engineer_email",
                "metadata",
                "name",
                "tags",
                "work_order_types"
            ]
        );
    }

    #[test]
    fn a_full_create_parses() {
        let c = parse_create(
            &body(json!({
                "name": "WO_1", "metadata": {"region": "North"}, "tags": ["a", "b", "a"],
                "field_engineer_email": "john@example.com", "work_order_types": ["maintenance"],
                "id": "ignored", "progress_score": 100
            })),
            &required_region(),
        )
        .unwrap();
        assert_eq!(c.name.as_str(), "WO_1");
        assert_eq!(c.fields.tags.unwrap(), ["a", "b"]);
        assert_eq!(
            c.fields.field_engineer_email,
            Some(Some("john@example.com".into()))
        );
    }

    #[test]
    fn update_checks_metadata_only_when_given_and_null_unassigns() {
        let f = parse_update(&body(json!({"tags": []})), &required_region()).unwrap();
        assert_eq!(f.tags, Some(vec![]));
        assert!(parse_update(&body(json!({"metadata": {}})), &required_region()).is_err());
        let f = parse_update(&body(json!({"field_engineer_email": null})), &[]).unwrap();
        assert_eq!(f.field_engineer_email, Some(None));
    }

    proptest! {
        #[test]
        fn any_object_parses_or_fails_without_panicking(
            name in proptest::option::of("\\PC{0,20}"),
            tags in proptest::collection::vec("\\PC{0,5}", 0..4),
            n in any::<i64>(),
        ) {
            let mut m = Map::new();
            if let Some(name) = &name { m.insert("name".into(), json!(name)); }
            m.insert("tags".into(), json!(tags));
            m.insert("metadata".into(), json!({"n": n}));
            let r = parse_create(&m, &[]);
            let name_ok = name.as_deref().is_some_and(|s| WorkOrderName::parse(s).is_ok());
            let tags_ok = tags.iter().all(|t| !t.is_empty());
            prop_assert_eq!(r.is_ok(), name_ok && tags_ok);
        }
    }
}
