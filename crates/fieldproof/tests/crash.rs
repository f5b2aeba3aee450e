//! The crash test (`examples/crash_test.rs`) with a bounded number of rounds: the real binary is
//! killed with SIGKILL at random moments (seeded) during concurrent creates, updates and deletes,
//! restarted on the same data directory, and every acknowledged write is checked, nothing
//! half-done may appear, and SQLite's integrity check must pass after each restart.
//!
//! `FIELDPROOF_CRASH_ROUNDS` (default 20, at least 20) and `FIELDPROOF_CRASH_SEED` (default 7)
//! change the run; `FIELDPROOF_TEST_MODELS` points the server at another model manifest, as for
//! the API tests.

#[path = "../examples/crash_test.rs"]
#[allow(dead_code)]
mod crash_test;

use std::io::Write as _;
use std::time::Duration;

use crash_test::{run, CrashConfig};

#[test]
fn acknowledged_writes_survive_sigkill_at_random_moments() {
    let env_u64 = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name} must be a number"))
            })
            .unwrap_or(default)
    };
    let cfg = CrashConfig {
        bin: env!("CARGO_BIN_EXE_fieldproof").into(),
        models: std::env::var_os("FIELDPROOF_TEST_MODELS").map(Into::into),
        rounds: env_u64("FIELDPROOF_CRASH_ROUNDS", 20).max(20) as u32,
        seed: env_u64("FIELDPROOF_CRASH_SEED", 7),
        writers: 4,
        max_round: Duration::from_millis(800),
    };
    let rounds = cfg.rounds;
    let report = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(cfg))
        .unwrap_or_else(|e| panic!("crash test: {e:#}"));
    // Past the harness's output capture, so the CI log shows the figures on a pass too.
    let _ = writeln!(std::io::stderr(), "{report}");
    assert_eq!(report.rounds, rounds);
    assert_eq!(report.integrity_checks, rounds);
    assert!(
        report.acked_creates > 0 && report.acked_updates > 0,
        "the rounds wrote nothing: {report}"
    );
}
