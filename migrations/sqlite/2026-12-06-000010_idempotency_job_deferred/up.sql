-- A booking claims its idempotency key with the id of the job it inserts next in the same transaction
-- (one statement instead of a claim and an update): the key's reference to the job is checked at commit.
-- SQLite cannot alter a constraint: the table is rebuilt (nothing references it).
CREATE TABLE idempotency_keys_new (
    user_id TEXT NOT NULL REFERENCES users(id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    job_id TEXT REFERENCES jobs(id) DEFERRABLE INITIALLY DEFERRED,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);
INSERT INTO idempotency_keys_new (user_id, key, request_hash, job_id, created_at)
    SELECT user_id, key, request_hash, job_id, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
