-- Kept equivalent to migrations/sqlite/0011_resolved_logins.sql (a test compares the two).

-- The account id a username of the rules' static approver lists had when changegate first
-- resolved it (user_id NULL: no account had it). Kept, never re-resolved: a login renamed or
-- taken by someone else later must not move the approver role to another account.
CREATE TABLE resolved_logins (
    forge TEXT NOT NULL,
    login TEXT NOT NULL,
    user_id BIGINT,
    resolved_at BIGINT NOT NULL,
    PRIMARY KEY (forge, login)
);
