-- One schema for SQLite and PostgreSQL: only TEXT and BIGINT, times as
-- unix milliseconds, ciphertexts as base64 text.

CREATE TABLE tenants (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    timezone          TEXT NOT NULL,
    churn_recognition TEXT NOT NULL,
    created_at_ms     BIGINT NOT NULL
);

-- API keys are shown once; only a SHA-256 of the whole key is kept.
-- key_id is the public part embedded in the key, used to find the row.
CREATE TABLE api_keys (
    key_id        TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    role          TEXT NOT NULL,
    key_hash      TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- Several secrets per (tenant, source) may be active at once (rotation);
-- n numbers them for removal.
CREATE TABLE webhook_secrets (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    source        TEXT NOT NULL,
    n             BIGINT NOT NULL,
    sealed        TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, source, n)
);

CREATE TABLE provider_credentials (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    source        TEXT NOT NULL,
    sealed        TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, source)
);
