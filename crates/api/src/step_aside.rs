//! Requests first: the analysis threads can step aside while other requests are answered.
//!
//! An analysis keeps a core busy for tens of milliseconds. The analysis threads run at a
//! priority that gives a request their core at once (see [`crate::cpu_pool`]), but on a machine
//! of two virtual CPUs a request answered on the *other* CPU is slower too while an analysis
//! computes: the two share the physical core's caches and execution units, or the host's time.
//! Measured, a second CPU that only spins cost the requests' p99 6-16 % on such a machine, and
//! one that stopped spinning while a request was in flight cost nothing in three runs of four
//! (docs/PERFORMANCE.md, runs of 2026-12-01).
//!
//! So the server counts the requests it is answering, other than analyses ([`Requests`]), and,
//! when `analysis_step_aside_ms` gives it a budget (none by default: see [`DEFAULT_BUDGET`]),
//! an analysis waits while that count is above zero ([`StepAside`]) at each step of its work:
//! every 4 kB of a JPEG's data as it is decoded, every row of the checks' working copy, between
//! a model's layers, tens of microseconds apart. It waits in naps of [`NAP`], during which its
//! CPU is idle, up to its budget in all, so that a steady stream of requests slows the analyses
//! but never starves them. PostgreSQL's vacuum cost delay is the same idea for the disk:
//! background work that leaves the machine to the foreground's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long one analysis may wait in all, by default: not at all. Stepping aside costs the
/// analyses the time the requests take (at 400 requests/s, 12 ms of an analysis's 35 here, and
/// a third of their throughput); what it gives the requests' tail could not yet be told apart
/// from the noise of the machines it was measured on (docs/PERFORMANCE.md). Measure it on
/// yours with `fieldproof bench analyze --analysis-step-aside-ms 30`.
pub const DEFAULT_BUDGET: Duration = Duration::ZERO;

/// How long an analysis sleeps before it looks again.
pub const NAP: Duration = Duration::from_micros(50);

/// The requests being answered, other than analyses.
#[derive(Debug, Default)]
pub struct Requests {
    in_flight: AtomicUsize,
}

impl Requests {
    /// Counts one request until the returned guard is dropped.
    pub fn answering(self: &Arc<Self>) -> Answering {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Answering(self.clone())
    }

    /// How many requests are being answered now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// One request being answered (see [`Requests::answering`]).
#[derive(Debug)]
pub struct Answering(Arc<Requests>);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One analysis's stepping aside: it waits at most `budget` in all.
#[derive(Debug)]
pub struct StepAside {
    requests: Arc<Requests>,
    left: Duration,
}

impl StepAside {
    /// A zero budget never waits.
    pub fn new(requests: Arc<Requests>, budget: Duration) -> Self {
        Self {
            requests,
            left: budget,
        }
    }

    /// Waits while other requests are being answered, until none is or the budget is spent;
    /// returns how long it waited (zero when nothing was being answered).
    pub fn now(&mut self) -> Duration {
        if self.left.is_zero() || self.requests.in_flight() == 0 {
            return Duration::ZERO;
        }
        let started = Instant::now();
        let end = started + self.left;
        while self.requests.in_flight() > 0 {
            let now = Instant::now();
            if now >= end {
                break;
            }
            std::thread::sleep(NAP.min(end - now));
        }
        let waited = started.elapsed();
        self.left = self.left.saturating_sub(waited);
        waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_counted_until_its_guard_drops() {
        let requests = Arc::new(Requests::default());
        let a = requests.answering();
        let b = requests.answering();
        assert_eq!(requests.in_flight(), 2);
        drop(a);
        assert_eq!(requests.in_flight(), 1);
        drop(b);
        assert_eq!(requests.in_flight(), 0);
    }

    #[test]
    fn nothing_is_waited_for_when_no_request_is_being_answered() {
        let requests = Arc::new(Requests::default());
        let mut aside = StepAside::new(requests, Duration::from_secs(5));
        assert_eq!(aside.now(), Duration::ZERO);
    }

    #[test]
    fn a_zero_budget_never_waits() {
        let requests = Arc::new(Requests::default());
        let _busy = requests.answering();
        let mut aside = StepAside::new(requests.clone(), Duration::ZERO);
        assert_eq!(aside.now(), Duration::ZERO);
    }

    #[test]
    fn the_wait_ends_when_the_last_request_is_answered() {
        let requests = Arc::new(Requests::default());
        let busy = requests.answering();
        let mut aside = StepAside::new(requests.clone(), Duration::from_secs(30));
        let answered = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            drop(busy);
        });
        let waited = aside.now();
        answered.join().unwrap();
        assert_eq!(requests.in_flight(), 0);
        // It waited for the request (about 20 ms), and stopped long before its budget.
        assert!(waited >= Duration::from_millis(15), "{waited:?}");
        assert!(waited < Duration::from_secs(20), "{waited:?}");
    }

    #[test]
    fn the_budget_bounds_the_wait_of_one_analysis_in_all() {
        let requests = Arc::new(Requests::default());
        let _never_answered = requests.answering();
        let mut aside = StepAside::new(requests, Duration::from_millis(30));
        let waited: Duration = (0..5).map(|_| aside.now()).sum();
        // The budget is spent by the first waits; the later ones return at once.
        assert!(waited >= Duration::from_millis(30), "{waited:?}");
        assert!(waited < Duration::from_millis(30) + Duration::from_secs(5));
        assert_eq!(aside.now(), Duration::ZERO);
    }
}
