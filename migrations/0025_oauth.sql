-- OAuth 2.1 / OpenID Connect: registered clients, the client an API session was opened for, and
-- authorization codes in flight.

-- Public clients only (no secret). `redirect_uris` are compared with the `redirect_uri` of a request
-- byte for byte: no wildcard, no prefix match. The origin validates each one (https, or http on a
-- loopback host) before it is stored.
CREATE TABLE oauth_clients (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id      text NOT NULL CHECK (client_id ~ '^[A-Za-z0-9_-]{16,64}$'),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    redirect_uris  text[] NOT NULL CHECK (cardinality(redirect_uris) BETWEEN 1 AND 10),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT oauth_clients_client_id_key UNIQUE (tenant_id, client_id)
);

-- The client an API session was opened for through the code flow (NULL: password or passkey sign-in
-- through the API), and the scope it was granted. A refresh through `/token` must name that client.
ALTER TABLE sessions
    ADD COLUMN oauth_client_id text,
    ADD COLUMN oauth_scope text;

-- An authorization code between `/authorize` and `/token`. Only its SHA-256 is stored. It is bound
-- to everything the exchange must match. `used_at` marks a redeemed code: presenting it again
-- revokes `session_id`, the API session it opened (RFC 9700 §4.2.4).
CREATE TABLE authorization_codes (
    code_hash        bytea PRIMARY KEY CHECK (octet_length(code_hash) = 32),
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    client_id        text NOT NULL,
    redirect_uri     text NOT NULL,
    -- BASE64URL(SHA-256(code_verifier)): the only method accepted is S256.
    code_challenge   text NOT NULL CHECK (code_challenge ~ '^[A-Za-z0-9_-]{43}$'),
    scope            text NOT NULL,
    nonce            text,
    user_id          uuid NOT NULL,
    -- The hosted pages' sign-in the code came from (a session of its own): the exchange needs it live.
    page_session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    auth_time        timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz,
    session_id       uuid REFERENCES sessions (id) ON DELETE SET NULL,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, client_id) REFERENCES oauth_clients (tenant_id, client_id) ON DELETE CASCADE
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);
