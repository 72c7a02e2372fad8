-- Deliveries: one row per webhook delivery about a change; the unique key deduplicates
-- redeliveries by the forge's delivery id.
CREATE TABLE deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    forge         TEXT    NOT NULL,
    delivery_id   TEXT,
    event_name    TEXT    NOT NULL,
    received_at   INTEGER NOT NULL,
    event_json    TEXT    NOT NULL,
    UNIQUE (forge, delivery_id)
);

-- Jobs: the queue. One job per delivery; jobs of one change run one at a time, in order.
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery      INTEGER NOT NULL REFERENCES deliveries(id),
    change_key    TEXT    NOT NULL,
    state         TEXT    NOT NULL DEFAULT 'queued',
    attempts      INTEGER NOT NULL DEFAULT 0,
    run_after     INTEGER NOT NULL,
    locked_until  INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX jobs_pending ON jobs (state, run_after);
CREATE INDEX jobs_change ON jobs (change_key, state);

-- Audit: every delivery, decision and forge action, for auditors.
CREATE TABLE audit (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    at            INTEGER NOT NULL,
    forge         TEXT    NOT NULL,
    repo          TEXT    NOT NULL,
    number        INTEGER NOT NULL,
    delivery_id   TEXT,
    kind          TEXT    NOT NULL,
    rules_hash    TEXT,
    detail        TEXT    NOT NULL
);
CREATE INDEX audit_change ON audit (forge, repo, number, at);
