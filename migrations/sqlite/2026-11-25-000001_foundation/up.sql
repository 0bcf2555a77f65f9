-- Sortie foundation schema (SQLite). Keep in step with ../../postgres/.
-- Ids are UUID text; timestamps are UTC `timestamp`; lists and small
-- documents are JSON text (the same on both backends).

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE organisations (
    id TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES organisations(id),
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    level INTEGER NOT NULL CHECK (level >= 0),
    -- Materialised path of ids, "/root/child/…/self/": subtree = LIKE prefix.
    path TEXT NOT NULL UNIQUE,
    timezone TEXT NOT NULL,
    manual_routing BOOLEAN NOT NULL DEFAULT FALSE,
    parts TEXT NOT NULL DEFAULT '[]',
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    CHECK ((parent_id IS NULL) = (level = 0))
);
CREATE INDEX organisations_parent ON organisations(parent_id);
-- Exactly one root (the vendor).
CREATE UNIQUE INDEX organisations_one_root ON organisations((parent_id IS NULL)) WHERE parent_id IS NULL;

CREATE TABLE territories (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    geometry TEXT NOT NULL,
    exclusive BOOLEAN NOT NULL,
    min_lon DOUBLE NOT NULL,
    min_lat DOUBLE NOT NULL,
    max_lon DOUBLE NOT NULL,
    max_lat DOUBLE NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX territories_org ON territories(org_id);

CREATE TABLE service_agreements (
    org_id TEXT PRIMARY KEY REFERENCES organisations(id),
    accept_within_min TEXT NOT NULL,
    arrive_within_min TEXT NOT NULL,
    first_time_fix_target DOUBLE NOT NULL CHECK (first_time_fix_target >= 0 AND first_time_fix_target <= 1),
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE technicians (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organisations(id),
    name TEXT NOT NULL,
    skills TEXT NOT NULL,
    home_lat DOUBLE NOT NULL CHECK (home_lat BETWEEN -90 AND 90),
    home_lon DOUBLE NOT NULL CHECK (home_lon BETWEEN -180 AND 180),
    pos_lat DOUBLE CHECK (pos_lat BETWEEN -90 AND 90),
    pos_lon DOUBLE CHECK (pos_lon BETWEEN -180 AND 180),
    position_at TIMESTAMP,
    shift TEXT NOT NULL,
    absences TEXT NOT NULL DEFAULT '[]',
    timezone TEXT NOT NULL,
    daily_capacity INTEGER NOT NULL CHECK (daily_capacity >= 0),
    parts TEXT NOT NULL DEFAULT '[]',
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX technicians_org ON technicians(org_id);

CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT UNIQUE,
    email TEXT,
    preferred_address_form TEXT,
    contracted_org_id TEXT REFERENCES organisations(id),
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX customers_email ON customers(email);

CREATE TABLE customer_addresses (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    address TEXT NOT NULL,
    lat DOUBLE NOT NULL,
    lon DOUBLE NOT NULL,
    last_used_at TIMESTAMP NOT NULL,
    UNIQUE (customer_id, address)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('customer', 'technician', 'dispatcher', 'reviewer', 'admin')),
    name TEXT,
    org_id TEXT REFERENCES organisations(id),
    technician_id TEXT UNIQUE REFERENCES technicians(id),
    customer_id TEXT REFERENCES customers(id),
    active BOOLEAN NOT NULL,
    password_changed_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX users_org ON users(org_id);

CREATE TABLE refresh_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users(id),
    family_id TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP,
    revoked_at TIMESTAMP
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('home_visit', 'parts_replacement')),
    status TEXT NOT NULL CHECK (status IN ('new', 'offered', 'accepted', 'scheduled', 'en_route', 'on_site', 'completed', 'in_review', 'approved', 'returned', 'incomplete', 'unassignable', 'cancelled')),
    priority TEXT NOT NULL CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    customer_id TEXT NOT NULL REFERENCES customers(id),
    created_by TEXT NOT NULL REFERENCES users(id),
    contractor_org_id TEXT NOT NULL REFERENCES organisations(id),
    lat DOUBLE NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon DOUBLE NOT NULL CHECK (lon BETWEEN -180 AND 180),
    address TEXT NOT NULL,
    problem TEXT NOT NULL,
    required_skills TEXT NOT NULL,
    parts TEXT NOT NULL,
    window_start TIMESTAMP NOT NULL,
    window_end TIMESTAMP NOT NULL,
    contact_name TEXT NOT NULL,
    contact_phone TEXT NOT NULL,
    contact_email TEXT,
    tracking_token TEXT NOT NULL UNIQUE,
    technician_id TEXT REFERENCES technicians(id),
    offer_org_id TEXT REFERENCES organisations(id),
    offer_deadline TIMESTAMP,
    eta_start TIMESTAMP,
    eta_end TIMESTAMP,
    visits INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    first_on_site_at TIMESTAMP,
    closed_at TIMESTAMP,
    CHECK (window_end > window_start)
);
CREATE INDEX jobs_customer ON jobs(customer_id, created_at);
CREATE INDEX jobs_status ON jobs(status, created_at);
CREATE INDEX jobs_created ON jobs(created_at, id);
CREATE INDEX jobs_technician ON jobs(technician_id);

-- Every organisation a job passed through: the chain view and visibility.
CREATE TABLE job_orgs (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    org_id TEXT NOT NULL REFERENCES organisations(id),
    role TEXT NOT NULL CHECK (role IN ('contractor', 'hop', 'offeree', 'assignee')),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (job_id, org_id, role)
);
CREATE INDEX job_orgs_org ON job_orgs(org_id, job_id);

-- Append-only: never updated or deleted.
CREATE TABLE job_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL REFERENCES jobs(id),
    at TIMESTAMP NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('created', 'offered', 'declined', 'offer_expired', 'escalated', 'subcontracted', 'accepted', 'assigned', 'rescheduled', 'status_changed', 'incomplete', 'completed', 'review_approved', 'review_returned', 'cancelled', 'unassignable')),
    actor_user_id TEXT REFERENCES users(id),
    actor_org_id TEXT REFERENCES organisations(id),
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX job_events_job ON job_events(job_id, id);

-- The ordered change log the phones' sync feed reads (written in the same
-- transaction as the change it records).
CREATE TABLE change_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    technician_id TEXT,
    op TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    at TIMESTAMP NOT NULL
);
CREATE INDEX change_log_technician ON change_log(technician_id, seq);

CREATE TABLE idempotency_keys (
    user_id TEXT NOT NULL REFERENCES users(id),
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    job_id TEXT REFERENCES jobs(id),
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
