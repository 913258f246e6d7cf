//! Tenant slugs: the path segment in `/t/{slug}` and in the tenant's issuer.

/// A slug matching `^[a-z0-9][a-z0-9-]{0,62}$`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("slug must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit")]
pub struct SlugError;

impl Slug {
    pub fn parse(raw: &str) -> Result<Slug, SlugError> {
        let bytes = raw.as_bytes();
        let first_ok = bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let rest_ok = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if first_ok && rest_ok && bytes.len() <= 63 {
            Ok(Slug(raw.to_owned()))
        } else {
            Err(SlugError)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_slugs_are_accepted() {
        for ok in ["a", "0", "acme", "acme-corp", "a-", &"a".repeat(63)] {
            assert_eq!(Slug::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn invalid_slugs_are_refused() {
        for bad in [
            "",
            "-acme",
            "Acme",
            "acme corp",
            "acme_corp",
            "acmé",
            "a/b",
            "a.b",
            &"a".repeat(64),
        ] {
            assert_eq!(Slug::parse(bad), Err(SlugError), "{bad:?}");
        }
    }
}
