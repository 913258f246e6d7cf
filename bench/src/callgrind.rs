//! workerd under valgrind's callgrind, for `--instructions`: how it is started, how its counters are
//! zeroed and dumped (`callgrind_control`, which talks to valgrind's gdbserver through `vgdb`), and
//! the one figure read from a dump, its `summary:` line (instructions executed since the zero).
//!
//! Why instructions: on this shared 2-core machine CPU time per request moves by tens of per cent
//! between rounds; the work done does not. Callgrind counts every instruction workerd executes
//! (C++, V8's interpreter, JIT and wasm code, BoringSSL), in every thread, whatever else runs.

use anyhow::{bail, Context as _, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use xtask::process::output;

/// How long a dump may take to appear (a dump of workerd's function table takes about a second).
const DUMP_TIMEOUT: Duration = Duration::from_secs(120);

/// `valgrind --tool=callgrind … <program>`: the command to which workerd's own arguments are added.
/// Dumps go to `out-TT` (the final ones, at exit, per thread TT) and `out.N-TT` (the N-th
/// [`Counters::dump`]).
pub fn command(program: &Path, out: &Path) -> Command {
    let mut cmd = Command::new("valgrind");
    cmd.args([
        "--tool=callgrind",
        // Instructions only: no cache or branch simulation (several times slower, and not needed
        // for a count of the work done).
        "--cache-sim=no",
        "--branch-sim=no",
        // workerd's binary is stripped, so a dump's per-function detail says little; per-object
        // totals keep each dump small.
        "--dump-instr=no",
        "--dump-line=no",
        // One dump file per thread: the main thread, which runs every isolate's requests, apart
        // from V8's background threads (compilers, GC helpers), whose work may belong to an earlier
        // scenario's code (see `Dump`).
        "--separate-threads=yes",
    ])
    .arg(format!("--callgrind-out-file={}", out.display()))
    .arg(program);
    cmd
}

/// The counters of one callgrind run.
#[derive(Debug)]
pub struct Counters {
    pid: u32,
    out: PathBuf,
}

impl Counters {
    pub fn new(pid: u32, out: &Path) -> Counters {
        Counters {
            pid,
            out: out.to_owned(),
        }
    }

    /// Sets the counters to zero: what follows is what the next [`Counters::dump`] reports.
    pub fn zero(&self) -> Result<()> {
        control(self.pid, "-z")
    }

    /// Dumps the counters (callgrind zeroes them after a dump) and returns the instructions executed
    /// since the last zero or dump. The dump files are removed once read.
    pub fn dump(&self) -> Result<Dump> {
        let before = numbered_dumps(&self.out)?.last().map_or(0, |d| d.0);
        control(self.pid, "-d")?;
        let deadline = Instant::now() + DUMP_TIMEOUT;
        loop {
            let all = numbered_dumps(&self.out)?;
            let newest = all.last().map_or(0, |d| d.0);
            if newest > before {
                let files: Vec<&(u64, u32, PathBuf)> =
                    all.iter().filter(|d| d.0 == newest).collect();
                let texts: Vec<String> = files
                    .iter()
                    .map(|d| std::fs::read_to_string(&d.2).unwrap_or_default())
                    .collect();
                // Each file once written to its end (`totals:` is its last line).
                if texts
                    .iter()
                    .all(|t| t.lines().any(|l| l.starts_with("totals:")))
                {
                    let threads: Vec<(u32, &str)> = files
                        .iter()
                        .map(|f| f.1)
                        .zip(texts.iter().map(String::as_str))
                        .collect();
                    let dump = Dump::of_threads(&threads).with_context(|| {
                        format!("reading dump {newest} of {}", self.out.display())
                    })?;
                    for file in files {
                        std::fs::remove_file(&file.2)
                            .with_context(|| format!("removing {}", file.2.display()))?;
                    }
                    return Ok(dump);
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "callgrind wrote no dump {}.N within {DUMP_TIMEOUT:?}",
                    self.out.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Callgrind's number for the process's first thread: workerd's main thread, on which every
/// isolate runs its requests (JavaScript, wasm, the C++ they call).
const MAIN_THREAD: u32 = 1;

/// The instructions of one dump.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dump {
    /// All threads.
    pub total: u64,
    /// The main thread alone: without V8's background compilers and GC helpers, whose work can
    /// belong to code an earlier scenario made hot (a tier-up still compiling).
    pub main_thread: u64,
}

impl Dump {
    /// One dump from its threads' files: (thread, text).
    fn of_threads(threads: &[(u32, &str)]) -> Result<Dump> {
        let mut dump = Dump::default();
        for &(thread, text) in threads {
            let count = summary(text).with_context(|| format!("thread {thread}"))?;
            dump.total += count;
            if thread == MAIN_THREAD {
                dump.main_thread += count;
            }
        }
        Ok(dump)
    }
}

/// `callgrind_control <flag> <pid>`; it prints `OK.` once valgrind has carried the command out.
fn control(pid: u32, flag: &str) -> Result<()> {
    let said = output(
        Command::new("callgrind_control")
            .arg(flag)
            .arg(pid.to_string()),
    )
    .with_context(|| format!("callgrind_control {flag} {pid} failed"))?;
    if !said.contains("OK.") {
        bail!("callgrind_control {flag} {pid}: {said}");
    }
    Ok(())
}

/// The dumps `out.N-TT` written so far (N, thread TT, path), by N and thread.
fn numbered_dumps(out: &Path) -> Result<Vec<(u64, u32, PathBuf)>> {
    let dir = out.parent().context("the dump path has no directory")?;
    let name = out
        .file_name()
        .and_then(|n| n.to_str())
        .context("the dump path has no name")?;
    let mut found: Vec<(u64, u32, PathBuf)> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .flatten()
        .filter_map(|e| {
            let file = e.file_name();
            let (n, thread) = dump_number(name, file.to_str()?)?;
            Some((n, thread, e.path()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// (N, TT) of `<name>.N-TT`, callgrind's name for thread TT's part of its N-th dump of a run
/// (`<name>.N` alone, without separate threads, counts as the main thread's).
fn dump_number(name: &str, file: &str) -> Option<(u64, u32)> {
    let rest = file.strip_prefix(name)?.strip_prefix('.')?;
    match rest.split_once('-') {
        Some((n, thread)) => Some((n.parse().ok()?, thread.parse().ok()?)),
        None => Some((rest.parse().ok()?, MAIN_THREAD)),
    }
}

/// The `summary:` line of a callgrind dump: the total of its one event (`Ir`, instructions executed).
pub fn summary(dump: &str) -> Result<u64> {
    let events = dump
        .lines()
        .find_map(|l| l.strip_prefix("events:"))
        .context("a callgrind dump without an events: line")?;
    let line = dump
        .lines()
        .find_map(|l| l.strip_prefix("summary:"))
        .context("a callgrind dump without a summary: line")?;
    let first = events.split_whitespace().next();
    if first != Some("Ir") {
        bail!("a callgrind dump whose first event is {first:?}, not Ir (instructions)");
    }
    let value = line
        .split_whitespace()
        .next()
        .context("an empty summary: line")?;
    value
        .parse()
        .with_context(|| format!("summary: {value:?} is not a count"))
}

/// `valgrind --version`, e.g. `valgrind-3.19.0`.
pub fn version() -> String {
    output(Command::new("valgrind").arg("--version")).unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The head of a dump as callgrind 3.19 writes it after `callgrind_control -d`.
    const DUMP: &str = "\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 24794
cmd:  /usr/bin/workerd serve
part: 1

desc: I1 cache: 
desc: Timerange: Basic block 0 - 19468760
desc: Trigger: dump

positions: line
events: Ir
summary: 11990070

fn=(1) main
0 12
totals: 11994798
";

    #[test]
    fn the_summary_line_is_the_count() {
        assert_eq!(summary(DUMP).unwrap(), 11_990_070);
    }

    #[test]
    fn a_dump_without_a_summary_or_with_other_events_is_refused() {
        assert!(summary(&DUMP.replace("summary: 11990070\n", "")).is_err());
        assert!(summary(&DUMP.replace("events: Ir", "events: Dr Ir")).is_err());
        assert!(summary(&DUMP.replace("11990070", "many")).is_err());
        assert!(summary("").is_err());
    }

    #[test]
    fn a_dump_is_the_sum_of_its_threads_and_the_first_is_the_main_one() {
        let other = DUMP.replace("11990070", "500");
        let dump = Dump::of_threads(&[(1, DUMP), (2, &other), (3, &other)]).unwrap();
        assert_eq!(
            dump,
            Dump {
                total: 11_991_070,
                main_thread: 11_990_070
            }
        );
        assert!(Dump::of_threads(&[(1, DUMP), (2, "")]).is_err());
    }

    #[test]
    fn numbered_dumps_are_told_from_the_final_one_and_from_others() {
        assert_eq!(
            dump_number("callgrind.out", "callgrind.out.12-01"),
            Some((12, 1))
        );
        assert_eq!(
            dump_number("callgrind.out", "callgrind.out.12-07"),
            Some((12, 7))
        );
        assert_eq!(
            dump_number("callgrind.out", "callgrind.out.3"),
            Some((3, 1))
        );
        assert_eq!(dump_number("callgrind.out", "callgrind.out"), None);
        assert_eq!(
            dump_number("callgrind.out", "callgrind.out-01"),
            None,
            "the final dump"
        );
        assert_eq!(dump_number("callgrind.out", "callgrind.out.x-01"), None);
        assert_eq!(dump_number("callgrind.out", "other.out.1-01"), None);
    }

    #[test]
    fn workerd_runs_under_callgrind_with_instructions_only() {
        let cmd = command(Path::new("/bin/workerd"), Path::new("/tmp/x/cg.out"));
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(cmd.get_program(), "valgrind");
        assert!(args.contains(&"--tool=callgrind".to_owned()));
        assert!(args.contains(&"--cache-sim=no".to_owned()));
        assert!(args.contains(&"--separate-threads=yes".to_owned()));
        assert!(args.contains(&"--callgrind-out-file=/tmp/x/cg.out".to_owned()));
        assert_eq!(args.last().map(String::as_str), Some("/bin/workerd"));
    }
}
