-- Issue #14: a pending offer naming a technician is a tentative reservation on
-- that technician's day; capacity checks count them per technician.
CREATE INDEX offers_pending_technician ON offers(technician_id) WHERE status = 'pending' AND technician_id IS NOT NULL;
