-- Sites, users, keys, application versions and work orders: the same tables as the SQLite engine
-- (crates/store-sqlite/migrations/0001_init.sql), in PostgreSQL's own types.
--
-- Ids are `uuid`; times are microseconds since the Unix epoch (UTC) in `bigint`, as in the store's
-- models. JSON documents are `json`, not `jsonb`: `json` keeps the exact text the store wrote, so
-- a document reads back exactly as given (key order, number spelling), like SQLite's text, and
-- nothing ever queries inside them.
--
-- Names and emails are `COLLATE "C"`: listings sort by bytes, as SQLite does, whatever locale
-- the database was created with (a linguistic collation would sort "alpha" before "Zeta").

CREATE TABLE sites (
    id uuid PRIMARY KEY,
    name text COLLATE "C" NOT NULL,
    current_app_version_id uuid,
    create_date bigint NOT NULL,
    CONSTRAINT sites_name_key UNIQUE (name)
);

CREATE TABLE users (
    id uuid PRIMARY KEY,
    site_id uuid NOT NULL REFERENCES sites (id),
    email text COLLATE "C" NOT NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    role text NOT NULL,
    create_date bigint NOT NULL,
    CONSTRAINT users_site_email_key UNIQUE (site_id, email)
);

CREATE TABLE user_groups (
    id uuid PRIMARY KEY,
    site_id uuid NOT NULL REFERENCES sites (id),
    name text COLLATE "C" NOT NULL,
    create_date bigint NOT NULL,
    CONSTRAINT user_groups_site_name_key UNIQUE (site_id, name)
);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    site_id uuid NOT NULL REFERENCES sites (id),
    user_id uuid NOT NULL REFERENCES users (id),
    hash text NOT NULL,
    display_prefix text NOT NULL,
    label text NOT NULL,
    create_date bigint NOT NULL,
    revoked_date bigint,
    CONSTRAINT api_keys_hash_key UNIQUE (hash)
);
CREATE INDEX api_keys_by_site ON api_keys (site_id, create_date);

CREATE TABLE app_versions (
    id uuid PRIMARY KEY,
    site_id uuid NOT NULL REFERENCES sites (id),
    app_name text COLLATE "C" NOT NULL,
    version integer NOT NULL,
    spec json NOT NULL,
    create_date bigint NOT NULL,
    CONSTRAINT app_versions_site_app_version_key UNIQUE (site_id, app_name, version)
);

CREATE TABLE work_orders (
    id uuid PRIMARY KEY,
    site_id uuid NOT NULL REFERENCES sites (id),
    app_version_id uuid NOT NULL REFERENCES app_versions (id),
    name text COLLATE "C" NOT NULL,
    metadata json NOT NULL,
    tags json NOT NULL,
    parameters json,
    types json NOT NULL,
    field_engineer_user_id uuid,
    field_engineer_email text COLLATE "C",
    field_engineer_name text,
    user_group_ids uuid[] NOT NULL,
    progress_score double precision NOT NULL,
    review_date bigint,
    create_date bigint NOT NULL,
    update_date bigint NOT NULL,
    first_analysis_id uuid,
    latest_analysis_id uuid,
    -- What the tag, type and metadata list filters look up, one term per tag, type name and
    -- indexed metadata value (see `terms` in src/work_orders.rs). SQLite keeps these in a side
    -- table; here one GIN-indexed array does it with `terms @> $wanted`, and is rewritten with
    -- the row, so it can never drift from it.
    terms text[] NOT NULL
);
CREATE INDEX work_orders_by_site_date ON work_orders (site_id, create_date DESC, id DESC);
CREATE INDEX work_orders_by_name ON work_orders (site_id, name);
CREATE INDEX work_orders_by_engineer ON work_orders (site_id, field_engineer_email);
CREATE INDEX work_orders_by_terms ON work_orders USING gin (terms);

CREATE TABLE task_states (
    work_order_id uuid NOT NULL REFERENCES work_orders (id) ON DELETE CASCADE,
    task_name text NOT NULL,
    state json NOT NULL,
    PRIMARY KEY (work_order_id, task_name)
);

CREATE TABLE idempotency_keys (
    site_id uuid NOT NULL REFERENCES sites (id),
    key text NOT NULL,
    request_hash text NOT NULL,
    status integer NOT NULL,
    body text NOT NULL,
    create_date bigint NOT NULL,
    PRIMARY KEY (site_id, key)
);
