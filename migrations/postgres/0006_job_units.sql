-- Kept equivalent to migrations/sqlite/0006_job_units.sql (a test compares the two).

-- Requests each job made that counted against the forge's rate limit (every answer but a 304
-- to a conditional request): changegate jobs --stats sums them per event.
ALTER TABLE jobs ADD COLUMN units BIGINT NOT NULL DEFAULT 0;
