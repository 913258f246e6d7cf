//! The stack's secrets: taken from the environment when set, else generated once and kept in the
//! git-ignored `.dev/secrets.env` (mode 0600) so restarts keep working with the same keys.

use anyhow::{Context as _, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

pub const ADMIN_TOKEN: &str = "ORIGIN_ADMIN_TOKEN";
pub const KEY_ENCRYPTION_KEY: &str = "ORIGIN_KEY_ENCRYPTION_KEY";
pub const PUSH_SECRET: &str = "EDGE_PUSH_SECRET";
pub const UPSTREAM_SECRET: &str = "UPSTREAM_SIGNING_SECRET";
const NAMES: [&str; 4] = [
    ADMIN_TOKEN,
    KEY_ENCRYPTION_KEY,
    PUSH_SECRET,
    UPSTREAM_SECRET,
];

#[derive(Clone)]
pub struct Secrets(BTreeMap<String, String>);

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secrets(..)")
    }
}

impl Secrets {
    /// Loads (or creates) the secrets file at `path`; environment variables take precedence.
    pub fn load_or_create(path: &Path) -> Result<Secrets> {
        let mut stored = BTreeMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    stored.insert(k.trim().to_owned(), v.trim().to_owned());
                }
            }
        }
        let mut changed = false;
        for name in NAMES {
            if !stored.contains_key(name) {
                stored.insert(name.to_owned(), random_secret());
                changed = true;
            }
        }
        if changed {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let text: String = stored.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        for name in NAMES {
            if let Ok(v) = std::env::var(name) {
                stored.insert(name.to_owned(), v);
            }
        }
        Ok(Secrets(stored))
    }

    /// Fresh secrets that are never written anywhere (for test runs).
    pub fn ephemeral() -> Secrets {
        Secrets(
            NAMES
                .iter()
                .map(|n| ((*n).to_owned(), random_secret()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }
}

/// 32 random bytes as unpadded base64url (43 characters): the form the origin expects for its
/// key-encryption key, and long enough for every other secret.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
