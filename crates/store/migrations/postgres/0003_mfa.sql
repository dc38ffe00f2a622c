-- Second factors and what the account page shows about sessions. PostgreSQL.
-- See the SQLite migration of the same number for the rules.

CREATE TABLE totp_credentials (
    sub           TEXT   NOT NULL,
    secret_sealed BYTEA  NOT NULL,
    created_at    BIGINT NOT NULL,
    confirmed_at  BIGINT,
    last_step     BIGINT NOT NULL DEFAULT 0,
    CONSTRAINT totp_credentials_pkey PRIMARY KEY (sub)
);

CREATE TABLE recovery_codes (
    sub        TEXT   NOT NULL,
    code_hash  BYTEA  NOT NULL,
    created_at BIGINT NOT NULL,
    used_at    BIGINT,
    CONSTRAINT recovery_codes_pkey PRIMARY KEY (sub, code_hash)
);

ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN client_ip TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at BIGINT;
