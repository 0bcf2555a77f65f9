DROP INDEX offers_pending_technician;
