//! A software authenticator nobody here wrote: 1Password's passkey-rs (client + CTAP2
//! authenticator), speaking the JSON our endpoints speak.

use passkey::authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey::client::{Client, DefaultClientData};
use passkey::crypto::rust_crypto::RustCryptoBackend;
use passkey::types::ctap2::{Aaguid, Ctap2Error};
use passkey::types::webauthn::{CredentialCreationOptions, CredentialRequestOptions};
use passkey::types::Passkey;
use serde_json::Value;
use url::Url;

/// The person at the authenticator: always present, verified unless told otherwise.
struct Person {
    verifies: bool,
}

#[async_trait::async_trait]
impl UserValidationMethod for Person {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Self::PasskeyItem>,
        _presence: bool,
        _verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence: true,
            verification: self.verifies,
        })
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        // Claims it can verify, then does not: the flag in its answer tells the truth.
        Some(true)
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }
}

type SoftClient =
    Client<Option<Passkey>, Person, RustCryptoBackend, public_suffix::PublicSuffixList, ()>;

/// One authenticator holding at most one passkey.
pub struct SoftKey {
    client: SoftClient,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep a signature counter (device-bound keys); synced passkeys always send 0.
    pub counter: bool,
    /// The authenticator answers without having verified the user (UV flag clear).
    pub no_user_verification: bool,
}

impl SoftKey {
    pub fn new() -> Self {
        Self::with(Options::default(), None)
    }

    pub fn with(options: Options, stored: Option<Passkey>) -> Self {
        let mut authenticator = Authenticator::new(
            Aaguid::new_empty(),
            stored,
            Person {
                verifies: !options.no_user_verification,
            },
            RustCryptoBackend,
        );
        authenticator.set_make_credentials_with_signature_counter(options.counter);
        SoftKey {
            client: Client::new(authenticator),
        }
    }

    /// A copy of the key's passkey, as a cloned authenticator would hold it.
    pub fn stored(&self) -> Option<Passkey> {
        self.client.authenticator().store().clone()
    }

    /// `navigator.credentials.create()` from `origin` with the `options` a start answered.
    pub async fn create(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let request: CredentialCreationOptions =
            serde_json::from_value(options.clone()).map_err(|e| e.to_string())?;
        let created = self
            .client
            .register(Url::parse(origin).unwrap(), request, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(serde_json::to_value(created).unwrap())
    }

    /// `navigator.credentials.get()` from `origin` with the `options` a start answered.
    pub async fn get(&mut self, origin: &str, options: &Value) -> Result<Value, String> {
        let mut options = options.clone();
        // The browser's `mediation` is not part of the request the authenticator sees.
        if let Some(o) = options.as_object_mut() {
            o.remove("mediation");
        }
        let request: CredentialRequestOptions =
            serde_json::from_value(options).map_err(|e| e.to_string())?;
        let asserted = self
            .client
            .authenticate(Url::parse(origin).unwrap(), request, DefaultClientData)
            .await
            .map_err(|e| format!("{e:?}"))?;
        Ok(serde_json::to_value(asserted).unwrap())
    }
}
