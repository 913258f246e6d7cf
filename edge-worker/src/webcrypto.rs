//! Signature checks through the runtime's WebCrypto (`crypto.subtle`).
//!
//! P-256 arithmetic compiled to wasm costs ~1.5 ms of CPU per verification; the runtime's native
//! implementation costs a fraction of that (`../shared/EDGE.md` §2). Each public key is imported once
//! per isolate and cached as a `CryptoKey`, keyed by its key material (not its `kid`, which an issuer
//! could reuse).

use auth_core::keys::KeyMaterial;
use auth_core::SignatureJob;
use js_sys::{Array, Object, Reflect};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

/// Bound on cached `CryptoKey`s per isolate; past it the cache starts over.
const MAX_CACHED_KEYS: usize = 256;

thread_local! {
    static KEYS: RefCell<HashMap<Vec<u8>, CryptoKey>> = RefCell::new(HashMap::new());
}

/// Runs the signature check. `Err` means WebCrypto itself failed (not a bad signature).
pub async fn check_signature(job: &SignatureJob<'_, '_>) -> Result<bool, JsValue> {
    let subtle = subtle()?;
    let key = crypto_key(&subtle, job.key.material()).await?;
    let algorithm = match job.key.material() {
        KeyMaterial::P256 { .. } => {
            object(&[("name", "ECDSA".into()), ("hash", "SHA-256".into())])?
        }
        KeyMaterial::Ed25519 { .. } => object(&[("name", "Ed25519".into())])?,
    };
    let promise = subtle.verify_with_object_and_u8_array_and_u8_array(
        &algorithm,
        &key,
        &job.signature,
        job.signing_input.as_bytes(),
    )?;
    Ok(JsFuture::from(promise).await?.as_bool().unwrap_or(false))
}

fn subtle() -> Result<SubtleCrypto, JsValue> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    Ok(scope.crypto()?.subtle())
}

async fn crypto_key(subtle: &SubtleCrypto, material: &KeyMaterial) -> Result<CryptoKey, JsValue> {
    let cache_key = match material {
        KeyMaterial::P256 { x, y, .. } => [x.as_slice(), y.as_slice()].concat(),
        KeyMaterial::Ed25519 { x, .. } => x.to_vec(),
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
