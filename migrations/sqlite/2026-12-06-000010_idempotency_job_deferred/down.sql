CREATE TABLE idempotency_keys_old (
    user_id TEXT NOT NULL REFERENCES users(id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    job_id TEXT REFERENCES jobs(id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);
INSERT INTO idempotency_keys_old (user_id, key, request_hash, job_id, created_at)
    SELECT user_id, key, request_hash, job_id, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_old RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
