//! The sans-io core shared by the edge Worker and the origin API.
//!
//! It owns the rules: how a bearer token is parsed and refused, which keys may verify it, what makes its
//! claims acceptable, how route policies and rate limits decide, how revocations are recorded and how
//! the origin's pushes are authenticated. It never touches a socket, a clock, a random source or an async runtime: time, key
//! sets, policies and request facts come in as arguments, decisions go out as data. That is what lets the
//! same tests run natively and on `wasm32-unknown-unknown`.
//!
//! Signature checks are the one step whose cost depends on where we run: the edge calls the runtime's
//! WebCrypto, everything native calls [`verify::check_signature_native`]. Both consume the same
//! [`token::SignatureJob`], so the rules around the signature stay here.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod bearer;
pub mod claims;
pub mod encoding;
pub mod identity;
pub mod key_cache;
pub mod keys;
pub mod notice;
pub mod policy;
pub mod ratelimit;
pub mod reject;
pub mod sessions;
pub mod tenant_issuers;
pub mod token;
pub mod ttl_cache;
#[cfg(feature = "conformance")]
pub mod vectors;
pub mod verify;

pub use claims::{Expectations, IssuerPolicy, VerifiedClaims};
pub use keys::{Algorithm, KeySet, VerificationKey};
pub use reject::Rejection;
pub use token::{SignatureJob, UnverifiedToken};
