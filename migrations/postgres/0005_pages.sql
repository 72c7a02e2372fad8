-- Kept equivalent to migrations/sqlite/0005_pages.sql (a test compares the two).

-- Keys the bot generates once and every replica shares: the details pages' link key when
-- server.link_key is not set (links then survive restarts and work on every replica).
CREATE TABLE bot_keys (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
