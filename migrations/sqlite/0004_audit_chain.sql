-- Kept equivalent to migrations/postgres/0004_audit_chain.sql (a test compares the two).

-- Tamper-evident audit: per forge and repository, records form one chain. Each carries its
-- position (seq), the hash of the record before it and the SHA-256 of its own content with
-- that hash, so an edited, deleted or reordered record breaks the chain. Records written
-- before this migration have no seq and are not part of a chain.
ALTER TABLE audit ADD COLUMN seq BIGINT;
ALTER TABLE audit ADD COLUMN prev_hash TEXT;
ALTER TABLE audit ADD COLUMN hash TEXT;
CREATE INDEX audit_chain ON audit (forge, repo, seq);

-- The head of each chain: appends lock its row, so that replicas never fork a chain.
CREATE TABLE audit_chains (
    forge  TEXT   NOT NULL,
    repo   TEXT   NOT NULL,
    seq    BIGINT NOT NULL,
    head   TEXT   NOT NULL,
    PRIMARY KEY (forge, repo)
);

-- What a retention purge removed from the start of a chain: the last removed record's seq
-- and hash, which the first remaining record must follow.
CREATE TABLE audit_checkpoints (
    forge    TEXT   NOT NULL,
    repo     TEXT   NOT NULL,
    seq      BIGINT NOT NULL,
    hash     TEXT   NOT NULL,
    removed  BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    PRIMARY KEY (forge, repo, seq)
);
