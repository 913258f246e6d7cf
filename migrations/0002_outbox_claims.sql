-- The outbox holds any kind of edge notice, and a retry pass claims rows before pushing them.
--
-- `kind` names the notice and `payload` is the JSON body the edge receives, so a new kind of notice
-- (e.g. a per-user or per-tenant not-before) is a new value of `kind`, not a new table or column.
-- `expires_at` stays a column: the retry pass drops rows that protect nothing any more, whatever
-- their kind.
--
-- A row is claimed by setting `claim` (who) and `claimed_until` (a lease on the database's clock);
-- the claim is committed before any network call, so no row lock is held while pushing, and a
-- claim whose holder crashed lapses and the row is retried.

ALTER TABLE revocation_outbox
    ADD COLUMN kind text NOT NULL DEFAULT 'session_revoked',
    ADD COLUMN payload jsonb,
    ADD COLUMN claim uuid,
    ADD COLUMN claimed_until timestamptz;

UPDATE revocation_outbox
SET payload = jsonb_build_object(
    'tenant_id', tenant_id::text,
    'session_id', session_id::text,
    'expires_at', expires_at
);

-- The session id now lives in the payload. Dropping the column also drops its cascade: a revocation
-- must still reach the edge if the session's user is deleted before it was delivered.
ALTER TABLE revocation_outbox
    ALTER COLUMN payload SET NOT NULL,
    ALTER COLUMN kind DROP DEFAULT,
    DROP COLUMN session_id,
    ADD CONSTRAINT revocation_outbox_kind CHECK (kind IN ('session_revoked')),
    ADD CONSTRAINT revocation_outbox_claim_has_lease CHECK ((claim IS NULL) = (claimed_until IS NULL));
