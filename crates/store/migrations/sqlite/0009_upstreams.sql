-- Upstream identity providers (brokered sign-in). SQLite.
--
-- `upstream_links`: which frontdesk account an upstream account signs in
-- to. The key is the upstream's id (from the configuration) and the
-- subject it asserted, so the frontdesk `sub` never changes when an
-- address does. An upstream account links to one frontdesk account, and a
-- frontdesk account to at most one account of each upstream. No foreign
-- key, like sessions: delete_user deletes them explicitly.
CREATE TABLE upstream_links (
    upstream      TEXT    NOT NULL,
    upstream_sub  TEXT    NOT NULL,
    sub           TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    PRIMARY KEY (upstream, upstream_sub),
    UNIQUE (sub, upstream)
) STRICT;

-- The upstream a session was signed in through (NULL: a local sign-in).
ALTER TABLE sessions ADD COLUMN idp TEXT;
