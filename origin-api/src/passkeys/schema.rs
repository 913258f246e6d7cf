//! The OpenAPI schemas of the WebAuthn JSON the ceremonies exchange, which webauthn-rs's types do not
//! describe themselves: the options a start answers (passed to `navigator.credentials` as they are)
//! and the credentials a finish brings back, as webauthn-rs-proto 0.6 deserialises them.

use serde_json::{json, Value};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

/// Unpadded base64url of whole bytes, as serde_with's `Base64<UrlSafe, Unpadded>` decodes it (the
/// unused bits of a last partial group must be zero).
const BASE64URL: &str =
    "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$";

fn schema(value: Value) -> RefOr<Schema> {
    // Fixed literals below, checked by the test that renders the document.
    RefOr::T(serde_json::from_value(value).expect("a literal schema deserialises"))
}

fn bytes(description: &str) -> Value {
    json!({ "type": "string", "pattern": BASE64URL, "description": description })
}

/// `PublicKeyCredentialCreationOptions` wrapped in `publicKey` (WebAuthn §5.4).
#[derive(Debug)]
pub struct CreationOptions;

impl utoipa::PartialSchema for CreationOptions {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "description": "Pass to navigator.credentials.create() (after decoding the base64url members).",
            "required": ["publicKey"],
            "properties": {
                "publicKey": {
                    "type": "object",
                    "required": ["rp", "user", "challenge", "pubKeyCredParams"],
                    "properties": {
                        "rp": { "type": "object" },
                        "user": { "type": "object" },
                        "challenge": { "type": "string" },
                        "pubKeyCredParams": { "type": "array", "items": { "type": "object" } },
                        "timeout": { "type": "integer" },
                        "excludeCredentials": { "type": "array", "items": { "type": "object" } },
                        "authenticatorSelection": { "type": "object" },
                        "attestation": { "type": "string" },
                        "extensions": { "type": "object" }
                    }
                }
            }
        }))
    }
}

impl utoipa::ToSchema for CreationOptions {}

/// `PublicKeyCredentialRequestOptions` wrapped in `publicKey` (WebAuthn §5.5).
#[derive(Debug)]
pub struct RequestOptions;

impl utoipa::PartialSchema for RequestOptions {
    fn schema() -> RefOr<Schema> {
        schema(json!({
            "type": "object",
            "description": "Pass to navigator.credentials.get() (after decoding the base64url members); with `mediation: conditional` for autofill.",
            "required": ["publicKey"],
            "properties": {
                "publicKey": {
                    "type": "object",
                    "required": ["challenge"],
                    "properties": {
                        "challenge": { "type": "string" },
                        "timeout": { "type": "integer" },
                        "rpId": { "type": "string" },
                        "allowCredentials": { "type": "array", "items": { "type": "object" } },
                        "userVerification": { "type": "string" },
                        "extensions": { "type": "object" }
                    }
                },
                "mediation": { "type": "string" }
            }
        }))
    }
}

impl utoipa::ToSchema for RequestOptions {}

/// A `PublicKeyCredential` as the browser returns it, base64url-encoded (WebAuthn §5.1): the same
/// envelope for both ceremonies, around the ceremony's `response` and its extension results.
fn public_key_credential(response: Value, extension_results: Value) -> RefOr<Schema> {
    schema(json!({
        "type": "object",
        "required": ["id", "rawId", "response", "type"],
        "properties": {
            "id": { "type": "string" },
            "rawId": bytes("the credential id"),
            "type": { "type": "string", "description": "`public-key`" },
            "response": response,
            "clientExtensionResults": {
                "type": "object",
                "additionalProperties": false,
                "properties": extension_results
            }
        }
    }))
}

/// What `navigator.credentials.create()` returned, base64url-encoded (`RegisterPublicKeyCredential`).
#[derive(Debug)]
pub struct RegistrationCredential;

impl utoipa::PartialSchema for RegistrationCredential {
    fn schema() -> RefOr<Schema> {
        public_key_credential(
            json!({
                "type": "object",
                "required": ["attestationObject", "clientDataJSON"],
                "properties": {
                    "attestationObject": bytes("CBOR attestation object"),
                    "clientDataJSON": bytes("the client data, JSON"),
                    "transports": {
                        "type": ["array", "null"],
                        "items": { "type": "string", "enum": ["usb", "nfc", "ble", "internal", "hybrid", "test"] }
                    }
                }
            }),
            json!({
                "appid": { "type": "boolean" },
                "credProps": { "type": "object", "required": ["rk"], "properties": { "rk": { "type": "boolean" } } },
                "hmacSecret": { "type": "boolean" }
            }),
        )
    }
}

impl utoipa::ToSchema for RegistrationCredential {}

/// What `navigator.credentials.get()` returned, base64url-encoded (`PublicKeyCredential`).
#[derive(Debug)]
pub struct AuthenticationCredential;

impl utoipa::PartialSchema for AuthenticationCredential {
    fn schema() -> RefOr<Schema> {
        public_key_credential(
            json!({
                "type": "object",
                "required": ["authenticatorData", "clientDataJSON", "signature"],
                "properties": {
                    "authenticatorData": bytes("the authenticator data"),
                    "clientDataJSON": bytes("the client data, JSON"),
                    "signature": bytes("the assertion signature"),
                    "userHandle": {
                        "type": ["string", "null"],
                        "pattern": BASE64URL,
                        "description": "the user handle of a discoverable credential"
                    }
                }
            }),
            json!({ "appid": { "type": "boolean" } }),
        )
    }
}

impl utoipa::ToSchema for AuthenticationCredential {}
