//! Signature checks through the runtime's WebCrypto (`crypto.subtle`).
//!
//! P-256 arithmetic compiled to wasm costs ~1.5 ms of CPU per verification; the runtime's native
//! implementation costs a fraction of that (`../shared/EDGE.md` §2). Each public key is imported once
//! per isolate and cached as a `CryptoKey`, keyed by its key material and algorithm (not its `kid`,
//! which an issuer could reuse).

use auth_core::keys::{Algorithm, KeyMaterial};
use auth_core::SignatureJob;
use js_sys::{Array, Object, Reflect};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

/// Bound on cached `CryptoKey`s per isolate; past it the cache starts over.
const MAX_CACHED_KEYS: usize = 256;
/// RFC 7518 §3.5: the PSS salt is as long as the hash (SHA-256).
const PSS_SALT_BYTES: u32 = 32;

thread_local! {
    static KEYS: RefCell<HashMap<Vec<u8>, CryptoKey>> = RefCell::new(HashMap::new());
}

/// Runs the signature check. `Err` means WebCrypto itself failed (not a bad signature).
pub async fn check_signature(job: &SignatureJob<'_, '_>) -> Result<bool, JsValue> {
    let subtle = subtle()?;
    let key = crypto_key(&subtle, job.key.material(), job.alg).await?;
    let algorithm = match (job.key.material(), job.alg) {
        (KeyMaterial::P256 { .. }, _) => {
            object(&[("name", "ECDSA".into()), ("hash", "SHA-256".into())])?
        }
        (KeyMaterial::Ed25519 { .. }, _) => object(&[("name", "Ed25519".into())])?,
        (KeyMaterial::Rsa { .. }, Algorithm::Ps256) => object(&[
            ("name", "RSA-PSS".into()),
            ("saltLength", PSS_SALT_BYTES.into()),
        ])?,
        (KeyMaterial::Rsa { .. }, _) => object(&[("name", "RSASSA-PKCS1-v1_5".into())])?,
    };
    let promise = subtle.verify_with_object_and_u8_array_and_u8_array(
        &algorithm,
        &key,
        &job.signature,
        job.signing_input.as_bytes(),
    )?;
    Ok(JsFuture::from(promise).await?.as_bool().unwrap_or(false))
}

/// Imports a key into WebCrypto, as the edge does before using it. Fails for keys the runtime
/// refuses (e.g. an RSA modulus it cannot use), which the caller treats as an unusable key.
pub async fn import(material: &KeyMaterial, alg: Algorithm) -> Result<(), JsValue> {
    crypto_key(&subtle()?, material, alg).await.map(|_| ())
}

fn subtle() -> Result<SubtleCrypto, JsValue> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(scope.crypto()?.subtle())
}

async fn crypto_key(
    subtle: &SubtleCrypto,
    material: &KeyMaterial,
    alg: Algorithm,
) -> Result<CryptoKey, JsValue> {
    // The algorithm is part of the key: an RSA modulus imported for PKCS#1 v1.5 cannot verify PSS.
    let cache_key = match material {
        KeyMaterial::P256 { x, y, .. } => [b"p256:".as_slice(), x, y].concat(),
        KeyMaterial::Ed25519 { x, .. } => [b"ed25519:".as_slice(), x].concat(),
        KeyMaterial::Rsa { n, e } => [alg.name().as_bytes(), b":", e, b":", n].concat(),
    };
    if let Some(key) = KEYS.with(|k| k.borrow().get(&cache_key).cloned()) {
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
    KEYS.with(|k| {
        let mut k = k.borrow_mut();
        if k.len() >= MAX_CACHED_KEYS {
            k.clear();
        }
        k.insert(cache_key, key.clone());
    });
    Ok(key)
}

fn object(members: &[(&str, JsValue)]) -> Result<Object, JsValue> {
    let obj = Object::new();
    for (name, value) in members {
        Reflect::set(&obj, &JsValue::from_str(name), value)?;
    }
    Ok(obj)
}
