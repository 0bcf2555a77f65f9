DROP TRIGGER consents_no_delete;
DROP TRIGGER consents_no_update;
DROP TRIGGER audit_log_no_delete;
DROP TRIGGER audit_log_no_update;
DROP TABLE audit_log;
DROP TABLE consents;
ALTER TABLE customers DROP COLUMN erased_at;
