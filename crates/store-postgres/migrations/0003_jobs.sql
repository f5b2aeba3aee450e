-- The durable job queue (see fieldproof_store::jobs), and one analysis per input: the same as
-- the SQLite engine's 0003_jobs.sql.

CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    site_id uuid,
    kind text NOT NULL,
    payload json NOT NULL,
    state text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts integer NOT NULL,
    max_attempts integer NOT NULL,
    run_after bigint NOT NULL,
    lease_owner text,
    lease_until bigint,
    last_error text,
    create_date bigint NOT NULL,
    update_date bigint NOT NULL
);
-- What a claim scans, in claim order: expired leases, then queued jobs. Done and dead jobs pile
-- up outside both, so a claim costs the same after a million finished jobs.
CREATE INDEX jobs_leases ON jobs (lease_until, id) WHERE state = 'running';
CREATE INDEX jobs_queued ON jobs (run_after, create_date, id) WHERE state = 'queued';
CREATE INDEX jobs_by_state ON jobs (state, create_date);

-- record_analysis is idempotent by input: at most one analysis per input, also in the schema.
CREATE UNIQUE INDEX analyses_by_input ON analyses (input_id);
