-- Passkeys (WebAuthn): each tenant's relying party, its users' credentials, and ceremonies in flight.
--
-- A tenant's relying-party id and allowed origins are validated by the origin (the id is a
-- registrable suffix of every origin's host; origins are https, or http on localhost). Both are
-- NULL for tenants created before passkeys existed: their passkey endpoints answer
-- `passkeys_not_configured`. Invariant: the RP id never changes once a credential is registered
-- under it (every credential is bound to it).
ALTER TABLE tenants
    ADD COLUMN passkey_rp_id text CHECK (length(passkey_rp_id) BETWEEN 1 AND 253),
    ADD COLUMN passkey_origins text[] CHECK (cardinality(passkey_origins) BETWEEN 1 AND 16),
    ADD CONSTRAINT tenants_passkey_config_whole CHECK ((passkey_rp_id IS NULL) = (passkey_origins IS NULL));

-- Passkey-first accounts have no password.
ALTER TABLE users ALTER COLUMN password_hash DROP NOT NULL;

-- `credential` is webauthn-rs's `Passkey` as serialised by the library (public key, counter, flags);
-- it is rewritten after every sign-in that changes the counter or the backup state. The unique
-- constraint, not a prior lookup, refuses a credential id registered twice.
CREATE TABLE passkeys (
    id              uuid PRIMARY KEY,
    tenant_id       uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id         uuid NOT NULL,
    credential_id   bytea NOT NULL CHECK (octet_length(credential_id) BETWEEN 1 AND 1023),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    credential      jsonb NOT NULL,
    -- Backup eligible: a synced (multi-device) passkey; otherwise device-bound.
    backup_eligible boolean NOT NULL,
    backed_up       boolean NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT passkeys_credential_id_key UNIQUE (tenant_id, credential_id)
);
CREATE INDEX passkeys_user ON passkeys (tenant_id, user_id);

-- A ceremony between its start and its finish. The client holds an opaque random id; only its
-- SHA-256 is stored. Finishing deletes the row (single use) whatever the outcome; rows past
-- `expires_at` are refused and purged.
CREATE TABLE passkey_ceremonies (
    id_hash     bytea PRIMARY KEY CHECK (octet_length(id_hash) = 32),
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('registration', 'sign_up', 'authentication', 'discoverable')),
    -- registration: the signed-in user; sign_up: the id the new user will get.
    user_id     uuid,
    -- sign_up: the e-mail of the account to create; authentication: the e-mail signed in with.
    email       text,
    state       jsonb NOT NULL,
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX passkey_ceremonies_expiry ON passkey_ceremonies (expires_at);
