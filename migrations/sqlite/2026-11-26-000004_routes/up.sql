-- Each technician's planned day: the order of visits and planned times.
CREATE TABLE route_stops (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    technician_id TEXT NOT NULL REFERENCES technicians(id),
    -- The technician's local date, YYYY-MM-DD.
    route_date TEXT NOT NULL,
    position INTEGER NOT NULL,
    planned_arrival TIMESTAMP NOT NULL,
    planned_start TIMESTAMP NOT NULL,
    planned_departure TIMESTAMP NOT NULL,
    -- False when the visit cannot be served in its window (kept, never dropped).
    feasible BOOLEAN NOT NULL,
    travel_m DOUBLE NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (technician_id, route_date, position)
);
