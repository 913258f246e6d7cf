//! What a token is verified against: the core's [`Expectations`] for one issuer, its key set and the
//! time, all settled before the token is looked at.

use crate::args::TrustArgs;
use crate::jwks::JwksSource;
use anyhow::Context as _;
use auth_core::{Expectations, IssuerPolicy, KeySet, Rejection, VerifiedClaims};
use serde_json::{json, Value};

/// `--type none` turns the `typ` check off, as an issuer configured without `token_type` does.
const NO_TYPE: &str = "none";

#[derive(Debug)]
pub(crate) struct Trust {
    pub expectations: Expectations,
    pub keys: KeySet,
    /// Unix seconds the decision is taken at.
    pub now: i64,
}

impl Trust {
    /// Builds the expectations, reads the clock (unless `--now` is given) and loads the key set.
    pub(crate) fn load(args: &TrustArgs) -> anyhow::Result<Self> {
        let expectations = expectations(args)?;
        let now = match args.settings.now {
            Some(now) => now,
            None => unix_now()?,
        };
        let keys = JwksSource::parse(&args.jwks).load()?;
        Ok(Trust {
            expectations,
            keys,
            now,
        })
    }

    /// The one issuer these expectations trust.
    pub(crate) fn issuer(&self) -> Option<&IssuerPolicy> {
        self.expectations.issuers.first()
    }

    /// Verifies a bearer token with the core's native pipeline, exactly as the origin does.
    pub(crate) fn verify(&self, raw: &str) -> Result<VerifiedClaims, Rejection> {
        auth_core::verify::verify_native(
            raw,
            auth_core::token::DEFAULT_MAX_TOKEN_BYTES,
            &self.expectations,
            |_| Some(&self.keys),
            self.now,
        )
    }
}

/// The expectations for the issuer on the command line. They are built as the JSON an operator
/// would configure and parsed by the core, so options left out take the core's defaults (algorithms,
/// leeway) and the core's start-up validation applies (e.g. the leeway cap), rather than copies of
/// either living here.
pub(crate) fn expectations(args: &TrustArgs) -> anyhow::Result<Expectations> {
    let mut issuer = json!({
        "issuer": args.issuer,
        "audiences": args.audiences,
        "token_type": if args.settings.token_type == NO_TYPE { Value::Null } else { json!(args.settings.token_type) },
    });
    // A template's keys are each tenant's own (the core derives the URL); here `--jwks` holds the
    // key set of the tenant the token names, and the URL is not used.
    if !args.issuer.contains(auth_core::claims::TENANT_PLACEHOLDER) {
        issuer["jwks_uri"] = json!(args.jwks);
    }
    if !args.settings.algorithms.is_empty() {
        issuer["algorithms"] = json!(args.settings.algorithms);
    }
    if let Some(leeway) = args.settings.leeway_secs {
        issuer["leeway_secs"] = json!(leeway);
    }
    // Left out, the core decides: `none` for an exact issuer, `origin` for a template.
    if let Some(tenant) = &args.settings.tenant {
        issuer["tenant"] = match tenant.as_str() {
            binding @ ("none" | "origin") => json!(binding),
            assigned => json!({ "assigned": assigned }),
        };
    }
    let text = json!({ "issuers": [issuer] }).to_string();
    Expectations::from_json(&text)
        .context("invalid --issuer/--audience/--alg/--type/--leeway/--tenant")
}

fn unix_now() -> anyhow::Result<i64> {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    i64::try_from(since_epoch.as_secs()).context("the system clock is out of range")
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::Algorithm;

    fn args() -> TrustArgs {
        TrustArgs {
            jwks: "jwks.json".into(),
            issuer: "https://id.example/t/acme".into(),
            audiences: vec!["api".into()],
            settings: crate::args::VerifySettings {
                algorithms: vec![],
                token_type: "at+jwt".into(),
                leeway_secs: None,
                tenant: None,
                now: Some(0),
            },
        }
    }

    #[test]
    fn left_out_options_take_the_cores_defaults() {
        let e = expectations(&args()).unwrap();
        let p = &e.issuers[0];
        assert_eq!(p.algorithms, vec![Algorithm::Es256, Algorithm::EdDsa]);
        assert_eq!(p.leeway_secs, auth_core::claims::DEFAULT_LEEWAY_SECS);
        assert_eq!(p.token_type.as_deref(), Some("at+jwt"));
        assert_eq!(p.audiences, vec!["api".to_owned()]);
    }

    #[test]
    fn tenant_takes_the_edges_three_bindings() {
        use auth_core::claims::TenantBinding;
        let mut a = args();
        assert_eq!(
            expectations(&a).unwrap().issuers[0].tenant,
            TenantBinding::None
        );
        a.settings.tenant = Some("origin".into());
        assert_eq!(
            expectations(&a).unwrap().issuers[0].tenant,
            TenantBinding::Origin
        );
        a.settings.tenant = Some("acme".into());
        assert_eq!(
            expectations(&a).unwrap().issuers[0].tenant,
            TenantBinding::Assigned("acme".into())
        );
    }

    #[test]
    fn a_template_issuer_is_accepted_and_bound_to_the_origin() {
        use auth_core::claims::TenantBinding;
        use auth_core::tenant_issuers::TrustedIssuer;
        let mut a = args();
        a.issuer = "https://id.example/t/{tenant}".into();
        let e = expectations(&a).unwrap();
        assert_eq!(e.issuers[0].tenant, TenantBinding::Origin);
        match e.resolve("https://id.example/t/acme").unwrap() {
            TrustedIssuer::Tenant(t) => assert_eq!(t.policy().issuer, "https://id.example/t/acme"),
            other => panic!("{other:?}"),
        }
        a.settings.tenant = Some("none".into());
        assert!(
            expectations(&a).is_err(),
            "a template cannot be bound to no tenant"
        );
    }

    #[test]
    fn type_none_turns_the_typ_check_off_and_algorithms_are_taken_as_given() {
        let mut a = args();
        a.settings.token_type = "none".into();
        a.settings.algorithms = vec!["RS256".into(), "PS256".into()];
        let e = expectations(&a).unwrap();
        assert_eq!(e.issuers[0].token_type, None);
        assert_eq!(
            e.issuers[0].algorithms,
            vec![Algorithm::Rs256, Algorithm::Ps256]
        );
    }

    #[test]
    fn settings_the_core_would_refuse_at_start_up_are_refused() {
        let mut a = args();
        a.settings.leeway_secs = Some(auth_core::claims::MAX_LEEWAY_SECS + 1);
        assert!(expectations(&a).is_err());
        let mut a = args();
        a.settings.algorithms = vec!["HS256".into()];
        assert!(expectations(&a).is_err());
    }
}
