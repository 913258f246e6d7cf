//! `cargo xtask bench edge --instructions`: instructions workerd executes per request, counted by
//! valgrind's callgrind ([`crate::callgrind`]), for every scenario of the timed run at its connection
//! count. A count of work, not of time, so it holds on a loaded machine where CPU time per request
//! moves by tens of per cent; a proxy for CPU time, not the goal itself (see the method in
//! [`table`]).
//!
//! Flow, after the timed run's set-up, checks and warm-up (workerd already under callgrind): every
//! scenario gets an unmeasured warm-up of a fixed number of requests, then per round and scenario:
//! zero the counters, send exactly `--requests` requests, wait for workerd to go idle, dump, and
//! divide the dump's total by the requests answered.

mod table;

use crate::callgrind::{self, Counters};
use crate::load;
use crate::report::Facts;
use crate::{target, Options, Pools, Scenario, Tokens};
use anyhow::{bail, Context as _, Result};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
pub use table::DOC;
use table::{Counted, Table};
use xtask::step;

/// Requests per measurement unless `--requests` says otherwise. Under callgrind a request takes
/// 20-100 ms here (load average ~10: pass-through ~25 ms, a verification ~80 ms), so the 24 scenarios
/// × (warm-up + 3 rounds) take ~10 minutes at this figure. A multiple of 100, so the limits bundle's
/// approximate tier (one report to its Durable Object per 100 admissions) makes the same number of
/// reports in every measurement.
pub const DEFAULT_REQUESTS: usize = 100;
/// The dump files' name in target/bench/ (callgrind adds `.1`, `.2`, … per dump).
pub const DUMP_FILE: &str = "callgrind.out";
/// Unmeasured requests per scenario before the first round, so that V8's and Liftoff's tier-up
/// compilations of the hot code are over before anything is counted.
const WARMUP_REQUESTS: usize = 200;
/// How long workerd is left alone after the last answer before the dump: work a request leaves
/// behind (`ctx.waitUntil`, e.g. the approximate tier's report) belongs to its measurement.
const SETTLE: Duration = Duration::from_millis(500);

/// The workerd under callgrind started by the timed run's set-up.
#[derive(Debug)]
pub struct Workerd<'a> {
    pub runtime: &'a mut crate::workerd::Workerd,
    pub ports: &'a crate::workerd::Ports,
    /// Where callgrind writes its dumps ([`DUMP_FILE`] in target/bench/).
    pub dumps: &'a Path,
}

/// One measurement: what workerd executed while a fixed number of requests was sent.
#[derive(Debug, Clone)]
pub struct Count {
    /// Instructions workerd executed (all threads) between the zero and the dump.
    pub instructions: u64,
    /// Of which its main thread (see [`callgrind::Dump`]).
    pub main_thread: u64,
    /// 2xx answers.
    pub answered: u64,
    /// Non-2xx answers and failed requests.
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Count {
    /// Instructions per answered request; `None` if any request failed (a refusal costs less than
    /// an answer, so it is never averaged in).
    pub fn per_request(&self) -> Option<f64> {
        (self.errors == 0 && self.answered > 0)
            .then(|| self.instructions as f64 / self.answered as f64)
    }

    /// The same for the main thread alone.
    pub fn main_thread_per_request(&self) -> Option<f64> {
        self.per_request()
            .map(|_| self.main_thread as f64 / self.answered as f64)
    }
}

/// One request to `s`, its answer ignored: under valgrind a Worker's first request takes seconds,
/// and the limits bundle's, the first it ever gets, has failed on every try with "Network
/// connection lost" from the upstream fetch (a pooled connection workerd's server end closed while
/// idle, it seems). The warm-up that follows must answer every request.
pub fn prime(
    s: &Scenario,
    ports: &crate::workerd::Ports,
    pools: &Pools,
    interrupted: &Arc<AtomicBool>,
) -> Result<()> {
    let summary = load::run_count(
        &target(s, ports),
        pools.for_scenario(s),
        1,
        1,
        0,
        interrupted,
    )?;
    if let Some(error) = summary.first_error {
        println!(
            "  first request to {} ({}): {error} (not counted)",
            s.label(),
            s.alg.name()
        );
    }
    Ok(())
}

pub fn run(
    root: &Path,
    options: &Options,
    requests: usize,
    workerd: Workerd<'_>,
    pools: &Pools,
    interrupted: &Arc<AtomicBool>,
) -> Result<()> {
    let counters = Counters::new(workerd.runtime.pid(), workerd.dumps);
    let scenarios: Vec<Scenario> = crate::scenarios()
        .into_iter()
        .filter(|s| {
            options
                .only
                .as_ref()
                .is_none_or(|only| only.iter().any(|o| s.label().contains(o.as_str())))
        })
        .collect();
    if scenarios.is_empty() {
        bail!("--only matches no scenario");
    }
    // Where in the fresh pool the next run starts: a fresh token never comes back within
    // 10,000 requests, as in the timed run, however short each measurement is.
    let mut cursor = 0usize;
    let mut send = |s: &Scenario, n: usize| -> Result<load::Summary> {
        let summary = load::run_count(
            &target(s, workerd.ports),
            pools.for_scenario(s),
            s.connections,
            n,
            cursor,
            interrupted,
        )?;
        if s.tokens == Tokens::Fresh {
            cursor = cursor.wrapping_add(n);
        }
        Ok(summary)
    };

    step(&format!(
        "warming up under callgrind: {WARMUP_REQUESTS} requests per scenario ({} scenarios)",
        scenarios.len()
    ));
    for s in &scenarios {
        let summary = send(s, WARMUP_REQUESTS)?;
        if !summary.is_valid() {
            bail!(
                "{} ({}, {} conn) fails while warming up: {}; see {}",
                s.label(),
                s.alg.name(),
                s.connections,
                summary.first_error.unwrap_or_default(),
                workerd.runtime.log.display()
            );
        }
    }

    let mut rounds: Vec<Vec<Count>> = vec![Vec::new(); scenarios.len()];
    for round in 0..options.rounds {
        step(&format!(
            "round {}/{}: {} scenarios of {requests} requests, instructions counted by callgrind",
            round + 1,
            options.rounds,
            scenarios.len()
        ));
        for (i, s) in scenarios.iter().enumerate() {
            workerd.runtime.check_alive()?;
            // Anything between the last dump and now (the previous scenario's tail) is not counted.
            std::thread::sleep(SETTLE);
            counters.zero()?;
            let started = Instant::now();
            let summary = send(s, requests)?;
            let took = started.elapsed();
            std::thread::sleep(SETTLE);
            let dump = counters.dump()?;
            let count = Count {
                instructions: dump.total,
                main_thread: dump.main_thread,
                answered: summary.completed,
                errors: summary.errors,
                first_error: summary.first_error,
            };
            print_count(s, &count, took);
            rounds[i].push(count);
            if interrupted.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
        }
    }

    let table = Table {
        facts: Facts::gather(root)?,
        valgrind: callgrind::version(),
        requests,
        rounds: options.rounds,
        warmup_requests: WARMUP_REQUESTS,
        rows: scenarios
            .into_iter()
            .zip(rounds)
            .map(|(scenario, rounds)| Counted { scenario, rounds })
            .collect(),
    };
    println!("\n{}", table.terminal());
    if options.only.is_some() {
        println!("--only ran some scenarios: docs/benchmarks-instructions.md is left as it was");
        return Ok(());
    }
    let out = root.join(table::DOC);
    std::fs::write(&out, table.markdown()).with_context(|| format!("writing {}", out.display()))?;
    step(&format!("written to {}", out.display()));
    Ok(())
}

fn print_count(s: &Scenario, count: &Count, took: Duration) {
    let figure = match count.per_request() {
        Some(v) => format!(
            "{:>6.0}k instructions/request, main thread {:>6.0}k",
            v / 1e3,
            count.main_thread_per_request().unwrap_or_default() / 1e3
        ),
        None => format!(
            "INVALID: {} errors, first: {}",
            count.errors,
            count.first_error.clone().unwrap_or_default()
        ),
    };
    println!(
        "  {:<52} {:<5} {} conn: {figure}  ({} answered in {:.1} s)",
        s.label(),
        s.alg.name(),
        s.connections,
        count.answered,
        took.as_secs_f64()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(instructions: u64, answered: u64, errors: u64) -> Count {
        Count {
            instructions,
            main_thread: instructions / 2,
            answered,
            errors,
            first_error: None,
        }
    }

    #[test]
    fn instructions_per_request_divide_by_the_answers_and_refuse_failed_runs() {
        assert_eq!(count(44_240_000, 200, 0).per_request(), Some(221_200.0));
        assert_eq!(
            count(44_240_000, 200, 0).main_thread_per_request(),
            Some(110_600.0)
        );
        assert_eq!(count(44_240_000, 199, 1).main_thread_per_request(), None);
        assert_eq!(count(1_000, 3, 0).per_request(), Some(1_000.0 / 3.0));
        assert_eq!(count(44_240_000, 199, 1).per_request(), None);
        assert_eq!(count(5, 0, 0).per_request(), None);
    }
}
