ALTER TABLE technicians DROP COLUMN max_travel_km;
ALTER TABLE organisations DROP COLUMN max_travel_km;
DROP INDEX offers_pending_technician;
