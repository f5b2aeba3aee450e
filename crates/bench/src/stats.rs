//! Latency samples and their percentiles.
//!
//! Every latency is kept (microseconds, `u32`): a 10-second phase at 10,000 requests/s is 400 kB,
//! and exact percentiles need no histogram library and no bucket-width caveat.

use std::collections::BTreeMap;
use std::time::Duration;

/// What one kind of request gave in one phase.
#[derive(Debug, Default, Clone)]
pub struct OpStats {
    /// Latencies of the successful requests, in microseconds.
    pub micros: Vec<u32>,
    /// Failed requests by reason (`status 500`, `timeout`, `io: ...`).
    pub errors: BTreeMap<String, u64>,
}

impl OpStats {
    pub fn ok(&mut self, latency: Duration) {
        self.micros
            .push(latency.as_micros().min(u32::MAX as u128) as u32);
    }

    pub fn error(&mut self, reason: impl Into<String>) {
        *self.errors.entry(reason.into()).or_default() += 1;
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn merge(&mut self, other: OpStats) {
        self.micros.extend(other.micros);
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }

    pub fn summary(&self) -> Summary {
        let mut sorted = self.micros.clone();
        sorted.sort_unstable();
        Summary {
            count: sorted.len() as u64,
            p50: percentile(&sorted, 0.50),
            p99: percentile(&sorted, 0.99),
            p999: percentile(&sorted, 0.999),
            max: sorted.last().copied().unwrap_or(0),
        }
    }
}

/// Percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub count: u64,
    pub p50: u32,
    pub p99: u32,
    pub p999: u32,
    pub max: u32,
}

/// The nearest-rank percentile `q` (0..=1) of sorted samples; 0 when there are none.
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&v, 0.5), 500);
        assert_eq!(percentile(&v, 0.99), 990);
        assert_eq!(percentile(&v, 0.999), 999);
        assert_eq!(percentile(&v, 1.0), 1000);
        assert_eq!(percentile(&[7], 0.999), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn merging_keeps_every_sample_and_error() {
        let mut a = OpStats::default();
        a.ok(Duration::from_micros(5));
        a.error("timeout");
        let mut b = OpStats::default();
        b.ok(Duration::from_micros(1));
        b.error("timeout");
        b.error("status 500");
        a.merge(b);
        assert_eq!(a.summary().count, 2);
        assert_eq!(a.summary().p50, 1);
        assert_eq!(a.error_count(), 3);
        assert_eq!(a.errors["timeout"], 2);
    }
}
