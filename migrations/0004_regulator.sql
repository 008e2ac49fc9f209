-- The SEC console: an append-only audit trail, once-a-day jobs shared by every instance, and the
-- official forms offered for download.

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    occurred_at BIGINT NOT NULL,
    actor_id TEXT REFERENCES users (id),
    event TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE INDEX audit_log_time ON audit_log (occurred_at);
CREATE INDEX audit_log_actor ON audit_log (actor_id);

-- A row per job and day: the instance that inserts it runs the job, the others skip it.
CREATE TABLE job_runs (
    job TEXT NOT NULL,
    run_on TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    PRIMARY KEY (job, run_on)
);

CREATE TABLE official_forms (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    storage_key TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_kind TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sort_order BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
