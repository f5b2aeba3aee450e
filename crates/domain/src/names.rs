//! Names that must always be valid once built: work-order names and the slugs of applications.

use std::fmt;

/// The longest work-order name the API accepts.
pub const MAX_WORK_ORDER_NAME: usize = 128;

/// A work-order name: 1 to 128 characters among ASCII letters, digits, `_` and `-`
/// (the rule of the original work-order documentation). Built only through [`WorkOrderName::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WorkOrderName(String);

impl WorkOrderName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.is_empty() {
            return Err("This field may not be blank.".into());
        }
        if raw.chars().count() > MAX_WORK_ORDER_NAME {
            return Err(format!(
                "Ensure this field has no more than {MAX_WORK_ORDER_NAME} characters."
            ));
        }
        if let Some(bad) = raw.chars().find(|c| !is_name_char(*c)) {
            return Err(format!(
                "Only letters, numbers, underscores and hyphens are accepted; found {bad:?}."
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for WorkOrderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Checks an identifier of an application file (task group, task, work-order type, metadata
/// key, site name): 1 to 64 characters, ASCII letters, digits, `_` and `-`, starting with a letter
/// or digit. These names end up in URLs and archive file names, hence the strict alphabet.
pub fn check_slug(raw: &str) -> Result<(), String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    if raw.len() > 64 {
        return Err(format!("{raw:?} is longer than 64 characters"));
    }
    if !raw.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("{raw:?} must start with a letter or a digit"));
    }
    if let Some(bad) = raw.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "{raw:?} contains {bad:?}; use only letters, digits, '_' and '-'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        for ok in ["work-order", "WO_123456", "a", &"x".repeat(128)] {
            assert!(WorkOrderName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_empty_long_and_foreign_characters() {
        assert!(WorkOrderName::parse("").is_err());
        assert!(WorkOrderName::parse(&"x".repeat(129)).is_err());
        for bad in ["work order", "wo/1", "é", "a.b", "a\u{0}"] {
            assert!(WorkOrderName::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn valid_iff_matches_the_rule(s in "\\PC{0,140}") {
            let expected = !s.is_empty()
                && s.chars().count() <= 128
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            prop_assert_eq!(WorkOrderName::parse(&s).is_ok(), expected);
        }

        #[test]
        fn generated_valid_names_round_trip(s in "[A-Za-z0-9_-]{1,128}") {
            let name = WorkOrderName::parse(&s).unwrap();
            prop_assert_eq!(name.as_str(), s.as_str());
        }

        #[test]
        fn slugs_never_accept_separators(s in "[a-z0-9]{1,10}[ /.:][a-z0-9]{0,10}") {
            prop_assert!(check_slug(&s).is_err());
        }
    }
}
