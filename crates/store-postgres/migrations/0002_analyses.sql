-- Inputs received for analysis, the analyses themselves, and corrections: the same tables as
-- the SQLite engine's 0002_analyses.sql. Each goes with its work order (ON DELETE CASCADE).

CREATE TABLE inputs (
    id uuid PRIMARY KEY,
    site_id uuid NOT NULL,
    work_order_id uuid NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    task_group_name text NOT NULL,
    kind text NOT NULL,
    content_type text NOT NULL,
    blob_key text NOT NULL,
    -- u64 sizes and perceptual hashes, bit for bit in a signed bigint.
    size bigint NOT NULL,
    sha256 text NOT NULL,
    phash bigint,
    status text NOT NULL,
    conformity_messages json NOT NULL,
    analysis_id uuid NOT NULL,
    create_date bigint NOT NULL
);
CREATE INDEX inputs_by_work_order ON inputs (work_order_id, create_date, id);

CREATE TABLE analyses (
    id uuid PRIMARY KEY,
    site_id uuid NOT NULL,
    work_order_id uuid NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    input_id uuid NOT NULL,
    task_group_name text NOT NULL,
    app_version_id uuid NOT NULL,
    user_id uuid NOT NULL,
    status text NOT NULL,
    conformity_messages json NOT NULL,
    task_values json NOT NULL,
    details json NOT NULL,
    model_hashes json NOT NULL,
    create_date bigint NOT NULL
);
CREATE INDEX analyses_by_work_order ON analyses (work_order_id, create_date);

CREATE TABLE corrections (
    id uuid PRIMARY KEY,
    site_id uuid NOT NULL,
    work_order_id uuid NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    task_name text NOT NULL,
    corrected_value json,
    create_date bigint NOT NULL
);
CREATE INDEX corrections_by_work_order ON corrections (work_order_id);
