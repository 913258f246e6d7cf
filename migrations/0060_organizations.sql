-- Organizations (issue 13): per tenant, organizations whose members hold one or more roles; each
-- role grants scopes (per-tenant definitions, seeded with owner, admin and member); invitations by
-- e-mail address; and the organization a session is acting for, whose roles and scopes its access
-- tokens carry (`org_id`, `roles`, `scope`).
--
-- Every table names its tenant, and composite foreign keys keep each row inside it: a membership
-- can never join one tenant's user to another tenant's organization or role.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id)
);
CREATE INDEX organizations_tenant ON organizations (tenant_id, created_at, id);

-- A role's scopes are RFC 6749 scope-tokens (no space, quote or backslash).
CREATE TABLE org_roles (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_-]{0,31}$'),
    scopes      text[] NOT NULL CHECK (cardinality(scopes) <= 32),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE org_memberships (
    tenant_id   uuid NOT NULL,
    org_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, user_id),
    FOREIGN KEY (tenant_id, org_id) REFERENCES organizations (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, org_id, user_id)
);
CREATE INDEX org_memberships_user ON org_memberships (tenant_id, user_id, created_at);

-- A role in use cannot be deleted (RESTRICT): the admin API answers 409 `role_in_use`.
CREATE TABLE org_member_roles (
    tenant_id   uuid NOT NULL,
    org_id      uuid NOT NULL,
    user_id     uuid NOT NULL,
    role        text NOT NULL,
    PRIMARY KEY (org_id, user_id, role),
    FOREIGN KEY (tenant_id, org_id, user_id)
        REFERENCES org_memberships (tenant_id, org_id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, role) REFERENCES org_roles (tenant_id, name) ON DELETE RESTRICT
);
CREATE INDEX org_member_roles_role ON org_member_roles (tenant_id, role);

-- Only the SHA-256 of an invitation's token is stored. An invitation is pending until accepted,
-- revoked or expired; at most one is pending per organization and address (a new one replaces it).
CREATE TABLE org_invitations (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL,
    org_id       uuid NOT NULL,
    email        text NOT NULL,
    roles        text[] NOT NULL CHECK (cardinality(roles) BETWEEN 1 AND 16),
    token_hash   bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    invited_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    accepted_by  uuid,
    revoked_at   timestamptz,
    FOREIGN KEY (tenant_id, org_id) REFERENCES organizations (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX org_invitations_one_pending
    ON org_invitations (org_id, lower(email)) WHERE accepted_at IS NULL AND revoked_at IS NULL;

-- The organization a session acts for. Losing it (organization deleted) leaves the session with none.
ALTER TABLE sessions ADD COLUMN active_org_id uuid;
ALTER TABLE sessions ADD CONSTRAINT sessions_active_org_fkey
    FOREIGN KEY (tenant_id, active_org_id) REFERENCES organizations (tenant_id, id)
    ON DELETE SET NULL (active_org_id);
CREATE INDEX sessions_active_org ON sessions (active_org_id) WHERE active_org_id IS NOT NULL;

-- The default roles of every existing tenant (new tenants get them at creation, in its transaction:
-- origin-api/src/orgs/roles.rs holds the same definitions).
INSERT INTO org_roles (tenant_id, name, scopes)
SELECT t.id, r.name, r.scopes
FROM tenants t CROSS JOIN (VALUES
    ('owner',  ARRAY['org:read', 'org:write', 'org:delete', 'members:read', 'members:write']),
    ('admin',  ARRAY['org:read', 'org:write', 'members:read', 'members:write']),
    ('member', ARRAY['org:read', 'members:read'])
) AS r (name, scopes);
