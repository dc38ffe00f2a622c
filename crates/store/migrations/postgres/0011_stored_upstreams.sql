-- Upstream identity providers added at run time (admin API, CLI).
-- PostgreSQL. See the SQLite migration of the same number for the rules.

CREATE TABLE upstreams (
    id          TEXT    NOT NULL,
    spec        TEXT    NOT NULL,
    secret      BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL,
    CONSTRAINT upstreams_pkey PRIMARY KEY (id)
);
