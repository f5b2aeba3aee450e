//! The load benchmark of Fieldproof (`fieldproof bench`): a load generator that speaks HTTP/1.1
//! over keep-alive connections in closed or open loop (`drive`, `http`), the baseline servers it
//! is compared with (`baseline`), a data generator for a million work orders on either engine
//! (`fill`), and the plumbing to run servers as child processes and read their memory (`child`).
//!
//! A benchmark prints figures; it asserts nothing about time. This crate is the `bench`
//! command's program code, split from the binary so that its parts have tests, so it reports
//! errors with `anyhow` like the binary does.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod child;
pub mod drive;
pub mod fill;
pub mod http;
pub mod report;
pub mod run;
pub mod stats;
pub mod workload;
