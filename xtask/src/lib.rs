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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The workspace root: xtask lives one level below it.
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}

/// The steps of this run: what, when it started, how long it took once finished.
static STEPS: Mutex<Vec<(String, Instant, Option<Duration>)>> = Mutex::new(Vec::new());

/// Prints a step header, so a long run shows where it is, and closes the previous step (printing
/// its time). Work done beside the steps is recorded with [`record`].
pub fn step(what: &str) {
    let mut steps = STEPS.lock().unwrap_or_else(|e| e.into_inner());
    close_open(&mut steps);
    steps.push((what.to_owned(), Instant::now(), None));
    println!("\n==> {what}");
}

/// Records work that ran beside the steps (in the background), for [`print_summary`].
pub fn record(what: &str, took: Duration) {
    let mut steps = STEPS.lock().unwrap_or_else(|e| e.into_inner());
    let what = what.split(':').next().unwrap_or(what);
    steps.push((
        format!("{what} (in the background)"),
        Instant::now() - took,
        Some(took),
    ));
}

fn close_open(steps: &mut [(String, Instant, Option<Duration>)]) {
    for (_, started, took) in steps.iter_mut().filter(|s| s.2.is_none()) {
        let elapsed = started.elapsed();
        *took = Some(elapsed);
        println!("    ({})", minutes(elapsed));
    }
}

/// Closes the last step and prints every step's time, then `total` (the whole run).
pub fn print_summary(title: &str, total: Duration) {
    let mut steps = STEPS.lock().unwrap_or_else(|e| e.into_inner());
    close_open(&mut steps);
    println!("\n{title}: {} in all", minutes(total));
    for (what, _, took) in steps.iter() {
        let what: String = what
            .split(':')
            .next()
            .unwrap_or(what)
            .chars()
            .take(76)
            .collect();
        println!("  {:>8}  {what}", minutes(took.unwrap_or_default()));
    }
}

/// `2m 05s`, or `4.2s` under a minute.
pub fn minutes(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
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

/// Work running beside the steps, in a thread; its output goes to a log file of its own.
#[derive(Debug)]
pub struct Background<T> {
    what: String,
    log: PathBuf,
    handle: std::thread::JoinHandle<(Result<T>, Duration)>,
}

impl<T: Send + 'static> Background<T> {
    /// Starts `work` (given the log to write to), saying what runs, for how long, and where its
    /// output goes.
    pub fn spawn(
        what: &str,
        takes: &str,
        log: PathBuf,
        work: impl FnOnce(&std::path::Path) -> Result<T> + Send + 'static,
    ) -> Result<Background<T>> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let _ = std::fs::remove_file(&log);
        println!(
            "--> in the background: {what} ({takes}); log: {}",
            log.display()
        );
        let thread_log = log.clone();
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            let result = work(&thread_log);
            (result, started.elapsed())
        });
        Ok(Background {
            what: what.to_owned(),
            log,
            handle,
        })
    }

    /// Waits for the work (a step of its own when it is still running) and returns its result.
    pub fn wait(self) -> Result<T> {
        if !self.handle.is_finished() {
            step(&format!(
                "waiting for the background work: {} (log: {})",
                self.what,
                self.log.display()
            ));
        }
        let (result, took) = self
            .handle
            .join()
            .map_err(|_| anyhow::anyhow!("the background work panicked: {}", self.what))?;
        record(&self.what, took);
        println!(
            "--> done in the background: {} ({})",
            self.what,
            minutes(took)
        );
        result.with_context(|| format!("{} (log: {})", self.what, self.log.display()))
    }
}
