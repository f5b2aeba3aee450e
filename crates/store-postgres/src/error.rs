//! How PostgreSQL errors become the store's: unique violations are the caller's conflict, a
//! missing referenced row is "not found", anything else is the engine's failure (for logs only).

use fieldproof_store::StoreError;
use tokio_postgres::error::SqlState;

/// Maps an engine error to the store's: for logs, never for clients.
pub(crate) fn backend(e: tokio_postgres::Error) -> StoreError {
    StoreError::Backend(describe(&e))
}

/// The error in words, with the server's message and detail when it answered: `Display` alone
/// may say only "db error".
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} {}: {}{}",
            db.severity(),
            db.code().code(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        ),
        None => e.to_string(),
    }
}

/// Maps a unique violation to a `Conflict` with a message for the user and a foreign-key
/// violation (the site or user referred to does not exist) to `NotFound`; anything else to
/// `Backend`. Same mapping as the SQLite engine's `conflict_or_backend`.
pub(crate) fn conflict_or_backend(
    e: tokio_postgres::Error,
    message: impl FnOnce() -> String,
) -> StoreError {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(message()),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound,
        _ => backend(e),
    }
}

pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("stored {what} cannot be read: {e}"))
}
