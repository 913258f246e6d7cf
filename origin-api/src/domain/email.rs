//! Email addresses, checked for shape only (delivery is what proves an address).

/// Longest address accepted (RFC 5321 path limit).
const MAX_EMAIL_BYTES: usize = 254;
const MAX_LOCAL_BYTES: usize = 64;

/// An address of the form `local@domain.tld`, stored as given; uniqueness ignores case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("email address is malformed")]
pub struct EmailError;

impl Email {
    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        if raw.is_empty() || raw.len() > MAX_EMAIL_BYTES {
            return Err(EmailError);
        }
        if raw.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | '"' | '\\')
        }) {
            return Err(EmailError);
        }
        let (local, domain) = raw.split_once('@').ok_or(EmailError)?;
        if local.is_empty() || local.len() > MAX_LOCAL_BYTES || domain.contains('@') {
            return Err(EmailError);
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(EmailError);
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let labels_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !labels_ok {
            return Err(EmailError);
        }
        Ok(Email(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_are_accepted_as_given() {
        for ok in [
            "ursula@example.com",
            "Ursula.Le-Guin+books@mail.example.co.uk",
            "a@b.io",
            "jöns@exämple.se",
        ] {
            assert_eq!(Email::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long = format!("a@{}.com", "b".repeat(260));
        for bad in [
            "",
            "ursula",
            "@example.com",
            "ursula@",
            "ursula@example",
            "ursula@@example.com",
            "ur sula@example.com",
            "ursula@example..com",
            "ursula@-example.com",
            ".ursula@example.com",
            "urs..ula@example.com",
            "ursula@exa_mple.com",
            "<ursula@example.com>",
            " ursula@example.com",
            "ursula@example.com\n",
            &long_local,
            &long,
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError), "{bad:?}");
        }
    }
}
