//! A benchmark device, built only with the `unverified-prefetch` feature for the ablation in
//! `cargo xtask bench edge`; never in a bundle that serves traffic.
//!
//! It starts the session's deny-entry read from the token's *unverified* claims while WebCrypto
//! checks the signature, so that a request waits once for both. That is what the edge must not do:
//! a forged token with a trusted `iss` and `kid` and a random `sid` makes it pay for a KV read. The
//! answer was only ever used for the session the verified claims name (`answer_for` compares), so
//! it never decided anything wrongly; it cost reads. Deleting the device is deleting this module,
//! `js/prefetch.js`, the feature and the lines marked with it in `gate.rs`.

use crate::isolate::{AdapterCall, Edge};
use auth_core::sessions::SessionKey;
use auth_core::{SignatureJob, UnverifiedToken};
use js_sys::{Array, Object, Promise};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{CryptoKey, SubtleCrypto};

#[wasm_bindgen(module = "/js/prefetch.js")]
extern "C" {
    #[wasm_bindgen(js_name = readOrUndefined, catch)]
    fn read_or_undefined(kv: &JsValue, key: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(js_name = startVerifyAlongside, catch)]
    fn start_verify_alongside(
        subtle: &SubtleCrypto,
        algorithm: &Object,
        key: &CryptoKey,
        signature: &[u8],
        signing_input: &[u8],
        alongside: &Promise,
    ) -> Result<Promise, JsValue>;
}

/// What the read started alongside the signature check found.
pub struct Prefetched {
    key: String,
    /// `None` when the read failed: the check then reads again, and a failure there is a 503.
    denied: Option<bool>,
}

/// The signature check, with the deny-entry read of the token's unverified session started
/// alongside unless this isolate's memo already answers for it.
pub async fn verify_alongside(
    edge: &Edge,
    job: &SignatureJob<'_, '_>,
    token: &UnverifiedToken<'_>,
    now: i64,
) -> Result<(bool, Option<Prefetched>), JsValue> {
    let session = token
        .session_hint()
        .filter(|s| edge.deny_memo.borrow_mut().answer(s, now).is_none());
    let Some(session) = session else {
        return Ok((edge.crypto.verify(job).await?, None));
    };
    let key = session.deny_entry_key();
    edge.count(AdapterCall::DenyEntryRead);
    let read = read_or_undefined(edge.revocations.raw(), &key)?;
    let (subtle, crypto_key, algorithm) = edge.crypto.prepare(job).await?;
    let both = start_verify_alongside(
        &subtle,
        &algorithm,
        &crypto_key,
        &job.signature,
        job.signing_input.as_bytes(),
        &read,
    )?;
    let both: Array = crate::wait::settled(both).await?.unchecked_into();
    let found = both.get(1);
    Ok((
        both.get(0).as_bool() == Some(true),
        Some(Prefetched {
            key,
            denied: (!found.is_undefined()).then(|| !found.is_null()),
        }),
    ))
}

/// The prefetched answer, if it was read for this (verified) session; remembered like any KV answer.
pub fn answer_for(
    edge: &Edge,
    prefetched: Option<&Prefetched>,
    session: &SessionKey<'_>,
    now: i64,
) -> Option<bool> {
    let prefetched = prefetched.filter(|p| p.key == session.deny_entry_key())?;
    let denied = prefetched.denied?;
    edge.deny_memo.borrow_mut().record(session, denied, now);
    Some(denied)
}
