-- The vendor's verdicts on work reports: one per job and visit. The unique
-- key refuses a second review of the same visit, even from two replicas
-- racing (the loser answers 409 with the current state).
CREATE TABLE reviews (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    -- The job's `visits` count when it was reviewed.
    visit INTEGER NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('approved', 'returned')),
    reason TEXT,
    -- Returned with `redispatch: true` (dispatch again instead of the same technician).
    redispatch BOOLEAN NOT NULL DEFAULT FALSE,
    reviewer_user_id TEXT NOT NULL REFERENCES users(id),
    at TIMESTAMP NOT NULL,
    UNIQUE (job_id, visit)
);
-- The queue's approved/returned pages: newest verdict first.
CREATE INDEX reviews_verdict_at ON reviews(verdict, at);
