-- A tenant's own access-token lifetime; NULL: the origin's ACCESS_TOKEN_TTL_SECS. The bounds
-- are the origin's (origin-api/src/config.rs): short enough that revocation lag matters little.
ALTER TABLE tenants
    ADD COLUMN access_token_ttl_secs integer CHECK (access_token_ttl_secs BETWEEN 10 AND 3600);
