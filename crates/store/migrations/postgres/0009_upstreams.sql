-- Upstream identity providers (brokered sign-in). PostgreSQL.
-- See the SQLite migration of the same number for the rules.

CREATE TABLE upstream_links (
    upstream      TEXT    NOT NULL,
    upstream_sub  TEXT    NOT NULL,
    sub           TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    CONSTRAINT upstream_links_pkey PRIMARY KEY (upstream, upstream_sub),
    CONSTRAINT upstream_links_sub_upstream UNIQUE (sub, upstream)
);

ALTER TABLE sessions ADD COLUMN idp TEXT;
