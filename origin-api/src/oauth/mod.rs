//! OAuth 2.1 authorization code with PKCE, and the OpenID Connect layer on it, for public clients.
//!
//! What is ours: registered clients with exact redirect URIs ([`clients`]), one-time codes bound to
//! the client, redirect URI, PKCE challenge, nonce and hosted sign-in ([`codes`]), ID tokens
//! ([`id_token`]) and the scope grammar ([`scope`]). The endpoints are in `routes::authorize`,
//! `routes::token` and `routes::userinfo`; the token exchange opens the same API session as a
//! password sign-in, so the edge sees no difference.

pub mod clients;
pub mod codes;
pub mod error;
pub mod id_token;
pub mod scope;
