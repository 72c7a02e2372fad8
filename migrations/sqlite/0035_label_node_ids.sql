-- Kept equivalent to migrations/postgres/0035_label_node_ids.sql (a test compares the two).

-- The node id each label had when the bot first saw it by a name, per repository: GitHub's
-- GraphQL shows a label event's label as it is named now, so a label renamed into an approval
-- label must not bring the approvals of whoever applied it under its old name.
CREATE TABLE label_node_ids (
    scope          TEXT   NOT NULL,
    name           TEXT   NOT NULL,
    node_id        TEXT   NOT NULL,
    first_seen_at  BIGINT NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE INDEX label_node_ids_by_id ON label_node_ids (scope, node_id);
