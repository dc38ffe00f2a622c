-- frontdesk schema, PostgreSQL. Times are unix seconds (BIGINT).

CREATE TABLE clients (
    client_id  TEXT   NOT NULL,
    -- JSON of the client metadata (RFC 7591 names), without secrets and timestamps.
    metadata   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT clients_pkey PRIMARY KEY (client_id)
);

CREATE TABLE client_secrets (
    id         BIGINT GENERATED ALWAYS AS IDENTITY,
    client_id  TEXT   NOT NULL,
    -- HMAC-SHA-256 of the secret under the server pepper; never the secret.
    hash       BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    CONSTRAINT client_secrets_pkey PRIMARY KEY (id),
    CONSTRAINT client_secrets_client_fkey FOREIGN KEY (client_id)
        REFERENCES clients (client_id) ON DELETE CASCADE
);
CREATE INDEX client_secrets_client_id_idx ON client_secrets (client_id);

CREATE TABLE users (
    sub           TEXT    NOT NULL,
    username      TEXT    NOT NULL,
    -- claims.email lower-cased, for case-insensitive login and uniqueness.
    email         TEXT,
    password_hash TEXT    NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    -- JSON of the OIDC claims (original case of the email kept here).
    claims        TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    CONSTRAINT users_pkey PRIMARY KEY (sub),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE TABLE signing_keys (
    kid               TEXT   NOT NULL,
    alg               TEXT   NOT NULL,
    key_use           TEXT   NOT NULL,
    -- AES-256-GCM: nonce || ciphertext || tag of the PKCS#8 DER.
    encrypted_private BYTEA  NOT NULL,
    public_jwk        TEXT   NOT NULL,
    created_at        BIGINT NOT NULL,
    activates_at      BIGINT NOT NULL,
    retired_at        BIGINT,
    CONSTRAINT signing_keys_pkey PRIMARY KEY (kid),
    CONSTRAINT signing_keys_key_use_check CHECK (key_use IN ('access_token', 'id_token'))
);
CREATE INDEX signing_keys_unretired_idx ON signing_keys (key_use) WHERE retired_at IS NULL;
CREATE INDEX signing_keys_retired_at_idx ON signing_keys (retired_at) WHERE retired_at IS NOT NULL;
CREATE INDEX signing_keys_created_at_idx ON signing_keys (created_at, kid);

CREATE TABLE opaque_tokens (
    -- SHA-256 of the token string; never the token.
    token_hash BYTEA  NOT NULL,
    jti        TEXT   NOT NULL,
    client_id  TEXT   NOT NULL,
    sub        TEXT   NOT NULL,
    scope      TEXT   NOT NULL,
    -- JSON array of audience strings.
    audience   TEXT   NOT NULL,
    issued_at  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    CONSTRAINT opaque_tokens_pkey PRIMARY KEY (token_hash)
);
CREATE INDEX opaque_tokens_expires_at_idx ON opaque_tokens (expires_at);

CREATE TABLE revoked_jtis (
    jti        TEXT   NOT NULL,
    expires_at BIGINT NOT NULL,
    CONSTRAINT revoked_jtis_pkey PRIMARY KEY (jti)
);
CREATE INDEX revoked_jtis_expires_at_idx ON revoked_jtis (expires_at);
