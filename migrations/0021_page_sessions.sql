-- The hosted pages' sign-in: a session opened on a tenant's hosted page is an ordinary session (it is
-- listed, signed out and swept by "sign out everywhere" like any other) whose browser holds an
-- HttpOnly cookie naming it. Only the SHA-256 of the cookie's 256 random bits is stored; a session
-- opened through the API has none.
ALTER TABLE sessions
    ADD COLUMN cookie_hash bytea UNIQUE CHECK (octet_length(cookie_hash) = 32);
