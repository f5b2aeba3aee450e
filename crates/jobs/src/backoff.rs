//! The delay before a failed job is retried: exponential, capped, with jitter.
//!
//! "Equal jitter": half the exponential delay is kept, the other half is random. All the jobs
//! that failed together (a dependency was down) then come back spread over time instead of all
//! at once, and no retry comes sooner than half its nominal delay. Full jitter (anything from
//! zero) was rejected: a retry a few milliseconds after a failure is rarely useful.

use std::time::Duration;

/// The delay before retrying after failed attempt number `attempt` (1 for the first):
/// `base * 2^(attempt - 1)` capped at `max`, of which the upper half is scaled by `jitter`
/// (`0.0..=1.0`; a random number in the runtime, given here so the function is pure).
pub fn backoff(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let nominal = 2u32
        .checked_pow(attempt.saturating_sub(1))
        .and_then(|factor| base.checked_mul(factor))
        .map_or(max, |d| d.min(max));
    let half = nominal / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// A random number in `0.0..1.0` for the jitter. The OS generator is cheap enough at the rate
/// of failures; if it ever fails, no jitter is a fine answer.
pub(crate) fn random_unit() -> f64 {
    getrandom::u64().map_or(0.5, |r| (r >> 11) as f64 / (1u64 << 53) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delays_double_from_the_base_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let nominal = |attempt| backoff(attempt, base, max, 1.0);
        assert_eq!(nominal(1), Duration::from_secs(1));
        assert_eq!(nominal(2), Duration::from_secs(2));
        assert_eq!(nominal(3), Duration::from_secs(4));
        assert_eq!(nominal(7), Duration::from_secs(60));
        assert_eq!(nominal(u32::MAX), Duration::from_secs(60));
        assert_eq!(backoff(3, base, max, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(0, base, max, 1.0), Duration::from_secs(1));
    }

    #[test]
    fn random_units_are_in_range() {
        for _ in 0..1000 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r), "{r}");
        }
    }

    proptest! {
        #[test]
        fn a_delay_is_between_half_and_all_of_its_capped_nominal_value(
            attempt in 0u32..200,
            base_ms in 1u64..10_000,
            max_ms in 1u64..10_000_000,
            jitter in 0.0f64..=1.0,
        ) {
            let (base, max) = (Duration::from_millis(base_ms), Duration::from_millis(max_ms));
            let d = backoff(attempt, base, max, jitter);
            let nominal = backoff(attempt, base, max, 1.0);
            prop_assert!(nominal <= max);
            prop_assert!(d <= nominal);
            prop_assert!(d >= nominal / 2);
            // Never shorter than the previous attempt's shortest delay: retries spread out.
            prop_assert!(backoff(attempt + 1, base, max, 0.0) >= backoff(attempt, base, max, 0.0));
        }
    }
}
