-- Sessions as their owner sees them, and the not-before instants of "sign out everywhere".
--
-- `last_used_at`: the last sign-in or refresh. `access_expires_at`: the expiry of the last access
-- token the session was given; a revocation notice must outlive it (plus the edge's leeway and a
-- margin), whatever access-token TTL the origin runs with now. `client`: a short description made
-- from the user agent by the origin ("Firefox on Linux"), never the raw header.
ALTER TABLE sessions
    ADD COLUMN last_used_at timestamptz,
    ADD COLUMN access_expires_at timestamptz,
    ADD COLUMN client text NOT NULL DEFAULT 'Unknown client' CHECK (length(client) BETWEEN 1 AND 64);

-- Existing sessions: last used at their latest refresh; their last token assumed to live the
-- longest TTL the origin accepts (1 h), so no notice about them expires too early.
UPDATE sessions s
SET last_used_at = COALESCE((SELECT max(r.created_at) FROM refresh_tokens r WHERE r.session_id = s.id), s.created_at);
UPDATE sessions SET access_expires_at = last_used_at + interval '1 hour';

ALTER TABLE sessions
    ALTER COLUMN last_used_at SET NOT NULL,
    ALTER COLUMN access_expires_at SET NOT NULL;

-- A user's sessions created before this are revoked (sign out everywhere); likewise for a tenant.
-- Both only move forward.
ALTER TABLE users ADD COLUMN sessions_not_before timestamptz;
ALTER TABLE tenants ADD COLUMN sessions_not_before timestamptz;

-- The live sessions of a tenant, by age: what a tenant-wide not-before sweeps.
CREATE INDEX sessions_tenant_live ON sessions (tenant_id, created_at) WHERE revoked_at IS NULL;

-- Undelivered notices get the new expiry rule (the session's last token expiry + the edge's largest
-- leeway, 300 s, + a 60 s clock-skew margin; origin-api/src/revocation.rs): they held the token
-- expiry alone.
UPDATE revocation_outbox
SET expires_at = expires_at + 360,
    payload = jsonb_set(payload, '{expires_at}', to_jsonb(expires_at + 360))
WHERE kind = 'session_revoked';
