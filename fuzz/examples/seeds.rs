//! Writes the committed seed corpora in `fuzz/seeds/` from the fixtures, so that they can be remade
//! when the fixtures change: `cargo run --example seeds` (from `fuzz/`).
//!
//! Seeds are small valid inputs that mutations start from: tokens valid at `NOW`, the fixture JWKS,
//! and the shipped route policy.

use fuzz::{Signer, AUDIENCE, FIXTURE, ISSUER, NOW, TOKEN_TYPE};
use serde_json::json;
use std::path::Path;

fn main() -> std::io::Result<()> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let fx = &*FIXTURE;

    for (signer, file) in [
        (Signer::Es256, "es256.jwt"),
        (Signer::Ed25519, "ed25519.jwt"),
    ] {
        let header = json!({"alg": signer.alg_names()[0], "typ": TOKEN_TYPE, "kid": signer.kid()});
        let claims = json!({
            "iss": ISSUER, "sub": "user-1", "aud": AUDIENCE, "exp": NOW + 300, "iat": NOW,
            "jti": "jti-1", "client_id": "client-1", "sid": "session-1", "tid": "tenant-1",
        });
        let token = fx.sign(signer, &header.to_string(), &claims.to_string());
        write(&seeds.join("token").join(file), token.as_bytes())?;
    }

    write(
        &seeds.join("jwks/fixture.json"),
        serde_json::to_string_pretty(&fx.jwks)?.as_bytes(),
    )?;
    // One usable key beside entries that must be skipped: an encryption key and an unknown type.
    let mut keys = fx.jwks["keys"].as_array().cloned().unwrap_or_default();
    keys.truncate(1);
    keys.push(json!({"kty": "OKP", "crv": "X25519", "kid": "enc-1", "use": "enc", "x": "AAAA"}));
    keys.push(json!({"kty": "oct", "kid": "hmac-1", "k": "c2VjcmV0"}));
    write(
        &seeds.join("jwks/mixed.json"),
        json!({ "keys": keys }).to_string().as_bytes(),
    )?;

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/routes.toml");
    write(&seeds.join("policy/routes.toml"), &std::fs::read(shipped)?)?;
    // The documented form with methods and a parameter, followed by request lines after a NUL.
    let documented = concat!(
        "[[route]]\nname = \"org-admin\"\npath = \"/api/orgs/{org}/admin\"\n",
        "methods = [\"GET\", \"POST\"]\naccess = \"authenticated\"\nrevocation = \"strict\"\n",
        "scopes = { all = [\"admin:write\"] }\nbind = { org = \"org_id\" }\n\n",
        "[[route]]\nhost = \"*.example.com\"\npath = \"/api/*/items/**\"\naccess = \"authenticated\"\n\n",
        "[[route]]\npath = \"/public/**\"\naccess = \"public\"\n",
        "\0POST /api/orgs/7/admin\nGET /api/x/items a.example.com:8443\n",
        "GET /public/%2e%2e/api/orgs/7/admin\n",
    );
    write(
        &seeds.join("policy/documented-with-requests"),
        documented.as_bytes(),
    )
}

fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, bytes)?;
    println!("wrote {}", path.display());
    Ok(())
}
