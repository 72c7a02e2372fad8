-- Kept equivalent to migrations/postgres/0003_timers.sql (a test compares the two).

-- Timers are jobs with a due time (jobs.run_after) whose delivery id names the timer, so that
-- scheduling one twice stores it once. Reminders sent, per change and reminder point: each
-- is posted once.
CREATE TABLE reminders (
    change_key  TEXT   NOT NULL,
    point       TEXT   NOT NULL,
    sent_at     BIGINT NOT NULL,
    PRIMARY KEY (change_key, point)
);

-- Merged emergency changes and what they still owe (`changegate overdue`, the metric).
CREATE TABLE emergencies (
    change_key  TEXT   PRIMARY KEY,
    forge       TEXT   NOT NULL,
    repo        TEXT   NOT NULL,
    number      BIGINT NOT NULL,
    web_url     TEXT,
    merged_at   BIGINT,
    due_at      BIGINT,
    missing     TEXT   NOT NULL,
    complete    BIGINT NOT NULL,
    overdue     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX emergencies_due ON emergencies (complete, due_at);
CREATE INDEX jobs_due ON jobs (state, run_after);
-- 1 for a timer's job: not pending work until its time comes.
ALTER TABLE jobs ADD COLUMN timer BIGINT NOT NULL DEFAULT 0;

-- Change issues and the merge requests that link them, filled as merge requests are
-- evaluated: a change to the issue evaluates them again.
CREATE TABLE issue_links (
    issue_key   TEXT NOT NULL,
    change_key  TEXT NOT NULL,
    PRIMARY KEY (issue_key, change_key)
);
