//! The durable job queue: a job's life (enqueue, claim, heartbeat, complete), claim order,
//! leases taken over after they expire, back-off and dead letters, and claims racing from
//! several stores on one storage (as several worker processes do).
//!
//! Times are given by the suite, so leases expire without waiting: a claim "at" a later time is
//! what a worker whose clock reached it would do.

use std::collections::HashSet;
use std::sync::Arc;

use fieldproof_store::*;
use serde_json::json;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::fixtures::*;
use crate::Ctx;

const LEASE: i64 = 30_000_000;

pub fn new_job(kind: &str, run_after: i64, create_date: i64) -> NewJob {
    NewJob {
        id: Uuid::new_v4(),
        site_id: None,
        kind: kind.to_string(),
        payload: json!({"input_id": Uuid::new_v4(), "nested": {"n": [1, 2.5, null, "x"]}}),
        max_attempts: 3,
        run_after,
        create_date,
    }
}

fn kinds(names: &[&str]) -> Vec<String> {
    names.iter().map(|k| k.to_string()).collect()
}

async fn claim(s: &Arc<dyn Store>, worker: &str, kind: &str, now: i64) -> Option<Job> {
    ok(
        s.claim_job(worker, &kinds(&[kind]), now, LEASE).await,
        "claim_job",
    )
}

async fn stored(s: &Arc<dyn Store>, id: Uuid) -> Job {
    ok(s.get_job(None, id).await, "get_job").expect("the job is stored")
}

pub async fn lifecycle(mut cx: Ctx) {
    let s = cx.store.clone();
    let a = ok(s.create_site(site("site-a")).await, "create_site");
    let b = ok(s.create_site(site("site-b")).await, "create_site");
    let new = NewJob {
        site_id: Some(a.id),
        ..new_job("export", T0 + 100, T0)
    };
    let queued = ok(s.enqueue_job(new.clone()).await, "enqueue_job");
    let want = Job {
        id: new.id,
        site_id: Some(a.id),
        kind: "export".into(),
        payload: new.payload.clone(),
        state: JobState::Queued,
        attempts: 0,
        max_attempts: 3,
        run_after: T0 + 100,
        lease_owner: None,
        lease_until: None,
        last_error: None,
        create_date: T0,
        update_date: T0,
    };
    assert_eq!(queued, want, "enqueue_job returns the job as stored");
    let again = NewJob {
        payload: json!("something else"),
        ..new.clone()
    };
    assert_eq!(
        ok(s.enqueue_job(again).await, "enqueue_job"),
        want,
        "enqueuing an id again changes nothing and returns the stored job"
    );
    let one = ok(
        s.enqueue_job(NewJob {
            max_attempts: 0,
            ..new_job("other", T0, T0)
        })
        .await,
        "enqueue_job",
    );
    assert_eq!(one.max_attempts, 1, "max_attempts below 1 counts as 1");

    // Scoping of get_job.
    assert_eq!(
        ok(s.get_job(Some(a.id), new.id).await, "get_job"),
        Some(want.clone())
    );
    assert_eq!(
        ok(s.get_job(Some(b.id), new.id).await, "get_job"),
        None,
        "another site's job is not found"
    );
    assert_eq!(
        ok(s.get_job(Some(a.id), one.id).await, "get_job"),
        None,
        "a job of no site is not a site's"
    );

    // Nothing to claim: no kinds, another kind, not yet due.
    assert_eq!(
        ok(s.claim_job("w1#1", &[], T0 + 500, LEASE).await, "claim_job"),
        None,
        "no kinds claim nothing"
    );
    assert_eq!(claim(&s, "w1#1", "webhook", T0 + 500).await, None);
    assert_eq!(
        claim(&s, "w1#1", "export", T0 + 99).await,
        None,
        "not due before run_after"
    );

    let running = claim(&s, "w1#1", "export", T0 + 100)
        .await
        .expect("due at run_after");
    let want = Job {
        state: JobState::Running,
        attempts: 1,
        lease_owner: Some("w1#1".into()),
        lease_until: Some(T0 + 100 + LEASE),
        update_date: T0 + 100,
        ..want
    };
    assert_eq!(running, want, "the claimed job, as returned");
    assert_eq!(stored(&s, new.id).await, want, "the claimed job, as stored");
    assert_eq!(
        claim(&s, "w2#1", "export", T0 + 200).await,
        None,
        "a job held under a lease is not claimed again"
    );

    // Heartbeats: only the owner's count.
    assert!(!ok(
        s.heartbeat_job(new.id, "w2#1", T0 + 300, LEASE).await,
        "heartbeat_job"
    ));
    assert!(ok(
        s.heartbeat_job(new.id, "w1#1", T0 + 300, LEASE).await,
        "heartbeat_job"
    ));
    let job = stored(&s, new.id).await;
    assert_eq!(
        job.lease_until,
        Some(T0 + 300 + LEASE),
        "a heartbeat extends the lease"
    );
    assert_eq!(job.lease_owner.as_deref(), Some("w1#1"));

    // Completion: only the owner's, once.
    assert!(!ok(
        s.complete_job(new.id, "w2#1", T0 + 400).await,
        "complete_job"
    ));
    assert!(ok(
        s.complete_job(new.id, "w1#1", T0 + 400).await,
        "complete_job"
    ));
    let done = stored(&s, new.id).await;
    assert_eq!(
        (
            done.state,
            done.attempts,
            done.lease_until,
            done.update_date
        ),
        (JobState::Done, 1, None, T0 + 400),
        "a completed job is done"
    );
    assert!(!ok(
        s.complete_job(new.id, "w1#1", T0 + 401).await,
        "complete_job"
    ));
    assert!(!ok(
        s.heartbeat_job(new.id, "w1#1", T0 + 401, LEASE).await,
        "heartbeat_job"
    ));
    assert_eq!(
        claim(&s, "w1#2", "export", T0 + 2 * LEASE).await,
        None,
        "a done job never runs again"
    );

    for round in ["before reopening", "after reopening"] {
        assert_eq!(stored(&s, new.id).await, done, "{round}");
        let listed = ok(s.list_jobs(Some(JobState::Done), 10).await, "list_jobs");
        assert_eq!(listed, vec![done.clone()], "{round}: the done jobs");
        let all = ok(s.list_jobs(None, 10).await, "list_jobs");
        assert_eq!(
            all.iter().map(|j| j.id).collect::<Vec<_>>(),
            // Newest first: both were created at T0, so the larger id first.
            {
                let mut ids = vec![new.id, one.id];
                ids.sort_by(|x, y| y.cmp(x));
                ids
            },
            "{round}: every job, newest first"
        );
        assert_eq!(
            ok(s.list_jobs(None, 1).await, "list_jobs").len(),
            1,
            "limit"
        );
        if round == "before reopening" {
            cx.reopen().await;
        }
    }
}

pub async fn claim_order(cx: Ctx) {
    let s = cx.store.clone();
    // Due first comes first; between equal run_after, created first.
    let late = new_job("k", T0 + 30, T0);
    let second = new_job("k", T0 + 10, T0 + 2);
    let first = new_job("k", T0 + 10, T0 + 1);
    let expiring = new_job("k", T0 + 20, T0 + 3);
    for job in [&late, &second, &first, &expiring] {
        ok(s.enqueue_job(job.clone()).await, "enqueue_job");
    }
    let order = |j: Option<Job>| j.expect("a due job").id;
    assert_eq!(order(claim(&s, "w#1", "k", T0 + 100).await), first.id);
    assert_eq!(order(claim(&s, "w#2", "k", T0 + 100).await), second.id);
    // A short lease on `expiring`: once it has expired, that job comes before the queued one.
    let taken = ok(
        s.claim_job("w#3", &kinds(&["k"]), T0 + 100, 50).await,
        "claim_job",
    );
    assert_eq!(order(taken), expiring.id);
    assert_eq!(
        order(claim(&s, "w#4", "k", T0 + 150).await),
        expiring.id,
        "an expired lease is taken before queued jobs"
    );
    assert_eq!(order(claim(&s, "w#5", "k", T0 + 150).await), late.id);
    assert_eq!(claim(&s, "w#6", "k", T0 + 150).await, None);
    // Several kinds in one claim.
    let x = ok(s.enqueue_job(new_job("x", T0, T0)).await, "enqueue_job");
    let y = ok(s.enqueue_job(new_job("y", T0, T0)).await, "enqueue_job");
    let mut got = HashSet::new();
    for w in ["w#7", "w#8"] {
        let job = ok(
            s.claim_job(w, &kinds(&["x", "y", "z"]), T0 + 200, LEASE)
                .await,
            "claim_job",
        );
        got.insert(order(job));
    }
    assert_eq!(
        got,
        HashSet::from([x.id, y.id]),
        "a claim takes any listed kind"
    );
}

pub async fn lease_takeover(cx: Ctx) {
    let s = cx.store.clone();
    let job = ok(s.enqueue_job(new_job("k", T0, T0)).await, "enqueue_job");
    let lease = 1_000;
    let old = ok(
        s.claim_job("old#1", &kinds(&["k"]), T0, lease).await,
        "claim_job",
    )
    .expect("due");
    assert_eq!(old.lease_until, Some(T0 + lease));
    assert_eq!(
        claim(&s, "new#1", "k", T0 + lease - 1).await,
        None,
        "a lease holds until it expires"
    );
    let new = claim(&s, "new#1", "k", T0 + lease)
        .await
        .expect("an expired lease is taken over");
    assert_eq!(
        (new.id, new.attempts, new.lease_owner.as_deref()),
        (job.id, 2, Some("new#1")),
        "the takeover is a new attempt by the new owner"
    );
    let at = T0 + lease + 10;
    assert!(
        !ok(
            s.heartbeat_job(job.id, "old#1", at, lease).await,
            "heartbeat_job"
        ),
        "the old owner cannot extend a lease taken over"
    );
    assert!(
        !ok(s.complete_job(job.id, "old#1", at).await, "complete_job"),
        "the old owner cannot complete a job taken over"
    );
    assert_eq!(
        ok(
            s.fail_job(job.id, "old#1", "late", at, Some(at)).await,
            "fail_job"
        ),
        None,
        "the old owner cannot fail a job taken over"
    );
    let current = stored(&s, job.id).await;
    assert_eq!(current, new, "the old owner's calls wrote nothing");
    // An expired lease nobody took over still belongs to its owner.
    assert!(ok(
        s.heartbeat_job(job.id, "new#1", T0 + 5 * lease, lease)
            .await,
        "heartbeat_job"
    ));
    assert!(ok(
        s.complete_job(job.id, "new#1", T0 + 5 * lease).await,
        "complete_job"
    ));
}

pub async fn retries_and_dead_letters(cx: Ctx) {
    let s = cx.store.clone();
    let job = ok(s.enqueue_job(new_job("k", T0, T0)).await, "enqueue_job");
    let mut now = T0;
    for attempt in 1..=3u32 {
        let claimed = claim(&s, &format!("w#{attempt}"), "k", now)
            .await
            .unwrap_or_else(|| panic!("attempt {attempt} is due"));
        assert_eq!(claimed.attempts, attempt);
        let retry_at = now + 1_000;
        let failed = ok(
            s.fail_job(
                job.id,
                &format!("w#{attempt}"),
                &format!("boom {attempt}"),
                now + 10,
                Some(retry_at),
            )
            .await,
            "fail_job",
        )
        .expect("the owner fails its attempt");
        assert_eq!(failed, stored(&s, job.id).await, "fail_job returns the job");
        assert_eq!(
            failed.last_error.as_deref(),
            Some(&*format!("boom {attempt}"))
        );
        assert_eq!(failed.lease_until, None);
        assert_eq!(failed.update_date, now + 10);
        if attempt < 3 {
            assert_eq!(
                (failed.state, failed.run_after),
                (JobState::Queued, retry_at),
                "attempt {attempt} of 3 failed: back to the queue, due at retry_at"
            );
            assert_eq!(
                claim(&s, "early#1", "k", retry_at - 1).await,
                None,
                "not retried before retry_at"
            );
            now = retry_at;
        } else {
            assert_eq!(
                failed.state,
                JobState::Dead,
                "the last allowed attempt failed: dead-lettered"
            );
        }
    }
    assert_eq!(claim(&s, "w#4", "k", now + 1_000_000).await, None);
    assert_eq!(
        ok(s.list_jobs(Some(JobState::Dead), 10).await, "list_jobs")
            .iter()
            .map(|j| j.id)
            .collect::<Vec<_>>(),
        vec![job.id]
    );

    // An operator requeues it: a fresh count of attempts, due now, the last error kept.
    let requeued = ok(
        s.requeue_dead_job(job.id, T0 + 9_000).await,
        "requeue_dead_job",
    )
    .expect("a dead job is requeued");
    assert_eq!(
        (
            requeued.state,
            requeued.attempts,
            requeued.run_after,
            requeued.last_error.as_deref()
        ),
        (JobState::Queued, 0, T0 + 9_000, Some("boom 3"))
    );
    assert_eq!(
        ok(
            s.requeue_dead_job(job.id, T0 + 9_001).await,
            "requeue_dead_job"
        ),
        None,
        "only a dead job is requeued"
    );
    assert_eq!(
        ok(
            s.requeue_dead_job(Uuid::new_v4(), T0).await,
            "requeue_dead_job"
        ),
        None
    );

    // An error retrying cannot fix: dead at once, attempts left or not.
    claim(&s, "w#5", "k", T0 + 9_000).await.expect("due again");
    let fatal = ok(
        s.fail_job(job.id, "w#5", "bad payload", T0 + 9_010, None)
            .await,
        "fail_job",
    )
    .expect("owned");
    assert_eq!((fatal.state, fatal.attempts), (JobState::Dead, 1));

    // A job whose worker vanishes on its last attempt is dead-lettered, not run again.
    let crashy = ok(
        s.enqueue_job(NewJob {
            max_attempts: 2,
            ..new_job("crashy", T0, T0)
        })
        .await,
        "enqueue_job",
    );
    let lease = 100;
    for at in [T0, T0 + lease] {
        let j = ok(
            s.claim_job("crash#1", &kinds(&["crashy"]), at, lease).await,
            "claim_job",
        );
        assert!(j.is_some(), "attempt at {at} is claimed");
    }
    assert_eq!(
        claim(&s, "crash#2", "crashy", T0 + 2 * lease).await,
        None,
        "no third attempt"
    );
    let dead = stored(&s, crashy.id).await;
    assert_eq!((dead.state, dead.attempts), (JobState::Dead, 2));
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|e| e.contains("attempt 2 of 2") && e.contains("without an answer")),
        "the dead letter says why: {:?}",
        dead.last_error
    );
}

const RACED_JOBS: usize = 200;
const CLAIMERS: usize = 8;

pub async fn concurrent_claims(cx: Ctx) {
    let first = cx.store.clone();
    // Half the claimers go through a second store on the same storage, as a second process.
    let second = cx.open_another().await;
    let mut ids = HashSet::new();
    for i in 0..RACED_JOBS {
        let job = ok(
            first.enqueue_job(new_job("race", T0, T0 + i as i64)).await,
            "enqueue_job",
        );
        ids.insert(job.id);
    }
    let mut tasks = JoinSet::new();
    for c in 0..CLAIMERS {
        let store = if c % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        tasks.spawn(async move {
            let mut got = Vec::new();
            // Bounded: never more claims than jobs.
            for n in 0..=RACED_JOBS {
                let worker = format!("claimer-{c}#{n}");
                match ok(
                    store
                        .claim_job(&worker, &kinds(&["race"]), T0 + 10, LEASE)
                        .await,
                    "concurrent claim_job",
                ) {
                    Some(job) => {
                        assert_eq!(job.lease_owner.as_deref(), Some(&*worker));
                        got.push(job.id);
                    }
                    None => break,
                }
            }
            got
        });
    }
    let mut claimed = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        claimed.extend(joined.expect("a claimer panicked"));
    }
    let distinct: HashSet<Uuid> = claimed.iter().copied().collect();
    assert_eq!(
        claimed.len(),
        distinct.len(),
        "no job was claimed twice by concurrent claimers"
    );
    assert_eq!(distinct, ids, "every job was claimed");
    for store in [&first, &second] {
        let running = ok(
            store.list_jobs(Some(JobState::Running), 1_000).await,
            "list_jobs",
        );
        assert_eq!(running.len(), RACED_JOBS, "every job is running, once");
        assert!(running.iter().all(|j| j.attempts == 1));
    }
}
