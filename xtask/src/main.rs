//! Project automation, so that a newcomer needs two commands:
//!
//! - `cargo xtask dev`: installs what is missing, provisions Postgres, and runs origin, demo upstream
//!   and the Worker under `wrangler dev` in the foreground until Ctrl-C.
//! - `cargo xtask test`: the same set-up, then every check and test (what CI runs);
//!   `cargo xtask test system [FILTER...]` starts the stack and runs only the system tests (those
//!   whose names hold a filter); `cargo xtask test contract` runs only schemathesis against a live
//!   origin (the OpenAPI contract).
//!
//! Also: `cargo xtask openapi` (regenerates `docs/openapi.json` from the code),
//! `cargo xtask build-edge` (the Worker bundle alone), `cargo xtask tools` (install tools),
//! `cargo xtask fuzz`. `cargo xtask bench edge [--seconds N] [--rounds N] [--profile]
//! [--instructions [--requests N]]` and
//! `cargo xtask conformance` run the binaries of the `bench` and `conformance` crates.

mod browser;
mod checks;
mod contract;
mod fuzz;
mod postgres;
mod secrets;
mod stack;

use anyhow::{bail, Result};
use std::path::Path;
use std::process::Command;
use xtask::process::run;
use xtask::{edge, repo_root, tools};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repo_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("dev") => stack::dev(&root),
        Some("test") if args.get(1).map(String::as_str) == Some("system") => {
            checks::run_system_only(&root, &args[2..])
        }
        Some("test") if args.get(1).map(String::as_str) == Some("contract") => {
            contract::run_only(&root)
        }
        Some("test") => checks::run_all(&root),
        Some("openapi") => write_openapi(&root),
        Some("build-edge") => {
            tools::ensure(&root)?;
            // Release unless `cargo xtask dev`'s wrangler asks (`EDGE_PROFILE`).
            edge::build_served(&root, edge::Profile::from_env())
        }
        Some("tools") => tools::ensure(&root),
        Some(tool @ ("conformance" | "bench")) => {
            // Ctrl-C reaches the tool too: it stops what it started, and we wait for it.
            let _interrupted = xtask::interrupt_flag()?;
            run_tool(&root, tool, &args[1..])
        }
        Some("fuzz") => fuzz::main(&root, &args[1..]),
        _ => bail!(
            "usage: cargo xtask <dev|test [system [FILTER...]|contract]|openapi|build-edge|tools|conformance|bench edge [--seconds N] [--rounds N] [--profile] [--only TEXT,...] [--instructions [--requests N]]|fuzz [--seconds N] [TARGET...]>"
        ),
    }
}

/// Writes the document the origin serves at `/openapi.json` to `docs/openapi.json` (what the
/// `openapi` test compares it with), from `origin-api openapi`.
fn write_openapi(root: &Path) -> Result<()> {
    let out = Command::new("cargo")
        .args(["run", "--quiet", "--package", "origin-api", "--", "openapi"])
        .current_dir(root)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !out.status.success() {
        bail!("origin-api openapi failed ({})", out.status);
    }
    let path = root.join("docs/openapi.json");
    std::fs::write(&path, &out.stdout)?;
    println!("wrote {} ({} bytes)", path.display(), out.stdout.len());
    Ok(())
}

/// Runs the binary of the tooling crate `package` (its own crate, so that xtask stays the thin
/// orchestration of the stack), with cargo's progress visible while it compiles.
pub fn run_tool(root: &Path, package: &str, args: &[String]) -> Result<()> {
    run(Command::new("cargo")
        .args(["run", "--package", package, "--"])
        .args(args)
        .current_dir(root))
}
