-- E-mailed links (e-mail verification, password reset) and the sign-in gate
-- of self-registered accounts. PostgreSQL.

-- True while a self-registered account must verify its e-mail address
-- before its first sign-in; cleared when the address is verified.
ALTER TABLE users ADD COLUMN verify_before_sign_in BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE link_tokens (
    -- SHA-256 of the token in the link; never the token.
    token_hash BYTEA  NOT NULL,
    purpose    TEXT   NOT NULL,
    -- No foreign key, like sessions: delete_user deletes them explicitly.
    sub        TEXT   NOT NULL,
    -- The address the link was sent to, lower-cased.
    email      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    CONSTRAINT link_tokens_pkey PRIMARY KEY (token_hash),
    CONSTRAINT link_tokens_purpose_check CHECK (purpose IN ('verify_email', 'reset_password'))
);
CREATE INDEX link_tokens_sub_idx ON link_tokens (sub);
CREATE INDEX link_tokens_expires_at_idx ON link_tokens (expires_at);
