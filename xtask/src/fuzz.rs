//! `cargo xtask fuzz [--seconds N] [TARGET...]`: runs the cargo-fuzz targets in `fuzz/` (default: all)
//! for N seconds each (default 600), and fails if one finds a crash, naming the saved input.
//!
//! Targets run one after the other with one job each: the machines have two cores. Each starts from
//! its committed seeds (`fuzz/seeds/<target>`) and the corpus it grew in earlier runs
//! (`fuzz/corpus/<target>`, git-ignored); crashes are saved under `fuzz/artifacts/<target>`.
//! `cargo xtask test` runs every target for [`SMOKE_SECONDS`].

use anyhow::{bail, ensure, Context as _, Result};
use std::fmt;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, ExitStatus};
use xtask::process::run;
use xtask::{step, tools};

pub const TARGETS: [&str; 3] = ["token", "policy", "jwks"];
/// Long enough to load the seeds and take a few hundred thousand steps, short enough for every CI run.
pub const SMOKE_SECONDS: u64 = 20;
const DEFAULT_SECONDS: u64 = 600;
/// The same for `build` and `run`, so that `run` does not rebuild. Optimised, with debug assertions
/// and overflow checks. No sanitizer: the code under test is safe Rust (`unsafe_code = "forbid"`),
/// the targets hunt panics and broken invariants, and AddressSanitizer would halve the exec rate.
const BUILD_FLAGS: [&str; 4] = ["--release", "--debug-assertions", "--sanitizer", "none"];
/// An input slower than this is a hang worth a report: the parsers answer in microseconds.
const INPUT_TIMEOUT_SECS: u64 = 10;
const USAGE: &str = "usage: cargo xtask fuzz [--seconds N] [token|policy|jwks ...]";

pub fn main(root: &Path, args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    run_targets(root, &options.targets, options.seconds)
}

#[derive(Debug, PartialEq)]
struct Options {
    seconds: u64,
    targets: Vec<&'static str>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let mut seconds = DEFAULT_SECONDS;
        let mut targets = Vec::new();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let value = match arg.strip_prefix("--seconds=") {
                Some(v) => Some(v),
                None if arg == "--seconds" => Some(args.next().context(USAGE)?.as_str()),
                None => None,
            };
            if let Some(v) = value {
                seconds = v
                    .parse()
                    .with_context(|| format!("--seconds {v:?}; {USAGE}"))?;
            } else if let Some(target) = TARGETS.iter().find(|t| **t == arg) {
                targets.push(*target);
            } else {
                bail!("unknown fuzz target or option {arg:?}; {USAGE}");
            }
        }
        ensure!(seconds > 0, "--seconds must be at least 1");
        if targets.is_empty() {
            targets = TARGETS.to_vec();
        }
        Ok(Options { seconds, targets })
    }
}

/// Lints the fuzz crate (outside the workspace: it builds only on nightly), builds the targets, runs
/// each for `seconds`, prints what each did, and fails on any crash.
pub fn run_targets(root: &Path, targets: &[&str], seconds: u64) -> Result<()> {
    let toolchain = tools::ensure_fuzz_tools(root, None)?;
    step("fmt and clippy (fuzz crate; clippy on nightly)");
    let manifest = root.join("fuzz/Cargo.toml");
    run(Command::new("cargo")
        .args(["fmt", "--check", "--manifest-path"])
        .arg(&manifest))?;
    run(Command::new("cargo")
        .arg(format!("+{toolchain}"))
        .args(["clippy", "--all-targets", "--manifest-path"])
        .arg(&manifest)
        .args(["--", "-D", "warnings"])
        .env_remove("CARGO_TARGET_DIR"))?;
    step("building fuzz targets");
    run(cargo_fuzz(root, &toolchain).arg("build").args(BUILD_FLAGS))?;
    let mut reports = Vec::new();
    for target in targets {
        step(&format!("fuzzing {target} for {seconds} s"));
        reports.push(fuzz_one(root, &toolchain, target, seconds)?);
    }
    step("fuzzing summary");
    for report in &reports {
        println!("{report}");
    }
    let failures: Vec<String> = reports
        .iter()
        .filter_map(|r| r.failure(&toolchain))
        .collect();
    if !failures.is_empty() {
        bail!("fuzzing found problems:\n{}", failures.join("\n"));
    }
    Ok(())
}

/// `cargo +<nightly> fuzz`, from the workspace root.
fn cargo_fuzz(root: &Path, toolchain: &str) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.arg(format!("+{toolchain}"))
        .arg("fuzz")
        .current_dir(root)
        // Instrumented builds stay in fuzz/target: sharing a target directory with the workspace's
        // normal builds would rebuild both sides every time the flags alternate.
        .env_remove("CARGO_TARGET_DIR");
    cmd
}

fn fuzz_one(root: &Path, toolchain: &str, target: &str, seconds: u64) -> Result<Report> {
    let fuzz = root.join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
    let mut cmd = cargo_fuzz(root, toolchain);
    cmd.arg("run").args(BUILD_FLAGS).arg(target);
    // New inputs go to the first directory, so the committed seeds stay as they are.
    cmd.arg(&corpus);
    let seeds = fuzz.join("seeds").join(target);
    if seeds.is_dir() {
        cmd.arg(&seeds);
    }
    cmd.arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECS}"))
        .arg("-print_final_stats=1");
    let dict = fuzz.join("dicts").join(format!("{target}.dict"));
    if dict.is_file() {
        cmd.arg(format!("-dict={}", dict.display()));
    }

    // libFuzzer reports on stderr and cargo-fuzz on both: read them as one stream, in order.
    let (reader, writer) = std::io::pipe()?;
    cmd.stdout(writer.try_clone()?).stderr(writer);
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting cargo fuzz run {target}"))?;
    // Our copies of the write end must go, or reading would never see the end of the stream.
    drop(cmd);
    let mut report = Report::new(target);
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    while reader.read_until(b'\n', &mut buf)? > 0 {
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_end();
        report.observe(line);
        if worth_showing(line) {
            println!("  {line}");
        }
        buf.clear();
    }
    report.status = Some(child.wait()?);
    Ok(report)
}

/// Progress milestones and anything unusual; the per-input corpus updates and libFuzzer's start-up
/// notes would bury them.
fn worth_showing(line: &str) -> bool {
    if line.starts_with('#') {
        return ["pulse", "INITED", "DONE"].iter().any(|m| line.contains(m));
    }
    // Without a sanitizer, libFuzzer says at every start that the sanitizer hooks are missing.
    let no_sanitizer_notice = line.starts_with("WARNING: Failed to find function \"__sanitizer");
    let line = line.trim_start();
    !(line.is_empty()
        || line.starts_with("INFO:")
        || line.starts_with("stat::")
        || line.starts_with("NEW_FUNC")
        // The "recommended dictionary" printed at exit.
        || line.contains("# Uses: ")
        || no_sanitizer_notice)
}

/// What one target's run did, from its output.
#[derive(Debug, Default)]
struct Report {
    target: String,
    executions: Option<u64>,
    execs_per_sec: Option<u64>,
    /// libFuzzer's last status line (`#N DONE cov: … ft: … corp: …`).
    coverage: Option<String>,
    /// The input libFuzzer saved: a crash, timeout or out-of-memory (or a slow unit, on success).
    artifact: Option<String>,
    status: Option<ExitStatus>,
}

impl Report {
    fn new(target: &str) -> Report {
        Report {
            target: target.to_owned(),
            ..Report::default()
        }
    }

    fn observe(&mut self, line: &str) {
        let stat = |name: &str| {
            line.strip_prefix(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Some(n) = stat("stat::number_of_executed_units:") {
            self.executions = Some(n);
        } else if let Some(n) = stat("stat::average_exec_per_sec:") {
            self.execs_per_sec = Some(n);
        } else if line.starts_with('#') && line.contains(" cov: ") {
            self.coverage = Some(line.split_whitespace().collect::<Vec<_>>().join(" "));
        } else if let Some((_, path)) = line.split_once("Test unit written to ") {
            self.artifact = Some(path.trim().to_owned());
        }
    }

    /// Why this run fails the command, if it does.
    fn failure(&self, toolchain: &str) -> Option<String> {
        let status = self.status?;
        if status.success() {
            return None;
        }
        let target = &self.target;
        Some(match &self.artifact {
            Some(input) => format!(
                "{target}: failing input saved to {input}\n  reproduce: cargo +{toolchain} fuzz run {} {target} {input}",
                BUILD_FLAGS.join(" ")
            ),
            None => format!("{target}: cargo fuzz run exited with {status} (output above)"),
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unknown = || "?".to_owned();
        write!(
            f,
            "{}: {} executions, {}/s; {}",
            self.target,
            self.executions.map_or_else(unknown, |n| n.to_string()),
            self.execs_per_sec.map_or_else(unknown, |n| n.to_string()),
            self.coverage.as_deref().unwrap_or("no coverage line"),
        )?;
        match (&self.status, &self.artifact) {
            (Some(s), Some(input)) if s.success() => write!(f, "; slow input saved to {input}"),
            (Some(s), _) if !s.success() => write!(f, "; FAILED ({s})"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_default_to_every_target_for_ten_minutes() {
        let o = Options::parse(&[]).unwrap();
        assert_eq!((o.seconds, o.targets), (600, TARGETS.to_vec()));
    }

    #[test]
    fn options_take_seconds_and_a_subset_of_targets() {
        let o = Options::parse(&args("--seconds 60 jwks token")).unwrap();
        assert_eq!((o.seconds, o.targets), (60, vec!["jwks", "token"]));
        let o = Options::parse(&args("policy --seconds=5")).unwrap();
        assert_eq!((o.seconds, o.targets), (5, vec!["policy"]));
    }

    #[test]
    fn unknown_targets_and_bad_seconds_are_refused() {
        assert!(Options::parse(&args("tokens")).is_err());
        assert!(Options::parse(&args("--seconds")).is_err());
        assert!(Options::parse(&args("--seconds 0")).is_err());
        assert!(Options::parse(&args("--seconds ten")).is_err());
    }

    #[test]
    fn the_report_keeps_counts_the_last_coverage_line_and_the_artifact() {
        let mut r = Report::new("token");
        for line in [
            "#2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 40Mb",
            "#98765\tDONE   cov: 2125 ft: 5261 corp: 808/236Kb lim: 387 exec/s: 1677 rss: 46Mb",
            "artifact_prefix='fuzz/artifacts/token/'; Test unit written to fuzz/artifacts/token/crash-ab12",
            "stat::number_of_executed_units: 98765",
            "stat::average_exec_per_sec:     1677",
        ] {
            r.observe(line);
        }
        assert_eq!((r.executions, r.execs_per_sec), (Some(98765), Some(1677)));
        assert_eq!(
            r.coverage.as_deref(),
            Some("#98765 DONE cov: 2125 ft: 5261 corp: 808/236Kb lim: 387 exec/s: 1677 rss: 46Mb")
        );
        assert_eq!(
            r.artifact.as_deref(),
            Some("fuzz/artifacts/token/crash-ab12")
        );
    }

    #[test]
    fn corpus_updates_are_not_echoed_but_crashes_are() {
        assert!(!worth_showing("#1234\tNEW    cov: 2 ft: 3 corp: 4/5b"));
        assert!(!worth_showing("INFO: Seed: 42"));
        assert!(!worth_showing("\tNEW_FUNC[1/2]: 0x559c7498fd01"));
        assert!(!worth_showing("\"key_ops\" # Uses: 1123"));
        assert!(!worth_showing(
            "WARNING: Failed to find function \"__sanitizer_print_stack_trace\"."
        ));
        assert!(worth_showing("#4096\tpulse  cov: 2 ft: 3 corp: 4/5b"));
        assert!(worth_showing(
            "thread '<unnamed>' panicked at fuzz_targets/token.rs:1:1:"
        ));
    }
}
