-- Sign-in: SSO sessions, grants with their authorization codes and refresh
-- tokens, remembered consent, login throttling. SQLite.
--
-- Grants and consents hang off their client (ON DELETE CASCADE), so deleting
-- a client takes them, and through the grants the codes and refresh tokens,
-- in the same statement; a grant cannot be stored for a client that does not
-- exist (or is being deleted). Users are referenced by `sub` without a
-- foreign key: the store's user methods end, revoke and delete explicitly.

CREATE TABLE sessions (
    -- SHA-256 of the browser cookie value; never the cookie.
    id_hash    BLOB    NOT NULL PRIMARY KEY,
    -- Public session id: the `sid` claim of ID tokens.
    sid        TEXT    NOT NULL UNIQUE,
    sub        TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    -- JSON array of RFC 8176 method names.
    amr        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ended_at   INTEGER
) STRICT;
CREATE INDEX sessions_sub_idx ON sessions (sub);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE grants (
    grant_id   TEXT    NOT NULL PRIMARY KEY,
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    sub        TEXT    NOT NULL,
    -- The SSO session the grant was made in, if any (no foreign key: a
    -- purged session leaves its grants to their own expiry).
    sid        TEXT,
    scope      TEXT    NOT NULL,
    -- JSON array of audience strings.
    audience   TEXT    NOT NULL,
    auth_time  INTEGER NOT NULL,
    -- JSON array of RFC 8176 method names.
    amr        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX grants_sid_idx ON grants (sid);
CREATE INDEX grants_sub_idx ON grants (sub);
CREATE INDEX grants_client_id_idx ON grants (client_id);
CREATE INDEX grants_expires_at_idx ON grants (expires_at);

CREATE TABLE authorization_codes (
    -- SHA-256 of the code; never the code.
    code_hash      BLOB    NOT NULL PRIMARY KEY,
    grant_id       TEXT    NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id      TEXT    NOT NULL,
    redirect_uri   TEXT    NOT NULL,
    code_challenge TEXT    NOT NULL,
    nonce          TEXT,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
) STRICT;
CREATE INDEX authorization_codes_grant_id_idx ON authorization_codes (grant_id);
CREATE INDEX authorization_codes_expires_at_idx ON authorization_codes (expires_at);

CREATE TABLE refresh_tokens (
    -- SHA-256 of the token; never the token.
    token_hash  BLOB    NOT NULL PRIMARY KEY,
    grant_id    TEXT    NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    client_id   TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    issued_at   INTEGER NOT NULL,
    -- Idle expiry.
    expires_at  INTEGER NOT NULL,
    consumed_at INTEGER,
    -- token_hash of the successor, set together with consumed_at.
    replaced_by BLOB
) STRICT;
CREATE INDEX refresh_tokens_grant_id_idx ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires_at_idx ON refresh_tokens (expires_at);

CREATE TABLE consents (
    sub        TEXT    NOT NULL,
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    scope      TEXT    NOT NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (sub, client_id)
) STRICT;
CREATE INDEX consents_client_id_idx ON consents (client_id);

CREATE TABLE login_failures (
    -- e.g. `acct:alice`, `ip:192.0.2.1`
    key          TEXT    NOT NULL PRIMARY KEY,
    count        INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    -- window_start + the window length of the last call: when purge may drop it.
    expires_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_expires_at_idx ON login_failures (expires_at);
