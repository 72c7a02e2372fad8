-- Kept equivalent to migrations/postgres/0008_covered_index.sql (a test compares the two).

-- A claim that covers newer jobs moves what the older runs had covered to the newest: found
-- by covered_by, which without an index was a scan of every job ever stored (only covered jobs
-- are indexed: a job is stored uncovered, so storing a delivery does not pay for an entry).
CREATE INDEX jobs_covered ON jobs (covered_by) WHERE covered_by IS NOT NULL;
