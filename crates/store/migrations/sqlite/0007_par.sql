-- Pushed authorization requests (RFC 9126). SQLite.

CREATE TABLE pushed_requests (
    -- SHA-256 of the request_uri; never the value itself.
    uri_hash          BLOB    NOT NULL PRIMARY KEY,
    -- No foreign key: a request outlives nothing, and goes at expires_at.
    client_id         TEXT    NOT NULL,
    -- The validated authorization parameters, form-encoded.
    params            TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL,
    -- SHA-256 of the continuation token of the browser that opened it.
    continuation_hash BLOB,
    used_at           INTEGER
) STRICT;
CREATE INDEX pushed_requests_expires_at_idx ON pushed_requests (expires_at);
