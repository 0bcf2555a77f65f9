-- The change log's entity is `domain::ChangeEntity`: the same words here.
ALTER TABLE change_log
    ADD CONSTRAINT change_log_entity_known CHECK (entity IN ('job', 'technician', 'org', 'route'));
