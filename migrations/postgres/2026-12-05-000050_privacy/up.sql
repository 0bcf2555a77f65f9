-- Personal data (issue #11): consents with each booking, erasure, the audit log.

-- When the person behind the card was erased on request (NULL: never).
ALTER TABLE customers ADD COLUMN erased_at TIMESTAMP;

-- What a customer consented to, when, and to which text version
-- (`api/consent/*`). Append-only: a withdrawal or a new consent is a new row.
CREATE TABLE consents (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    job_id TEXT REFERENCES jobs(id),
    recorded_by TEXT NOT NULL REFERENCES users(id),
    text_version TEXT NOT NULL,
    language TEXT NOT NULL CHECK (language IN ('ru', 'en')),
    personal_data BOOLEAN NOT NULL,
    notifications BOOLEAN NOT NULL,
    marketing BOOLEAN NOT NULL,
    given_at TIMESTAMP NOT NULL
);
CREATE INDEX consents_customer ON consents(customer_id, given_at);
CREATE INDEX consents_job ON consents(job_id);

-- Who did what to which object, and who read which client card. Written in
-- the transaction of the action it records. Details never hold personal data
-- (field names, not values), so an erasure leaves this table alone.
CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMP NOT NULL,
    actor_user_id TEXT,
    actor_role TEXT NOT NULL CHECK (actor_role IN ('customer', 'technician', 'dispatcher', 'reviewer', 'admin')),
    action TEXT NOT NULL CHECK (action IN ('customer_read', 'customer_export', 'customer_erase', 'customer_update',
        'user_create', 'user_update', 'org_create', 'org_update', 'territories_set', 'agreement_set',
        'technician_create', 'technician_update', 'outbox_retry')),
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    customer_id TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at, id);
CREATE INDEX audit_log_actor ON audit_log(actor_user_id, id);
CREATE INDEX audit_log_subject ON audit_log(subject_id, id);
CREATE INDEX audit_log_customer ON audit_log(customer_id, id);

-- Append-only at the database: the application has no path that changes or
-- removes a row (README, Personal data, says how an operator prunes).
CREATE FUNCTION sortie_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION sortie_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION sortie_append_only();
CREATE TRIGGER consents_append_only BEFORE UPDATE OR DELETE ON consents
    FOR EACH ROW EXECUTE FUNCTION sortie_append_only();
