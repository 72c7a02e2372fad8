-- Kept equivalent to migrations/sqlite/0026_gitlab_pipeline_statuses.sql (a test compares the two).

-- The verdict the bot last wrote into each GitLab pipeline of a merge request's head
-- (`pipeline_id` on the status call; 0 when the head had no pipeline): "Pipelines must
-- succeed" reads the latest pipeline, so a new one without the bot's status is written again.
CREATE TABLE gitlab_pipeline_statuses (
    change_key TEXT NOT NULL,
    pipeline_id BIGINT NOT NULL,
    head_sha TEXT NOT NULL,
    state TEXT NOT NULL,
    description TEXT NOT NULL,
    written_at BIGINT NOT NULL,
    PRIMARY KEY (change_key, pipeline_id)
);
