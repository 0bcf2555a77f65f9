CREATE INDEX jobs_status ON jobs(status, created_at);
DROP INDEX jobs_status_page;
ALTER TABLE technicians DROP COLUMN max_travel_km;
ALTER TABLE organisations DROP COLUMN max_travel_km;
DROP INDEX offers_pending_technician;
