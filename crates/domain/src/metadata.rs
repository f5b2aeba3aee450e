//! The metadata schema of an application version and the validation of a work order's metadata.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The value type of a declared metadata key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataType {
    Text,
    Number,
    Boolean,
}

impl MetadataType {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "text" => Some(Self::Text),
            "number" => Some(Self::Number),
            "boolean" => Some(Self::Boolean),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Boolean => "boolean",
        }
    }

    fn accepts(self, value: &Value) -> bool {
        match self {
            Self::Text => value.is_string(),
            Self::Number => value.is_number(),
            Self::Boolean => value.is_boolean(),
        }
    }
}

/// One declared metadata key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataField {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: MetadataType,
    pub required: bool,
    #[serde(default)]
    pub description: String,
}

/// Checks a work order's metadata against the declared schema and returns the messages for the
/// `metadata` field. `None` means the request had no `metadata` field at all.
///
/// Keys the schema does not declare are accepted as they are: clients add their own (the mobile
/// application adds `created_with`, for example).
pub fn check_metadata(
    schema: &[MetadataField],
    metadata: Option<&Map<String, Value>>,
) -> Vec<String> {
    let Some(metadata) = metadata else {
        return if schema.iter().any(|f| f.required) {
            vec![crate::errors::missing_field("metadata")]
        } else {
            Vec::new()
        };
    };
    let mut messages = Vec::new();
    for field in schema {
        match metadata.get(&field.name) {
            None | Some(Value::Null) if field.required => {
                messages.push(format!("Key '{}' is required.", field.name));
            }
            None | Some(Value::Null) => {}
            Some(value) if !field.kind.accepts(value) => messages.push(format!(
                "Key '{}' must be a {} value, got {}.",
                field.name,
                field.kind.as_str(),
                json_kind(value)
            )),
            Some(_) => {}
        }
    }
    messages
}

/// The word for a JSON value's kind, for messages.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The longest metadata value (in bytes) the list filter can match: longer values are stored but
/// not indexed (index entries must stay small on every engine; PostgreSQL refuses index rows past
/// a few kilobytes, and nobody filters by a paragraph).
pub const MAX_INDEXED_VALUE: usize = 512;

/// The text a metadata value is matched against by the `metadata.<key>=<value>` list filter and
/// stored under in the metadata index: strings as they are, other scalars as their JSON text.
/// Lists, objects and values longer than [`MAX_INDEXED_VALUE`] are not indexed.
pub fn index_text(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    (text.len() <= MAX_INDEXED_VALUE).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn schema() -> Vec<MetadataField> {
        vec![
            MetadataField {
                name: "region".into(),
                kind: MetadataType::Text,
                required: true,
                description: String::new(),
            },
            MetadataField {
                name: "floors".into(),
                kind: MetadataType::Number,
                required: false,
                description: String::new(),
            },
        ]
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn absent_metadata_is_missing_only_when_something_is_required() {
        assert_eq!(
            check_metadata(&schema(), None),
            vec!["Field 'metadata' is missing. This field is required."]
        );
        assert!(check_metadata(&schema()[1..], None).is_empty());
    }

    #[test]
    fn required_keys_and_types_are_checked_undeclared_keys_pass() {
        let m = obj(json!({"region": "North", "floors": 3, "created_with": "api"}));
        assert!(check_metadata(&schema(), Some(&m)).is_empty());
        let m = obj(json!({"floors": "three"}));
        let errors = check_metadata(&schema(), Some(&m));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[0].contains("'region' is required"));
        assert!(errors[1].contains("'floors' must be a number value, got a string"));
    }

    proptest! {
        #[test]
        fn any_text_region_is_accepted(region in "\\PC{0,40}", extra in "[a-z]{1,8}") {
            let mut m = Map::new();
            m.insert("region".into(), Value::String(region));
            m.insert(format!("x_{extra}"), json!([1, 2]));
            prop_assert!(check_metadata(&schema(), Some(&m)).is_empty());
        }

        #[test]
        fn a_non_string_region_is_always_refused(n in any::<i64>()) {
            let m = obj(json!({"region": n}));
            prop_assert_eq!(check_metadata(&schema(), Some(&m)).len(), 1);
        }
    }
}
