-- DPoP (RFC 9449): the key a token is bound to, and the proofs already seen.
-- SQLite.

-- RFC 9449 §6: the JWK SHA-256 thumbprint (`cnf.jkt`) of an opaque access
-- token bound to a DPoP key; NULL for a bearer token.
ALTER TABLE opaque_tokens ADD COLUMN dpop_jkt TEXT;
-- RFC 9449 §5: a public client's refresh token is bound to the key of the
-- request that got it; its successors stay bound to the same key.
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
-- RFC 9449 §10: `dpop_jkt` of the authorization request binds the code.
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;

-- RFC 9449 §11.1: one row per accepted proof, SHA-256 over the key's
-- thumbprint and the proof's jti, kept while the proof's iat is in the
-- accepted window; the sweeper deletes the rest.
CREATE TABLE dpop_proofs (
    replay_key BLOB    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
