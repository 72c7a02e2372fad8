-- Kept equivalent to migrations/postgres/0013_debts.sql (a test compares the two).

-- What each merged change owes after its merge, fixed once at its first evaluation after it
-- (from its state at merge) and never updated: later evaluations read it back, so relabelling,
-- unlinking or burying the history afterwards cannot reduce it. `debt` is the policy's
-- Debt as JSON (owed approvals, deadline, reminders, how it was determined).
CREATE TABLE debts (
    forge       TEXT   NOT NULL,
    repo        TEXT   NOT NULL,
    number      BIGINT NOT NULL,
    merged_at   BIGINT,
    due_at      BIGINT,
    owed        TEXT   NOT NULL,
    how         TEXT   NOT NULL,
    debt        TEXT   NOT NULL,
    fixed_at    BIGINT NOT NULL,
    PRIMARY KEY (forge, repo, number)
);

-- What an open change would owe if merged, as last judged (JSON Debt): a link or label removed
-- between that judgement and the first evaluation after merge does not take it away.
ALTER TABLE change_memory ADD COLUMN owes_if_merged TEXT;
