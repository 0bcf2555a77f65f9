-- Quality loop (issue #15): customer surveys and daily scorecard roll-ups.
-- Keep in step with ../../postgres/.

-- One survey per job, issued on approval (or completion, per the
-- `survey_trigger` setting); answered at most once.
CREATE TABLE surveys (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    -- 18 random bytes, URL-safe base64 (like the tracking token).
    token TEXT NOT NULL UNIQUE,
    -- The assignee when the survey was issued, its organisation and that
    -- organisation's materialised path (the Service section's prefix scan).
    technician_id TEXT REFERENCES technicians(id),
    org_id TEXT NOT NULL REFERENCES organisations(id),
    org_path TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    answered_at TIMESTAMP,
    -- The answer's local date in the organisation's time zone, YYYY-MM-DD.
    answered_day TEXT,
    nps INTEGER CHECK (nps BETWEEN 0 AND 10),
    csat INTEGER CHECK (csat BETWEEN 1 AND 5),
    ces INTEGER CHECK (ces BETWEEN 1 AND 7),
    comment TEXT CHECK (length(comment) <= 2000),
    CHECK ((answered_at IS NULL) = (nps IS NULL))
);
-- Comments of a subtree, newest first.
CREATE INDEX surveys_answered ON surveys(org_path, answered_at) WHERE answered_at IS NOT NULL;

-- Daily counters per organisation and technician, added to in the same
-- transaction as the approval or the survey answer; scorecards only sum them.
-- `technician_id = ''` is the organisation's own row (everything of the
-- organisation's technicians plus its offers' accept SLA).
CREATE TABLE scorecard_days (
    org_id TEXT NOT NULL REFERENCES organisations(id),
    technician_id TEXT NOT NULL,
    -- Local date in the organisation's time zone, YYYY-MM-DD.
    day TEXT NOT NULL,
    org_path TEXT NOT NULL,
    jobs_completed BIGINT NOT NULL DEFAULT 0,
    visits BIGINT NOT NULL DEFAULT 0,
    first_time_fixed BIGINT NOT NULL DEFAULT 0,
    reworked BIGINT NOT NULL DEFAULT 0,
    incomplete BIGINT NOT NULL DEFAULT 0,
    accept_met BIGINT NOT NULL DEFAULT 0,
    accept_total BIGINT NOT NULL DEFAULT 0,
    arrive_met BIGINT NOT NULL DEFAULT 0,
    arrive_total BIGINT NOT NULL DEFAULT 0,
    promoters BIGINT NOT NULL DEFAULT 0,
    passives BIGINT NOT NULL DEFAULT 0,
    detractors BIGINT NOT NULL DEFAULT 0,
    csat_satisfied BIGINT NOT NULL DEFAULT 0,
    csat_responses BIGINT NOT NULL DEFAULT 0,
    ces_sum BIGINT NOT NULL DEFAULT 0,
    ces_responses BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, technician_id, day)
);
-- An organisation's subtree over a period reads only organisation rows;
-- per-technician lines of a subtree (the Service section) only technician rows.
CREATE INDEX scorecard_days_orgs ON scorecard_days(day, org_path) WHERE technician_id = '';
CREATE INDEX scorecard_days_subtree_technicians ON scorecard_days(day, org_path) WHERE technician_id != '';
CREATE INDEX scorecard_days_technicians ON scorecard_days(technician_id, day);

-- Jobs already rolled up: approval is counted once, whoever calls twice.
CREATE TABLE scorecard_jobs (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    org_id TEXT NOT NULL,
    technician_id TEXT NOT NULL,
    day TEXT NOT NULL,
    rolled_up_at TIMESTAMP NOT NULL
);
