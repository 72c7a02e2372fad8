-- Kept equivalent to migrations/sqlite/0021_comment_commands.sql (a test compares the two).

-- Every comment command changegate read (`/changegate approve peer`), accepted or refused, one
-- row per command line of a comment: who, what, when the comment was written, its link, and
-- why a refused one was refused. Written before anything the command causes; a comment already
-- recorded is never read again (a redelivery or reconcile finds its lines here).
CREATE TABLE comment_commands (
    change_key   TEXT   NOT NULL,
    source       TEXT   NOT NULL,
    comment_id   BIGINT NOT NULL,
    line         BIGINT NOT NULL,
    kind         TEXT   NOT NULL,
    text         TEXT   NOT NULL,
    person_id    BIGINT,
    person_login TEXT,
    at           BIGINT NOT NULL,
    url          TEXT,
    accepted     BIGINT NOT NULL,
    reason       TEXT,
    recorded_at  BIGINT NOT NULL,
    PRIMARY KEY (change_key, source, comment_id, line)
);
CREATE INDEX comment_commands_by_kind ON comment_commands (change_key, kind, recorded_at);

-- Approvals given by comment: the source of truth for the labels the bot applies for them.
-- A row stands until withdrawn (by its giver's command, or because its comment was deleted,
-- hidden or edited by someone else); body_sha is the comment's text as last known from its
-- author, so that a read-back finds any other change.
CREATE TABLE comment_approvals (
    change_key    TEXT   NOT NULL,
    role          TEXT   NOT NULL,
    source        TEXT   NOT NULL,
    comment_id    BIGINT NOT NULL,
    person_id     BIGINT,
    person_login  TEXT,
    url           TEXT,
    body_sha      TEXT   NOT NULL,
    given_at      BIGINT NOT NULL,
    head_sha      TEXT,
    node_id       TEXT,
    recorded_at   BIGINT NOT NULL,
    withdrawn_at  BIGINT,
    withdrawn_why TEXT,
    PRIMARY KEY (change_key, role, source, comment_id)
);
