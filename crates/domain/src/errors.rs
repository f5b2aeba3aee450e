//! Field-keyed validation errors, the shape every 400 of the API is built from.

use std::collections::BTreeMap;

/// Messages keyed by the request field they are about. Each field may collect several messages;
/// the API renders them as `{"field": ["message", ...]}` on create and as
/// `{"error": "Serialization error", "detail": {"field": "message"}}` on update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn contains(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.0.iter()
    }

    /// `Ok(())` when nothing was added, the errors otherwise: the usual end of a validation.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

/// The message of a required field that is absent, word for word as the original service says it.
pub fn missing_field(field: &str) -> String {
    format!("Field '{field}' is missing. This field is required.")
}
