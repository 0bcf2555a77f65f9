-- The change log's entity is `domain::ChangeEntity`: the same words here.
-- SQLite cannot add a CHECK constraint to an existing table without
-- rebuilding it (copy, drop, rename: a long exclusive lock on the busiest
-- table, and the sync feed's ordering depends on its AUTOINCREMENT seq), so
-- two triggers enforce the same rule on every insert and update instead.
CREATE TRIGGER change_log_entity_known_insert
BEFORE INSERT ON change_log
WHEN NEW.entity NOT IN ('job', 'technician', 'org', 'route')
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: change_log_entity_known');
END;

CREATE TRIGGER change_log_entity_known_update
BEFORE UPDATE OF entity ON change_log
WHEN NEW.entity NOT IN ('job', 'technician', 'org', 'route')
BEGIN
    SELECT RAISE(ABORT, 'CHECK constraint failed: change_log_entity_known');
END;
