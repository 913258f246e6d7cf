//! What the real-browser test (`tests/browser`) needs from the machine: Debian's `chromium`,
//! installed with apt when missing (browser downloads by test tools do not work here).

use anyhow::{bail, Context as _, Result};
use std::path::PathBuf;
use std::process::Command;
use xtask::process::run;
use xtask::step;

/// The chromium to drive: `CHROMIUM` if set, else Debian's, installed first if missing.
pub fn ensure_chromium() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    let debian = PathBuf::from("/usr/bin/chromium");
    if debian.exists() {
        return Ok(debian);
    }
    step("installing Debian's chromium for the browser test (apt-get install chromium)");
    let install = || {
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"))
    };
    if install().is_err() {
        // A machine whose package lists were never fetched knows no chromium yet.
        run(Command::new("apt-get").arg("update")).context("apt-get update")?;
        install().context("apt-get install chromium (run as root, or set CHROMIUM)")?;
    }
    if !debian.exists() {
        bail!(
            "apt-get installed chromium but {} is missing",
            debian.display()
        );
    }
    Ok(debian)
}
