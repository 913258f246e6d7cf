//! The Workers KV adapter: a namespace binding, called directly (one call per read, no wrapper
//! objects built per request).

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::Env;

#[wasm_bindgen]
extern "C" {
    /// A KV namespace binding as the runtime hands it over.
    #[derive(Clone)]
    type KvNamespace;
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get(this: &KvNamespace, key: &str) -> Result<js_sys::Promise, JsValue>;
    /// The bulk form: an array of keys in, a `Map` of key to value (or `null`) out.
    #[wasm_bindgen(method, catch, js_name = get)]
    fn get_bulk(this: &KvNamespace, keys: &js_sys::Array) -> Result<js_sys::Promise, JsValue>;
    #[wasm_bindgen(method, catch, js_name = put)]
    fn put(
        this: &KvNamespace,
        key: &str,
        value: &str,
        options: &js_sys::Object,
    ) -> Result<js_sys::Promise, JsValue>;
}

/// One KV namespace. Bindings outlive the request that first reads them, so each is looked up once
/// per isolate (`isolate::Edge`).
#[derive(Clone)]
pub struct Kv {
    binding: KvNamespace,
}

impl Kv {
    /// The namespace bound as `name`.
    pub fn bound(env: &Env, name: &str) -> Result<Kv, String> {
        let binding = js_sys::Reflect::get(env.as_ref(), &JsValue::from_str(name))
            .ok()
            .filter(|b| b.is_object())
            .ok_or_else(|| format!("{name} is not bound"))?;
        Ok(Kv {
            binding: binding.unchecked_into(),
        })
    }

    /// The value stored under `key`, `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<String>, JsValue> {
        let value = JsFuture::from(self.binding.get(key)?).await?;
        Ok(value.as_string())
    }

    /// The values stored under `keys`, in one call: a plain read for one key, KV's bulk get (one
    /// round trip, one operation against the request's limit) for more.
    pub async fn get_each<'k>(
        &self,
        mut keys: impl ExactSizeIterator<Item = &'k str>,
    ) -> Result<Found, JsValue> {
        if keys.len() == 1 {
            let key = keys.next().unwrap_or_default();
            let value = self.get(key).await?;
            return Ok(Found::One(key.to_owned(), value));
        }
        let array: js_sys::Array = keys.map(JsValue::from_str).collect();
        let found: js_sys::Map = JsFuture::from(self.binding.get_bulk(&array)?)
            .await?
            .dyn_into()?;
        Ok(Found::Many(found))
    }

    /// Stores `value` under `key` for `ttl_secs` (KV's minimum is 60 s).
    pub async fn put(&self, key: &str, value: &str, ttl_secs: u64) -> Result<(), JsValue> {
        let options = js_sys::Object::new();
        js_sys::Reflect::set(
            &options,
            &JsValue::from_str("expirationTtl"),
            &JsValue::from_f64(ttl_secs as f64),
        )?;
        JsFuture::from(self.binding.put(key, value, &options)?).await?;
        Ok(())
    }
}

/// What [`Kv::get_each`] found.
pub enum Found {
    One(String, Option<String>),
    /// The bulk get's `Map` of key to value (or `null`).
    Many(js_sys::Map),
}

impl Found {
    /// The value stored under `key`, `None` when there is none (or `key` was not asked for).
    pub fn value_of(&self, key: &str) -> Option<String> {
        match self {
            Found::One(asked, value) => (asked == key).then(|| value.clone()).flatten(),
            Found::Many(map) => map.get(&JsValue::from_str(key)).as_string(),
        }
    }
}
