-- Kept equivalent to migrations/sqlite/0037_change_job_indexes.sql (a test compares the two).

-- A dry run reads the change's jobs stored since its previous run (by id), and the quota
-- check reads the runs of a change that spent units: through jobs_change (change_key, state,
-- id) both scanned every job the change ever had, which made a flood of one change quadratic.
CREATE INDEX jobs_change_id ON jobs (change_key, id);
CREATE INDEX jobs_change_spent ON jobs (change_key, updated_at) WHERE state = 'done' AND units > 0;
