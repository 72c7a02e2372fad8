-- Kept equivalent to migrations/postgres/0002_fail_closed.sql (a test compares the two).

-- The target branch a change was last seen with, and when it changed: a retargeted change's
-- approvals are reset like a push.
ALTER TABLE change_memory ADD COLUMN target_branch TEXT;
ALTER TABLE change_memory ADD COLUMN target_changed_at BIGINT;
ALTER TABLE change_memory ADD COLUMN target_previous TEXT;

-- Each change's own verdict on its head, so that changes sharing a head commit (whose status
-- is one per commit) pass only when every open one of them passes.
ALTER TABLE change_memory ADD COLUMN verdict_sha TEXT;
ALTER TABLE change_memory ADD COLUMN verdict_pass BIGINT;
ALTER TABLE change_memory ADD COLUMN verdict_open BIGINT;
ALTER TABLE change_memory ADD COLUMN verdict_summary TEXT;
ALTER TABLE change_memory ADD COLUMN verdict_number BIGINT;
