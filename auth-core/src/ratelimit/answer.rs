//! What a rate-limited route answers: the fields of draft-ietf-httpapi-ratelimit-headers (draft 11)
//! on every answer, and `429 rate_limited` with `Retry-After` when a limit refuses.
//!
//! - `RateLimit-Policy: "per-user";q=100;w=60` — each applied limit's quota `q` per window `w`
//!   seconds (the limit's `amount` and `period`; its burst is not in the draft's vocabulary).
//! - `RateLimit: "per-user";r=0;t=12` — `r` requests still admitted now, `t` seconds until the
//!   key's quota is whole again (a refused client is told when to retry by `Retry-After`).
//!
//! Both are Structured Fields lists; limit names are tokens of `[A-Za-z0-9_-]`, so a quoted name
//! never needs escaping. The partition key (`pk`) is left out: it would name the client's key.

use super::gcra::{Rate, Verdict};
use crate::policy::{Limit, OnError};

/// What a page may read of a limited route's answer (added to the route's CORS `expose`).
pub const EXPOSED_HEADERS: [&str; 3] = ["ratelimit", "ratelimit-policy", "retry-after"];

/// Seconds a client waits when a limiter could not answer and its limit says `deny`.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 1;

/// The verdicts of the limits a request has been through so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    answered: Vec<(String, Rate, Verdict)>,
    /// Milliseconds to wait, once a limit refused (or could not answer and denies).
    refused_ms: Option<u64>,
}

/// A request refused by a limit: HTTP 429 `rate_limited`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub retry_after_secs: u64,
    /// `Retry-After`, `RateLimit-Policy`, `RateLimit`.
    pub headers: Vec<(&'static str, String)>,
}

impl Refusal {
    pub fn status(&self) -> u16 {
        429
    }

    pub fn code(&self) -> &'static str {
        "rate_limited"
    }

    pub fn message(&self) -> String {
        format!("too many requests: retry in {} s", self.retry_after_secs)
    }
}

impl Tally {
    /// Notes a limit's verdict; `false` when it refused.
    pub fn add(&mut self, limit: &Limit, verdict: Verdict) -> bool {
        self.answered
            .push((limit.name.clone(), limit.rate, verdict));
        if !verdict.allowed {
            self.refuse(verdict.retry_after_ms);
        }
        verdict.allowed
    }

    /// Notes that a limit's limiter could not answer: its `on_error` decides. `false` when that
    /// refuses the request.
    pub fn add_unavailable(&mut self, limit: &Limit) -> bool {
        match limit.on_error {
            OnError::Allow => true,
            OnError::Deny => {
                self.refuse(UNAVAILABLE_RETRY_AFTER_SECS * 1000);
                false
            }
        }
    }

    fn refuse(&mut self, wait_ms: u64) {
        self.refused_ms = Some(self.refused_ms.unwrap_or(0).max(wait_ms));
    }

    /// The 429, once a limit has refused.
    pub fn refusal(&self) -> Option<Refusal> {
        let wait_ms = self.refused_ms?;
        let mut headers = vec![("retry-after", ceil_secs(wait_ms).max(1).to_string())];
        headers.extend(self.headers());
        Some(Refusal {
            retry_after_secs: ceil_secs(wait_ms).max(1),
            headers,
        })
    }

    /// `RateLimit-Policy` and `RateLimit` for the limits that answered; none when none did.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        if self.answered.is_empty() {
            return Vec::new();
        }
        let policy = self
            .answered
            .iter()
            .map(|(name, rate, _)| format!("\"{name}\";q={};w={}", rate.amount, rate.period_secs))
            .collect::<Vec<_>>()
            .join(", ");
        let state = self
            .answered
            .iter()
            .map(|(name, _, v)| format!("\"{name}\";r={};t={}", v.remaining, ceil_secs(v.reset_ms)))
            .collect::<Vec<_>>()
            .join(", ");
        vec![("ratelimit-policy", policy), ("ratelimit", state)]
    }
}

fn ceil_secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{KeyPart, Tier};

    fn limit(name: &str, amount: u32, period: u32, on_error: OnError) -> Limit {
        Limit {
            name: name.into(),
            key: vec![KeyPart::Ip],
            rate: Rate::new(amount, period, amount).unwrap(),
            tier: Tier::Exact,
            on_error,
            line: 1,
        }
    }

    #[test]
    fn answers_carry_the_draft_11_fields_and_a_refusal_is_a_429_with_retry_after() {
        let per_ip = limit("per-ip", 10, 1, OnError::Allow);
        let per_user = limit("per-user", 100, 60, OnError::Deny);
        let mut tally = Tally::default();
        assert!(tally.headers().is_empty(), "no limit, no fields");
        let admitted = Verdict {
            allowed: true,
            remaining: 9,
            reset_ms: 100,
            retry_after_ms: 0,
        };
        assert!(tally.add(&per_ip, admitted));
        assert_eq!(tally.refusal(), None);
        let refused = Verdict {
            allowed: false,
            remaining: 0,
            reset_ms: 11_200,
            retry_after_ms: 600,
        };
        assert!(!tally.add(&per_user, refused));
        let expected_fields = vec![
            (
                "ratelimit-policy",
                r#""per-ip";q=10;w=1, "per-user";q=100;w=60"#.to_owned(),
            ),
            (
                "ratelimit",
                r#""per-ip";r=9;t=1, "per-user";r=0;t=12"#.to_owned(),
            ),
        ];
        assert_eq!(tally.headers(), expected_fields);
        let refusal = tally.refusal().unwrap();
        assert_eq!((refusal.status(), refusal.code()), (429, "rate_limited"));
        assert_eq!(refusal.retry_after_secs, 1, "600 ms rounds up to a second");
        assert_eq!(refusal.headers[0], ("retry-after", "1".to_owned()));
        assert_eq!(refusal.headers[1..], expected_fields[..]);
    }

    #[test]
    fn a_limiter_that_cannot_answer_follows_its_limit() {
        let mut tally = Tally::default();
        assert!(tally.add_unavailable(&limit("lenient", 1, 1, OnError::Allow)));
        assert_eq!(tally.refusal(), None);
        assert!(!tally.add_unavailable(&limit("strict", 1, 1, OnError::Deny)));
        let refusal = tally.refusal().unwrap();
        assert_eq!(refusal.retry_after_secs, 1);
        assert!(tally.headers().is_empty(), "no verdict, no RateLimit field");
    }
}
