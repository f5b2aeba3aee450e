-- The durable job queue (see fieldproof_store::jobs), and one analysis per input.

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    site_id TEXT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    run_after INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    last_error TEXT,
    create_date INTEGER NOT NULL,
    update_date INTEGER NOT NULL
);
-- What a claim scans, in claim order: expired leases, then queued jobs. Done and dead jobs pile
-- up outside both.
CREATE INDEX jobs_leases ON jobs (lease_until, id) WHERE state = 'running';
CREATE INDEX jobs_queued ON jobs (run_after, create_date, id) WHERE state = 'queued';
CREATE INDEX jobs_by_state ON jobs (state, create_date);

-- record_analysis is idempotent by input: at most one analysis per input, also in the schema.
CREATE UNIQUE INDEX analyses_by_input ON analyses (input_id);
