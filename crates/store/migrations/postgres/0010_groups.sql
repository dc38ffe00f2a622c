-- Groups of users (frontdesk_core::groups). PostgreSQL.
-- See the SQLite migration of the same number for the rules.

CREATE TABLE user_groups (
    name         TEXT    NOT NULL,
    description  TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    CONSTRAINT user_groups_pkey PRIMARY KEY (name)
);

CREATE TABLE group_members (
    group_name  TEXT    NOT NULL,
    sub         TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    added_at    BIGINT  NOT NULL,
    CONSTRAINT group_members_pkey PRIMARY KEY (group_name, sub, source)
);

CREATE INDEX group_members_sub ON group_members (sub, source);
