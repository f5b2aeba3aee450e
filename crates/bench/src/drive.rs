//! Running one phase of load: N keep-alive connections, closed loop or open loop, for a bounded
//! time.
//!
//! - Closed loop: each connection sends its next request as soon as the previous answer is in.
//!   Throughput is what the server sustains at that concurrency; latency is from send to answer.
//! - Open loop: requests are due at a fixed rate whatever the server does (request `j` is due at
//!   `start + j / rate`). An idle connection takes the next due request, waits for its time and
//!   sends it; latency is measured from the time it was DUE, not from when it was sent, so a
//!   server that stalls is charged for every request that queued behind the stall (no
//!   coordinated omission: a stall cannot hide by slowing the generator down).
//!
//! A phase stops by itself: closed loops stop sending at the deadline; open loops stop at the
//! end of their schedule, and requests still unanswered `grace` after it count as unfinished.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::http::Connection;
use crate::stats::OpStats;
use crate::workload::{create_body, update_body, Op, Rng, Workload};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    Closed,
    /// Requests per second, offered whatever the answers.
    Open {
        rate: f64,
    },
}

#[derive(Debug, Clone)]
pub struct Phase {
    pub connections: usize,
    pub duration: Duration,
    pub pace: Pace,
    /// One request's limit: past it the request counts as a timeout error.
    pub timeout: Duration,
    /// Open loop: how long after the schedule's end unanswered requests are still waited for.
    pub grace: Duration,
    pub seed: u64,
}

/// Where the load goes.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// `Authorization: Token` keys, used in turn request after request (the server limits each
    /// key's rate, as it should: heavy load comes from many integrators, so with many keys).
    /// Empty for the baselines, which check nothing.
    pub keys: Vec<String>,
}

#[derive(Debug, Default)]
pub struct PhaseResult {
    pub ops: BTreeMap<Op, OpStats>,
    /// From the first request to the last answer.
    pub elapsed: Duration,
    /// Open loop: requests not answered by the end of the grace period (or never sent).
    pub unfinished: u64,
    /// Open loop: how late requests were SENT after being due (the generator's own lag, or
    /// every connection busy): the 99th percentile, in microseconds.
    pub send_lag_p99: u32,
    pub connect_errors: u64,
}

impl PhaseResult {
    pub fn total_ok(&self) -> u64 {
        self.ops.values().map(|s| s.micros.len() as u64).sum()
    }

    pub fn total_errors(&self) -> u64 {
        self.ops.values().map(|s| s.error_count()).sum::<u64>() + self.unfinished
    }

    /// Successful requests per second.
    pub fn throughput(&self) -> f64 {
        self.total_ok() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// All kinds of request together.
    pub fn all(&self) -> OpStats {
        let mut all = OpStats::default();
        for s in self.ops.values() {
            all.merge(s.clone());
        }
        all
    }
}

struct Worker {
    target: Arc<Target>,
    next_key: usize,
    conn: Connection,
    rng: Rng,
    workload: Workload,
    /// Ids this connection created, for its retrieves and updates (a ring of the latest).
    mine: Vec<String>,
    next_mine: usize,
    serial: u64,
    ops: BTreeMap<Op, OpStats>,
    lags: Vec<u32>,
}

const KEEP_IDS: usize = 256;

#[derive(serde::Deserialize)]
struct Created {
    id: String,
}

impl Worker {
    fn target_id(&mut self) -> Option<String> {
        // Half the time an id of the generated data (when there is some), else one of ours.
        if self.mine.is_empty() || self.rng.chance(0.5) {
            if let Some(id) = self.workload.known.draw(&mut self.rng) {
                return Some(id.to_string());
            }
        }
        if self.mine.is_empty() {
            return None;
        }
        Some(self.mine[self.rng.below(self.mine.len() as u64) as usize].clone())
    }

    /// Sends one request of the mix; returns the kind and whether it succeeded, timing left to
    /// the caller.
    async fn one(&mut self, timeout: Duration) -> (Op, Result<(), String>) {
        let mut op = self.workload.mix.pick(&mut self.rng);
        let id = match op {
            Op::Retrieve | Op::Update => match self.target_id() {
                Some(id) => Some(id),
                None => {
                    op = Op::Create;
                    None
                }
            },
            _ => None,
        };
        let (method, path, body) = match op {
            Op::Create => {
                self.serial += 1;
                let body = create_body(
                    &mut self.rng,
                    self.serial,
                    self.workload.engineer_email.as_deref(),
                );
                ("POST", "/v0.2/work-orders/".to_string(), Some(body))
            }
            Op::Retrieve => (
                "GET",
                format!("/v0.2/work-orders/{}/", id.expect("drawn above")),
                None,
            ),
            Op::Update => (
                "PATCH",
                format!("/v0.2/work-orders/{}/", id.expect("drawn above")),
                Some(update_body(&mut self.rng)),
            ),
            Op::List(kind) => (
                "GET",
                format!("/v0.2/work-orders/?{}", kind.query(&mut self.rng)),
                None,
            ),
        };
        let keys = &self.target.keys;
        let key = (!keys.is_empty()).then(|| keys[self.next_key % keys.len()].as_str());
        self.next_key = self.next_key.wrapping_add(1);
        let sent = self
            .conn
            .send(method, &path, key, body.as_deref().map(str::as_bytes));
        let outcome = match tokio::time::timeout(timeout, sent).await {
            Err(_) => {
                // The socket may still get the late answer: never reuse it.
                self.conn = self.conn_like();
                Err("timeout".to_string())
            }
            Ok(Err(e)) => Err(format!("io: {}", e.kind())),
            Ok(Ok(r)) if r.status != op.expected_status() => Err(format!("status {}", r.status)),
            Ok(Ok(r)) => {
                if op == Op::Create {
                    self.remember(&r.body);
                }
                Ok(())
            }
        };
        (op, outcome)
    }

    fn conn_like(&self) -> Connection {
        Connection::new(self.target.addr)
    }

    fn remember(&mut self, body: &[u8]) {
        if let Ok(c) = serde_json::from_slice::<Created>(body) {
            if self.mine.len() < KEEP_IDS {
                self.mine.push(c.id);
            } else {
                self.mine[self.next_mine] = c.id;
                self.next_mine = (self.next_mine + 1) % KEEP_IDS;
            }
        }
    }

    fn record(&mut self, op: Op, outcome: Result<(), String>, latency: Duration) {
        let stats = self.ops.entry(op).or_default();
        match outcome {
            Ok(()) => stats.ok(latency),
            Err(reason) => stats.error(reason),
        }
    }
}

/// Runs one phase against `target` and returns what every connection measured.
pub async fn run(target: &Target, workload: &Workload, phase: &Phase) -> PhaseResult {
    let target = Arc::new(target.clone());
    // Connect everyone first: the phase measures requests, not a thousand handshakes at once.
    let mut connect = JoinSet::new();
    for i in 0..phase.connections {
        let target = target.clone();
        let workload = workload.clone();
        let seed = phase.seed.wrapping_mul(1_000_003).wrapping_add(i as u64);
        connect.spawn(async move {
            let mut conn = Connection::new(target.addr);
            let connected = conn.connect().await.is_ok();
            let worker = Worker {
                target,
                next_key: i,
                conn,
                rng: Rng::new(seed),
                workload,
                mine: Vec::new(),
                next_mine: 0,
                serial: seed << 20,
                ops: BTreeMap::new(),
                lags: Vec::new(),
            };
            (worker, connected)
        });
    }
    let mut workers = Vec::with_capacity(phase.connections);
    let mut connect_errors = 0;
    while let Some(joined) = connect.join_next().await {
        let (worker, connected) = joined.expect("connect task");
        connect_errors += u64::from(!connected);
        workers.push(worker);
    }

    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for mut w in workers {
        let phase = phase.clone();
        let next = next.clone();
        tasks.spawn(async move {
            let mut unfinished = 0u64;
            match phase.pace {
                Pace::Closed => {
                    let end = start + phase.duration;
                    while Instant::now() < end {
                        let sent = Instant::now();
                        let (op, outcome) = w.one(phase.timeout).await;
                        w.record(op, outcome, sent.elapsed());
                    }
                }
                Pace::Open { rate } => {
                    let total = (rate * phase.duration.as_secs_f64()).round() as u64;
                    let hard_stop = start + phase.duration + phase.grace;
                    loop {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        if j >= total {
                            break;
                        }
                        let due = start + Duration::from_secs_f64(j as f64 / rate);
                        tokio::time::sleep_until(due).await;
                        let now = Instant::now();
                        if now >= hard_stop {
                            unfinished += 1;
                            continue;
                        }
                        w.lags
                            .push((now - due).as_micros().min(u32::MAX as u128) as u32);
                        let limit = phase.timeout.min(hard_stop - now);
                        let (op, outcome) = w.one(limit).await;
                        match outcome {
                            Err(reason) if reason == "timeout" && Instant::now() >= hard_stop => {
                                unfinished += 1
                            }
                            outcome => w.record(op, outcome, due.elapsed()),
                        }
                    }
                }
            }
            (w.ops, w.lags, unfinished, Instant::now())
        });
    }
    let mut result = PhaseResult {
        connect_errors,
        ..Default::default()
    };
    let mut lags = Vec::new();
    let mut last = start;
    while let Some(joined) = tasks.join_next().await {
        let (ops, worker_lags, unfinished, finished) = joined.expect("load task");
        for (op, stats) in ops {
            result.ops.entry(op).or_default().merge(stats);
        }
        lags.extend(worker_lags);
        result.unfinished += unfinished;
        last = last.max(finished);
    }
    lags.sort_unstable();
    result.send_lag_p99 = crate::stats::percentile(&lags, 0.99);
    result.elapsed = last - start;
    result
}
