//! The instruction counts' medians over rounds, the speed targets restated in instructions, and
//! `docs/benchmarks-instructions.md`.

use super::Count;
use crate::report::{
    median, Facts, APPROXIMATE_CPU_GOAL, CACHE_HIT_CPU_OVER_FLOOR_GOAL, VERIFY_RATIO_GOAL,
};
use crate::tokens::Alg;
use crate::{LimitRoute, Scenario, Tokens, Worker, CONNECTIONS};
use std::fmt::Write as _;

/// The generated document, from the workspace root.
pub const DOC: &str = "docs/benchmarks-instructions.md";

/// One scenario over all rounds.
#[derive(Debug)]
pub struct Counted {
    pub scenario: Scenario,
    pub rounds: Vec<Count>,
}

impl Counted {
    /// Instructions per request by round; `None` unless every round answered every request.
    fn per_request(&self) -> Option<Vec<f64>> {
        if self.rounds.is_empty() {
            return None;
        }
        self.rounds.iter().map(Count::per_request).collect()
    }

    fn main_thread_per_request(&self) -> Option<Vec<f64>> {
        if self.rounds.is_empty() {
            return None;
        }
        self.rounds
            .iter()
            .map(Count::main_thread_per_request)
            .collect()
    }
}

#[derive(Debug)]
pub struct Table {
    pub facts: Facts,
    /// `valgrind --version`.
    pub valgrind: String,
    pub requests: usize,
    pub rounds: usize,
    pub warmup_requests: usize,
    pub rows: Vec<Counted>,
}

/// A median with the lowest and highest round.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    median: f64,
    low: f64,
    high: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Option<Spread> {
        (!values.is_empty()).then(|| Spread {
            median: median(values.to_vec()),
            low: values.iter().copied().fold(f64::INFINITY, f64::min),
            high: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }

    /// Highest minus lowest round, in per cent of the median.
    fn percent(&self) -> f64 {
        100.0 * (self.high - self.low) / self.median
    }

    fn ratio_cell(&self, rounds: usize) -> String {
        if rounds > 1 {
            format!("{:.3}× ({:.3}–{:.3})", self.median, self.low, self.high)
        } else {
            format!("{:.3}×", self.median)
        }
    }
}

/// Thousands of instructions, e.g. `1234k`.
fn kilo(v: f64) -> String {
    format!("{:.0}k", v / 1e3)
}

/// One line of the targets table: a ratio at 1 and 8 connections.
#[derive(Debug)]
struct Target {
    name: String,
    goal: String,
    values: [Option<Spread>; 2],
    met: Option<bool>,
}

impl Table {
    fn row(
        &self,
        worker: Worker,
        alg: Alg,
        tokens: Tokens,
        connections: usize,
    ) -> Option<&Counted> {
        self.rows.iter().find(|r| {
            let s = r.scenario;
            s.worker == worker
                && s.tokens == tokens
                && s.connections == connections
                && (matches!(worker, Worker::Passthrough | Worker::PassthroughKv) || s.alg == alg)
        })
    }

    fn per_request(&self, worker: Worker, alg: Alg, tokens: Tokens, c: usize) -> Option<Vec<f64>> {
        self.row(worker, alg, tokens, c)?.per_request()
    }

    /// The median instructions per request of a scenario, if it ran and every request was answered.
    fn median(&self, worker: Worker, alg: Alg, tokens: Tokens, c: usize) -> Option<f64> {
        self.per_request(worker, alg, tokens, c).map(median)
    }

    /// `a / b` per round (both measured in the same round), with its median and range.
    fn paired(
        &self,
        a: (Worker, Alg, Tokens),
        b: (Worker, Alg, Tokens),
        connections: usize,
    ) -> Option<Spread> {
        let a = self.per_request(a.0, a.1, a.2, connections)?;
        let b = self.per_request(b.0, b.1, b.2, connections)?;
        if a.len() != b.len() {
            return None;
        }
        let ratios: Vec<f64> = a.iter().zip(&b).map(|(a, b)| a / b).collect();
        Spread::of(&ratios)
    }

    /// The speed targets of docs/benchmarks.md, with instructions per request in place of workerd
    /// CPU time per request.
    fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        let both = |values: &[Option<Spread>; 2], ok: fn(f64) -> bool| {
            values
                .iter()
                .map(|v| v.map(|v| ok(v.median)))
                .collect::<Option<Vec<bool>>>()
                .map(|m| m.iter().all(|m| *m))
        };
        for alg in Alg::ALL {
            let values = CONNECTIONS.map(|c| {
                self.paired(
                    (Worker::Jose, alg, Tokens::Fresh),
                    (Worker::EdgeNoCache, alg, Tokens::Fresh),
                    c,
                )
            });
            out.push(Target {
                name: format!(
                    "{} verification, instructions per request, jose / ours (cache off)",
                    alg.name()
                ),
                goal: format!("≥ {VERIFY_RATIO_GOAL:.1}×"),
                met: both(&values, |v| v >= VERIFY_RATIO_GOAL),
                values,
            });
        }
        for alg in Alg::ALL {
            let values = CONNECTIONS.map(|c| {
                self.paired(
                    (Worker::Edge, alg, Tokens::Same),
                    (Worker::Passthrough, alg, Tokens::Same),
                    c,
                )
            });
            out.push(Target {
                name: format!(
                    "{} cache hit, instructions per request, ours / pass-through",
                    alg.name()
                ),
                goal: format!("≤ {CACHE_HIT_CPU_OVER_FLOOR_GOAL:.2}×"),
                met: both(&values, |v| v <= CACHE_HIT_CPU_OVER_FLOOR_GOAL),
                values,
            });
        }
        let limits = |route: LimitRoute| {
            CONNECTIONS.map(|c| {
                self.paired(
                    (Worker::Limits(route), Alg::Es256, Tokens::Same),
                    (
                        Worker::Limits(LimitRoute::Unlimited),
                        Alg::Es256,
                        Tokens::Same,
                    ),
                    c,
                )
            })
        };
        let approximate = limits(LimitRoute::Approximate);
        let many = *CONNECTIONS.last().unwrap_or(&1);
        out.push(Target {
            name: format!(
                "approximate tier, instructions per request ÷ the limits bundle's cache hit with no \
                 limit (goal at {many} connections)"
            ),
            goal: format!("≤ {APPROXIMATE_CPU_GOAL:.2}×"),
            met: approximate[1].map(|v| v.median <= APPROXIMATE_CPU_GOAL),
            values: approximate,
        });
        out.push(Target {
            name: "for information: exact tier ÷ the same cache hit with no limit".into(),
            goal: "—".into(),
            values: limits(LimitRoute::Exact),
            met: None,
        });
        out
    }

    fn targets_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "| target (instruction counts) | goal | 1 connection | 8 connections | met |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|");
        for t in self.targets() {
            let cell = |v: &Option<Spread>| v.map_or("n/a".into(), |v| v.ratio_cell(self.rounds));
            let met = match (t.met, t.goal.as_str()) {
                (_, "—") => "—",
                (Some(true), _) => "met",
                (Some(false), _) => "**missed**",
                (None, _) => "n/a (not run or invalid)",
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {met} |",
                t.name,
                t.goal,
                cell(&t.values[0]),
                cell(&t.values[1])
            );
        }
        md
    }

    fn scenarios_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "| scenario | alg | conns | instructions/request (median) | lowest–highest round | spread | by round | main thread (median) | its spread |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
        let mut ordered: Vec<&Counted> = self.rows.iter().collect();
        ordered.sort_by_key(|r| r.scenario.connections);
        for r in ordered {
            let s = r.scenario;
            let alg = if matches!(s.worker, Worker::Passthrough | Worker::PassthroughKv) {
                "—"
            } else {
                s.alg.name()
            };
            let main = r
                .main_thread_per_request()
                .and_then(|v| Spread::of(&v))
                .map_or("— | —".into(), |m| {
                    format!("{} | {:.1} %", kilo(m.median), m.percent())
                });
            let (figure, range, spread, by_round) = match r.per_request() {
                Some(v) => {
                    let spread = Spread::of(&v).unwrap_or(Spread {
                        median: f64::NAN,
                        low: f64::NAN,
                        high: f64::NAN,
                    });
                    (
                        kilo(spread.median),
                        format!("{}–{}", kilo(spread.low), kilo(spread.high)),
                        format!("{:.1} %", spread.percent()),
                        v.iter().map(|x| kilo(*x)).collect::<Vec<_>>().join(" / "),
                    )
                }
                None => {
                    let first = r.rounds.iter().find_map(|c| c.first_error.clone());
                    (
                        "**INVALID**".into(),
                        "—".into(),
                        "—".into(),
                        format!(
                            "first error: `{}`",
                            first.unwrap_or_default().replace('`', "'")
                        ),
                    )
                }
            };
            let _ = writeln!(
                md,
                "| {} | {alg} | {} | {figure} | {range} | {spread} | {by_round} | {main} |",
                s.label(),
                s.connections
            );
        }
        md
    }

    /// Instructions per request split by subtracting one scenario's median from another's.
    fn breakdown_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "Thousands of instructions per request, medians, split by subtracting one scenario from \
             another.\n"
        );
        let columns: Vec<(Alg, usize)> = Alg::ALL
            .into_iter()
            .flat_map(|a| CONNECTIONS.map(|c| (a, c)))
            .collect();
        let head: Vec<String> = columns
            .iter()
            .map(|(a, c)| format!("{} {c} conn", a.name()))
            .collect();
        let _ = writeln!(md, "| share | {} |", head.join(" | "));
        let _ = writeln!(md, "|---|{}", "---|".repeat(columns.len()));
        let m = |w: Worker, a: Alg, t: Tokens, c: usize| self.median(w, a, t, c);
        let floor = |c| m(Worker::Passthrough, Alg::Es256, Tokens::Same, c);
        let floor_kv = |c| m(Worker::PassthroughKv, Alg::Es256, Tokens::Same, c);
        let diff = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a - b);
        let unlimited = |c| {
            m(
                Worker::Limits(LimitRoute::Unlimited),
                Alg::Es256,
                Tokens::Same,
                c,
            )
        };
        type Share<'a> = Box<dyn Fn(Alg, usize) -> Option<f64> + 'a>;
        let lines: Vec<(&str, Share<'_>)> = vec![
            (
                "forward through workerd to the upstream (pass-through)",
                Box::new(|_, c| floor(c)),
            ),
            (
                "KV lookup (pass-through + KV − pass-through)",
                Box::new(|_, c| diff(floor_kv(c), floor(c))),
            ),
            (
                "jose: token checks (jose − pass-through + KV)",
                Box::new(|a, c| diff(m(Worker::Jose, a, Tokens::Fresh, c), floor_kv(c))),
            ),
            (
                "ours, cache off: token checks and pipeline (cache off − pass-through + KV)",
                Box::new(|a, c| diff(m(Worker::EdgeNoCache, a, Tokens::Fresh, c), floor_kv(c))),
            ),
            (
                "ours − jose, both verifying every request",
                Box::new(|a, c| {
                    diff(
                        m(Worker::EdgeNoCache, a, Tokens::Fresh, c),
                        m(Worker::Jose, a, Tokens::Fresh, c),
                    )
                }),
            ),
            (
                "ours, cache hit: all but the forward (cache hit − pass-through)",
                Box::new(|a, c| diff(m(Worker::Edge, a, Tokens::Same, c), floor(c))),
            ),
            (
                "limits bundle: approximate tier − no limit (ES256 token)",
                Box::new(|a, c| {
                    (a == Alg::Es256)
                        .then(|| {
                            diff(
                                m(Worker::Limits(LimitRoute::Approximate), a, Tokens::Same, c),
                                unlimited(c),
                            )
                        })
                        .flatten()
                }),
            ),
            (
                "limits bundle: exact tier − no limit (ES256 token)",
                Box::new(|a, c| {
                    (a == Alg::Es256)
                        .then(|| {
                            diff(
                                m(Worker::Limits(LimitRoute::Exact), a, Tokens::Same, c),
                                unlimited(c),
                            )
                        })
                        .flatten()
                }),
            ),
        ];
        for (name, share) in &lines {
            let cells: Vec<String> = columns
                .iter()
                .map(|&(a, c)| share(a, c).map_or("—".into(), |v| format!("{:+.0}", v / 1e3)))
                .collect();
            let _ = writeln!(md, "| {name} | {} |", cells.join(" | "));
        }
        md
    }

    /// What the terminal shows at the end of a run.
    pub fn terminal(&self) -> String {
        format!(
            "Instruction counts (callgrind; a proxy for CPU time), {} requests per measurement, \
             medians over {} rounds:\n\n{}\n{}\n{}",
            self.requests,
            self.rounds,
            self.targets_markdown(),
            self.scenarios_markdown(),
            self.breakdown_markdown()
        )
    }

    pub fn markdown(&self) -> String {
        let f = &self.facts;
        let mut md = String::new();
        let _ = writeln!(md, "# Edge benchmark: instruction counts\n");
        let _ = writeln!(
            md,
            "Generated by `cargo xtask bench edge --instructions --requests {} --rounds {}` on {}: do \
             not edit, run it again. Instructions executed by workerd per request, counted by \
             valgrind's callgrind: **a proxy for CPU time**, steady on a loaded machine; the goals \
             themselves are stated in workerd CPU time (docs/benchmarks.md). Harness: `bench/` \
             (`src/instructions.rs`, `src/callgrind.rs`).\n",
            self.requests, self.rounds, f.date
        );
        let _ = writeln!(md, "## Targets, in instructions per request\n");
        md.push_str(&self.targets_markdown());
        let _ = writeln!(
            md,
            "\nThe targets of docs/benchmarks.md with instructions per request in place of workerd \
             CPU time per request. Each cell: the median over rounds of the round's ratio, the \
             lowest and highest round in brackets. A goal stated at both connection counts is met \
             only if it is met at both; the approximate tier's goal is at 8 connections (1 \
             connection for information).\n"
        );
        let _ = writeln!(md, "## Per scenario\n");
        let _ = writeln!(
            md,
            "Thousands of instructions per request (k), {} requests per measurement, {} rounds; \
             spread: highest minus lowest round, in per cent of the median. \"Main thread\": \
             workerd's first thread alone, which runs every isolate's requests; the rest is V8's \
             background compilers and GC helpers, whose work can belong to code an earlier \
             scenario made hot.\n",
            self.requests, self.rounds
        );
        md.push_str(&self.scenarios_markdown());
        let _ = writeln!(md, "\n## Where the instructions go\n");
        md.push_str(&self.breakdown_markdown());
        let _ = writeln!(md, "\n## Machine and software\n");
        f.machine_lines(&mut md);
        let _ = writeln!(
            md,
            "- load average when the rounds ended (1, 5 and 15 min): {} (instruction counts do not \
             depend on it)",
            f.load
        );
        let _ = writeln!(
            md,
            "- {} (callgrind, no cache or branch simulation)",
            self.valgrind
        );
        let _ = writeln!(
            md,
            "- runtime: {} (the binary from node_modules, under valgrind)",
            f.workerd
        );
        let _ = writeln!(md, "- jose: {}", f.jose);
        f.build_lines(&mut md);
        let _ = writeln!(md, "\n## Method\n");
        md.push_str(&self.method());
        md
    }

    fn method(&self) -> String {
        format!(
            "\
- **Same set-up as the timed benchmark**: the same workerd config, bundles, tokens, checks and
  warm-up (docs/benchmarks.md's method), but workerd runs under `valgrind --tool=callgrind`. Then
  every scenario gets {warmup} unmeasured requests at its connection count, so that the JIT's
  tier-up of the hot code is over before counting.
- **One measurement**: `callgrind_control -z` (counters to zero), exactly {requests} requests by the
  load generator at the scenario's connection count (fresh tokens continue through the pool of
  10,000, so none repeats within a measurement or soon after), half a second for work left behind
  (`ctx.waitUntil`), `callgrind_control -d` (dump); the dump's `summary:` line divided by the
  requests answered. Any failed request makes the measurement invalid. Every scenario once per
  round, {rounds} rounds; figures are medians over rounds, ratios medians of the rounds' ratios.
- **What is counted**: every instruction workerd's process executes in user space, in all its
  threads: workerd's C++, V8 (interpreter, JIT-compiled JavaScript, wasm), BoringSSL, and the
  upstream, JWKS and KV stub Workers, which are the same on every path. Not counted: the kernel
  (socket reads and writes, system calls) and the load generator (another process).
- **Why it is steady**: it counts work, not time, so another process on the machine, the CPU's
  frequency or its caches do not move it. What can move it is work whose amount depends on timing:
  garbage collection, JIT compilation in background threads, timers. Repeats show the spread (the
  per-scenario table), which is why each figure is a median over rounds.
- **A proxy**: an instruction is not a unit of time: cache misses, branch mispredictions and the
  kernel's share count for nothing here, and valgrind runs workerd's threads one at a time, ~50×
  slower. A change that cuts instructions per request by X % cuts CPU time by about as much only if
  it does not trade instructions for memory traffic; the final word stays with the timed run.
",
            warmup = self.warmup_requests,
            requests = self.requests,
            rounds = self.rounds,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(instructions: u64, errors: u64) -> Count {
        Count {
            instructions,
            main_thread: instructions * 9 / 10,
            answered: 100,
            errors,
            first_error: (errors > 0).then(|| "status 401: nope".to_owned()),
        }
    }

    /// Every scenario, per request (thousands): the pass-through 1000, + KV 1200, jose 3000, ours
    /// with the cache off 3300 (ES256) / 2700 (EdDSA), a cache hit 1300, the limits bundle 1300 with
    /// no limit, 1400 approximate, 2000 exact; 8 connections cost 10 % less, and the second of three
    /// rounds 2 % more. EdDSA cache off at 1 connection failed a request in round 3.
    fn table() -> Table {
        let rows = crate::scenarios()
            .into_iter()
            .map(|s| {
                let k = match (s.worker, s.tokens) {
                    (Worker::Passthrough, _) => 1000.0,
                    (Worker::PassthroughKv, _) => 1200.0,
                    (Worker::Jose, _) => 3000.0,
                    (Worker::EdgeNoCache, _) if s.alg == Alg::Es256 => 3300.0,
                    (Worker::EdgeNoCache, _) => 2700.0,
                    (Worker::Edge, Tokens::Same) => 1300.0,
                    (Worker::Edge, Tokens::Fresh) => 2500.0,
                    (Worker::Limits(LimitRoute::Unlimited), _) => 1300.0,
                    (Worker::Limits(LimitRoute::Approximate), _) => 1400.0,
                    (Worker::Limits(LimitRoute::Exact), _) => 2000.0,
                };
                let k = if s.connections == 8 { k * 0.9 } else { k };
                let broken =
                    s.worker == Worker::EdgeNoCache && s.alg == Alg::EdDsa && s.connections == 1;
                // 100 requests per measurement: instructions = k thousand per request × 100.
                let total = |f: f64| (k * f * 1e3 * 100.0).round() as u64;
                Counted {
                    scenario: s,
                    rounds: vec![
                        count(total(1.0), 0),
                        count(total(1.02), 0),
                        count(total(1.0), u64::from(broken)),
                    ],
                }
            })
            .collect();
        Table {
            facts: Facts {
                date: "today".into(),
                cpus: 2,
                cpu_model: "cpu".into(),
                kernel: "k".into(),
                load: "4.00, 3.00, 2.00".into(),
                workerd: "workerd x".into(),
                jose: "6".into(),
                rustc: "rustc".into(),
                commit: "abc".into(),
                bundle_raw: 900_000,
                bundle_gzip: 350_000,
            },
            valgrind: "valgrind-3.19.0".into(),
            requests: 100,
            rounds: 3,
            warmup_requests: 200,
            rows,
        }
    }

    #[test]
    fn spreads_give_the_median_and_the_extreme_rounds() {
        let s = Spread::of(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((s.median, s.low, s.high), (2.5, 1.0, 10.0));
        assert!((s.percent() - 360.0).abs() < 1e-9);
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(
            Spread::of(&[1.0, 1.1]).unwrap().ratio_cell(2),
            "1.050× (1.000–1.100)"
        );
        assert_eq!(Spread::of(&[1.0]).unwrap().ratio_cell(1), "1.000×");
    }

    #[test]
    fn the_targets_divide_the_rounds_pairwise_and_say_met_or_missed() {
        let t = table();
        let targets = t.targets();
        let median = |i: usize, c: usize| targets[i].values[c].map(|v| v.median);
        // ES256 verification: jose / ours = 3000 / 3300 at both connection counts: missed.
        let es = median(0, 0).unwrap();
        assert!((es - 3000.0 / 3300.0).abs() < 1e-9, "{es}");
        assert_eq!(targets[0].met, Some(false));
        // EdDSA: 3000 / 2700 at 8 connections, the 1-connection side invalid: unknown.
        assert_eq!(median(1, 0), None);
        assert!((median(1, 1).unwrap() - 3000.0 / 2700.0).abs() < 1e-9);
        assert_eq!(targets[1].met, None);
        // A cache hit is 1.3× the pass-through: over 1.15×.
        assert!((median(2, 1).unwrap() - 1.3).abs() < 1e-9);
        assert_eq!(targets[2].met, Some(false));
        // Approximate / no limit: 1400 / 1300, over 1.05×; the exact tier is information only.
        assert!((median(4, 1).unwrap() - 1400.0 / 1300.0).abs() < 1e-9);
        assert_eq!(targets[4].met, Some(false));
        assert!((median(5, 0).unwrap() - 2000.0 / 1300.0).abs() < 1e-9);
        assert_eq!(targets[5].met, None);
        // Every round's ratio is the same, though round 2 costs 2 % more on both sides: paired.
        let es = targets[0].values[1].unwrap();
        assert!((es.high - es.low).abs() < 1e-9);
    }

    #[test]
    fn the_document_shows_medians_ranges_invalid_rows_and_the_breakdown() {
        let md = table().markdown();
        assert!(md.contains("do not edit"), "{md}");
        assert!(md.contains(
            "| pass-through (no auth) | — | 1 | 1000k | 1000k–1020k | 2.0 % | 1000k / 1020k / 1000k | 900k | 2.0 % |"
        ), "{md}");
        assert!(md.contains("| ours, cache off, fresh tokens | EdDSA | 1 | **INVALID** |"));
        assert!(md.contains("first error: `status 401: nope`"));
        assert!(
            md.contains(
                "| KV lookup (pass-through + KV − pass-through) | +200 | +180 | +200 | +180 |"
            ),
            "{md}"
        );
        assert!(md.contains(
            "| jose: token checks (jose − pass-through + KV) | +1800 | +1620 | +1800 | +1620 |"
        ));
        assert!(md.contains(
            "| limits bundle: approximate tier − no limit (ES256 token) | +100 | +90 | — | — |"
        ));
        assert!(md.contains("| ES256 verification, instructions per request, jose / ours (cache off) | ≥ 1.0× | 0.909× (0.909–0.909) |"), "{md}");
        assert!(md.contains("- valgrind-3.19.0"));
    }
}
