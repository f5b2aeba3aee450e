-- The audit trail (see fieldproof_store::audit). Number 0004 is left to the list indexes.
--
-- No reference to the object: events outlive it (a deleted work order keeps its history). Two
-- indexes for the two ways events are read: a site's newest first, and one object's history.

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    site_id TEXT NOT NULL REFERENCES sites(id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    details TEXT NOT NULL,
    create_date INTEGER NOT NULL
);
CREATE INDEX audit_events_by_site ON audit_events (site_id, create_date, id);
CREATE INDEX audit_events_by_object ON audit_events (site_id, object_id, create_date, id);
