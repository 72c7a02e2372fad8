-- Kept equivalent to migrations/postgres/0007_forge_replies.sql (a test compares the two).

-- The forges' answers to conditional reads, per URL: the ETag and the body it stands for, so
-- that a 304 (free on GitHub's rate limit) is reused by every replica and after a restart.
-- Bounded by github.reply_cache_mb: the least recently used answers go first.
CREATE TABLE forge_replies (
    url      TEXT PRIMARY KEY,
    etag     TEXT NOT NULL,
    link     TEXT,
    body     TEXT NOT NULL,
    size     BIGINT NOT NULL,
    used_at  BIGINT NOT NULL
);
CREATE INDEX forge_replies_used ON forge_replies (used_at);
