-- List filters over millions of work orders: postings in list order, terms interned with exact
-- counts.
--
-- Before: `work_order_index (site_id, kind, key, value, work_order_id)`, one wide text key per
-- tag, type and metadata value, ordered by work-order id. A filtered list had to find every
-- match, fetch each work order to sort it by date, and count by scanning (31.7 ms for a tag and
-- a metadata value over 10,000 work orders; seconds over a million).
--
-- Now:
-- - `list_terms`: each (site, kind, key, value) once, with an integer id and `work_orders`, the
--   exact number of work orders it is on, kept by the triggers below in the same transaction as
--   the postings. A one-filter list is counted by reading one row; a list with several filters
--   walks the smallest one. Kind '*' (key and value '') counts a site's work orders, for the
--   unfiltered list.
-- - `work_order_terms (term_id, create_date, work_order_id)`: the postings of a term in list
--   order (newest first when read backwards), so a page is read from the front of the smallest
--   term's postings, probing the others by primary key, and stops after one page. An entry is
--   about half the size of the old one (no site id, an integer term).
-- - `work_order_index` stays as a view with its old columns, for tools that read it.

CREATE TABLE list_terms (
    id INTEGER PRIMARY KEY,
    site_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    work_orders INTEGER NOT NULL DEFAULT 0,
    UNIQUE (site_id, kind, key, value)
);

CREATE TABLE work_order_terms (
    term_id INTEGER NOT NULL,
    create_date INTEGER NOT NULL,
    work_order_id TEXT NOT NULL REFERENCES work_orders(id) ON DELETE CASCADE,
    PRIMARY KEY (term_id, create_date, work_order_id)
) WITHOUT ROWID;
-- What rewriting or deleting one work order's entries looks up (and the cascade needs).
CREATE INDEX work_order_terms_by_work_order ON work_order_terms (work_order_id, term_id);

INSERT INTO list_terms (site_id, kind, key, value)
    SELECT DISTINCT site_id, kind, key, value FROM work_order_index;
INSERT INTO work_order_terms (term_id, create_date, work_order_id)
    SELECT t.id, w.create_date, i.work_order_id
    FROM work_order_index i
    JOIN list_terms t
      ON t.site_id = i.site_id AND t.kind = i.kind AND t.key = i.key AND t.value = i.value
    JOIN work_orders w ON w.id = i.work_order_id;
UPDATE list_terms
    SET work_orders = (SELECT COUNT(*) FROM work_order_terms p WHERE p.term_id = list_terms.id);
INSERT INTO list_terms (site_id, kind, key, value, work_orders)
    SELECT site_id, '*', '', '', COUNT(*) FROM work_orders GROUP BY site_id;

DROP TABLE work_order_index;
CREATE VIEW work_order_index (site_id, kind, key, value, work_order_id) AS
    SELECT t.site_id, t.kind, t.key, t.value, p.work_order_id
    FROM work_order_terms p JOIN list_terms t ON t.id = p.term_id;

-- The counts follow every posting and every work order, whoever writes them (a cascade too).
CREATE TRIGGER work_order_terms_counted AFTER INSERT ON work_order_terms BEGIN
    UPDATE list_terms SET work_orders = work_orders + 1 WHERE id = NEW.term_id;
END;
CREATE TRIGGER work_order_terms_uncounted AFTER DELETE ON work_order_terms BEGIN
    UPDATE list_terms SET work_orders = work_orders - 1 WHERE id = OLD.term_id;
END;
CREATE TRIGGER work_orders_counted AFTER INSERT ON work_orders BEGIN
    INSERT INTO list_terms (site_id, kind, key, value, work_orders)
        VALUES (NEW.site_id, '*', '', '', 1)
        ON CONFLICT (site_id, kind, key, value) DO UPDATE SET work_orders = work_orders + 1;
END;
CREATE TRIGGER work_orders_uncounted AFTER DELETE ON work_orders BEGIN
    UPDATE list_terms SET work_orders = work_orders - 1
        WHERE site_id = OLD.site_id AND kind = '*' AND key = '' AND value = '';
END;
