-- Device authorization requests (RFC 8628). SQLite.

CREATE TABLE device_codes (
    -- SHA-256 of the device_code; never the value itself.
    device_code_hash BLOB    NOT NULL PRIMARY KEY,
    -- HMAC under the pepper of the normalised user_code.
    user_code_hash   BLOB    NOT NULL UNIQUE,
    -- SHA-256 of the authorization code an approval stores with its grant.
    code_hash        BLOB    NOT NULL,
    -- No foreign key: a request outlives nothing, and goes at expires_at.
    client_id        TEXT    NOT NULL,
    scope            TEXT    NOT NULL,
    -- JSON array of strings.
    audience         TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    interval_secs    INTEGER NOT NULL,
    last_poll_at     INTEGER,
    -- 'pending', 'approved' or 'denied'.
    status           TEXT    NOT NULL,
    sub              TEXT
) STRICT;
CREATE INDEX device_codes_expires_at_idx ON device_codes (expires_at);
