-- What the worker remembers about a change between events: when its head last moved (for
-- approvals that new commits reset) and the last status it wrote (to skip identical writes).
CREATE TABLE change_memory (
    change_key          TEXT PRIMARY KEY,
    head_sha            TEXT,
    head_changed_at     INTEGER,
    status_sha          TEXT,
    status_state        TEXT,
    status_description  TEXT,
    updated_at          INTEGER NOT NULL
);
