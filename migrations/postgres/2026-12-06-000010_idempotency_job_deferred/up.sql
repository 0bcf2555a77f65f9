-- A booking claims its idempotency key with the id of the job it inserts next in the same transaction
-- (one statement instead of a claim and an update): the key's reference to the job is checked at commit.
ALTER TABLE idempotency_keys ALTER CONSTRAINT idempotency_keys_job_id_fkey DEFERRABLE INITIALLY DEFERRED;
