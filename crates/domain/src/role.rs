//! Roles of a user on a site and what each may do.
//!
//! The table in `docs/roles.md` is the human copy of [`Role::allows`]; change both together.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Administrator,
    Manager,
    Reviewer,
    FieldWorker,
    ReadOnly,
}

/// Something a caller may try to do through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    ReadWorkOrders,
    CreateWorkOrder,
    UpdateWorkOrder,
    DeleteWorkOrder,
    Analyze,
    Correct,
    Review,
    ReadTaskGroups,
    /// Read the site's audit trail: who changed what, and when.
    ReadAudit,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Administrator,
        Role::Manager,
        Role::Reviewer,
        Role::FieldWorker,
        Role::ReadOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Administrator => "administrator",
            Role::Manager => "manager",
            Role::Reviewer => "reviewer",
            Role::FieldWorker => "field_worker",
            Role::ReadOnly => "read_only",
        }
    }

    /// Whether this role may perform `action` on its own site.
    pub fn allows(self, action: Action) -> bool {
        use Action::*;
        use Role::*;
        match action {
            ReadWorkOrders | ReadTaskGroups => true,
            CreateWorkOrder | UpdateWorkOrder | Analyze => {
                matches!(self, Administrator | Manager | FieldWorker)
            }
            DeleteWorkOrder => matches!(self, Administrator | Manager),
            Correct => matches!(self, Administrator | Manager | Reviewer | FieldWorker),
            Review => matches!(self, Administrator | Manager | Reviewer),
            // The trail names every user and what each did: for the site's administrators only.
            ReadAudit => matches!(self, Administrator),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}; expected one of administrator, manager, reviewer, field_worker, read_only"
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert_eq!("Field-Worker".parse::<Role>().unwrap(), Role::FieldWorker);
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn read_only_reads_and_nothing_else() {
        assert!(Role::ReadOnly.allows(Action::ReadWorkOrders));
        assert!(!Role::ReadOnly.allows(Action::CreateWorkOrder));
        assert!(!Role::ReadOnly.allows(Action::Correct));
        assert!(!Role::FieldWorker.allows(Action::DeleteWorkOrder));
        assert!(Role::Administrator.allows(Action::DeleteWorkOrder));
    }

    #[test]
    fn only_administrators_read_the_audit_trail() {
        for role in Role::ALL {
            assert_eq!(
                role.allows(Action::ReadAudit),
                role == Role::Administrator,
                "{role}"
            );
        }
    }
}
