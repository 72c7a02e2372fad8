-- Kept equivalent to migrations/sqlite/0024_approved_diffs.sql (a test compares the two).

-- The diff each approval under reset_on_push: changed_diff was given on, recorded when
-- changegate first saw the approval: a later push keeps the approval only when the change's
-- diff is identical to this one. `record` is the JSON of crate::diff::ApprovedDiff (its
-- fingerprint, or why it has none).
CREATE TABLE approved_diffs (
    change_key TEXT NOT NULL,
    role TEXT NOT NULL,
    via TEXT NOT NULL,
    approver TEXT NOT NULL,
    given_at BIGINT NOT NULL,
    head_sha TEXT NOT NULL,
    record TEXT NOT NULL,
    recorded_at BIGINT NOT NULL,
    PRIMARY KEY (change_key, role, via, approver, given_at)
);
