-- Second factors and what the account page shows about sessions. SQLite.
--
-- A user is enrolled in MFA while a confirmed TOTP credential exists; the
-- user queries derive that (no flag to drift). Users are referenced by `sub`
-- without a foreign key, as elsewhere: the store's user methods delete
-- explicitly.

-- One TOTP credential per user (RFC 6238). The secret is sealed under the
-- key-encryption key (AES-256-GCM, associated data `totp:SUB`), never stored
-- in clear. Until `confirmed_at` is set the credential is an enrolment in
-- progress and never accepted at sign-in. `last_step` is the highest time
-- step accepted so far: a code is accepted once, and never one of an earlier
-- step (RFC 6238 §5.2).
CREATE TABLE totp_credentials (
    sub           TEXT    NOT NULL PRIMARY KEY,
    secret_sealed BLOB    NOT NULL,
    created_at    INTEGER NOT NULL,
    confirmed_at  INTEGER,
    last_step     INTEGER NOT NULL DEFAULT 0
) STRICT;

-- Single-use recovery codes, stored as HMAC-SHA-256 under the server pepper.
CREATE TABLE recovery_codes (
    sub        TEXT    NOT NULL,
    code_hash  BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER,
    PRIMARY KEY (sub, code_hash)
) STRICT;

-- What the account page lists for each session: the browser it was started
-- from, the client address, and when it was last used to sign in to an app.
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN client_ip TEXT;
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER;
