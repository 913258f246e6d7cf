-- Signing keys that rotate (origin-api/src/key_rotation.rs holds the rules; this schema holds what
-- must never be false whatever the code does).
--
-- A key's life: `next` (published, not signing; `signs_from` is when it is due to take over) →
-- `current` (signing; exactly one per tenant) → `retired` (published until `published_until`, when
-- every token it signed has expired and every cache of the JWKS has refreshed) → `gone` (no longer
-- published). `revoked` (an emergency) is reachable from every state and withdraws the key at once.
-- A key that can never sign again has its private half wiped.

ALTER TABLE signing_keys
    DROP CONSTRAINT signing_keys_alg_check,
    DROP CONSTRAINT signing_keys_status_check,
    ADD CONSTRAINT signing_keys_alg CHECK (alg IN ('ES256', 'EdDSA')),
    ADD CONSTRAINT signing_keys_status CHECK (status IN ('next', 'current', 'retired', 'gone', 'revoked')),
    ADD COLUMN signs_from timestamptz,
    ADD COLUMN retired_at timestamptz,
    ADD COLUMN published_until timestamptz,
    ADD COLUMN revoked_at timestamptz,
    ALTER COLUMN private_key_ciphertext DROP NOT NULL,
    ALTER COLUMN nonce DROP NOT NULL;

-- Existing keys: a current key has signed since it was created; a retired one (none were ever
-- written) stays published for the longest token lifetime plus caches (1 h + 300 s + 60 s + 300 s).
UPDATE signing_keys SET signs_from = created_at WHERE status IN ('current', 'retired');
UPDATE signing_keys
SET retired_at = now(), published_until = now() + interval '1 hour 11 minutes'
WHERE status = 'retired';

ALTER TABLE signing_keys
    ADD CONSTRAINT signing_keys_next_has_a_date CHECK (status NOT IN ('next', 'current') OR signs_from IS NOT NULL),
    ADD CONSTRAINT signing_keys_retired_has_dates CHECK (status <> 'retired' OR (retired_at IS NOT NULL AND published_until IS NOT NULL)),
    ADD CONSTRAINT signing_keys_revoked_has_a_date CHECK ((status = 'revoked') = (revoked_at IS NOT NULL)),
    -- Only a key that may still sign keeps its private half.
    ADD CONSTRAINT signing_keys_private_half_while_usable CHECK (
        (status IN ('gone', 'revoked')) = (private_key_ciphertext IS NULL)
        AND (private_key_ciphertext IS NULL) = (nonce IS NULL));

-- At most one key waits to take over.
CREATE UNIQUE INDEX signing_keys_one_next_per_tenant ON signing_keys (tenant_id) WHERE status = 'next';

-- A kid is never reused, not even after its row (or its tenant) is deleted: every kid ever issued is
-- recorded here, with no foreign key, by the trigger below.
CREATE TABLE signing_kids_issued (
    kid        text PRIMARY KEY,
    issued_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO signing_kids_issued (kid) SELECT kid FROM signing_keys;

CREATE FUNCTION signing_keys_record_kid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO signing_kids_issued (kid) VALUES (NEW.kid);
    RETURN NEW;
END
$$;
CREATE TRIGGER signing_keys_kid_never_reused BEFORE INSERT OR UPDATE OF kid ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION signing_keys_record_kid();

-- The algorithm a tenant's new keys use.
ALTER TABLE tenants
    ADD COLUMN signing_alg text NOT NULL DEFAULT 'ES256' CHECK (signing_alg IN ('ES256', 'EdDSA'));

-- Key revocations travel to the edge through the outbox like session revocations.
ALTER TABLE revocation_outbox
    DROP CONSTRAINT revocation_outbox_kind,
    ADD CONSTRAINT revocation_outbox_kind CHECK (kind IN ('session_revoked', 'key_revoked'));
