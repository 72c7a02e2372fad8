-- Kept equivalent to migrations/postgres/0016_deployments.sql (a test compares the two).

-- Deployment gates (issue 23). Every fact is recorded when it happens and decided from:
-- the forge's deployment list is never evidence. Environments are keyed as the forge
-- compares them (env_key: lowercase on GitHub, as written on GitLab); repositories lowercase.

-- Each decision on a deployment, with its reasons and the facts it read (JSON).
CREATE TABLE deploy_decisions (
    id             TEXT   NOT NULL PRIMARY KEY,
    forge          TEXT   NOT NULL,
    repo           TEXT   NOT NULL,
    env_key        TEXT   NOT NULL,
    environment    TEXT   NOT NULL,
    sha            TEXT   NOT NULL,
    deployment_id  BIGINT,
    source         TEXT   NOT NULL,
    outcome        TEXT   NOT NULL,
    until_at       BIGINT,
    expires_at     BIGINT,
    decided_at     BIGINT NOT NULL,
    detail         TEXT   NOT NULL
);
CREATE INDEX deploy_decisions_env ON deploy_decisions (forge, repo, env_key, sha);

-- Deployments that count as evidence (a baseline, staging): changegate allowed them and then
-- saw them succeed, a trusted deployer created them, or an operator recorded a baseline.
CREATE TABLE deploy_successes (
    forge          TEXT   NOT NULL,
    repo           TEXT   NOT NULL,
    env_key        TEXT   NOT NULL,
    sha            TEXT   NOT NULL,
    deployment_id  BIGINT NOT NULL,
    kind           TEXT   NOT NULL,
    by_name        TEXT,
    at             BIGINT NOT NULL,
    how            TEXT   NOT NULL,
    PRIMARY KEY (forge, repo, env_key, sha, deployment_id, kind)
);

-- Commits that reached a branch without a change, accepted after review by an operator.
CREATE TABLE deploy_accepted (
    forge   TEXT   NOT NULL,
    repo    TEXT   NOT NULL,
    sha     TEXT   NOT NULL,
    by_name TEXT   NOT NULL,
    reason  TEXT   NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (forge, repo, sha)
);

-- Exception requests and confirmations as seen when they happened (labels, later comment
-- commands): source is label or comment, source_id the comment's id (0 for labels).
CREATE TABLE deploy_exception_events (
    forge      TEXT   NOT NULL,
    repo       TEXT   NOT NULL,
    number     BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    by_id      BIGINT,
    by_name    TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    source     TEXT   NOT NULL,
    source_id  BIGINT NOT NULL,
    PRIMARY KEY (forge, repo, number, kind, by_name, at, source, source_id)
);

-- Exceptions used by an allowed deployment: each lifts one deployment.
CREATE TABLE deploy_spent (
    forge         TEXT   NOT NULL,
    repo          TEXT   NOT NULL,
    number        BIGINT NOT NULL,
    requested_at  BIGINT NOT NULL,
    decision_id   TEXT   NOT NULL,
    PRIMARY KEY (forge, repo, number, requested_at)
);

-- Deployments waiting for a decision (a window, staging time, an approval): the event to
-- decide again, until answered.
CREATE TABLE deploy_waits (
    forge       TEXT   NOT NULL,
    repo        TEXT   NOT NULL,
    wait_key    TEXT   NOT NULL,
    event       TEXT   NOT NULL,
    until_at    BIGINT,
    open        BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (forge, repo, wait_key)
);

-- Deployments seen running without a valid allow (none, expired, another SHA).
CREATE TABLE deploy_unapproved (
    forge          TEXT   NOT NULL,
    repo           TEXT   NOT NULL,
    env_key        TEXT   NOT NULL,
    sha            TEXT   NOT NULL,
    deployment_id  BIGINT NOT NULL,
    why            TEXT   NOT NULL,
    seen_at        BIGINT NOT NULL,
    PRIMARY KEY (forge, repo, deployment_id)
);

-- Each merged change's verdict at merge for the branch it merged into (changegate's own
-- record, from its last evaluation while open on the head that merged).
CREATE TABLE merge_verdicts (
    forge          TEXT   NOT NULL,
    repo           TEXT   NOT NULL,
    number         BIGINT NOT NULL,
    target_branch  TEXT,
    head_sha       TEXT,
    pass           BIGINT NOT NULL,
    how            TEXT   NOT NULL,
    recorded_at    BIGINT NOT NULL,
    PRIMARY KEY (forge, repo, number)
);
