-- Browser sessions of the web console (issue #12): the cookie carries a random
-- token; only its SHA-256 is stored. Signing out deletes the row; a password
-- change after `created_at` or a deactivated user ends it on the next request.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions(user_id);
CREATE INDEX web_sessions_expires ON web_sessions(expires_at);

-- The dispatcher board lists the open offers of one organisation by deadline.
CREATE INDEX offers_pending_org ON offers(org_id, deadline) WHERE status = 'pending';
