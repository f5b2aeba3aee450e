-- Inputs received for analysis, the analyses themselves, and corrections.

CREATE TABLE inputs (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    work_order_id TEXT NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
    task_group_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    phash INTEGER,
    status TEXT NOT NULL,
    conformity_messages TEXT NOT NULL,
    analysis_id TEXT NOT NULL,
    create_date INTEGER NOT NULL
);
CREATE INDEX inputs_by_work_order ON inputs (work_order_id, create_date);

CREATE TABLE analyses (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    work_order_id TEXT NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
    input_id TEXT NOT NULL,
    task_group_name TEXT NOT NULL,
    app_version_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    conformity_messages TEXT NOT NULL,
    task_values TEXT NOT NULL,
    details TEXT NOT NULL,
    model_hashes TEXT NOT NULL,
    create_date INTEGER NOT NULL
);
CREATE INDEX analyses_by_work_order ON analyses (work_order_id, create_date);

CREATE TABLE corrections (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    work_order_id TEXT NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
    task_name TEXT NOT NULL,
    corrected_value TEXT,
    create_date INTEGER NOT NULL
);
