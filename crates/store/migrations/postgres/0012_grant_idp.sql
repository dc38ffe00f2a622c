-- The upstream identity provider a grant's session signed in through (its
-- id), for the ID token's `idp` claim; NULL for a sign-in at frontdesk
-- itself and for grants made before this column. PostgreSQL.
ALTER TABLE grants ADD COLUMN idp TEXT;
