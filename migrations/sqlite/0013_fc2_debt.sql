-- Kept equivalent to migrations/postgres/0013_fc2_debt.sql (a test compares the two).

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
