//! Template issuers: one entry that trusts every tenant the origin serves, without a redeploy per
//! tenant (issue 10 §3).
//!
//! An issuer entry such as `issuer = "https://auth.example.com/t/{tenant}"` names each tenant's
//! issuer; its keys are at the entry's `jwks_uri` with the same slug (by default
//! `{issuer}/.well-known/jwks.json`), and it is bound as `tenant = "origin"`: a token must carry the
//! `tid` its tenant's key set was published for. [`Expectations::resolve`] finds the entry a token's
//! `iss` falls under, checking the slug's charset and length before anything is fetched.
//!
//! [`TenantKeySets`] is what an isolate keeps per template, as a state machine the edge adapter
//! drives: one [`IssuerKeys`] lifecycle per tenant (so every JWKS rule — KV fallback, stale-if-error,
//! unknown-`kid` refetch and its cooldown — applies to each tenant alone, and a tenant's keys only
//! ever verify that tenant's issuer), at most `jwks_cache.max_tenants` of them (least recently used
//! go first), tenants the origin answered 404 for remembered for `unknown_tenant_ttl_secs`, and first
//! lookups limited to `new_tenants_per_minute` (a GCRA, burst as large). So a flood of made-up
//! tenants costs at most `new_tenants_per_minute × (1 + minutes)` first lookups (one KV read and one
//! JWKS fetch each), and a repeated made-up tenant one per `unknown_tenant_ttl_secs`.

use crate::claims::{Expectations, IssuerPolicy, TENANT_PLACEHOLDER};
use crate::key_cache::IssuerKeys;
use crate::keys::KeySet;
use crate::ratelimit::{Gcra, Rate};
use crate::reject::Rejection;
use crate::ttl_cache::TtlCache;
use hashlink::LruCache;
use std::sync::Arc;

/// Longest tenant slug: the origin's rule (`^[a-z0-9][a-z0-9-]{0,62}$`).
pub const MAX_SLUG_BYTES: usize = 63;
/// Made-up tenants an isolate remembers per template; past this the one nearest its expiry goes.
const MAX_UNKNOWN_TENANTS: usize = 4096;

/// A tenant slug as the origin allows it: 1 to 63 of `a-z`, `0-9` and `-`, not starting with `-`.
/// Checked before a template's slug goes into a URL: it can hold no `/`, `.`, `%`, `?` or `#`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantSlug(String);

impl TenantSlug {
    pub fn parse(raw: &str) -> Option<TenantSlug> {
        let bytes = raw.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let all_ok = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        (first_ok && all_ok && bytes.len() <= MAX_SLUG_BYTES).then(|| TenantSlug(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a template is unusable, if it is: the placeholder appears once, after an http(s) scheme.
pub(crate) fn check_template(template: &str) -> Result<(), &'static str> {
    if template.matches(TENANT_PLACEHOLDER).count() != 1 {
        return Err("a template holds {tenant} once");
    }
    let before = template
        .split(TENANT_PLACEHOLDER)
        .next()
        .unwrap_or_default();
    if !(before.starts_with("https://") || before.starts_with("http://")) {
        return Err("a template is an http(s) URL with {tenant} after the scheme");
    }
    Ok(())
}

/// The slug a template's `iss` names (unchecked), when `iss` has the template's shape.
fn slug_in<'i>(template: &str, iss: &'i str) -> Option<&'i str> {
    let (prefix, suffix) = template.split_once(TENANT_PLACEHOLDER)?;
    iss.strip_prefix(prefix)?.strip_suffix(suffix)
}

/// One tenant under a template.
#[derive(Debug, Clone)]
pub struct TenantIssuer<'e> {
    /// The template's position in `Expectations::issuers`.
    pub index: usize,
    pub template: &'e IssuerPolicy,
    pub slug: TenantSlug,
}

impl TenantIssuer<'_> {
    /// The tenant's own policy: the template with the slug filled in.
    pub fn policy(&self) -> IssuerPolicy {
        instance(self.template, &self.slug)
    }
}

fn instance(template: &IssuerPolicy, slug: &TenantSlug) -> IssuerPolicy {
    IssuerPolicy {
        issuer: template
            .issuer
            .replacen(TENANT_PLACEHOLDER, slug.as_str(), 1),
        jwks_uri: template
            .jwks_uri
            .replacen(TENANT_PLACEHOLDER, slug.as_str(), 1),
        ..template.clone()
    }
}

/// The configured entry a token's `iss` falls under.
#[derive(Debug, Clone)]
pub enum TrustedIssuer<'e> {
    Exact(&'e IssuerPolicy),
    Tenant(TenantIssuer<'e>),
}

impl Expectations {
    /// The entry trusting `iss`: an exact issuer first, else the first template whose shape it has
    /// with a valid slug. `IssuerUntrusted` otherwise.
    pub fn resolve(&self, iss: &str) -> Result<TrustedIssuer<'_>, Rejection> {
        if let Some(exact) = self.issuer(iss) {
            return Ok(TrustedIssuer::Exact(exact));
        }
        self.issuers
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_template())
            .find_map(|(index, template)| {
                let slug = TenantSlug::parse(slug_in(&template.issuer, iss)?)?;
                Some(TrustedIssuer::Tenant(TenantIssuer {
                    index,
                    template,
                    slug,
                }))
            })
            .ok_or(Rejection::IssuerUntrusted)
    }
}

/// One tenant's keys in an isolate.
#[derive(Debug)]
pub struct TenantKeys {
    pub policy: Arc<IssuerPolicy>,
    pub keys: IssuerKeys,
    /// Whether the isolate has looked for the tenant's persisted set (KV) yet.
    pub restored: bool,
}

/// An isolate's key sets of one template's tenants (module docs).
#[derive(Debug)]
pub struct TenantKeySets {
    template: IssuerPolicy,
    known: LruCache<TenantSlug, TenantKeys>,
    unknown: TtlCache<TenantSlug, ()>,
    first_lookups: Rate,
    first_lookups_state: Gcra,
}

impl TenantKeySets {
    /// The state for `template` (validated: its settings are in range).
    pub fn new(template: &IssuerPolicy) -> Self {
        let s = &template.jwks_cache;
        let per_minute = u32::try_from(s.new_tenants_per_minute).unwrap_or(1).max(1);
        TenantKeySets {
            template: template.clone(),
            known: LruCache::new(usize::try_from(s.max_tenants).unwrap_or(1).max(1)),
            unknown: TtlCache::new(MAX_UNKNOWN_TENANTS),
            first_lookups: Rate {
                amount: per_minute,
                period_secs: 60,
                burst: per_minute,
            },
            first_lookups_state: Gcra::default(),
        }
    }

    /// A request names `slug` at `now`: the tenant's policy, once the tenant is held (a first
    /// lookup is counted against `new_tenants_per_minute`). `IssuerUntrusted` for a tenant the
    /// origin recently said it does not know; `KeysUnavailable` (503) when too many tenants were
    /// looked up for the first time lately.
    pub fn sight(&mut self, slug: &TenantSlug, now: i64) -> Result<Arc<IssuerPolicy>, Rejection> {
        if let Some(held) = self.known.get(slug) {
            return Ok(held.policy.clone());
        }
        if self.unknown.get(slug, now).is_some() {
            return Err(Rejection::IssuerUntrusted);
        }
        let now_ms = u64::try_from(now).unwrap_or(0).saturating_mul(1000);
        if !self
            .first_lookups_state
            .take(&self.first_lookups, now_ms, 1)
            .allowed
        {
            return Err(Rejection::KeysUnavailable);
        }
        Ok(self.hold(slug)?.policy.clone())
    }

    /// The tenant's entry, inserted (evicting the least recently used) when absent. Capacity is at
    /// least one, so the entry is there once inserted; `KeysUnavailable` rather than a panic if not.
    fn hold(&mut self, slug: &TenantSlug) -> Result<&mut TenantKeys, Rejection> {
        if !self.known.contains_key(slug) {
            let entry = TenantKeys {
                policy: Arc::new(instance(&self.template, slug)),
                keys: IssuerKeys::new(self.template.jwks_cache),
                restored: false,
            };
            self.known.insert(slug.clone(), entry);
        }
        self.known.get_mut(slug).ok_or(Rejection::KeysUnavailable)
    }

    /// The key-set lifecycle of a tenant a request has sighted. A tenant evicted since (the
    /// request waited while others came) is held again without counting as a first lookup; one the
    /// origin has meanwhile said it does not know is refused.
    pub fn entry(&mut self, slug: &TenantSlug, now: i64) -> Result<&mut TenantKeys, Rejection> {
        if !self.known.contains_key(slug) && self.unknown.get(slug, now).is_some() {
            return Err(Rejection::IssuerUntrusted);
        }
        self.hold(slug)
    }

    /// The origin answered 404 for the tenant's JWKS. A tenant with keys keeps them, as after any
    /// failed fetch (an origin misrouting its JWKS must not sign every tenant out); one without is
    /// forgotten and refused for `unknown_tenant_ttl_secs`. Returns the set still held.
    pub fn not_found(&mut self, slug: &TenantSlug, now: i64) -> Option<Arc<KeySet>> {
        if let Some(entry) = self.known.peek_mut(slug) {
            if entry.keys.has_keys() {
                return entry.keys.fetched(Err(()), now);
            }
        }
        self.known.remove(slug);
        let ttl = self.template.jwks_cache.unknown_tenant_ttl_secs;
        self.unknown
            .insert(slug.clone(), (), now.saturating_add(ttl));
        None
    }

    /// Tenants held.
    pub fn len(&self) -> usize {
        self.known.len()
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_cache::Plan;
    use crate::keys::VerificationKey;

    fn expectations(extra: serde_json::Value) -> Expectations {
        let mut template = serde_json::json!({
            "issuer": "https://auth.example.com/t/{tenant}",
            "audiences": ["api"],
        });
        template
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Expectations::from_json(
            &serde_json::json!({ "issuers": [
                { "issuer": "https://auth.example.com/t/pinned",
                  "jwks_uri": "https://elsewhere.example/pinned.json", "audiences": ["api"],
                  "tenant": "origin" },
                template,
            ]})
            .to_string(),
        )
        .unwrap()
    }

    fn tenant<'e>(e: &'e Expectations, iss: &str) -> TenantIssuer<'e> {
        match e.resolve(iss) {
            Ok(TrustedIssuer::Tenant(t)) => t,
            other => panic!("{iss}: {other:?}"),
        }
    }

    fn set(kid: &str, tenant: &str) -> KeySet {
        let sk = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        KeySet::new(vec![VerificationKey::from_p256(
            Some(kid.into()),
            *sk.verifying_key(),
        )
        .unwrap()])
        .unwrap()
        .published_for(tenant)
    }

    fn slug(s: &str) -> TenantSlug {
        TenantSlug::parse(s).unwrap()
    }

    #[test]
    fn a_template_names_each_tenants_issuer_and_keys_and_binds_it_to_the_origin() {
        let e = expectations(serde_json::json!({}));
        let acme = tenant(&e, "https://auth.example.com/t/acme");
        let policy = acme.policy();
        assert_eq!(policy.issuer, "https://auth.example.com/t/acme");
        assert_eq!(
            policy.jwks_uri,
            "https://auth.example.com/t/acme/.well-known/jwks.json"
        );
        assert_eq!(policy.tenant, crate::claims::TenantBinding::Origin);
        assert!(!policy.is_template());
        assert!(
            matches!(e.resolve("https://auth.example.com/t/pinned"), Ok(TrustedIssuer::Exact(p)) if p.jwks_uri.contains("elsewhere")),
            "an exact entry wins over the template"
        );
        let custom = expectations(
            serde_json::json!({ "jwks_uri": "https://keys.example.com/{tenant}.json" }),
        );
        assert_eq!(
            tenant(&custom, "https://auth.example.com/t/a-1")
                .policy()
                .jwks_uri,
            "https://keys.example.com/a-1.json"
        );
    }

    #[test]
    fn a_slug_outside_the_origins_charset_or_length_is_untrusted_before_anything_is_fetched() {
        let e = expectations(serde_json::json!({}));
        for iss in [
            "https://auth.example.com/t/",
            "https://auth.example.com/t/Acme",
            "https://auth.example.com/t/-acme",
            "https://auth.example.com/t/acme/../other",
            "https://auth.example.com/t/ac%2fme",
            "https://auth.example.com/t/acme?x=1",
            "https://auth.example.com/t/acme.evil.com",
            "https://auth.example.com/t/{tenant}",
            "https://auth.example.com/u/acme",
            "http://auth.example.com/t/acme",
            &format!("https://auth.example.com/t/{}", "a".repeat(64)),
        ] {
            assert!(
                matches!(e.resolve(iss), Err(Rejection::IssuerUntrusted)),
                "{iss}"
            );
        }
        assert!(e
            .resolve(&format!("https://auth.example.com/t/{}", "a".repeat(63)))
            .is_ok());
    }

    #[test]
    fn a_template_must_hold_the_placeholder_once_and_be_bound_to_the_origin() {
        let parse = |entry: serde_json::Value| {
            Expectations::from_json(&serde_json::json!({ "issuers": [entry] }).to_string())
        };
        let base = |extra: serde_json::Value| {
            let mut e = serde_json::json!({ "issuer": "https://a.example/t/{tenant}", "audiences": ["api"] });
            e.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            e
        };
        assert!(parse(base(serde_json::json!({}))).is_ok());
        assert!(parse(base(serde_json::json!({ "tenant": "origin" }))).is_ok());
        for bad in [
            serde_json::json!({ "tenant": "none" }),
            serde_json::json!({ "tenant": { "assigned": "acme" } }),
            serde_json::json!({ "jwks_uri": "https://a.example/jwks.json" }),
            serde_json::json!({ "issuer": "https://a.example/{tenant}/{tenant}" }),
            serde_json::json!({ "issuer": "{tenant}.example" }),
        ] {
            assert!(parse(base(bad.clone())).is_err(), "{bad}");
        }
        assert!(
            parse(serde_json::json!({ "issuer": "https://a.example", "audiences": ["api"] }))
                .is_err(),
            "an exact issuer still needs its jwks_uri"
        );
        assert!(parse(
            serde_json::json!({ "issuer": "https://a.example", "audiences": ["api"],
            "jwks_uri": "https://a.example/{tenant}" })
        )
        .is_err());
    }

    #[test]
    fn a_made_up_tenant_is_fetched_once_then_refused_until_its_negative_entry_expires() {
        let e =
            expectations(serde_json::json!({ "jwks_cache": { "unknown_tenant_ttl_secs": 300 } }));
        let mut sets = TenantKeySets::new(tenant(&e, "https://auth.example.com/t/x").template);
        let ghost = slug("ghost");
        let mut fetches = 0;
        for second in 0..300 {
            match sets.sight(&ghost, second) {
                Ok(_) => {
                    let entry = sets.entry(&ghost, second).unwrap();
                    if matches!(entry.keys.plan(second), Plan::Fetch) {
                        fetches += 1;
                        // The origin answers 404.
                        assert!(sets.not_found(&ghost, second).is_none());
                    }
                }
                Err(r) => assert_eq!(r, Rejection::IssuerUntrusted),
            }
        }
        assert_eq!(fetches, 1, "one fetch per unknown_tenant_ttl_secs");
        assert!(sets.sight(&ghost, 300).is_ok(), "looked at again after it");
    }

    #[test]
    fn a_flood_of_made_up_tenants_costs_a_bounded_number_of_first_lookups() {
        let e = expectations(serde_json::json!({ "jwks_cache": { "new_tenants_per_minute": 10 } }));
        let mut sets = TenantKeySets::new(tenant(&e, "https://auth.example.com/t/x").template);
        let (mut fetched, mut untrusted, mut unavailable) = (0, 0, 0);
        // 10,000 requests over two minutes, each naming a new made-up tenant, some names repeated.
        for i in 0..10_000i64 {
            let now = i * 120 / 10_000;
            let s = slug(&format!("made-up-{}", i % 5_000));
            match sets.sight(&s, now) {
                Ok(_) => {
                    fetched += 1;
                    sets.not_found(&s, now);
                }
                Err(Rejection::IssuerUntrusted) => untrusted += 1,
                Err(Rejection::KeysUnavailable) => unavailable += 1,
                Err(other) => panic!("{other:?}"),
            }
        }
        // Burst 10, then one every 6 s: 10 + 120 / 6.
        assert!(fetched <= 30, "fetched {fetched}");
        assert!(fetched >= 29, "the budget is used, not starved: {fetched}");
        assert_eq!(fetched + untrusted + unavailable, 10_000);
    }

    #[test]
    fn held_tenants_are_bounded_and_the_least_recently_used_goes_first() {
        let e = expectations(
            serde_json::json!({ "jwks_cache": { "max_tenants": 3, "new_tenants_per_minute": 100 } }),
        );
        let mut sets = TenantKeySets::new(tenant(&e, "https://auth.example.com/t/x").template);
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            sets.sight(&slug(name), 0).unwrap();
            let entry = sets.entry(&slug(name), 0).unwrap();
            entry.keys.plan(0);
            entry
                .keys
                .fetched(Ok((set(&format!("k{i}"), name), Some(300))), 0);
        }
        sets.sight(&slug("a"), 1).unwrap(); // a is now the most recently used
        sets.sight(&slug("d"), 1).unwrap();
        assert_eq!(sets.len(), 3);
        assert!(
            matches!(
                sets.entry(&slug("a"), 2).unwrap().keys.plan(2),
                Plan::Use(_)
            ),
            "a kept its keys"
        );
        assert!(
            matches!(sets.entry(&slug("b"), 2).unwrap().keys.plan(2), Plan::Fetch),
            "b was evicted: held again, with no keys"
        );
    }

    #[test]
    fn each_tenant_has_its_own_lifecycle_and_keys() {
        let e = expectations(serde_json::json!({}));
        let mut sets = TenantKeySets::new(tenant(&e, "https://auth.example.com/t/x").template);
        let (a, b) = (slug("a"), slug("b"));
        sets.sight(&a, 0).unwrap();
        sets.sight(&b, 0).unwrap();
        let ea = sets.entry(&a, 0).unwrap();
        assert!(matches!(ea.keys.plan(0), Plan::Fetch));
        ea.keys.fetched(Ok((set("ka", "tenant-a"), Some(300))), 0);
        assert_eq!(ea.policy.issuer, "https://auth.example.com/t/a");
        let eb = sets.entry(&b, 1).unwrap();
        assert!(
            matches!(eb.keys.plan(1), Plan::Fetch),
            "b's set is not a's: it is fetched from b's own jwks_uri"
        );
        assert_eq!(
            eb.policy.jwks_uri,
            "https://auth.example.com/t/b/.well-known/jwks.json"
        );
        // The origin down for b: b has nothing, a keeps serving.
        eb.keys.fetched(Err(()), 1);
        assert!(matches!(
            sets.entry(&b, 2).unwrap().keys.plan(2),
            Plan::Unavailable
        ));
        assert!(matches!(
            sets.entry(&a, 2).unwrap().keys.plan(2),
            Plan::Use(_)
        ));
    }

    #[test]
    fn a_known_tenant_whose_jwks_answers_404_keeps_its_last_good_set() {
        let e = expectations(serde_json::json!({}));
        let mut sets = TenantKeySets::new(tenant(&e, "https://auth.example.com/t/x").template);
        let a = slug("a");
        sets.sight(&a, 0).unwrap();
        let entry = sets.entry(&a, 0).unwrap();
        entry.keys.plan(0);
        entry
            .keys
            .fetched(Ok((set("ka", "tenant-a"), Some(300))), 0);
        assert!(sets.not_found(&a, 400).is_some());
        assert!(sets.sight(&a, 401).is_ok());
        assert!(matches!(
            sets.entry(&a, 401).unwrap().keys.plan(401),
            Plan::Use(_)
        ));
    }

    #[test]
    fn a_token_of_one_tenant_never_verifies_with_anothers_keys() {
        use crate::verify::verify_native;
        let e = expectations(serde_json::json!({ "token_type": null, "algorithms": ["ES256"] }));
        let sk = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let token = |iss: &str, tid: &str| {
            use base64::Engine as _;
            use p256::ecdsa::signature::Signer as _;
            let b64 = |v: serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            let input = format!(
                "{}.{}",
                b64(serde_json::json!({ "alg": "ES256", "kid": "ka" })),
                b64(
                    serde_json::json!({ "iss": iss, "sub": "u", "aud": "api", "exp": 2_000, "tid": tid })
                )
            );
            let sig: p256::ecdsa::Signature = sk.sign(input.as_bytes());
            format!(
                "{input}.{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig.to_bytes())
            )
        };
        // Tenant a's key set, as the edge holds it for a's issuer only.
        let a_keys = set("ka", "tenant-a");
        let keys_for =
            |p: &IssuerPolicy| (p.issuer == "https://auth.example.com/t/a").then_some(&a_keys);
        let verify = |raw: &str| verify_native(raw, 8192, &e, keys_for, 1_000);
        assert!(verify(&token("https://auth.example.com/t/a", "tenant-a")).is_ok());
        assert_eq!(
            verify(&token("https://auth.example.com/t/b", "tenant-a")),
            Err(Rejection::KeysUnavailable),
            "b's issuer is never given a's keys"
        );
        assert_eq!(
            verify(&token("https://auth.example.com/t/a", "tenant-b")),
            Err(Rejection::TenantMismatch),
            "a's keys vouch for a's tenant only"
        );
    }
}
