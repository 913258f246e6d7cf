//! Compiles `policies/routes.toml` when the Worker is built: a broken policy fails the build with the
//! file, the line and the reason, and the bundle embeds the compiled form (JSON), so the Worker never
//! parses TOML at run time. The benchmark's limits bundle (feature `bench-policy`, never shipped)
//! compiles `bench/routes.toml` instead.

use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let shown = if std::env::var_os("CARGO_FEATURE_BENCH_POLICY").is_some() {
        "bench/routes.toml"
    } else {
        "policies/routes.toml"
    };
    let source = manifest.join("..").join(shown);
    println!("cargo:rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(&source).unwrap_or_else(|e| fail(&format!("{shown}: {e}")));
    let policy = auth_core::policy::Policy::from_toml(&text)
        .unwrap_or_else(|e| fail(&format!("{shown}: {e}")));
    let json = serde_json::to_string(&policy).unwrap_or_else(|e| fail(&format!("{shown}: {e}")));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default()).join("policy.json");
    std::fs::write(&out, json).unwrap_or_else(|e| fail(&format!("{}: {e}", out.display())));
}

fn fail(message: &str) -> ! {
    eprintln!("error: invalid route policy: {message}");
    std::process::exit(1)
}
