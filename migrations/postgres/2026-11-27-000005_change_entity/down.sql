ALTER TABLE change_log DROP CONSTRAINT change_log_entity_known;
