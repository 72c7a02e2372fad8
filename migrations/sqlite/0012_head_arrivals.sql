-- Kept equivalent to migrations/postgres/0012_head_arrivals.sql (a test compares the two).

-- When each head of a change arrived, as the webhooks the bot processed report it (opened,
-- reopened, pushed: the latest of them), and when the bot first saw it: an approval with
-- reset_on_push counts only when it is known to come after its head arrived.
CREATE TABLE head_arrivals (
    change_key TEXT NOT NULL,
    head_sha TEXT NOT NULL,
    arrived_at BIGINT,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (change_key, head_sha)
);
