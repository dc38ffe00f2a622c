-- E-mailed links (e-mail verification, password reset) and the sign-in gate
-- of self-registered accounts. SQLite.

-- 1 while a self-registered account must verify its e-mail address before
-- its first sign-in; cleared when the address is verified.
ALTER TABLE users ADD COLUMN verify_before_sign_in INTEGER NOT NULL DEFAULT 0
    CHECK (verify_before_sign_in IN (0, 1));

CREATE TABLE link_tokens (
    -- SHA-256 of the token in the link; never the token.
    token_hash BLOB    NOT NULL PRIMARY KEY,
    purpose    TEXT    NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    -- No foreign key, like sessions: delete_user deletes them explicitly.
    sub        TEXT    NOT NULL,
    -- The address the link was sent to, lower-cased.
    email      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;
CREATE INDEX link_tokens_sub_idx ON link_tokens (sub);
CREATE INDEX link_tokens_expires_at_idx ON link_tokens (expires_at);
