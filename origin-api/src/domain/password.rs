//! Passwords as chosen at sign-up: wrapped so they cannot be logged, length-checked and nothing else
//! (NIST SP 800-63B: no composition rules).

use secrecy::{ExposeSecret as _, SecretString};

/// Fewest characters (Unicode scalar values) a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most bytes a new password may have: bounds hashing input without limiting real passphrases.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A new password that satisfies the length rules.
#[derive(Debug)]
pub struct Password(SecretString);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
}

impl Password {
    pub fn parse(raw: SecretString) -> Result<Password, PasswordError> {
        let text = raw.expose_secret();
        if text.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        if text.chars().count() < MIN_PASSWORD_CHARS {
            return Err(PasswordError::TooShort);
        }
        Ok(Password(raw))
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Password, PasswordError> {
        Password::parse(SecretString::from(s.to_owned()))
    }

    #[test]
    fn length_is_counted_in_characters_at_the_low_end() {
        assert_eq!(parse("1234567").unwrap_err(), PasswordError::TooShort);
        assert!(parse("12345678").is_ok());
        // Eight characters, sixteen bytes.
        assert!(parse("éééééééé").is_ok());
        assert_eq!(parse("ééééééé").unwrap_err(), PasswordError::TooShort);
    }

    #[test]
    fn length_is_counted_in_bytes_at_the_high_end() {
        assert!(parse(&"a".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert_eq!(
            parse(&"a".repeat(MAX_PASSWORD_BYTES + 1)).unwrap_err(),
            PasswordError::TooLong
        );
        assert_eq!(parse(&"é".repeat(513)).unwrap_err(), PasswordError::TooLong);
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let p = parse("correct horse battery staple").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
