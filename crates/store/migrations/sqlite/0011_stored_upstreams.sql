-- Upstream identity providers added at run time (admin API, CLI). SQLite.
--
-- `spec` is the upstream's `[[upstreams]]` keys as a JSON object, without
-- its client secret; `secret` is that secret sealed under the KEK with the
-- id as associated data. Upstreams in the configuration file are not
-- stored here. Deleting a row also deletes the upstream's rows in
-- upstream_links and its memberships in group_members (source = id), in
-- the same transaction (Store::delete_upstream).
CREATE TABLE upstreams (
    id          TEXT    NOT NULL PRIMARY KEY,
    spec        TEXT    NOT NULL,
    secret      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
