-- Notifications (issue #16): one row per message to send, written in the
-- transaction of the change that causes it, claimed and sent by a worker in
-- every replica. A claim moves `next_attempt_at` forward by a lease and counts
-- the attempt, so a replica that dies between sending and marking lets the
-- row come due once more (sent at most once more), never zero times.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL CHECK (channel IN ('push', 'email', 'sms')),
    -- What happened (the message template): `job_new`, `sync`, `booking_confirmed` …
    kind TEXT NOT NULL,
    -- push: the device id (its token is read at send time); email: the address; sms: the E.164 number.
    recipient TEXT NOT NULL,
    job_id TEXT REFERENCES jobs(id),
    -- The message's facts as JSON; rendered (language, links) when sent.
    payload TEXT NOT NULL,
    -- Rows with the same key collapse: one pending row per key, and FCM's collapse key.
    collapse_key TEXT,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    next_attempt_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    sent_at TIMESTAMP
);
-- The worker's claim: due pending rows, oldest first.
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE status = 'pending';
-- The admin list, newest first per status.
CREATE INDEX outbox_status ON outbox(status, created_at, id);
-- Scheduled rows of a job (reminders, offer expiry) skipped when the job changes.
CREATE INDEX outbox_job ON outbox(job_id) WHERE job_id IS NOT NULL;
-- Collapsing a burst of pokes to one pending row per device.
CREATE INDEX outbox_collapse ON outbox(collapse_key) WHERE status = 'pending';

-- The client card's notification settings: language of the texts, preferred
-- channel (`both`, `email`, `sms`) and opt-out.
ALTER TABLE customers ADD COLUMN language TEXT NOT NULL DEFAULT 'ru' CHECK (language IN ('ru', 'en'));
ALTER TABLE customers ADD COLUMN notify_channel TEXT NOT NULL DEFAULT 'both'
    CHECK (notify_channel IN ('both', 'email', 'sms'));
ALTER TABLE customers ADD COLUMN notify_opt_out BOOLEAN NOT NULL DEFAULT FALSE;
