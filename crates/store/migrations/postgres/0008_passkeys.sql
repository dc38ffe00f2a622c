-- Passkeys (WebAuthn). PostgreSQL.
-- See the SQLite migration of the same number for the rules.

CREATE TABLE passkeys (
    credential_id   BYTEA   NOT NULL,
    sub             TEXT    NOT NULL,
    user_handle     BYTEA   NOT NULL,
    name            TEXT    NOT NULL,
    credential      TEXT    NOT NULL,
    backup_eligible BOOLEAN NOT NULL,
    created_at      BIGINT  NOT NULL,
    last_used_at    BIGINT,
    CONSTRAINT passkeys_pkey PRIMARY KEY (credential_id)
);

CREATE INDEX passkeys_sub ON passkeys (sub);
