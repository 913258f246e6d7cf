//! Pinned build tools, installed once and checked by version afterwards.
//!
//! What the Worker's bundle needs is the wasm32 target and the npm packages of `package-lock.json`
//! (wrangler, binaryen's wasm-opt, esbuild): its bindings are generated in-process by the
//! wasm-bindgen library (`edge.rs`), so `cargo xtask dev` compiles no tool. `cargo xtask test` also
//! needs `wasm-bindgen-test-runner` (from wasm-bindgen-cli, the version of the `wasm-bindgen` in
//! `Cargo.lock`), and `cargo xtask fuzz` cargo-fuzz; both are compiled from source once, with a cheap
//! profile ([`ensure_cargo_tool`]). The contract test's schemathesis is a pinned PyPI package in a
//! virtual environment under `.dev/tools/` ([`ensure_schemathesis`]). `cargo xtask bench edge
//! --instructions` needs Debian's valgrind (callgrind and `callgrind_control`), installed with apt
//! when missing ([`ensure_valgrind`]).

use crate::edge::WASM_TARGET;
use crate::process::{output, run, run_logged};
use crate::step;
use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// cargo-fuzz for `cargo xtask fuzz`; its nightly toolchain is pinned in `fuzz/rust-toolchain.toml`.
pub const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// schemathesis (PyPI) for the contract test (`cargo xtask test contract`), in a virtual environment
/// of its own under `.dev/tools/`.
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// The oldest Python schemathesis 4 runs on.
const MIN_PYTHON: (u32, u32) = (3, 9);
const MIN_NODE_MAJOR: u32 = 20;
/// The oldest valgrind `--instructions` was verified with (Debian 12's): its `callgrind_control`
/// reaches a running workerd through vgdb.
const MIN_VALGRIND: (u32, u32) = (3, 19);

/// Installs whatever the Worker's bundle and the stack need and is missing: the wasm32 target and the
/// npm packages.
pub fn ensure(root: &Path) -> Result<()> {
    step("checking tools: the wasm32 target, node and the npm packages (wrangler, wasm-opt, esbuild)");
    ensure_wasm_target()?;
    ensure_node_packages(root)
}

/// Installs `wasm-bindgen-test-runner` when missing (for the core's tests on wasm32), cargo's output
/// to `log` if given, and returns its path.
pub fn ensure_test_runner(root: &Path, log: Option<&Path>) -> Result<PathBuf> {
    let version = wasm_bindgen_version(root)?;
    // Not --locked: its lockfile pins a crate version the registry no longer serves.
    ensure_cargo_tool(
        "wasm-bindgen-test-runner",
        "wasm-bindgen-cli",
        &version,
        false,
        "~1 min",
        log,
    )?;
    Ok(cargo_bin("wasm-bindgen-test-runner"))
}

/// Installs the nightly toolchain pinned in `fuzz/rust-toolchain.toml` and cargo-fuzz, when missing.
/// Returns the toolchain's name, for `cargo +<toolchain> fuzz`. Output goes to `log` if given (work
/// in the background), else this is a step of its own.
pub fn ensure_fuzz_tools(root: &Path, log: Option<&Path>) -> Result<String> {
    if log.is_none() {
        step("checking fuzzing tools");
    }
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
            exec(
                Command::new("rustup").args([
                    "component",
                    "add",
                    "clippy",
                    "--toolchain",
                    &toolchain,
                ]),
                log,
            )?;
        }
        say(log, &format!("{toolchain}: ok"));
    } else {
        say(
            log,
            &format!("installing the {toolchain} toolchain (rustup, ~30 s)"),
        );
        exec(
            Command::new("rustup").args([
                "toolchain",
                "install",
                &toolchain,
                "--profile",
                "minimal",
                "--component",
                "clippy",
            ]),
            log,
        )?;
    }
    ensure_cargo_tool(
        "cargo-fuzz",
        "cargo-fuzz",
        CARGO_FUZZ_VERSION,
        true,
        "~1 min",
        log,
    )?;
    Ok(toolchain)
}

/// Installs schemathesis at [`SCHEMATHESIS_VERSION`] into `.dev/tools/schemathesis` (a Python virtual
/// environment) unless that version is there, output to `log` if given, and returns the path of its
/// `schemathesis` command. Needs `python3` (>= 3.9) with `venv`; pip reaches PyPI once.
pub fn ensure_schemathesis(root: &Path, log: Option<&Path>) -> Result<PathBuf> {
    let venv = root.join(".dev/tools/schemathesis");
    let bin = venv.join("bin/schemathesis");
    let found = output(Command::new(&bin).arg("--version")).unwrap_or_default();
    if found.split_whitespace().any(|w| w == SCHEMATHESIS_VERSION) {
        say(log, &format!("schemathesis {SCHEMATHESIS_VERSION}: ok"));
        return Ok(bin);
    }
    let python = output(Command::new("python3").args([
        "-c",
        "import sys, venv; print('%d.%d' % sys.version_info[:2])",
    ]))
    .context("python3 with its venv module is required for schemathesis")?;
    let version: Vec<u32> = python
        .trim()
        .split('.')
        .filter_map(|p| p.parse().ok())
        .collect();
    if version.len() != 2 || (version[0], version[1]) < MIN_PYTHON {
        bail!(
            "python3 {} is too old for schemathesis (>= {}.{} needed)",
            python.trim(),
            MIN_PYTHON.0,
            MIN_PYTHON.1
        );
    }
    say(
        log,
        &format!(
            "installing schemathesis {SCHEMATHESIS_VERSION} into {} (pip, ~30 s, once; found: {found:?})",
            venv.display()
        ),
    );
    exec(
        Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv),
        log,
    )?;
    exec(
        Command::new(venv.join("bin/pip"))
            .args([
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
            ])
            .arg(format!("schemathesis=={SCHEMATHESIS_VERSION}")),
        log,
    )?;
    Ok(bin)
}

/// Installs Debian's `valgrind` (callgrind, `callgrind_control`) with apt when missing; returns its
/// version, e.g. `valgrind-3.19.0`. A valgrind that is there is checked by version, not reinstalled.
/// Installs one of Debian's packages with apt-get, `purpose` saying what for; `hint` tells the user
/// what to do when it cannot be installed.
pub fn apt_install(package: &str, purpose: &str, hint: &str) -> Result<()> {
    step(&format!(
        "installing Debian's {package} {purpose} (apt-get install {package})"
    ));
    let install = || {
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    if install().is_err() {
        // A machine whose package lists were never fetched knows no such package yet.
        run(Command::new("apt-get").arg("update")).context("apt-get update")?;
        install().with_context(|| format!("apt-get install {package} ({hint})"))?;
    }
    Ok(())
}

pub fn ensure_valgrind() -> Result<String> {
    let found = || output(Command::new("valgrind").arg("--version"));
    let version = match found() {
        Some(v) => v,
        None => {
            apt_install("valgrind", "for the instruction counts", "run as root")?;
            found().context("apt-get installed valgrind but `valgrind --version` fails")?
        }
    };
    match valgrind_version(&version) {
        Some(v) if v >= MIN_VALGRIND => {}
        _ => bail!(
            "{version} found; --instructions needs valgrind >= {}.{}",
            MIN_VALGRIND.0,
            MIN_VALGRIND.1
        ),
    }
    if output(Command::new("callgrind_control").arg("--version")).is_none() {
        bail!(
            "{version} has no working callgrind_control (it comes with Debian's valgrind package)"
        );
    }
    println!("{version}: ok");
    Ok(version)
}

/// (major, minor) of `valgrind --version`'s `valgrind-3.19.0`.
fn valgrind_version(said: &str) -> Option<(u32, u32)> {
    let mut parts = said.trim().strip_prefix("valgrind-")?.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

pub fn ensure_wasm_target() -> Result<()> {
    let installed =
        output(Command::new("rustup").args(["target", "list", "--installed"])).unwrap_or_default();
    if installed.lines().any(|l| l.trim() == WASM_TARGET) {
        println!("{WASM_TARGET}: ok");
    } else {
        println!("adding the {WASM_TARGET} target (rustup)");
        run(Command::new("rustup").args(["target", "add", WASM_TARGET]))?;
    }
    Ok(())
}

/// Installs the binary `bin` of `package` at `version` unless that version is there. Compiled with
/// a cheap profile: these tools run for seconds, so their own speed does not pay for an optimising
/// build (wasm-bindgen-cli: 1 min 33 s with the release profile on two idle cores, ~1 min so).
/// `takes` is what the user is told to expect; cargo's output goes to `log` if given.
fn ensure_cargo_tool(
    bin: &str,
    package: &str,
    version: &str,
    locked: bool,
    takes: &str,
    log: Option<&Path>,
) -> Result<()> {
    let found = output(Command::new(cargo_bin(bin)).arg("--version")).unwrap_or_default();
    if found.split_whitespace().any(|w| w == version) {
        say(log, &format!("{bin} {version}: ok"));
        return Ok(());
    }
    say(
        log,
        &format!(
            "compiling {package} {version} for {bin}: {takes} on 2 cores, once (found: {found:?})"
        ),
    );
    let mut cmd = Command::new("cargo");
    cmd.args(["install", package, "--version", version, "--force"])
        .args(["--bin", bin])
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_INCREMENTAL", "false");
    if locked {
        cmd.arg("--locked");
    }
    exec(&mut cmd, log)
}

/// Prints `line`, or appends it to `log` when given (work in the background).
fn say(log: Option<&Path>, line: &str) {
    match log {
        Some(log) => {
            use std::io::Write as _;
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
            {
                let _ = writeln!(file, "{line}");
            }
        }
        None => println!("{line}"),
    }
}

/// Runs `cmd`, its output to `log` if given.
fn exec(cmd: &mut Command, log: Option<&Path>) -> Result<()> {
    match log {
        Some(log) => run_logged(cmd, log),
        None => run(cmd),
    }
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

pub fn ensure_node_packages(root: &Path) -> Result<()> {
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
    println!("installing the npm packages of package-lock.json (npm ci: ~30 s)");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valgrind_versions_are_read_from_its_banner() {
        assert_eq!(valgrind_version("valgrind-3.19.0\n"), Some((3, 19)));
        assert_eq!(valgrind_version("valgrind-3.22.0.GIT"), Some((3, 22)));
        assert_eq!(valgrind_version("3.19.0"), None);
        assert!(valgrind_version("valgrind-3.18.1").unwrap() < MIN_VALGRIND);
    }
}
