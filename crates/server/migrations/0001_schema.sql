-- Evidentia trial service, schema version 1 (SQLite and PostgreSQL; {ID} is the engine's
-- auto-increment primary key). Integers are BIGINT, reals DOUBLE PRECISION, times TEXT in
-- UTC ISO 8601 (and BIGINT Unix seconds where compared).

CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE sites (
    id {ID},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE users (
    id {ID},
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('manager', 'investigator', 'pharmacist', 'statistician')),
    site_id BIGINT REFERENCES sites (id),
    can_unblind BIGINT NOT NULL DEFAULT 0,
    active BIGINT NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    csrf TEXT NOT NULL,
    created_unix BIGINT NOT NULL,
    seen_unix BIGINT NOT NULL
);

-- One row per stratum: the lock PostgreSQL allocations take (SELECT ... FOR UPDATE).
CREATE TABLE strata (
    id {ID},
    label TEXT NOT NULL UNIQUE
);

CREATE TABLE slots (
    id {ID},
    stratum_id BIGINT NOT NULL REFERENCES strata (id),
    sequence BIGINT NOT NULL,
    block BIGINT NOT NULL,
    block_size BIGINT NOT NULL,
    arm TEXT NOT NULL,
    randomization_number BIGINT NOT NULL UNIQUE,
    list_version BIGINT NOT NULL,
    UNIQUE (stratum_id, sequence)
);

CREATE TABLE screening (
    id {ID},
    screening_code TEXT NOT NULL UNIQUE,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    eligible BIGINT NOT NULL,
    exclusion_reason TEXT NOT NULL,
    screened_on TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE participants (
    id {ID},
    code TEXT NOT NULL UNIQUE,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    screening_id BIGINT NOT NULL UNIQUE REFERENCES screening (id),
    factors TEXT NOT NULL,
    covariates TEXT NOT NULL,
    enrolled_at TEXT NOT NULL
);

CREATE TABLE allocations (
    id {ID},
    participant_id BIGINT NOT NULL UNIQUE REFERENCES participants (id),
    slot_id BIGINT NOT NULL UNIQUE REFERENCES slots (id),
    randomized_at TEXT NOT NULL,
    day0 TEXT NOT NULL,
    randomized_by BIGINT NOT NULL REFERENCES users (id)
);

CREATE TABLE measurements (
    id {ID},
    participant_id BIGINT NOT NULL REFERENCES participants (id),
    visit TEXT NOT NULL,
    visit_date TEXT NOT NULL,
    outcome TEXT NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    UNIQUE (participant_id, visit, outcome)
);

CREATE TABLE adverse_events (
    id {ID},
    participant_id BIGINT NOT NULL REFERENCES participants (id),
    term TEXT NOT NULL,
    onset_date TEXT NOT NULL,
    severity TEXT NOT NULL,
    serious BIGINT NOT NULL,
    related TEXT NOT NULL
);

CREATE TABLE status_events (
    id {ID},
    participant_id BIGINT NOT NULL REFERENCES participants (id),
    kind TEXT NOT NULL CHECK (kind IN ('withdrawal', 'lost_to_follow_up', 'discontinuation', 'death', 'completed')),
    reason_code TEXT NOT NULL,
    reason TEXT NOT NULL,
    event_date TEXT NOT NULL,
    UNIQUE (participant_id, kind)
);

CREATE TABLE notifications (
    id {ID},
    role TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- Append-only, hash-chained (see audit.rs); the head row serializes appends.
CREATE TABLE audit (
    id {ID},
    seq BIGINT NOT NULL UNIQUE,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    entity TEXT NOT NULL,
    old_value TEXT NOT NULL,
    new_value TEXT NOT NULL,
    reason TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE TABLE audit_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
