//! The printed figures: one table row per (phase, server, kind of request), written to whatever
//! the caller gives (the binary gives stdout), so library code never prints by itself.

use std::io::{self, Write};

use crate::child::Memory;
use crate::drive::{Pace, Phase, PhaseResult};
use crate::stats::OpStats;

pub fn header(out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "{:<30} {:<24} {:>5} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7} {:>9}",
        "phase",
        "server",
        "conns",
        "offered/s",
        "ok/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "errors",
        "peak RSS"
    )
}

fn ms(micros: u32) -> f64 {
    micros as f64 / 1000.0
}

/// One row for `stats` (all requests of the phase, or one kind of them).
#[allow(clippy::too_many_arguments)]
fn row(
    out: &mut dyn Write,
    phase_name: &str,
    server: &str,
    phase: &Phase,
    stats: &OpStats,
    ok_per_s: f64,
    errors: u64,
    memory: Option<Memory>,
) -> io::Result<()> {
    let s = stats.summary();
    let offered = match phase.pace {
        Pace::Closed => "-".to_string(),
        Pace::Open { rate } => format!("{rate:.0}"),
    };
    let peak = memory.map_or("-".to_string(), |m| {
        format!("{:.1} MB", m.peak_kb as f64 / 1024.0)
    });
    writeln!(
        out,
        "{:<30} {:<24} {:>5} {:>9} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>9}",
        phase_name,
        server,
        phase.connections,
        offered,
        ok_per_s,
        ms(s.p50),
        ms(s.p99),
        ms(s.p999),
        ms(s.max),
        errors,
        peak
    )
}

/// The rows of one phase: all requests, then each kind when there are several, then the errors
/// by reason and the open loop's own lag when they matter.
pub fn phase(
    out: &mut dyn Write,
    name: &str,
    server: &str,
    phase: &Phase,
    r: &PhaseResult,
    memory: Option<Memory>,
) -> io::Result<()> {
    let all = r.all();
    row(
        out,
        name,
        server,
        phase,
        &all,
        r.throughput(),
        r.total_errors(),
        memory,
    )?;
    if r.ops.len() > 1 {
        for (op, stats) in &r.ops {
            let per_s = stats.micros.len() as f64 / r.elapsed.as_secs_f64().max(1e-9);
            let label = format!("  {}", op.label());
            row(
                out,
                &label,
                "",
                phase,
                stats,
                per_s,
                stats.error_count(),
                None,
            )?;
        }
    }
    if !all.errors.is_empty() || r.unfinished > 0 || r.connect_errors > 0 {
        let mut reasons: Vec<String> = all
            .errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        if r.unfinished > 0 {
            reasons.push(format!("unfinished: {}", r.unfinished));
        }
        if r.connect_errors > 0 {
            reasons.push(format!("connections refused: {}", r.connect_errors));
        }
        writeln!(out, "  errors: {}", reasons.join(", "))?;
    }
    if let Pace::Open { rate } = phase.pace {
        let sent = r.total_ok() + all.error_count();
        writeln!(
            out,
            "  open loop: {} of {:.0} due requests answered in {:.1} s; sends were late by up to {:.1} ms (p99)",
            sent,
            rate * phase.duration.as_secs_f64(),
            r.elapsed.as_secs_f64(),
            ms(r.send_lag_p99)
        )?;
    }
    Ok(())
}

/// `ours / theirs` of two throughputs, as `0.42×`.
pub fn ratio(ours: f64, theirs: f64) -> String {
    if theirs <= 0.0 {
        "n/a".into()
    } else {
        format!("{:.2}×", ours / theirs)
    }
}

pub fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}
