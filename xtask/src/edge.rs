//! The Worker bundle: the production one in `edge-worker/build` (what `wrangler.toml` runs), and
//! variants built with other cargo features (the conformance Worker, benchmark ablations), each in a
//! directory of its own laid out as production is: `entry.mjs` beside `build/`.
//!
//! Every build is skipped when a fingerprint of its inputs is unchanged (wrangler's `[build]` hook
//! calls `cargo xtask build-edge` on every start).

use crate::process::run;
use crate::step;
use crate::tools::cargo_bin;
use anyhow::{Context as _, Result};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Environment that keeps worker-build and wrangler offline: local wasm-bindgen, wasm-opt and esbuild,
/// no metrics, no account lookups.
pub fn offline_env(root: &Path, cmd: &mut Command) {
    cmd.env("WASM_BINDGEN_BIN", cargo_bin("wasm-bindgen"))
        .env("WASM_OPT_BIN", root.join("node_modules/.bin/wasm-opt"))
        .env("ESBUILD_BIN", root.join("node_modules/.bin/esbuild"))
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("NO_UPDATE_NOTIFIER", "1");
}

/// Builds the production bundle into `edge-worker/build`.
pub fn build_production(root: &Path) -> Result<()> {
    build(root, "production", &[], &root.join("edge-worker/build"))
}

/// Builds the Worker with cargo `features` into `target/edge-variants/<name>/build`, with a copy of
/// the entry module beside it, and returns that directory (what a `main` or a workerd config names).
/// The variant never replaces the production bundle, and shares the target directory with it: only
/// the crates whose features differ are compiled again.
pub fn build_variant(root: &Path, name: &str, features: &[&str]) -> Result<PathBuf> {
    let dir = root.join("target/edge-variants").join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let entry = dir.join("entry.mjs");
    std::fs::copy(root.join("edge-worker/entry.mjs"), &entry)
        .with_context(|| format!("copying the entry module to {}", entry.display()))?;
    build(root, name, features, &dir.join("build"))?;
    Ok(dir)
}

fn build(root: &Path, name: &str, features: &[&str], out_dir: &Path) -> Result<()> {
    let stamp_path = out_dir.join(".inputs-fingerprint");
    let stamp = fingerprint(root, name, features)?;
    if out_dir.join("index.js").exists()
        && std::fs::read_to_string(&stamp_path).ok().as_deref() == Some(stamp.as_str())
    {
        println!("edge bundle ({name}) is up to date");
        return Ok(());
    }
    step(&format!(
        "building the edge Worker ({name}{}: worker-build --release)",
        if features.is_empty() {
            String::new()
        } else {
            format!(", features {}", features.join(","))
        }
    ));
    let mut cmd = Command::new(cargo_bin("worker-build"));
    // worker-build must run from the crate; arguments after `--` go to `cargo build`.
    cmd.current_dir(root.join("edge-worker"))
        .arg("--release")
        .arg("--out-dir")
        .arg(out_dir);
    if !features.is_empty() {
        cmd.args(["--", "--features", &features.join(",")]);
    }
    offline_env(root, &mut cmd);
    run(&mut cmd)?;
    std::fs::write(&stamp_path, stamp)?;
    Ok(())
}

/// A hash of everything a bundle is built from, and of its name and features (so that bundles of
/// different features never pass for each other).
fn fingerprint(root: &Path, name: &str, features: &[&str]) -> Result<String> {
    let mut files = Vec::new();
    for dir in [
        "auth-core/src",
        "durable-objects/src",
        "edge-worker/js",
        "edge-worker/src",
        "policies",
    ] {
        collect(&root.join(dir), &mut files)?;
    }
    for file in [
        "Cargo.lock",
        "Cargo.toml",
        "auth-core/Cargo.toml",
        "durable-objects/Cargo.toml",
        "edge-worker/Cargo.toml",
        "edge-worker/build.rs",
        "edge-worker/entry.mjs",
        "rust-toolchain.toml",
    ] {
        files.push(root.join(file));
    }
    files.sort();
    let mut hasher = DefaultHasher::new();
    name.hash(&mut hasher);
    features.hash(&mut hasher);
    for f in files {
        f.hash(&mut hasher);
        std::fs::read(&f)
            .with_context(|| format!("reading {}", f.display()))?
            .hash(&mut hasher);
    }
    Ok(format!("{:016x}", hasher.finish()))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}
