//! The data generator: a site filled with a million realistic work orders in a minute or two,
//! for either engine, written through the engine's own schema (`data` says what the rows look
//! like; `sqlite` and `postgres` write them).

pub mod data;
pub mod postgres;
pub mod sqlite;

use std::time::Duration;

/// What a fill did.
#[derive(Debug, Clone, Copy)]
pub struct Filled {
    pub rows: u64,
    pub took: Duration,
}
