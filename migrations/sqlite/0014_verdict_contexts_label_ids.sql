-- Kept equivalent to migrations/postgres/0014_verdict_contexts_label_ids.sql (a test compares the two).

-- The status context (per target branch when `status.context` names it) of each change's own
-- verdict and of the status the bot last wrote for it: a pass belongs to a commit and a
-- context, and a change that leaves them takes its success back.
ALTER TABLE change_memory ADD COLUMN verdict_context TEXT;
ALTER TABLE change_memory ADD COLUMN status_context TEXT;

-- The id each governed label had when the bot first saw it, per project: GitLab label events
-- name a label by id with its current name, so a renamed label must not bring approvals.
CREATE TABLE label_ids (
    scope          TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    label_id       BIGINT NOT NULL,
    first_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE INDEX label_ids_by_id ON label_ids (scope, label_id);
