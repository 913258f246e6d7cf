//! Everything the Worker keeps between requests, in one place.
//!
//! An isolate runs one request's code at a time on one thread, and many requests over its life. What
//! it remembers from one to the next — the configuration, the bindings, the issuers' key sets, the
//! verified-token cache, the revocation answers, the rate-limit keys, the imported WebCrypto keys, the
//! forwarder — is an [`Edge`], set up by the first request and reached through the one
//! `thread_local` below. Nothing else in the crate keeps state: a function that needs some gets the
//! `Edge` as an argument.
//!
//! Rule for the `RefCell`s: a borrow never lives across an `.await`, because another request may
//! run while this one waits.

use crate::config::EdgeConfig;
use crate::forward::Forwarder;
use crate::jwks::IssuerKeyCaches;
use crate::key_revocation::KeyRevocations;
use crate::kv::Kv;
use crate::ratelimit::IsolateLimits;
use crate::token_cache::TokenCache;
use crate::webcrypto::WebCrypto;
use auth_core::sessions::RevocationMemo;
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use worker::{Env, ObjectNamespace};

/// KV namespace of the deny entries (written by the origin's pushes, read by every request).
pub const REVOCATIONS_BINDING: &str = "REVOCATIONS";
/// KV namespace of the persisted key sets, so that a cold isolate has keys without the issuer.
pub const JWKS_BINDING: &str = "JWKS";
/// Durable Object namespace of the tenants' session objects (strict routes).
pub const TENANT_SESSIONS_BINDING: &str = "TENANT_SESSIONS";
/// Durable Object namespace of the rate limits' per-key objects.
pub const RATE_LIMITER_BINDING: &str = "RATE_LIMITER";
/// KV answers an isolate remembers: this many sessions' deny entries, and as many not-befores
/// (users' and tenants').
const REVOCATION_MEMO_CAPACITY: usize = 4096;

thread_local! {
    static ISOLATE: Isolate = Isolate::default();
}

/// Runs `f` with this isolate's state.
pub fn with<T>(f: impl FnOnce(&Isolate) -> T) -> T {
    ISOLATE.with(f)
}

/// The isolate's state.
#[derive(Default)]
pub struct Isolate {
    /// Set up by the first request. A broken configuration stays broken for the isolate's life:
    /// every request answers 503 rather than running half-configured.
    edge: OnceCell<Result<Rc<Edge>, String>>,
}

impl Isolate {
    /// The edge as configured by `env`, set up on first use.
    pub fn edge(&self, env: &Env) -> Result<Rc<Edge>, String> {
        self.edge
            .get_or_init(|| Edge::set_up(env).map(Rc::new))
            .clone()
    }
}

/// The edge as this isolate runs it: configuration, bindings, caches and runtime handles.
pub struct Edge {
    pub config: EdgeConfig,
    /// Deny entries.
    pub revocations: Kv,
    /// Persisted key sets.
    pub persisted_keys: Kv,
    pub tenant_sessions: ObjectNamespace,
    pub rate_limiters: ObjectNamespace,
    /// Rate-limit keys this isolate knows: exact refusals, approximate shares.
    pub limits: RefCell<IsolateLimits>,
    /// Each trusted issuer's key-set lifecycle (`auth_core::key_cache`).
    pub issuer_keys: RefCell<IssuerKeyCaches>,
    /// Verified tokens, by hash.
    pub tokens: RefCell<TokenCache>,
    /// Recent KV answers, each revocation level on its own key (`REVOCATION_CACHE_SECONDS`).
    pub revocation_memo: RefCell<RevocationMemo>,
    /// Recent KV answers per signing key: emergency key revocations (`key_revocation`).
    pub key_revocations: RefCell<KeyRevocations>,
    pub crypto: WebCrypto,
    pub forwarder: Forwarder,
    /// What the adapters were asked to do, for the conformance run's request-path checks.
    #[cfg(feature = "conformance")]
    pub calls: crate::conformance::AdapterCalls,
}

impl Edge {
    fn set_up(env: &Env) -> Result<Edge, String> {
        let config = crate::config::parse(env)?;
        let tenant_sessions = env
            .durable_object(TENANT_SESSIONS_BINDING)
            .map_err(|_| format!("{TENANT_SESSIONS_BINDING} is not bound"))?;
        let rate_limiters = env
            .durable_object(RATE_LIMITER_BINDING)
            .map_err(|_| format!("{RATE_LIMITER_BINDING} is not bound"))?;
        Ok(Edge {
            revocations: Kv::bound(env, REVOCATIONS_BINDING)?,
            persisted_keys: Kv::bound(env, JWKS_BINDING)?,
            tenant_sessions,
            rate_limiters,
            limits: RefCell::default(),
            issuer_keys: RefCell::default(),
            tokens: RefCell::new(TokenCache::new(config.token_cache_entries)),
            revocation_memo: RefCell::new(RevocationMemo::new(
                REVOCATION_MEMO_CAPACITY,
                config.revocation_cache_secs,
            )),
            key_revocations: RefCell::new(KeyRevocations::new(config.revocation_cache_secs)),
            crypto: WebCrypto::default(),
            forwarder: Forwarder::new(),
            config,
            #[cfg(feature = "conformance")]
            calls: Default::default(),
        })
    }

    /// Notes an adapter call (a KV read or write, a Durable Object call, a fetch). Only the
    /// conformance build keeps count; elsewhere this is nothing.
    pub fn count(&self, call: AdapterCall) {
        #[cfg(feature = "conformance")]
        self.calls.add(call);
        #[cfg(not(feature = "conformance"))]
        let _ = call;
    }
}

/// The calls into storage and the network that a request can make the edge pay for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdapterCall {
    /// A read of a token's revocation levels the isolate does not hold (its session's deny entry,
    /// its user's and its tenant's not-befores): one KV call.
    DenyEntryRead,
    /// A deny-entry or not-before write (a pushed revocation).
    DenyEntryWrite,
    /// A read of a signing key's revocation entry (`key_revocation`).
    KeyRevocationRead,
    /// A read or write of a persisted key set.
    PersistedKeys,
    /// A request to a tenant's Durable Object.
    TenantObject,
    /// A request to a rate limit key's Durable Object.
    RateLimiter,
    /// A JWKS fetch.
    JwksFetch,
    /// The forward to the upstream.
    Upstream,
}
