ALTER TABLE customers DROP COLUMN notify_opt_out;
ALTER TABLE customers DROP COLUMN notify_channel;
ALTER TABLE customers DROP COLUMN language;
DROP TABLE outbox;
