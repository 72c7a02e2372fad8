-- Kept equivalent to migrations/sqlite/0015_rules_in_force.sql (a test compares the two).

-- The fingerprint of the rules last in force and since when: rules loaded with a different
-- one (a reload, or a start after the file changed) evaluate every open change again.
CREATE TABLE rules_in_force (
    name         TEXT   PRIMARY KEY,
    fingerprint  TEXT   NOT NULL,
    since        BIGINT NOT NULL
);
