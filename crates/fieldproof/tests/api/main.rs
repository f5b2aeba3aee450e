//! API tests: the real server over real HTTP on loopback, against a real SQLite file per test.
//!
//! One test binary (faster to build and link than one per file); a module per concern.

mod analyze;
mod audit;
mod create;
mod errors;
mod helpers;
mod isolation;
mod limits;
mod list;
mod read_write;
mod roles;
mod task_groups;
