//! Named rate limits (`[[limit]]` in a policy file) and the keys they count by.
//!
//! A limit says what it counts by (its key: the client address, an identity, a header, a claim, or
//! several of them), how much it allows (`amount` per `period`, with a `burst`), which tier decides
//! (`exact`: the key's Durable Object; `approximate`: the isolate, reconciled in the background) and
//! what happens when the limiter cannot answer (`on_error`). A route lists the limits it applies.
//!
//! Where a limit is checked follows from its key: one keyed on the client address or a header only
//! is checked **before** the token's signature (it protects the verifier from floods), one keyed on
//! anything the token says is checked **after** it (a forged token must not spend a subject's
//! quota).

use crate::claims::VerifiedClaims;
use crate::ratelimit::Rate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// An exact limit is decided by one Durable Object per key, which serves about 1,000 requests a
/// second at most. Exact limits above this rate are refused at build time: a key that hot belongs
/// in the approximate tier, which asks the object once per batch.
pub const MAX_EXACT_PER_SECOND: f64 = 500.0;

/// Headers that carry a client's address but are set by whoever sends the request: a limit keyed
/// on one is bypassed by changing it. `ip` reads the address Cloudflare saw.
const CLIENT_SET_ADDRESS_HEADERS: [&str; 5] = [
    "x-forwarded-for",
    "x-real-ip",
    "forwarded",
    "true-client-ip",
    "cf-connecting-ip",
];
/// Credentials are not keys: they would reach the limiter's storage (hashed, but still).
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// The header Cloudflare sets to the address of the client it accepted the connection from.
pub const CLIENT_IP_HEADER: &str = "cf-connecting-ip";

/// One part of a limit's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum KeyPart {
    /// The client address, from `CF-Connecting-IP` only.
    Ip,
    /// The token's issuer and subject.
    Subject,
    /// The token's issuer and session (`sid`).
    Session,
    /// The token's tenant (`tid`, else its issuer).
    Tenant,
    /// A request header (lower-case name).
    Header(String),
    /// A claim, by name or dotted path.
    Claim(String),
}

impl TryFrom<String> for KeyPart {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "ip" => return Ok(KeyPart::Ip),
            "subject" => return Ok(KeyPart::Subject),
            "session" => return Ok(KeyPart::Session),
            "tenant" => return Ok(KeyPart::Tenant),
            _ => {}
        }
        if let Some(name) = s.strip_prefix("header:") {
            let name = name.to_ascii_lowercase();
            let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
            if name.is_empty() || !name.bytes().all(token) {
                return Err(format!("{s:?} does not name a header"));
            }
            if CLIENT_SET_ADDRESS_HEADERS.contains(&name.as_str()) {
                return Err(format!(
                    "{s:?} is set by the client and bypassed by changing it; key on \"ip\" (CF-Connecting-IP as Cloudflare saw it)"
                ));
            }
            if CREDENTIAL_HEADERS.contains(&name.as_str()) {
                return Err(format!(
                    "{s:?} holds credentials; key on \"subject\" or \"session\" instead"
                ));
            }
            return Ok(KeyPart::Header(name));
        }
        if let Some(claim) = s.strip_prefix("claim:") {
            if claim.is_empty() || claim.split('.').any(str::is_empty) {
                return Err(format!("{s:?} does not name a claim"));
            }
            return Ok(KeyPart::Claim(claim.to_owned()));
        }
        Err(format!(
            "key part {s:?} is none of ip, subject, session, tenant, header:NAME, claim:NAME"
        ))
    }
}

impl From<KeyPart> for String {
    fn from(p: KeyPart) -> String {
        match p {
            KeyPart::Ip => "ip".into(),
            KeyPart::Subject => "subject".into(),
            KeyPart::Session => "session".into(),
            KeyPart::Tenant => "tenant".into(),
            KeyPart::Header(h) => format!("header:{h}"),
            KeyPart::Claim(c) => format!("claim:{c}"),
        }
    }
}

impl KeyPart {
    fn needs_token(&self) -> bool {
        !matches!(self, KeyPart::Ip | KeyPart::Header(_))
    }
}

/// Who decides a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The key's Durable Object, on every request not already known to be refused.
    Exact,
    /// The isolate, from its own count reconciled with the key's object in the background.
    Approximate,
}

/// What a request gets when the limiter cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    Allow,
    Deny,
}

/// When a limit is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Before the token is looked at: the key is the client address or headers.
    BeforeAuthentication,
    /// After the token's signature and claims passed: the key holds something the token says.
    AfterAuthentication,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LimitSpec {
    name: String,
    key: Vec<KeyPart>,
    amount: u32,
    period: Period,
    burst: Option<u32>,
    tier: Tier,
    on_error: OnError,
}

impl LimitSpec {
    pub(super) fn name(&self) -> &str {
        &self.name
    }
}

/// A period as whole seconds or a string with a unit: `"1s"`, `"10s"`, `"1m"`, `"1h"`, `"1d"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Period {
    Seconds(u32),
    Text(String),
}

impl Period {
    fn seconds(&self) -> Result<u32, String> {
        let text = match self {
            Period::Seconds(s) => return Ok(*s),
            Period::Text(t) => t.trim(),
        };
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3_600,
            "d" => 86_400,
            _ => return Err(format!("period {text:?} is not a number of s, m, h or d")),
        };
        number
            .parse::<u32>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .ok_or_else(|| format!("period {text:?} is not a number of s, m, h or d"))
    }
}

/// A compiled limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limit {
    pub name: String,
    pub key: Vec<KeyPart>,
    pub rate: Rate,
    pub tier: Tier,
    pub on_error: OnError,
    /// Line of the limit in its source file.
    pub line: usize,
}

/// Whether `name` may name a limit (it appears in headers and logs as it is).
pub(super) fn is_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(super) fn compile(spec: LimitSpec, line: usize) -> Result<Limit, String> {
    if !is_name(&spec.name) {
        return Err("a limit name is 1 to 64 letters, digits, '-' or '_'".into());
    }
    if spec.key.is_empty() {
        return Err("key is empty".into());
    }
    if let Some(twice) = spec
        .key
        .iter()
        .enumerate()
        .find(|(i, p)| spec.key.iter().skip(i + 1).any(|q| q == *p))
    {
        return Err(format!(
            "key part {:?} is listed twice",
            String::from(twice.1.clone())
        ));
    }
    let period_secs = spec.period.seconds()?;
    let rate = Rate::new(spec.amount, period_secs, spec.burst.unwrap_or(spec.amount))?;
    if spec.tier == Tier::Exact && rate.per_second() > MAX_EXACT_PER_SECOND {
        return Err(format!(
            "an exact limit allows at most {MAX_EXACT_PER_SECOND} requests a second per key (one Durable Object decides each); use tier = \"approximate\""
        ));
    }
    Ok(Limit {
        name: spec.name,
        key: spec.key,
        rate,
        tier: spec.tier,
        on_error: spec.on_error,
        line,
    })
}

/// What a limit's key is made of, for one request.
#[derive(Clone, Copy)]
pub struct KeyFacts<'a> {
    /// Reads a request header by lower-case name (the client address is [`CLIENT_IP_HEADER`]).
    pub header: &'a dyn Fn(&str) -> Option<String>,
    /// The verified token, after authentication.
    pub claims: Option<&'a VerifiedClaims>,
}

impl std::fmt::Debug for KeyFacts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFacts").finish_non_exhaustive()
    }
}

/// The counter a request is counted in: the limit's name and a digest of its key's values. Also
/// the name of the key's Durable Object, so no object ever counts for another key or limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LimitKey(String);

impl LimitKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Limit {
    pub fn stage(&self) -> Stage {
        if self.key.iter().any(KeyPart::needs_token) {
            Stage::AfterAuthentication
        } else {
            Stage::BeforeAuthentication
        }
    }

    /// The request's counter for this limit. An absent value is a value too (`null`): requests
    /// without the header share one counter, so leaving it out never escapes the limit.
    pub fn key(&self, facts: &KeyFacts<'_>) -> LimitKey {
        // Each value goes into the digest tagged and length-prefixed, so no two lists of values
        // share a key; the digest keeps addresses and identities out of object names and logs, and
        // bounds the name's length.
        let mut digest = Sha256::new();
        let mut add = |value: Option<&str>| match value {
            None => digest.update([0]),
            Some(v) => {
                digest.update([1]);
                digest.update((v.len() as u64).to_be_bytes());
                digest.update(v.as_bytes());
            }
        };
        let claims = facts.claims;
        for part in &self.key {
            match part {
                KeyPart::Ip => add((facts.header)(CLIENT_IP_HEADER).as_deref()),
                KeyPart::Header(h) => add((facts.header)(h).as_deref()),
                KeyPart::Subject => {
                    add(claims.map(VerifiedClaims::issuer));
                    add(claims.map(VerifiedClaims::subject));
                }
                KeyPart::Session => {
                    add(claims.map(VerifiedClaims::issuer));
                    add(claims.and_then(VerifiedClaims::session));
                }
                KeyPart::Tenant => add(claims.map(|c| c.tenant().unwrap_or(c.issuer()))),
                // A claim's JSON text: the string "1" and the number 1 are different values.
                KeyPart::Claim(c) => add(claims
                    .and_then(|cl| cl.claim(c))
                    .map(Value::to_string)
                    .as_deref()),
            }
        }
        let digest = digest.finalize();
        let short: [u8; 16] = std::array::from_fn(|i| digest.get(i).copied().unwrap_or(0));
        LimitKey(format!("{}:{}", self.name, hex::encode(short)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(s: &str) -> Result<KeyPart, String> {
        KeyPart::try_from(s.to_owned())
    }

    #[test]
    fn key_parts_read_as_written_and_client_set_addresses_are_refused() {
        assert_eq!(part("ip"), Ok(KeyPart::Ip));
        assert_eq!(
            part("header:X-Api-Key"),
            Ok(KeyPart::Header("x-api-key".into()))
        );
        assert_eq!(part("claim:org.id"), Ok(KeyPart::Claim("org.id".into())));
        assert!(part("header:X-Forwarded-For")
            .unwrap_err()
            .contains("key on \"ip\""));
        assert!(part("header:authorization")
            .unwrap_err()
            .contains("credentials"));
        assert!(part("header:").is_err());
        assert!(part("claim:a..b").is_err());
        assert!(part("address").is_err());
    }

    #[test]
    fn periods_take_units() {
        let s = |p: Period| p.seconds();
        assert_eq!(s(Period::Text("10s".into())), Ok(10));
        assert_eq!(s(Period::Text("1m".into())), Ok(60));
        assert_eq!(s(Period::Text("2h".into())), Ok(7_200));
        assert_eq!(s(Period::Text("1d".into())), Ok(86_400));
        assert_eq!(s(Period::Seconds(42)), Ok(42));
        assert!(s(Period::Text("1w".into())).is_err());
        assert!(s(Period::Text("m".into())).is_err());
    }

    #[test]
    fn the_stage_follows_the_key() {
        let limit = |key: Vec<KeyPart>| Limit {
            name: "l".into(),
            key,
            rate: Rate::new(1, 1, 1).unwrap(),
            tier: Tier::Exact,
            on_error: OnError::Deny,
            line: 1,
        };
        assert_eq!(
            limit(vec![KeyPart::Ip, KeyPart::Header("x-api-key".into())]).stage(),
            Stage::BeforeAuthentication
        );
        for identity in [
            KeyPart::Subject,
            KeyPart::Session,
            KeyPart::Tenant,
            KeyPart::Claim("org".into()),
        ] {
            assert_eq!(
                limit(vec![KeyPart::Ip, identity]).stage(),
                Stage::AfterAuthentication
            );
        }
    }

    #[test]
    fn keys_separate_limits_and_values_and_an_absent_header_is_one_more_value() {
        let limit = |name: &str| Limit {
            name: name.into(),
            key: vec![KeyPart::Ip, KeyPart::Header("x-api-key".into())],
            rate: Rate::new(1, 1, 1).unwrap(),
            tier: Tier::Exact,
            on_error: OnError::Deny,
            line: 1,
        };
        let key = |name: &str, ip: Option<&str>, api_key: Option<&str>| {
            let header = |h: &str| {
                match h {
                    "x-api-key" => api_key,
                    CLIENT_IP_HEADER => ip,
                    _ => None,
                }
                .map(str::to_owned)
            };
            limit(name).key(&KeyFacts {
                header: &header,
                claims: None,
            })
        };
        let a = key("per-ip", Some("192.0.2.1"), Some("k1"));
        assert_eq!(a, key("per-ip", Some("192.0.2.1"), Some("k1")));
        assert!(a.as_str().starts_with("per-ip:"));
        assert!(!a.as_str().contains("192.0.2.1"), "values are digested");
        assert_ne!(a, key("other", Some("192.0.2.1"), Some("k1")));
        assert_ne!(a, key("per-ip", Some("192.0.2.2"), Some("k1")));
        assert_ne!(a, key("per-ip", Some("192.0.2.1"), None));
        assert_ne!(
            key("per-ip", Some("a"), Some("")),
            key("per-ip", Some("a"), None),
            "empty is not absent"
        );
        assert_eq!(
            key("per-ip", None, None),
            key("per-ip", None, None),
            "requests without the values share a counter"
        );
    }
}
