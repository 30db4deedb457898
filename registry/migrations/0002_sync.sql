-- Sync and backfill (issue #8): runs, resumable cursors, the ledger of
-- objects each (tenant, source) sync has seen, and optional schedules.
-- Same rules as 0001: TEXT and BIGINT only, times as unix milliseconds.

-- One row per sync run, pull or file import; queryable as `sync_runs`.
CREATE TABLE sync_runs (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants (id),
    source         TEXT NOT NULL,
    mode           TEXT NOT NULL,
    status         TEXT NOT NULL,
    records_seen   BIGINT NOT NULL,
    created        BIGINT NOT NULL,
    updated        BIGINT NOT NULL,
    unchanged      BIGINT NOT NULL,
    deleted        BIGINT NOT NULL,
    failed         BIGINT NOT NULL,
    error          TEXT,
    started_at_ms  BIGINT NOT NULL,
    finished_at_ms BIGINT
);
CREATE INDEX sync_runs_tenant ON sync_runs (tenant_id, started_at_ms);

-- Where an interrupted pull resumes: saved after each page is durable.
-- sweep is the id of the run that started the full pass the cursor is in.
CREATE TABLE sync_cursors (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    source        TEXT NOT NULL,
    sweep         TEXT NOT NULL,
    cursor        TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, source)
);

-- What earlier pulls saw of each provider object: the hash of its
-- normalized state (a changed hash is a correction), the last full pass
-- that saw it, and when a full pass no longer did (soft delete).
CREATE TABLE sync_objects (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    source        TEXT NOT NULL,
    object_key    TEXT NOT NULL,
    state_hash    TEXT NOT NULL,
    sweep         TEXT NOT NULL,
    seen_at_ms    BIGINT NOT NULL,
    deleted_at_ms BIGINT,
    PRIMARY KEY (tenant_id, source, object_key)
);

-- Optional periodic pulls.
CREATE TABLE sync_schedules (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    source        TEXT NOT NULL,
    every_minutes BIGINT NOT NULL,
    last_run_ms   BIGINT,
    PRIMARY KEY (tenant_id, source)
);
