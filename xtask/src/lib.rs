//! What `cargo xtask` and the tooling crates beside it (`bench`, `conformance`) share: child processes
//! in their own process groups ([`process`]), the pinned tools ([`tools`]) and the Worker bundle's
//! build ([`edge`]).
//!
//! The `xtask` binary (src/main.rs) is the thin orchestration of `dev`, `test` and the stack; it runs
//! the benchmark and the conformance run as the binaries of their own crates.

pub mod edge;
pub mod process;
pub mod tools;

use anyhow::{Context as _, Result};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The workspace root: xtask lives one level below it.
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// Prints a step header, so a long run shows where it is.
pub fn step(what: &str) {
    println!("\n==> {what}");
}

/// Installs a Ctrl-C / SIGTERM handler that only raises a flag, so that running services are stopped
/// by `Drop` instead of the process dying with its children still running.
pub fn interrupt_flag() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    ctrlc::set_handler(move || f.store(true, Ordering::SeqCst))
        .context("installing the Ctrl-C handler")?;
    Ok(flag)
}
