//! Signature checks through the runtime's WebCrypto (`crypto.subtle`).
//!
//! P-256 arithmetic compiled to wasm costs ~1.5 ms of CPU per verification; the runtime's native
//! implementation costs a fraction of that (616 against 4,074 ES256 req/s in one measured workerd
//! run on two cores). Each public key is imported once
//! per isolate and cached as a `CryptoKey`, keyed by its key material and algorithm (not its `kid`,
//! which an issuer could reuse).

use auth_core::keys::{Algorithm, KeyMaterial};
use auth_core::SignatureJob;
use js_sys::{Array, Object, Promise, Reflect};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

#[wasm_bindgen(module = "/js/verify.js")]
extern "C" {
    /// See `js/verify.js`: the byte slices arrive as views into the wasm memory and are copied there.
    #[wasm_bindgen(js_name = startVerify, catch)]
    fn start_verify(
        subtle: &SubtleCrypto,
        algorithm: &Object,
        key: &CryptoKey,
        signature: &[u8],
        signing_input: &[u8],
    ) -> Result<Promise, JsValue>;
}

/// Bound on cached `CryptoKey`s per isolate; past it the cache starts over.
const MAX_CACHED_KEYS: usize = 256;
/// RFC 7518 §3.5: the PSS salt is as long as the hash (SHA-256).
const PSS_SALT_BYTES: u32 = 32;

/// The isolate's WebCrypto handles (`isolate::Edge::crypto`), each built once: a verification on
/// the hot path only passes references.
#[derive(Default)]
pub struct WebCrypto {
    subtle: OnceCell<Result<SubtleCrypto, JsValue>>,
    keys: RefCell<HashMap<Vec<u8>, CryptoKey>>,
    params: RefCell<HashMap<&'static str, Object>>,
}

impl WebCrypto {
    /// Runs the signature check: `true` only for a valid signature. `Err` means WebCrypto itself
    /// failed (not a bad signature). The cached handles are lent to the call, not cloned: each clone
    /// and drop of a JS handle is a crossing of the wasm boundary.
    pub async fn verify(&self, job: &SignatureJob<'_, '_>) -> Result<bool, JsValue> {
        let material = job.key.material();
        let cache_key = key_cache_key(material, job.alg);
        // Imported on the key's first use; held here too in case the cache starts over meanwhile.
        let cached = self.keys.borrow().contains_key(&cache_key);
        let imported = match cached {
            true => None,
            false => Some(self.crypto_key(self.subtle()?, material, job.alg).await?),
        };
        let name = verify_name(material, job.alg);
        if !self.params.borrow().contains_key(name) {
            let params = verify_params(name)?;
            self.params.borrow_mut().insert(name, params);
        }
        let verdict = {
            let keys = self.keys.borrow();
            let params = self.params.borrow();
            let key = keys.get(&cache_key).or(imported.as_ref());
            let (Some(key), Some(algorithm)) = (key, params.get(name)) else {
                return Err(JsValue::from_str("webcrypto: a cached handle went missing"));
            };
            let signing_input = job.signing_input.as_bytes();
            start_verify(
                self.subtle()?,
                algorithm,
                key,
                &job.signature,
                signing_input,
            )?
        };
        Ok(JsFuture::from(verdict).await?.as_bool() == Some(true))
    }

    /// Imports a key into WebCrypto, as the edge does before using it. Fails for keys the runtime
    /// refuses (e.g. an RSA modulus it cannot use), which the caller treats as an unusable key.
    pub async fn import(&self, material: &KeyMaterial, alg: Algorithm) -> Result<(), JsValue> {
        self.crypto_key(self.subtle()?, material, alg)
            .await
            .map(|_| ())
    }

    fn subtle(&self) -> Result<&SubtleCrypto, JsValue> {
        self.subtle
            .get_or_init(|| {
                let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
                Ok(scope.crypto()?.subtle())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    async fn crypto_key(
        &self,
        subtle: &SubtleCrypto,
        material: &KeyMaterial,
        alg: Algorithm,
    ) -> Result<CryptoKey, JsValue> {
        let cache_key = key_cache_key(material, alg);
        if let Some(key) = self.keys.borrow().get(&cache_key).cloned() {
            return Ok(key);
        }
        let b64 = auth_core::encoding::b64url_encode;
        let (jwk, algorithm) = match material {
            KeyMaterial::P256 { x, y, .. } => (
                object(&[
                    ("kty", "EC".into()),
                    ("crv", "P-256".into()),
                    ("x", b64(x).into()),
                    ("y", b64(y).into()),
                ])?,
                object(&[("name", "ECDSA".into()), ("namedCurve", "P-256".into())])?,
            ),
            KeyMaterial::Ed25519 { x, .. } => (
                object(&[
                    ("kty", "OKP".into()),
                    ("crv", "Ed25519".into()),
                    ("x", b64(x).into()),
                ])?,
                object(&[("name", "Ed25519".into())])?,
            ),
            KeyMaterial::Rsa { n, e } => {
                let name = if alg == Algorithm::Ps256 {
                    "RSA-PSS"
                } else {
                    "RSASSA-PKCS1-v1_5"
                };
                (
                    object(&[
                        ("kty", "RSA".into()),
                        ("n", b64(n).into()),
                        ("e", b64(e).into()),
                    ])?,
                    object(&[("name", name.into()), ("hash", "SHA-256".into())])?,
                )
            }
        };
        let usages = Array::of1(&"verify".into());
        let promise = subtle.import_key_with_object("jwk", &jwk, &algorithm, false, &usages)?;
        let key: CryptoKey = JsFuture::from(promise).await?.dyn_into()?;
        let mut keys = self.keys.borrow_mut();
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.insert(cache_key, key.clone());
        Ok(key)
    }
}

/// The `CryptoKey` cache's name for a key. The algorithm is part of it: an RSA modulus imported for
/// PKCS#1 v1.5 cannot verify PSS.
fn key_cache_key(material: &KeyMaterial, alg: Algorithm) -> Vec<u8> {
    match material {
        KeyMaterial::P256 { x, y, .. } => [b"p256:".as_slice(), x, y].concat(),
        KeyMaterial::Ed25519 { x, .. } => [b"ed25519:".as_slice(), x].concat(),
        KeyMaterial::Rsa { n, e } => [alg.name().as_bytes(), b":", e, b":", n].concat(),
    }
}

/// The WebCrypto algorithm name `verify` takes for a key and algorithm.
fn verify_name(material: &KeyMaterial, alg: Algorithm) -> &'static str {
    match (material, alg) {
        (KeyMaterial::P256 { .. }, _) => "ECDSA",
        (KeyMaterial::Ed25519 { .. }, _) => "Ed25519",
        (KeyMaterial::Rsa { .. }, Algorithm::Ps256) => "RSA-PSS",
        (KeyMaterial::Rsa { .. }, _) => "RSASSA-PKCS1-v1_5",
    }
}

/// The `algorithm` argument of `verify` for an algorithm name of [`verify_name`].
fn verify_params(name: &'static str) -> Result<Object, JsValue> {
    match name {
        "ECDSA" => object(&[("name", name.into()), ("hash", "SHA-256".into())]),
        "RSA-PSS" => object(&[("name", name.into()), ("saltLength", PSS_SALT_BYTES.into())]),
        _ => object(&[("name", name.into())]),
    }
}

fn object(members: &[(&str, JsValue)]) -> Result<Object, JsValue> {
    let obj = Object::new();
    for (name, value) in members {
        Reflect::set(&obj, &JsValue::from_str(name), value)?;
    }
    Ok(obj)
}
