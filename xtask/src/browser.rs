//! What the real-browser test (`tests/browser`) needs from the machine: Debian's `chromium`,
//! installed with apt when missing (browser downloads by test tools do not work here).

use anyhow::{bail, Result};
use std::path::PathBuf;
use xtask::tools::apt_install;

/// The chromium to drive: `CHROMIUM` if set, else Debian's, installed first if missing.
pub fn ensure_chromium() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    let debian = PathBuf::from("/usr/bin/chromium");
    if debian.exists() {
        return Ok(debian);
    }
    apt_install(
        "chromium",
        "for the browser test",
        "run as root, or set CHROMIUM",
    )?;
    if !debian.exists() {
        bail!(
            "apt-get installed chromium but {} is missing",
            debian.display()
        );
    }
    Ok(debian)
}
