DROP INDEX offers_pending_org;
DROP TABLE web_sessions;
