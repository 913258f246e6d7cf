//! Strict decoders: canonical unpadded base64url and JSON that refuses duplicate member names.
//!
//! Lenient decoders are how two components end up disagreeing about what a token says; both of these
//! refuse anything with more than one reading.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::{self, DeserializeSeed as _, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Decodes unpadded base64url, refusing padding, other alphabets and non-zero trailing bits
/// (a second spelling of the same bytes).
pub fn b64url_decode(input: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(input).ok()
}

/// Encodes bytes as unpadded base64url.
pub fn b64url_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Why a JSON text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    #[error("invalid json")]
    Syntax,
    #[error("duplicate member name")]
    DuplicateMember,
    #[error("nesting too deep")]
    TooDeep,
}

/// Parses JSON, refusing duplicate member names at any depth and nesting deeper than `MAX_DEPTH`.
pub fn parse_strict_json(bytes: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue { depth: 0 }
        .deserialize(&mut de)
        .map_err(classify)?;
    de.end().map_err(|_| JsonError::Syntax)?;
    Ok(value)
}

/// Tokens and key sets are shallow; anything deeper is an attack on the parser, not data.
const MAX_DEPTH: usize = 16;
const DUPLICATE: &str = "duplicate member name";
const TOO_DEEP: &str = "nesting too deep";

fn classify(err: serde_json::Error) -> JsonError {
    let text = err.to_string();
    if text.starts_with(DUPLICATE) {
        JsonError::DuplicateMember
    } else if text.starts_with(TOO_DEEP) {
        JsonError::TooDeep
    } else {
        JsonError::Syntax
    }
}

#[derive(Clone, Copy)]
struct StrictValue {
    depth: usize,
}

impl<'de> de::DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        if self.depth > MAX_DEPTH {
            return Err(de::Error::custom(TOO_DEEP));
        }
        deserializer.deserialize_any(self)
    }
}

impl StrictValue {
    fn deeper(self) -> Self {
        StrictValue {
            depth: self.depth + 1,
        }
    }
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("non-finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(item) = seq.next_element_seed(self.deeper())? {
            out.push(item);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(DUPLICATE));
            }
            let value = map.next_value_seed(self.deeper())?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_members_are_refused_at_any_depth() {
        assert_eq!(
            parse_strict_json(br#"{"a":1,"a":2}"#),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(
            parse_strict_json(br#"{"x":{"a":1,"a":1}}"#),
            Err(JsonError::DuplicateMember)
        );
        assert_eq!(
            parse_strict_json(br#"[{"a":1},{"a":1}]"#).map(|_| ()),
            Ok(())
        );
    }

    #[test]
    fn deep_nesting_and_trailing_garbage_are_refused() {
        let deep = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert_eq!(parse_strict_json(deep.as_bytes()), Err(JsonError::TooDeep));
        assert_eq!(parse_strict_json(br#"{"a":1} x"#), Err(JsonError::Syntax));
    }

    #[test]
    fn base64url_refuses_padding_other_alphabets_and_non_canonical_bits() {
        assert_eq!(b64url_decode("YQ"), Some(b"a".to_vec()));
        assert_eq!(b64url_decode("YQ=="), None);
        assert_eq!(
            b64url_decode("YR"),
            None,
            "trailing bits set: a second spelling of 'a'"
        );
        assert_eq!(b64url_decode("+/8"), None);
        assert_eq!(b64url_decode("-_8"), Some(vec![0xfb, 0xff]));
    }
}
