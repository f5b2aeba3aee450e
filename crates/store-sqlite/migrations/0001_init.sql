-- Sites, users, keys, application versions and work orders.
-- Ids are UUID text; times are microseconds since the Unix epoch (UTC); JSON is text.

CREATE TABLE sites (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    current_app_version_id TEXT,
    create_date INTEGER NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    email TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    role TEXT NOT NULL,
    create_date INTEGER NOT NULL,
    UNIQUE (site_id, email)
);

CREATE TABLE user_groups (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    name TEXT NOT NULL,
    create_date INTEGER NOT NULL,
    UNIQUE (site_id, name)
);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    user_id TEXT NOT NULL REFERENCES users(id),
    hash TEXT NOT NULL UNIQUE,
    display_prefix TEXT NOT NULL,
    label TEXT NOT NULL,
    create_date INTEGER NOT NULL,
    revoked_date INTEGER
);

CREATE TABLE app_versions (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    app_name TEXT NOT NULL,
    version INTEGER NOT NULL,
    spec TEXT NOT NULL,
    create_date INTEGER NOT NULL,
    UNIQUE (site_id, app_name, version)
);

CREATE TABLE work_orders (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    app_version_id TEXT NOT NULL REFERENCES app_versions(id),
    name TEXT NOT NULL,
    metadata TEXT NOT NULL,
    tags TEXT NOT NULL,
    parameters TEXT,
    types TEXT NOT NULL,
    field_engineer_user_id TEXT,
    field_engineer_email TEXT,
    field_engineer_name TEXT,
    user_group_ids TEXT NOT NULL,
    progress_score REAL NOT NULL,
    review_date INTEGER,
    create_date INTEGER NOT NULL,
    update_date INTEGER NOT NULL,
    first_analysis_id TEXT,
    latest_analysis_id TEXT
);
CREATE INDEX work_orders_by_site_date ON work_orders (site_id, create_date DESC, id DESC);
CREATE INDEX work_orders_by_name ON work_orders (site_id, name);
CREATE INDEX work_orders_by_engineer ON work_orders (site_id, field_engineer_email);

-- What list filters look up: tags (kind 't'), type names ('y') and metadata values ('m', with
-- the metadata key). Kept in step with the work order by every write.
CREATE TABLE work_order_index (
    site_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    work_order_id TEXT NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
    PRIMARY KEY (site_id, kind, key, value, work_order_id)
) WITHOUT ROWID;
CREATE INDEX work_order_index_by_work_order ON work_order_index (work_order_id);

CREATE TABLE task_states (
    work_order_id TEXT NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
    task_name TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (work_order_id, task_name)
) WITHOUT ROWID;

CREATE TABLE idempotency_keys (
    site_id TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    create_date INTEGER NOT NULL,
    PRIMARY KEY (site_id, key)
) WITHOUT ROWID;
