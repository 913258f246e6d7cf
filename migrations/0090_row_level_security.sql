-- Tenant isolation enforced by Postgres (issue 13): every tenant-owned table has row-level security,
-- enabled and FORCEd (its owner, who runs the migrations, would bypass it otherwise), with one policy:
-- a row is visible and writable only when its tenant is the connection's `app.tenant_id`, or when the
-- connection works across tenants (`app.cross_tenant` names why). The origin sets both on every
-- connection it hands out (origin-api/src/db.rs) and runs its queries as `edge_auth_app`, a role that
-- is neither superuser nor owner and cannot bypass row-level security.
--
-- Tables of migrations numbered below 0090 get all of this from the loop below. Pattern for a table
-- added by a later migration: give it a `tenant_id uuid NOT NULL REFERENCES tenants (id)` column
-- and, in the same migration,
--     ALTER TABLE t ENABLE ROW LEVEL SECURITY;
--     ALTER TABLE t FORCE ROW LEVEL SECURITY;
--     CREATE POLICY tenant_isolation ON t USING (tenant_visible(tenant_id)) WITH CHECK (tenant_visible(tenant_id));
-- (a table owned through a parent instead, like refresh_tokens, gets a policy through the parent).
-- The privileges of edge_auth_app on it follow from the default privileges below. The origin's test
-- `every_table_with_a_tenant_id_has_forced_row_level_security` fails until this is done. A later
-- migration that rewrites tenants' rows must `SET LOCAL app.cross_tenant = 'migration'` first.

-- Roles are global to the server and several databases (one per test) migrate at once: create it
-- once, tolerate the race, and refuse one that could bypass row-level security.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'edge_auth_app') THEN
        BEGIN
            CREATE ROLE edge_auth_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'edge_auth_app' AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'role edge_auth_app may bypass row-level security; refusing to use it';
    END IF;
    -- The migrating role must be able to SET ROLE to it (a superuser always can).
    IF NOT pg_has_role(current_user, 'edge_auth_app', 'MEMBER') THEN
        EXECUTE format('GRANT edge_auth_app TO %I', current_user);
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO edge_auth_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO edge_auth_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO edge_auth_app;
REVOKE ALL ON _sqlx_migrations FROM edge_auth_app;
-- Tables and sequences later migrations create.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO edge_auth_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO edge_auth_app;

-- Whether a row of `row_tenant` is visible to this connection. Unset or empty settings match nothing.
CREATE FUNCTION tenant_visible(row_tenant uuid) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT row_tenant = nullif(current_setting('app.tenant_id', true), '')::uuid
        OR coalesce(current_setting('app.cross_tenant', true), '') <> ''
$$;

-- Every table with a tenant_id column, whoever added it (the other migrations of this release
-- included).
DO $$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT c.oid::regclass
          FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
           AND a.attname = 'tenant_id' AND NOT a.attisdropped
           AND NOT EXISTS (SELECT FROM pg_policy p
                            WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation')
    LOOP
        EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %s USING (tenant_visible(tenant_id)) WITH CHECK (tenant_visible(tenant_id))',
            t);
    END LOOP;
END $$;

-- Refresh tokens belong to a tenant through their session: visible when the session is.
ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refresh_tokens
    USING (EXISTS (SELECT FROM sessions s WHERE s.id = refresh_tokens.session_id))
    WITH CHECK (EXISTS (SELECT FROM sessions s WHERE s.id = refresh_tokens.session_id));
