//! `edge-auth policy check`: compiles policy files with the core, as the Worker's build does.

use crate::args::CheckArgs;
use crate::Outcome;
use anyhow::Context as _;
use auth_core::policy::Policy;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The folder of policy files, looked for in the current directory and its parents.
const POLICY_DIR: &str = "policies";

pub(crate) fn run(args: &CheckArgs, out: &mut dyn Write) -> anyhow::Result<Outcome> {
    let files = if args.files.is_empty() {
        let cwd = std::env::current_dir().context("reading the current directory")?;
        discover(&cwd)?
    } else {
        args.files.clone()
    };
    let mut outcome = Outcome::Passed;
    let mut unreadable = Vec::new();
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                writeln!(out, "error {}: cannot read: {e}", file.display())?;
                unreadable.push(file.display().to_string());
                continue;
            }
        };
        match Policy::from_toml(&text) {
            Ok(policy) => {
                let n = policy.routes().len();
                let noun = if n == 1 { "route" } else { "routes" };
                writeln!(out, "ok {}: {n} {noun}", file.display())?;
            }
            Err(e) => {
                outcome = Outcome::Refused;
                // toml's syntax errors span several lines (a source excerpt); keep them under the file.
                let message = e.to_string();
                let mut lines = message.trim_end().lines();
                writeln!(
                    out,
                    "error {}: {}",
                    file.display(),
                    lines.next().unwrap_or("")
                )?;
                for line in lines {
                    writeln!(out, "    {line}")?;
                }
            }
        }
    }
    if !unreadable.is_empty() {
        anyhow::bail!("could not read {}", unreadable.join(", "));
    }
    Ok(outcome)
}

/// Every `policies/*.toml` in `start` or the nearest parent that has a `policies/` folder, in name
/// order, as paths relative to `start`.
fn discover(start: &Path) -> anyhow::Result<Vec<PathBuf>> {
    for (depth, dir) in start.ancestors().enumerate() {
        if !dir.join(POLICY_DIR).is_dir() {
            continue;
        }
        let mut relative = PathBuf::new();
        for _ in 0..depth {
            relative.push("..");
        }
        relative.push(POLICY_DIR);
        let entries = std::fs::read_dir(dir.join(POLICY_DIR))
            .with_context(|| format!("listing {}", relative.display()))?;
        let mut files = Vec::new();
        for entry in entries {
            let name = entry
                .with_context(|| format!("listing {}", relative.display()))?
                .file_name();
            if Path::new(&name).extension().is_some_and(|e| e == "toml") {
                files.push(relative.join(name));
            }
        }
        files.sort();
        if files.is_empty() {
            anyhow::bail!("{} holds no .toml file", relative.display());
        }
        return Ok(files);
    }
    anyhow::bail!(
        "no {POLICY_DIR}/ folder in {} or its parents; name the files to check",
        start.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_found_from_a_subdirectory_in_name_order() {
        let root = tempfile::tempdir().unwrap();
        let policies = root.path().join(POLICY_DIR);
        std::fs::create_dir(&policies).unwrap();
        for name in ["b.toml", "a.toml", "notes.md"] {
            std::fs::write(policies.join(name), "").unwrap();
        }
        let nested = root.path().join("x").join("y");
        std::fs::create_dir_all(&nested).unwrap();

        let found = discover(&nested).unwrap();
        assert_eq!(
            found,
            vec![
                PathBuf::from("../../policies/a.toml"),
                PathBuf::from("../../policies/b.toml")
            ]
        );
        assert_eq!(
            discover(root.path()).unwrap()[0],
            Path::new("policies/a.toml")
        );
    }
}
