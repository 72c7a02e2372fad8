-- Kept equivalent to migrations/sqlite/0036_job_points.sql (a test compares the two).

-- GraphQL points each job spent (GitHub bills them from a budget apart from REST's units).
ALTER TABLE jobs ADD COLUMN points BIGINT NOT NULL DEFAULT 0;
