-- Phones registered by users; every sync call names one.
CREATE TABLE sync_devices (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    technician_id TEXT REFERENCES technicians(id),
    platform TEXT NOT NULL CHECK (platform IN ('android', 'ios', 'web')),
    push_token TEXT,
    app_version TEXT NOT NULL,
    -- The last mutation seq processed; the next must be last_seq + 1.
    last_seq BIGINT NOT NULL DEFAULT 0,
    -- Server clock minus phone clock at the last push that sent it.
    clock_offset_ms BIGINT,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE INDEX sync_devices_user ON sync_devices(user_id);

-- Every processed mutation, by (device, seq): what a retry is answered with.
CREATE TABLE sync_mutations (
    device_id TEXT NOT NULL REFERENCES sync_devices(id),
    seq BIGINT NOT NULL,
    mutation_id TEXT NOT NULL,
    -- The mutation id when this row owns it (unique: a mutation applies at
    -- most once over all devices); NULL when the id was already taken.
    claimed_id TEXT UNIQUE,
    name TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('applied', 'duplicate', 'rejected')),
    reason TEXT,
    message TEXT,
    -- The state answered with a rejection (JSON).
    current TEXT,
    processed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (device_id, seq)
);

-- The work report: appended items are keyed by client-generated ids.
CREATE TABLE report_notes (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    technician_id TEXT NOT NULL REFERENCES technicians(id),
    text TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX report_notes_job ON report_notes(job_id);

-- One answer per checklist item; the later write by server order wins.
CREATE TABLE report_checklist (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    item TEXT NOT NULL,
    value TEXT NOT NULL,
    technician_id TEXT NOT NULL REFERENCES technicians(id),
    updated_at TIMESTAMP NOT NULL,
    PRIMARY KEY (job_id, item)
);

CREATE TABLE report_parts (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    technician_id TEXT NOT NULL REFERENCES technicians(id),
    sku TEXT NOT NULL,
    qty INTEGER NOT NULL CHECK (qty > 0),
    serial TEXT,
    at TIMESTAMP NOT NULL
);
CREATE INDEX report_parts_job ON report_parts(job_id);

-- Photo metadata; the bytes are in photo_blobs (or, later, an object store).
CREATE TABLE report_photos (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    technician_id TEXT NOT NULL REFERENCES technicians(id),
    sha256 TEXT NOT NULL,
    taken_at TIMESTAMP NOT NULL,
    at TIMESTAMP NOT NULL
);
CREATE INDEX report_photos_job ON report_photos(job_id);

CREATE TABLE report_signatures (
    job_id TEXT PRIMARY KEY REFERENCES jobs(id),
    technician_id TEXT NOT NULL REFERENCES technicians(id),
    signer_name TEXT NOT NULL,
    image_sha256 TEXT NOT NULL,
    at TIMESTAMP NOT NULL
);

-- Time on site: one row per arrival, closed by completion or an incomplete visit.
CREATE TABLE report_visits (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    visit INTEGER NOT NULL,
    technician_id TEXT NOT NULL REFERENCES technicians(id),
    arrived_at TIMESTAMP NOT NULL,
    departed_at TIMESTAMP,
    outcome TEXT CHECK (outcome IN ('completed', 'incomplete')),
    reason TEXT CHECK (reason IN ('customer_absent', 'part_missing', 'second_visit_needed')),
    PRIMARY KEY (job_id, visit)
);

-- Content-addressed photo bytes (10 MB each at most).
CREATE TABLE photo_blobs (
    sha256 TEXT PRIMARY KEY,
    content BLOB NOT NULL,
    size_bytes BIGINT NOT NULL,
    uploaded_by TEXT REFERENCES users(id),
    created_at TIMESTAMP NOT NULL
);
