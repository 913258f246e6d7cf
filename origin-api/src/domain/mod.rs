//! Domain newtypes: a value of these types has passed its `parse` constructor.

mod email;
mod password;
mod pkce;
mod redirect_uri;
mod relying_party;
mod slug;

pub use email::{Email, EmailError};
pub use password::{Password, PasswordError, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
pub use pkce::{CodeChallenge, CodeVerifier, PkceError};
pub use redirect_uri::{RedirectUri, RedirectUriError, MAX_REDIRECT_URIS};
pub use relying_party::{RelyingParty, RelyingPartyError, MAX_ORIGINS};
pub use slug::{Slug, SlugError};
