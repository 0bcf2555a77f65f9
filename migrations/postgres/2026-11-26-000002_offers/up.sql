-- Offers: a job offered to one organisation at a time, with a deadline.
CREATE TABLE offers (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    org_id TEXT NOT NULL REFERENCES organisations(id),
    -- The technician dispatch chose, when the offer reached its organisation.
    technician_id TEXT REFERENCES technicians(id),
    status TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'expired', 'subcontracted', 'cancelled')),
    deadline TIMESTAMP NOT NULL,
    reason TEXT,
    created_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    answered_by TEXT REFERENCES users(id)
);
-- At most one open offer per job: two replicas cannot both offer it.
CREATE UNIQUE INDEX offers_one_pending ON offers(job_id) WHERE status = 'pending';
CREATE INDEX offers_deadline ON offers(deadline) WHERE status = 'pending';
CREATE INDEX offers_job ON offers(job_id, created_at);

-- Why dispatch chose whom it chose, one row per decision (latest last).
CREATE TABLE job_explanations (
    id BIGSERIAL PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    at TIMESTAMP NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX job_explanations_job ON job_explanations(job_id, id);

CREATE INDEX jobs_technician_window ON jobs(technician_id, window_start);
CREATE INDEX change_log_entity ON change_log(entity, seq);
