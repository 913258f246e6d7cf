-- Two more kinds of edge notice (origin-api/src/edge_push.rs): a user's or tenant's not-before
-- (`not_before`, issue 10 §2: the edge refuses every token of theirs issued before it), and a
-- session opened or refreshed (`session_seen`: the tenant's Durable Object lists live sessions).
ALTER TABLE revocation_outbox
    DROP CONSTRAINT revocation_outbox_kind,
    ADD CONSTRAINT revocation_outbox_kind
        CHECK (kind IN ('session_revoked', 'key_revoked', 'not_before', 'session_seen'));
