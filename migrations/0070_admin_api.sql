-- The admin API (issue 13): disabled users, the stable order users are listed in, and per-tenant
-- admin API keys.

-- A disabled user cannot sign in or refresh; disabling also revokes every session (the origin does
-- that in the same transaction). NULL: enabled.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- The admin API lists a tenant's users newest first in this order (keyset pagination).
CREATE INDEX users_tenant_recent ON users (tenant_id, created_at DESC, id DESC);

-- Admin API keys: each acts on its own tenant only. The key itself (`eak_live_` + 64 hex digits of
-- randomness + an 8-digit CRC-32 check) is shown once; only its HMAC-SHA-256 under a key derived
-- from the origin's key-encryption key is stored. A fast keyed hash suffices because the key is 256
-- random bits (nothing to brute-force, unlike a password), and it lets a request find its key by
-- an indexed lookup without a slow hash on every admin call.
CREATE TABLE admin_api_keys (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    secret_hash   bytea NOT NULL UNIQUE CHECK (octet_length(secret_hash) = 32),
    -- The key's last four characters (from its check digits, so they reveal none of its secret), to
    -- tell keys apart in a list.
    hint          text NOT NULL CHECK (hint ~ '^[0-9a-f]{4}$'),
    permissions   text[] NOT NULL CHECK (
        cardinality(permissions) BETWEEN 1 AND 3
        AND permissions <@ ARRAY['read', 'write', 'manage_keys']::text[]),
    -- The audit actor id of who created it: `bootstrap`, or another key's id.
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    -- Updated at most once a minute per key.
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    UNIQUE (tenant_id, id)
);
CREATE INDEX admin_api_keys_tenant ON admin_api_keys (tenant_id, created_at, id);
