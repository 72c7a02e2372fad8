-- Kept equivalent to migrations/sqlite/0001_initial.sql (a test compares the two).

-- Deliveries: one row per webhook delivery about a change (or reconcile request); the unique
-- key deduplicates redeliveries by the forge's delivery id.
CREATE TABLE deliveries (
    id            BIGSERIAL PRIMARY KEY,
    forge         TEXT    NOT NULL,
    delivery_id   TEXT,
    event_name    TEXT    NOT NULL,
    received_at   BIGINT  NOT NULL,
    event_json    TEXT    NOT NULL,
    UNIQUE (forge, delivery_id)
);

-- Jobs: the queue. One job per delivery; jobs of one change run one at a time, in order;
-- priority 0 (webhooks) before 1 (reconcile). A job whose change has newer queued jobs when it
-- is claimed is covered by the newest (which reads the forge afterwards): covered_by.
CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    delivery      BIGINT  NOT NULL REFERENCES deliveries(id),
    change_key    TEXT    NOT NULL,
    priority      BIGINT  NOT NULL DEFAULT 0,
    state         TEXT    NOT NULL DEFAULT 'queued',
    attempts      BIGINT  NOT NULL DEFAULT 0,
    run_after     BIGINT  NOT NULL,
    locked_until  BIGINT  NOT NULL DEFAULT 0,
    writes        BIGINT  NOT NULL DEFAULT 0,
    pushed        BIGINT  NOT NULL DEFAULT 0,
    covered_by    BIGINT,
    last_error    TEXT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);
CREATE INDEX jobs_pending ON jobs (state, priority, id);
CREATE INDEX jobs_change ON jobs (change_key, state, id);

-- Audit: every delivery, decision and forge action, for auditors.
CREATE TABLE audit (
    id            BIGSERIAL PRIMARY KEY,
    at            BIGINT  NOT NULL,
    forge         TEXT    NOT NULL,
    repo          TEXT    NOT NULL,
    number        BIGINT  NOT NULL,
    delivery_id   TEXT,
    kind          TEXT    NOT NULL,
    rules_hash    TEXT,
    detail        TEXT    NOT NULL
);
CREATE INDEX audit_change ON audit (forge, repo, number, at);
CREATE INDEX audit_at ON audit (at);

-- What the worker remembers about a change between events: when its head last moved (for
-- approvals that new commits reset), the last status it wrote (to skip identical writes), the
-- forge's update time at the last decision (for reconcile), and its sticky comment's id and
-- text hash (to edit it without listing comments, and not at all when unchanged).
CREATE TABLE change_memory (
    change_key          TEXT PRIMARY KEY,
    head_sha            TEXT,
    head_changed_at     BIGINT,
    status_sha          TEXT,
    status_state        TEXT,
    status_description  TEXT,
    seen_updated_at     TEXT,
    comment_id          BIGINT,
    comment_hash        TEXT,
    updated_at          BIGINT NOT NULL
);
