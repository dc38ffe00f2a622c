-- Sign-in: SSO sessions, grants with their authorization codes and refresh
-- tokens, remembered consent, login throttling. PostgreSQL.
--
-- Grants and consents hang off their client (ON DELETE CASCADE), so deleting
-- a client takes them, and through the grants the codes and refresh tokens,
-- in the same statement; a grant cannot be stored for a client that does not
-- exist (or is being deleted). Users are referenced by `sub` without a
-- foreign key: the store's user methods end, revoke and delete explicitly.

CREATE TABLE sessions (
    -- SHA-256 of the browser cookie value; never the cookie.
    id_hash    BYTEA  NOT NULL,
    -- Public session id: the `sid` claim of ID tokens.
    sid        TEXT   NOT NULL,
    sub        TEXT   NOT NULL,
    auth_time  BIGINT NOT NULL,
    -- JSON array of RFC 8176 method names.
    amr        TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at   BIGINT,
    CONSTRAINT sessions_pkey PRIMARY KEY (id_hash),
    CONSTRAINT sessions_sid_key UNIQUE (sid)
);
CREATE INDEX sessions_sub_idx ON sessions (sub);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE grants (
    grant_id   TEXT   NOT NULL,
    client_id  TEXT   NOT NULL,
    sub        TEXT   NOT NULL,
    -- The SSO session the grant was made in, if any (no foreign key: a
    -- purged session leaves its grants to their own expiry).
    sid        TEXT,
    scope      TEXT   NOT NULL,
    -- JSON array of audience strings.
    audience   TEXT   NOT NULL,
    auth_time  BIGINT NOT NULL,
    -- JSON array of RFC 8176 method names.
    amr        TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    CONSTRAINT grants_pkey PRIMARY KEY (grant_id),
    CONSTRAINT grants_client_fkey FOREIGN KEY (client_id)
        REFERENCES clients (client_id) ON DELETE CASCADE
);
CREATE INDEX grants_sid_idx ON grants (sid);
CREATE INDEX grants_sub_idx ON grants (sub);
CREATE INDEX grants_client_id_idx ON grants (client_id);
CREATE INDEX grants_expires_at_idx ON grants (expires_at);

CREATE TABLE authorization_codes (
    -- SHA-256 of the code; never the code.
    code_hash      BYTEA  NOT NULL,
    grant_id       TEXT   NOT NULL,
    client_id      TEXT   NOT NULL,
    redirect_uri   TEXT   NOT NULL,
    code_challenge TEXT   NOT NULL,
    nonce          TEXT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    CONSTRAINT authorization_codes_pkey PRIMARY KEY (code_hash),
    CONSTRAINT authorization_codes_grant_fkey FOREIGN KEY (grant_id)
        REFERENCES grants (grant_id) ON DELETE CASCADE
);
CREATE INDEX authorization_codes_grant_id_idx ON authorization_codes (grant_id);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token; never the token.
    token_hash  BYTEA  NOT NULL,
    grant_id    TEXT   NOT NULL,
    client_id   TEXT   NOT NULL,
    scope       TEXT   NOT NULL,
    issued_at   BIGINT NOT NULL,
    -- Idle expiry.
    expires_at  BIGINT NOT NULL,
    consumed_at BIGINT,
    -- token_hash of the successor, set together with consumed_at.
    replaced_by BYTEA,
    CONSTRAINT refresh_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT refresh_tokens_grant_fkey FOREIGN KEY (grant_id)
        REFERENCES grants (grant_id) ON DELETE CASCADE
);
CREATE INDEX refresh_tokens_grant_id_idx ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE consents (
    sub        TEXT   NOT NULL,
    client_id  TEXT   NOT NULL,
    scope      TEXT   NOT NULL,
    granted_at BIGINT NOT NULL,
    CONSTRAINT consents_pkey PRIMARY KEY (sub, client_id),
    CONSTRAINT consents_client_fkey FOREIGN KEY (client_id)
        REFERENCES clients (client_id) ON DELETE CASCADE
);
CREATE INDEX consents_client_id_idx ON consents (client_id);

CREATE TABLE login_failures (
    -- e.g. `acct:alice`, `ip:192.0.2.1`
    key          TEXT   NOT NULL,
    count        BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    -- window_start + the window length of the last call: when purge may drop it.
    expires_at   BIGINT NOT NULL,
    CONSTRAINT login_failures_pkey PRIMARY KEY (key)
);
CREATE INDEX login_failures_expires_at_idx ON login_failures (expires_at);
