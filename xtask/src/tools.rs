//! Pinned build tools, installed once and checked by version afterwards.
//!
//! `worker-build` stays on the same version as the `worker` crate (the Durable Object macro changes
//! between releases); `wasm-bindgen-cli` must equal the `wasm-bindgen` in `Cargo.lock`; wrangler and
//! binaryen are pinned in `package.json` / `package-lock.json`.

use crate::process::{output, run};
use crate::step;
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const WORKER_BUILD_VERSION: &str = "0.8.7";
/// cargo-fuzz for `cargo xtask fuzz`; its nightly toolchain is pinned in `fuzz/rust-toolchain.toml`.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";
const WASM_TARGET: &str = "wasm32-unknown-unknown";
const MIN_NODE_MAJOR: u32 = 20;

/// Installs whatever is missing: the wasm32 target, worker-build, wasm-bindgen-cli, npm packages.
pub fn ensure(root: &Path) -> Result<()> {
    step("checking tools");
    ensure_wasm_target()?;
    ensure_cargo_tool("worker-build", "worker-build", WORKER_BUILD_VERSION, true)?;
    let bindgen = wasm_bindgen_version(root)?;
    // Not --locked: its lockfile pins a crate version the registry no longer serves.
    ensure_cargo_tool("wasm-bindgen", "wasm-bindgen-cli", &bindgen, false)?;
    ensure_node_packages(root)?;
    Ok(())
}

/// Installs the nightly toolchain pinned in `fuzz/rust-toolchain.toml` and cargo-fuzz, when missing.
/// Returns the toolchain's name, for `cargo +<toolchain> fuzz`.
pub fn ensure_fuzz_tools(root: &Path) -> Result<String> {
    step("checking fuzzing tools");
    let file = root.join("fuzz/rust-toolchain.toml");
    let pinned =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let toolchain = pinned
        .lines()
        .filter_map(|l| l.trim().strip_prefix("channel"))
        .find_map(|rest| rest.trim_start().strip_prefix('='))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .with_context(|| format!("no channel in {}", file.display()))?;
    let installed = output(Command::new("rustup").args(["toolchain", "list"])).unwrap_or_default();
    let host_suffixed = format!("{toolchain}-");
    if installed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .any(|name| name == toolchain || name.starts_with(&host_suffixed))
    {
        if output(
            Command::new("cargo")
                .arg(format!("+{toolchain}"))
                .args(["clippy", "--version"]),
        )
        .is_none()
        {
            run(Command::new("rustup").args([
                "component",
                "add",
                "clippy",
                "--toolchain",
                &toolchain,
            ]))?;
        }
        println!("{toolchain}: ok");
    } else {
        run(Command::new("rustup").args([
            "toolchain",
            "install",
            &toolchain,
            "--profile",
            "minimal",
            "--component",
            "clippy",
        ]))?;
    }
    ensure_cargo_tool("cargo-fuzz", "cargo-fuzz", CARGO_FUZZ_VERSION, true)?;
    Ok(toolchain)
}

fn ensure_wasm_target() -> Result<()> {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if !installed.lines().any(|l| l.trim() == WASM_TARGET) {
        run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    Ok(())
}

fn ensure_cargo_tool(bin: &str, package: &str, version: &str, locked: bool) -> Result<()> {
    let found = output(Command::new(cargo_bin(bin)).arg("--version")).unwrap_or_default();
    if found.split_whitespace().any(|w| w == version) {
        println!("{bin} {version}: ok");
        return Ok(());
    }
    println!("installing {package} {version} (found: {:?})", found);
    let mut cmd = Command::new("cargo");
    cmd.args(["install", package, "--version", version, "--force"]);
    if locked {
        cmd.arg("--locked");
    }
    run(&mut cmd)
}

/// The `wasm-bindgen` version the lockfile resolved.
fn wasm_bindgen_version(root: &Path) -> Result<String> {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("reading Cargo.lock")?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = \"")) {
                return Ok(v.trim_end_matches('"').to_owned());
            }
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

fn ensure_node_packages(root: &Path) -> Result<()> {
    let version =
        output(Command::new("node").arg("--version")).context("node is required (>= 20)")?;
    let major: u32 = version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < MIN_NODE_MAJOR {
        bail!("node {version} is too old: wrangler needs node >= {MIN_NODE_MAJOR}");
    }
    let lock = root.join("package-lock.json");
    let installed = root.join("node_modules/.package-lock.json");
    let fresh = match (std::fs::metadata(&lock), std::fs::metadata(&installed)) {
        (Ok(l), Ok(i)) => i.modified()? >= l.modified()?,
        _ => false,
    };
    if fresh && root.join("node_modules/.bin/wrangler").exists() {
        println!("node_modules: ok");
        return Ok(());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(root))
}

pub fn cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin").join(name)
}
