//! Domain newtypes: a value of these types has passed its `parse` constructor.

mod email;
mod password;
mod relying_party;
mod slug;

pub use email::{Email, EmailError};
pub use password::{Password, PasswordError, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
pub use relying_party::{RelyingParty, RelyingPartyError, MAX_ORIGINS};
pub use slug::{Slug, SlugError};
