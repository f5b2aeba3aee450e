//! Rate limits: a token bucket per API key for all requests, a stricter one per key for
//! analyses (they cost CPU), and one per client address for failed authentications.
//!
//! Decision: the buckets live in the process. With N replicas a key gets up to N times its rate;
//! the limits exist to keep one noisy client from starving the others on a server, not to bill,
//! so approximate-per-replica is the right trade against a store round trip on every request.
//! (A shared limit would go in the store or a Redis; documented in docs/SECURITY.md.)

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// A sustained rate and a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// Parses `RATE/s` or `RATE/s,BURST` (for example `50/s,100`).
    pub fn parse(s: &str) -> Result<Rate, String> {
        let (rate, burst) = match s.split_once(',') {
            Some((r, b)) => (r.trim(), Some(b.trim())),
            None => (s.trim(), None),
        };
        let per_second: f64 = rate
            .strip_suffix("/s")
            .and_then(|r| r.trim().parse().ok())
            .filter(|r: &f64| r.is_finite() && *r > 0.0)
            .ok_or_else(|| format!("{s:?}: expected RATE/s or RATE/s,BURST, such as 50/s,100"))?;
        let burst = match burst {
            None => per_second * 2.0,
            Some(b) => b
                .parse::<f64>()
                .ok()
                .filter(|b| b.is_finite() && *b >= 1.0)
                .ok_or_else(|| format!("{s:?}: the burst must be a number of at least 1"))?,
        };
        Ok(Rate { per_second, burst })
    }
}

#[derive(Debug, Clone, Default)]
pub struct RateLimits {
    /// Every authenticated request of one key. `None`: unlimited.
    pub per_key: Option<Rate>,
    /// Analyses of one key (on top of `per_key`).
    pub analyses_per_key: Option<Rate>,
    /// Failed authentications from one client address.
    pub failed_auth_per_address: Option<Rate>,
}

impl RateLimits {
    /// The defaults of `fieldproof serve`: generous for integrations, strict for guessing keys.
    pub fn recommended() -> Self {
        Self {
            per_key: Some(Rate {
                per_second: 200.0,
                burst: 400.0,
            }),
            analyses_per_key: Some(Rate {
                per_second: 10.0,
                burst: 20.0,
            }),
            failed_auth_per_address: Some(Rate {
                per_second: 1.0,
                burst: 10.0,
            }),
        }
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets by key; a bucket that has refilled completely is forgotten (memory stays bounded
/// by the number of clients active within one burst time).
struct Buckets<K> {
    rate: Rate,
    map: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    fn new(rate: Rate) -> Self {
        Self {
            rate,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token; `Err(wait)` when there is none, with how long until there is.
    fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut map = self.map.lock().expect("rate limit lock");
        if map.len() > 10_000 {
            let rate = self.rate;
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.at).as_secs_f64() * rate.per_second < rate.burst
            });
        }
        let b = map.entry(key.clone()).or_insert(Bucket {
            tokens: self.rate.burst,
            at: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * self.rate.per_second)
            .min(self.rate.burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - b.tokens) / self.rate.per_second,
            ))
        }
    }
}

pub struct Limiter {
    per_key: Option<Buckets<Uuid>>,
    analyses: Option<Buckets<Uuid>>,
    failed_auth: Option<Buckets<IpAddr>>,
}

impl Limiter {
    pub fn new(limits: &RateLimits) -> Self {
        Self {
            per_key: limits.per_key.map(Buckets::new),
            analyses: limits.analyses_per_key.map(Buckets::new),
            failed_auth: limits.failed_auth_per_address.map(Buckets::new),
        }
    }

    pub fn request(&self, key_id: Uuid) -> Result<(), Duration> {
        self.per_key
            .as_ref()
            .map_or(Ok(()), |b| b.take(&key_id, Instant::now()))
    }

    pub fn analysis(&self, key_id: Uuid) -> Result<(), Duration> {
        self.analyses
            .as_ref()
            .map_or(Ok(()), |b| b.take(&key_id, Instant::now()))
    }

    /// Counts a failed authentication from `addr`; `Err(wait)` once the address has failed
    /// more than its burst.
    pub fn failed_authentication(&self, addr: IpAddr) -> Result<(), Duration> {
        self.failed_auth
            .as_ref()
            .map_or(Ok(()), |b| b.take(&addr, Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_its_rate() {
        let b = Buckets::new(Rate {
            per_second: 10.0,
            burst: 5.0,
        });
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(b.take(&1, t0).is_ok());
        }
        let wait = b.take(&1, t0).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        assert!(b.take(&2, t0).is_ok(), "another key has its own bucket");
        assert!(
            b.take(&1, t0 + Duration::from_millis(100)).is_ok(),
            "one token per 100 ms"
        );
        assert!(b.take(&1, t0 + Duration::from_millis(100)).is_err());
    }

    #[test]
    fn rates_parse() {
        assert_eq!(
            Rate::parse("50/s,100").unwrap(),
            Rate {
                per_second: 50.0,
                burst: 100.0
            }
        );
        assert_eq!(
            Rate::parse("5/s").unwrap(),
            Rate {
                per_second: 5.0,
                burst: 10.0
            }
        );
        for bad in ["50", "0/s", "x/s", "5/s,0", "-1/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }
}
