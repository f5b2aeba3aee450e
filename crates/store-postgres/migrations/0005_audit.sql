-- The audit trail (see fieldproof_store::audit): the same as the SQLite engine's 0005_audit.sql.
-- Number 0004 is left to the list indexes.
--
-- No reference to the object: events outlive it (a deleted work order keeps its history). Two
-- indexes for the two ways events are read: a site's newest first, and one object's history.

CREATE TABLE audit_events (
    id uuid PRIMARY KEY,
    site_id uuid NOT NULL REFERENCES sites (id),
    actor text NOT NULL,
    action text COLLATE "C" NOT NULL,
    object_type text NOT NULL,
    object_id text COLLATE "C" NOT NULL,
    details json NOT NULL,
    create_date bigint NOT NULL
);
CREATE INDEX audit_events_by_site ON audit_events (site_id, create_date, id);
CREATE INDEX audit_events_by_object ON audit_events (site_id, object_id, create_date, id);
