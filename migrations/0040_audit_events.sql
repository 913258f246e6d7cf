-- The audit trail (issue 13): one append-only row per security-relevant action, written in the same
-- transaction as the change it records.
--
-- Append-only is enforced here, not in the application: UPDATE and TRUNCATE are always refused, and
-- DELETE only inside `audit_purge_expired()` (the maintenance loop's retention purge), which raises a
-- transaction-local flag, and even then only for rows past their tenant's retention. So a stray
-- `DELETE FROM audit_events` in application code fails, and setting the flag by hand buys nothing the
-- purge would not do anyway. (A superuser can still disable triggers; no log kept in the database
-- itself can stop its owner, which is why the service should not run as one.)

ALTER TABLE tenants
    ADD COLUMN audit_retention_days integer NOT NULL DEFAULT 365
        CHECK (audit_retention_days BETWEEN 1 AND 3650);

CREATE TABLE audit_events (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid NOT NULL REFERENCES tenants (id),
    -- Always the database's clock (set by the trigger below, whatever the insert says).
    occurred_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_kind         text NOT NULL CHECK (actor_kind IN ('user', 'admin', 'system')),
    -- The user's id, the admin credential's name; null for the system.
    actor_id           text,
    event_type         text NOT NULL CHECK (event_type ~ '^[a-z_]+(\.[a-z_]+)+$'),
    outcome            text NOT NULL CHECK (outcome IN ('success', 'failure')),
    -- No foreign keys: a deleted user or session stays in the trail as an id.
    subject_user_id    uuid,
    subject_session_id uuid,
    -- Another subject: a passkey, an OAuth client, a signing key.
    subject_id         text,
    ip                 inet,
    -- A fixed-vocabulary summary ("Firefox on Linux"), never the raw header.
    user_agent         text,
    details            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(details) = 'object')
);

CREATE INDEX audit_events_tenant_recent ON audit_events (tenant_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_tenant_user_recent
    ON audit_events (tenant_id, subject_user_id, occurred_at DESC, id DESC)
    WHERE subject_user_id IS NOT NULL;

CREATE FUNCTION audit_events_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.occurred_at := clock_timestamp();
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_events_stamp BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_stamp();

CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('audit.purging', true) = 'on' THEN
        IF OLD.occurred_at < now() - make_interval(days => (
               SELECT audit_retention_days FROM tenants WHERE id = OLD.tenant_id)) THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change();

-- The retention purge: the one path allowed to delete. Returns how many events were deleted.
CREATE FUNCTION audit_purge_expired() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    purged bigint;
BEGIN
    PERFORM set_config('audit.purging', 'on', true);
    DELETE FROM audit_events e USING tenants t
     WHERE t.id = e.tenant_id
       AND e.occurred_at < now() - make_interval(days => t.audit_retention_days);
    GET DIAGNOSTICS purged = ROW_COUNT;
    PERFORM set_config('audit.purging', 'off', true);
    RETURN purged;
END;
$$;
