-- The audit trail: one row per event, never a secret (see
-- frontdesk_core::audit). SQLite.
--
-- Reads are keyset pages ordered by (at, id), optionally filtered by one
-- of subject, client_id, actor or a kind range; each filter has an index
-- that ends in (at, id), so a page is one range scan. The retention purge
-- deletes by `at`.

CREATE TABLE audit_events (
    -- Sortable (UUIDv7): orders events of the same second.
    id         TEXT    NOT NULL PRIMARY KEY,
    at         INTEGER NOT NULL,
    -- Stable dotted name, e.g. `login.failure`.
    kind       TEXT    NOT NULL,
    -- success | failure | refused
    outcome    TEXT    NOT NULL,
    request_id TEXT,
    -- A user's sub, `client:ID`, `admin-api` or `cli`.
    actor      TEXT,
    subject    TEXT,
    client_id  TEXT,
    peer       TEXT,
    -- JSON object of ids, names and counts.
    detail     TEXT    NOT NULL
) STRICT;
CREATE INDEX audit_events_at_idx ON audit_events (at, id);
CREATE INDEX audit_events_subject_idx ON audit_events (subject, at, id);
CREATE INDEX audit_events_client_id_idx ON audit_events (client_id, at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, at, id);
CREATE INDEX audit_events_kind_idx ON audit_events (kind, at, id);
