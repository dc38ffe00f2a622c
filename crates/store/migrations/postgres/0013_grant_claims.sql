-- What the authorization request's `claims` parameter asked for, as far
-- as it is honoured (OIDC Core §5.5): a JSON object with the claims to
-- release one by one at userinfo and in ID tokens and the essential `acr`
-- values; NULL without one, and for grants made before this column.
-- PostgreSQL.
ALTER TABLE grants ADD COLUMN claims TEXT;
