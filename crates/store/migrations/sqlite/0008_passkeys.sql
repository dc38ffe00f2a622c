-- Passkeys (WebAuthn). SQLite.
--
-- One row per registered credential. `credential_id` is the authenticator's
-- id of it (unique across users: a discoverable sign-in finds the row by it).
-- `user_handle` is the random WebAuthn user handle of the account (the same
-- for all its passkeys; never the `sub`, which an authenticator would
-- reveal). `credential` is webauthn-rs's record of the public key, its
-- signature counter and flags, as JSON: public values only, nothing sealed.
-- `backup_eligible`: a synced passkey (RFC 8176 `swk`) rather than one bound
-- to its device (`hwk`). A user is enrolled in a second factor while a
-- passkey exists, like a confirmed TOTP credential (derived, no flag).
CREATE TABLE passkeys (
    credential_id   BLOB    NOT NULL PRIMARY KEY,
    sub             TEXT    NOT NULL,
    user_handle     BLOB    NOT NULL,
    name            TEXT    NOT NULL,
    credential      TEXT    NOT NULL,
    backup_eligible INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
    created_at      INTEGER NOT NULL,
    last_used_at    INTEGER
) STRICT;

CREATE INDEX passkeys_sub ON passkeys (sub);
