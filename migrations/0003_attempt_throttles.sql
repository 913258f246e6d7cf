-- Brute-force protection: per-tenant knobs, and the failure counts per account and client address.
--
-- The knobs' bounds keep every setting safe: at least one free failure, windows of a minute to a
-- day, delays of at most a day. See origin-api/src/throttle/policy.rs for the rule.
ALTER TABLE tenants
    ADD COLUMN throttle_account_failures integer NOT NULL DEFAULT 5
        CHECK (throttle_account_failures BETWEEN 1 AND 1000),
    ADD COLUMN throttle_ip_failures integer NOT NULL DEFAULT 30
        CHECK (throttle_ip_failures BETWEEN 1 AND 100000),
    ADD COLUMN throttle_window_secs integer NOT NULL DEFAULT 900
        CHECK (throttle_window_secs BETWEEN 60 AND 86400),
    ADD COLUMN throttle_max_delay_secs integer NOT NULL DEFAULT 900
        CHECK (throttle_max_delay_secs BETWEEN 1 AND 86400);

-- One row per counted key. `key` is the SHA-256 (hex) of the normalised e-mail for accounts, the
-- address (IPv4) or /64 network (IPv6) for client addresses. Rows past their window are purged.
CREATE TABLE attempt_throttles (
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    scope            text NOT NULL CHECK (scope IN ('account', 'ip')),
    key              text NOT NULL CHECK (length(key) BETWEEN 1 AND 64),
    failures         integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_failure_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, scope, key)
);
CREATE INDEX attempt_throttles_last_failure ON attempt_throttles (last_failure_at);
