-- Pushed authorization requests (RFC 9126). PostgreSQL.

CREATE TABLE pushed_requests (
    -- SHA-256 of the request_uri; never the value itself.
    uri_hash          BYTEA  NOT NULL,
    -- No foreign key: a request outlives nothing, and goes at expires_at.
    client_id         TEXT   NOT NULL,
    -- The validated authorization parameters, form-encoded.
    params            TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    expires_at        BIGINT NOT NULL,
    -- SHA-256 of the continuation token of the browser that opened it.
    continuation_hash BYTEA,
    used_at           BIGINT,
    CONSTRAINT pushed_requests_pkey PRIMARY KEY (uri_hash)
);
CREATE INDEX pushed_requests_expires_at_idx ON pushed_requests (expires_at);
