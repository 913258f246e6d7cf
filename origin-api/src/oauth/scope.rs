//! The `scope` of an authorization request.

/// Every scope a client may ask for. `openid` is required: this server speaks OpenID Connect only.
pub const SUPPORTED: [&str; 2] = ["openid", "email"];
const MAX_SCOPE_BYTES: usize = 256;

/// A validated scope: `openid` first, then the others as asked, each once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("scope must include openid")]
    OpenIdMissing,
    #[error("scope asks for a scope this server does not offer (openid, email)")]
    Unsupported,
}

impl Scope {
    pub fn parse(raw: Option<&str>) -> Result<Self, ScopeError> {
        let raw = raw.unwrap_or_default();
        if raw.len() > MAX_SCOPE_BYTES {
            return Err(ScopeError::Unsupported);
        }
        // RFC 6749 §3.3: space-delimited, order does not matter.
        let mut asked: Vec<&str> = Vec::new();
        for item in raw.split(' ').filter(|s| !s.is_empty()) {
            if !SUPPORTED.contains(&item) {
                return Err(ScopeError::Unsupported);
            }
            if !asked.contains(&item) {
                asked.push(item);
            }
        }
        if !asked.contains(&"openid") {
            return Err(ScopeError::OpenIdMissing);
        }
        let ordered: Vec<&str> = SUPPORTED
            .iter()
            .copied()
            .filter(|s| asked.contains(s))
            .collect();
        Ok(Scope(ordered.join(" ")))
    }

    /// A scope read back from storage (validated when it was stored).
    pub fn stored(scope: String) -> Self {
        Scope(scope)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn contains(&self, item: &str) -> bool {
        self.0.split(' ').any(|s| s == item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openid_is_required_and_unknown_scopes_are_refused() {
        assert_eq!(
            Scope::parse(Some("email  openid email")).unwrap().as_str(),
            "openid email"
        );
        assert!(Scope::parse(Some("openid")).unwrap().contains("openid"));
        assert!(!Scope::parse(Some("openid")).unwrap().contains("email"));
        assert_eq!(Scope::parse(None), Err(ScopeError::OpenIdMissing));
        assert_eq!(Scope::parse(Some("email")), Err(ScopeError::OpenIdMissing));
        assert_eq!(
            Scope::parse(Some("openid admin")),
            Err(ScopeError::Unsupported)
        );
    }
}
