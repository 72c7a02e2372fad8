-- Kept equivalent to migrations/postgres/0030_comment_refusals.sql (a test compares the two).

-- The sticky comment lists the latest refused commands of a change and how many there are:
-- read by this index, never by loading every command of the change.
CREATE INDEX comment_commands_refused ON comment_commands (change_key, accepted, recorded_at);
