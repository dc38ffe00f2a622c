-- Groups of users (frontdesk_core::groups). SQLite.
--
-- `user_groups`: one row per group, keyed by its name (what tokens carry).
-- `group_members`: who is in which group, and who put them there:
-- `source` is '' for a membership made here (admin API, CLI, [[users]]),
-- else the id of the upstream or directory whose sign-in asserted it
-- (Store::sync_group_members replaces a source's rows, and only those).
-- A user is a member when any row says so. No foreign keys, like
-- upstream_links: delete_group and delete_user delete the memberships
-- explicitly, reads join the group (and the user) so a membership left
-- by a race is never seen, and create_group drops any such leftover.
CREATE TABLE user_groups (
    name         TEXT    NOT NULL PRIMARY KEY,
    description  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL
) STRICT;

CREATE TABLE group_members (
    group_name  TEXT    NOT NULL,
    sub         TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    added_at    INTEGER NOT NULL,
    PRIMARY KEY (group_name, sub, source)
) STRICT;

CREATE INDEX group_members_sub ON group_members (sub, source);
