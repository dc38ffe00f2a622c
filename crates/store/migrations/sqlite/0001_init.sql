-- frontdesk schema, SQLite. Times are unix seconds (INTEGER). STRICT tables
-- so that a wrongly typed bind fails instead of being stored as-is.

CREATE TABLE clients (
    client_id  TEXT    NOT NULL PRIMARY KEY,
    -- JSON of the client metadata (RFC 7591 names), without secrets and timestamps.
    metadata   TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE client_secrets (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    client_id  TEXT    NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    -- HMAC-SHA-256 of the secret under the server pepper; never the secret.
    hash       BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER
) STRICT;
CREATE INDEX client_secrets_client_id_idx ON client_secrets (client_id);

CREATE TABLE users (
    sub           TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    -- claims.email lower-cased, for case-insensitive login and uniqueness.
    email         TEXT    UNIQUE,
    password_hash TEXT    NOT NULL,
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    -- JSON of the OIDC claims (original case of the email kept here).
    claims        TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE signing_keys (
    kid               TEXT    NOT NULL PRIMARY KEY,
    alg               TEXT    NOT NULL,
    key_use           TEXT    NOT NULL CHECK (key_use IN ('access_token', 'id_token')),
    -- AES-256-GCM: nonce || ciphertext || tag of the PKCS#8 DER.
    encrypted_private BLOB    NOT NULL,
    public_jwk        TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    activates_at      INTEGER NOT NULL,
    retired_at        INTEGER
) STRICT;
CREATE INDEX signing_keys_unretired_idx ON signing_keys (key_use) WHERE retired_at IS NULL;
CREATE INDEX signing_keys_retired_at_idx ON signing_keys (retired_at) WHERE retired_at IS NOT NULL;
CREATE INDEX signing_keys_created_at_idx ON signing_keys (created_at, kid);

CREATE TABLE opaque_tokens (
    -- SHA-256 of the token string; never the token.
    token_hash BLOB    NOT NULL PRIMARY KEY,
    jti        TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    sub        TEXT    NOT NULL,
    scope      TEXT    NOT NULL,
    -- JSON array of audience strings.
    audience   TEXT    NOT NULL,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;
CREATE INDEX opaque_tokens_expires_at_idx ON opaque_tokens (expires_at);

CREATE TABLE revoked_jtis (
    jti        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX revoked_jtis_expires_at_idx ON revoked_jtis (expires_at);
