-- Device authorization requests (RFC 8628). PostgreSQL.

CREATE TABLE device_codes (
    -- SHA-256 of the device_code; never the value itself.
    device_code_hash BYTEA  NOT NULL,
    -- HMAC under the pepper of the normalised user_code.
    user_code_hash   BYTEA  NOT NULL,
    -- SHA-256 of the authorization code an approval stores with its grant.
    code_hash        BYTEA  NOT NULL,
    -- No foreign key: a request outlives nothing, and goes at expires_at.
    client_id        TEXT   NOT NULL,
    scope            TEXT   NOT NULL,
    -- JSON array of strings.
    audience         TEXT   NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    interval_secs    BIGINT NOT NULL,
    last_poll_at     BIGINT,
    -- 'pending', 'approved' or 'denied'.
    status           TEXT   NOT NULL,
    sub              TEXT,
    CONSTRAINT device_codes_pkey PRIMARY KEY (device_code_hash),
    CONSTRAINT device_codes_user_code_key UNIQUE (user_code_hash)
);
CREATE INDEX device_codes_expires_at_idx ON device_codes (expires_at);
