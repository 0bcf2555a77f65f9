DROP TABLE audit_log;
DROP TABLE consents;
DROP FUNCTION sortie_append_only();
ALTER TABLE customers DROP COLUMN erased_at;
