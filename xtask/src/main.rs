//! Project automation, so that a newcomer needs two commands:
//!
//! - `cargo xtask dev`: installs what is missing, provisions Postgres, and runs origin, demo upstream
//!   and the Worker under `wrangler dev` in the foreground until Ctrl-C.
//! - `cargo xtask test`: the same set-up, then every check and test (what CI runs).
//!
//! Also: `cargo xtask build-edge` (the Worker bundle alone) and `cargo xtask tools` (install tools).
//! `cargo xtask bench edge [--seconds N] [--rounds N]` benchmarks the Worker (docs/benchmarks.md).
//! `cargo xtask conformance` runs outside vectors and a differential test through the native and the
//! WebCrypto signature paths (docs/conformance.md).

mod bench;
mod checks;
mod conformance;
mod fuzz;
mod postgres;
mod process;
mod secrets;
mod stack;
mod tools;

use anyhow::{bail, Result};
use std::path::PathBuf;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repo_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("dev") => stack::dev(&root),
        Some("test") => checks::run_all(&root),
        Some("build-edge") => {
            tools::ensure(&root)?;
            tools::build_edge(&root)
        }
        Some("tools") => tools::ensure(&root),
        Some("conformance") => conformance::command(&root),
        Some("bench") => bench::run(&root, &args[1..]),
        Some("fuzz") => fuzz::main(&root, &args[1..]),
        _ => bail!(
            "usage: cargo xtask <dev|test|build-edge|tools|conformance|bench edge [--seconds N] [--rounds N]|fuzz [--seconds N] [TARGET...]>"
        ),
    }
}

/// The workspace root: xtask lives one level below it.
fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Prints a step header, so a long run shows where it is.
pub fn step(what: &str) {
    println!("\n==> {what}");
}
