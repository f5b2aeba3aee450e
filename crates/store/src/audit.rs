//! The audit trail: who changed what, and when, on a site.
//!
//! Every change made through the API carries its event into the store's write: a work order's
//! create, update and delete, an analysis (recorded, or queued for a worker), a correction and a
//! review (`Store::create_work_order`, `record_analysis`, `queue_analysis`, `correct_task`,
//! `set_reviewed` and the others take an `Option<AuditEvent>`). The event commits in the change's
//! transaction, so a change that is acknowledged has its event, and a crash cannot keep one
//! without the other. It is also cheaper: one durable commit per change instead of two.
//!
//! Changes made from the command line (sites, users, groups, keys created or revoked,
//! application versions published) still record their event after the change has committed, in
//! a write of its own (`Store::record_audit`); there a change that committed stays acknowledged
//! even when its event could not be written (the failure is logged as an error), and a crash
//! between the two loses the event. Events are never updated or deleted, not even when their
//! object is (a deleted work order keeps its history).

use serde_json::Value;
use uuid::Uuid;

/// The actor of changes made from the command line (`fieldproof admin`, `fieldproof app`, the
/// demo set-up): operators with access to the database, not API users.
pub const CLI_ACTOR: &str = "cli";

/// The actor of changes made through the API by a user: `user:<uuid>`.
pub fn user_actor(user_id: Uuid) -> String {
    format!("user:{user_id}")
}

/// The actions an event can name, as stored and as the API shows them.
pub mod actions {
    pub const SITE_CREATE: &str = "site.create";
    pub const USER_CREATE: &str = "user.create";
    pub const GROUP_CREATE: &str = "group.create";
    pub const KEY_CREATE: &str = "key.create";
    pub const KEY_REVOKE: &str = "key.revoke";
    pub const APP_VERSION_PUBLISH: &str = "app_version.publish";
    pub const WORK_ORDER_CREATE: &str = "work_order.create";
    pub const WORK_ORDER_UPDATE: &str = "work_order.update";
    pub const WORK_ORDER_DELETE: &str = "work_order.delete";
    pub const WORK_ORDER_REVIEW: &str = "work_order.review";
    pub const ANALYSIS_CREATE: &str = "analysis.create";
    pub const TASK_CORRECT: &str = "task.correct";

    /// Every action, for checking a filter and for documentation.
    pub const ALL: &[&str] = &[
        SITE_CREATE,
        USER_CREATE,
        GROUP_CREATE,
        KEY_CREATE,
        KEY_REVOKE,
        APP_VERSION_PUBLISH,
        WORK_ORDER_CREATE,
        WORK_ORDER_UPDATE,
        WORK_ORDER_DELETE,
        WORK_ORDER_REVIEW,
        ANALYSIS_CREATE,
        TASK_CORRECT,
    ];
}

/// One change, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub id: Uuid,
    pub site_id: Uuid,
    /// `user:<uuid>` ([`user_actor`]) or `cli` ([`CLI_ACTOR`]).
    pub actor: String,
    /// One of [`actions`], e.g. `work_order.update`.
    pub action: String,
    /// `work_order`, `user`, `group`, `key`, `app_version`, `site`. What happens inside a work
    /// order (an analysis, a correction, a review) has the work order as its object, so that one
    /// object id gives the whole history of a work order; the details name the analysis or task.
    pub object_type: String,
    /// The object's id, as text.
    pub object_id: String,
    /// What changed: the fields of an update, the corrected value, the role of a new user. Never
    /// a secret (no key, no key hash).
    pub details: Value,
    pub create_date: i64,
}

impl AuditEvent {
    /// An event with a fresh, time-ordered id ([`new_id`](crate::new_id)).
    pub fn new(
        site_id: Uuid,
        actor: impl Into<String>,
        action: &str,
        object_type: &str,
        object_id: impl ToString,
        details: Value,
        create_date: i64,
    ) -> Self {
        Self {
            id: crate::new_id(),
            site_id,
            actor: actor.into(),
            action: action.to_string(),
            object_type: object_type.to_string(),
            object_id: object_id.to_string(),
            details,
            create_date,
        }
    }
}

/// Which events of a site to list; every given filter must match.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub object_id: Option<String>,
    pub action: Option<String>,
    /// Strictly after this time (microseconds).
    pub after: Option<i64>,
    /// Strictly before this time (microseconds).
    pub before: Option<i64>,
}
