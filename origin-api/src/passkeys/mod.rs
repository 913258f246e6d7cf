//! Passkeys: the tenant's relying party (webauthn-rs, used only through its documented API), the
//! ceremonies in flight, and the credentials as stored.
//!
//! The library verifies challenge, origin, RP id hash, user presence and verification, algorithm
//! and counter. What is ours: one relying party per tenant, built from its validated settings;
//! ceremony state in Postgres ([`ceremonies`]); refusing a credential id registered twice (the
//! `passkeys_credential_id_key` constraint); and persisting the counter and backup flags after every
//! sign-in.

pub mod ceremonies;
pub mod credentials;
pub mod schema;

use crate::error::ApiError;
use crate::tenants::Tenant;
use webauthn_rs::prelude::{Url, WebauthnError};
use webauthn_rs::{Webauthn, WebauthnBuilder};

/// The tenant's relying party: its RP id, every allowed origin, the ceremony timeout.
pub fn relying_party(tenant: &Tenant) -> Result<Webauthn, ApiError> {
    let rp = tenant.relying_party()?;
    let origins = rp
        .origins()
        .iter()
        .map(|o| Url::parse(o))
        .collect::<Result<Vec<Url>, _>>()
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("stored origin")))?;
    let (first, rest) = origins
        .split_first()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a relying party without origins")))?;
    let mut builder = WebauthnBuilder::new(rp.rp_id(), first)
        .map_err(|e| configuration(e, "relying party id"))?
        .rp_name(&tenant.name)
        .timeout(ceremonies::CEREMONY_TTL);
    for origin in rest {
        builder = builder.append_allowed_origin(origin);
    }
    builder
        .build()
        .map_err(|e| configuration(e, "building the relying party"))
}

fn configuration(e: WebauthnError, what: &'static str) -> ApiError {
    ApiError::Internal(anyhow::Error::new(e).context(what))
}

/// Why a credential did not verify, in words a developer can act on. Every such failure is the
/// client's: a 4xx, never a 5xx.
pub fn why_refused(e: &WebauthnError) -> &'static str {
    match e {
        WebauthnError::InvalidRPOrigin | WebauthnError::CredentialCrossOrigin => {
            "the passkey was used from an origin this tenant does not allow"
        }
        WebauthnError::InvalidRPIDHash => "the passkey was made for another relying party id",
        WebauthnError::MismatchedChallenge
        | WebauthnError::InvalidClientDataType
        | WebauthnError::ParseJSONFailure(_)
        | WebauthnError::ParseBase64Failure(_) => {
            "the client data does not belong to this ceremony"
        }
        WebauthnError::UserNotVerified | WebauthnError::UserNotPresent => {
            "the authenticator did not verify the user; user verification is required"
        }
        WebauthnError::CredentialPossibleCompromise => {
            "the passkey's signature counter went backwards: it may have been cloned"
        }
        WebauthnError::CredentialBackupEligibilityInconsistent => {
            "the passkey's backup eligibility is inconsistent with its registration"
        }
        WebauthnError::CredentialExcludedFromRequest | WebauthnError::CredentialAlreadyExists => {
            "this passkey is already registered"
        }
        WebauthnError::AuthenticationFailure | WebauthnError::SignatureInvalid => {
            "the passkey's signature did not verify"
        }
        _ => "the passkey response is malformed or did not verify",
    }
}
