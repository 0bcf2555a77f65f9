-- Issue #14: a pending offer naming a technician is a tentative reservation on
-- that technician's day; capacity checks count them per technician.
CREATE INDEX offers_pending_technician ON offers(technician_id) WHERE status = 'pending' AND technician_id IS NOT NULL;

-- Service radius (km): a technician's own, else its organisation's, else the
-- nearest ancestor's; NULL everywhere up to the vendor means no limit.
ALTER TABLE organisations ADD COLUMN max_travel_km DOUBLE PRECISION CHECK (max_travel_km > 0);
ALTER TABLE technicians ADD COLUMN max_travel_km DOUBLE PRECISION CHECK (max_travel_km > 0);

-- A dispatcher's board pages `GET /v1/jobs?status=…` newest first by (created_at, id).
CREATE INDEX jobs_status_page ON jobs(status, created_at, id);
DROP INDEX jobs_status;
