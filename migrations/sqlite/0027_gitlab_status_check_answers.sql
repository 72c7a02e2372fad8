-- Kept equivalent to migrations/postgres/0027_gitlab_status_check_answers.sql (a test compares the two).

-- What the bot answered GitLab's external status check for each head of a merge request:
-- a `passed` GitLab shows that the bot did not give (any Developer may answer the check) is
-- overwritten and recorded.
CREATE TABLE gitlab_status_check_answers (
    change_key TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    check_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    answered_at BIGINT NOT NULL,
    PRIMARY KEY (change_key, head_sha, check_id)
);
