//! `cargo xtask bench edge` (this crate's binary): our Worker against a `jose` baseline and a
//! pass-through, all in one workerd process, driven by the load generator in [`load`]; writes
//! `docs/benchmarks.md`.
//!
//! Flow: build the bundle (and the limits bundle, built with `bench/routes.toml`), sign the token
//! pools, start workerd, prove every Worker accepts a good token and refuses a bad one (so no
//! scenario measures a fast refusal), warm up, then run every scenario once per round for several
//! rounds and report the median of each figure over rounds.

mod callgrind;
mod cpu;
mod instructions;
mod load;
mod profile;
mod report;
mod smoke;
mod tokens;
mod workerd;

use anyhow::{bail, ensure, Context as _, Result};
use load::{Plan, Target};
use report::{Facts, Report, Row, Run};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokens::{Alg, Issuer, Subject};
use workerd::{Launch, Ports, Settings, Workerd};
use xtask::{edge, interrupt_flag, repo_root, step, tools};

/// Distinct tokens per algorithm: ten times an in-isolate cache of ~1,000 entries, so with the pool
/// sent round robin a cache never holds the next token.
const FRESH_TOKENS: usize = 10_000;
/// Connection counts every verifier scenario runs at.
const CONNECTIONS: [usize; 2] = [1, 8];
/// The path every scenario requests: an authenticated route (`/api/**` in policies/routes.toml).
const PATH: &str = "/api/bench";
const ISSUER: &str = "https://issuer.bench.invalid/t/bench";
/// How long the measured tokens stay valid: far beyond any run.
const TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone)]
struct Options {
    seconds: u64,
    rounds: usize,
    /// Take CPU profiles of the Workers instead of writing the report ([`profile`]).
    profile: bool,
    /// Run only the scenarios whose label holds one of these texts (comma-separated on the command
    /// line), to profile one path; writes no report.
    only: Option<Vec<String>>,
    /// Count workerd's instructions per request under callgrind instead of timing it
    /// ([`instructions`]); `Some(requests per measurement)`.
    instructions: Option<usize>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options> {
        let usage = "usage: cargo xtask bench edge [--seconds N] [--rounds N] [--profile] [--only TEXT,...] \
             [--instructions [--requests N]]";
        let mut args = args.iter();
        match args.next().map(String::as_str) {
            Some("edge") => {}
            _ => bail!("{usage}"),
        }
        let mut options = Options {
            seconds: 10,
            rounds: 3,
            profile: false,
            only: None,
            instructions: None,
        };
        let (mut counting, mut requests, mut seconds) = (false, None, None);
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--profile" => {
                    options.profile = true;
                    continue;
                }
                "--instructions" => {
                    counting = true;
                    continue;
                }
                _ => {}
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value; {usage}"));
            match flag.as_str() {
                "--seconds" => seconds = Some(value?.parse().context("--seconds")?),
                "--rounds" => options.rounds = value?.parse().context("--rounds")?,
                "--only" => options.only = Some(value?.split(',').map(str::to_owned).collect()),
                "--requests" => requests = Some(value?.parse::<usize>().context("--requests")?),
                _ => bail!("unknown option {flag}; {usage}"),
            }
        }
        if counting {
            // A count of work, not of time: the two timed options would mean nothing.
            ensure!(
                seconds.is_none(),
                "--instructions measures a number of requests (--requests), not seconds"
            );
            ensure!(
                !options.profile,
                "--instructions and --profile each slow workerd down: use one"
            );
            let requests = requests.unwrap_or(instructions::DEFAULT_REQUESTS);
            ensure!(requests > 0, "--requests must be at least 1");
            options.instructions = Some(requests);
        } else {
            ensure!(requests.is_none(), "--requests goes with --instructions");
        }
        options.seconds = seconds.unwrap_or(options.seconds);
        ensure!(options.seconds > 0, "--seconds must be at least 1");
        ensure!(options.rounds > 0, "--rounds must be at least 1");
        Ok(options)
    }

    fn plan(&self, connections: usize) -> Plan {
        let measure = Duration::from_secs(self.seconds);
        Plan {
            connections,
            warmup: (measure / 5).min(Duration::from_secs(1)),
            measure,
        }
    }
}

/// The Workers under test (each a socket of the workerd config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// Ours, default configuration.
    Edge,
    /// Ours with `TOKEN_CACHE_ENTRIES = "0"`.
    EdgeNoCache,
    /// Ours built with the benchmark's limits policy (`bench/routes.toml`), on one of its routes.
    Limits(LimitRoute),
    Jose,
    Passthrough,
    /// The pass-through after one KV lookup.
    PassthroughKv,
}

impl Worker {
    fn port(self, ports: &Ports) -> u16 {
        match self {
            Worker::Edge => ports.edge,
            Worker::EdgeNoCache => ports.edge_nocache,
            Worker::Limits(_) => ports.limits,
            Worker::Jose => ports.jose,
            Worker::Passthrough => ports.passthrough,
            Worker::PassthroughKv => ports.passthrough_kv,
        }
    }

    /// Our Workers with the shipped policy.
    const OURS: [Worker; 2] = [Worker::Edge, Worker::EdgeNoCache];
}

/// The routes of the limits bundle: the same cache-hit pipeline with no limit, an approximate limit
/// or an exact one (`bench/routes.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitRoute {
    Unlimited,
    Approximate,
    Exact,
}

impl LimitRoute {
    pub const ALL: [LimitRoute; 3] = [
        LimitRoute::Unlimited,
        LimitRoute::Approximate,
        LimitRoute::Exact,
    ];

    fn path(self) -> &'static str {
        match self {
            LimitRoute::Unlimited => PATH,
            LimitRoute::Approximate => "/bench/approximate/x",
            LimitRoute::Exact => "/bench/exact/x",
        }
    }
}

/// Which tokens a scenario sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    /// The pool of [`FRESH_TOKENS`] distinct tokens, round robin: every request needs a verification.
    Fresh,
    /// One token, repeated: a verified-token cache hits on every request after the first.
    Same,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    pub worker: Worker,
    pub alg: Alg,
    pub tokens: Tokens,
    pub connections: usize,
}

impl Scenario {
    pub fn label(&self) -> &'static str {
        match (self.worker, self.tokens) {
            (Worker::EdgeNoCache, _) => "ours, cache off, fresh tokens",
            (Worker::Edge, Tokens::Same) => "ours, cache hit (one token)",
            (Worker::Edge, Tokens::Fresh) => "ours, default config, fresh tokens",
            (Worker::Limits(LimitRoute::Unlimited), _) => "limits bundle, cache hit, no limit",
            (Worker::Limits(LimitRoute::Approximate), _) => {
                "limits bundle, cache hit + approximate limit"
            }
            (Worker::Limits(LimitRoute::Exact), _) => "limits bundle, cache hit + exact limit",
            (Worker::Jose, _) => "jose, fresh tokens",
            (Worker::Passthrough, Tokens::Fresh) => {
                "pass-through (no auth), beside the full pipeline"
            }
            (Worker::Passthrough, _) => "pass-through (no auth)",
            (Worker::PassthroughKv, _) => "pass-through + KV lookup (no auth)",
        }
    }
}

/// Every scenario of a round, in the order of the first round.
fn scenarios() -> Vec<Scenario> {
    blocks().concat()
}

/// The scenarios in the groups that run together in every round. A group alternates in slices of a
/// second, so that whatever the machine is doing in that minute, all of its members meet it (see
/// `run`), and every ratio the report gives divides figures of one group: per connection count,
/// ours with the cache off, jose and ours with a cache hit for each algorithm, and the two floors.
fn blocks() -> Vec<Vec<Scenario>> {
    let mut all = Vec::new();
    for connections in CONNECTIONS {
        let mut group = Vec::new();
        for alg in Alg::ALL {
            for (worker, tokens) in [
                (Worker::EdgeNoCache, Tokens::Fresh),
                (Worker::Jose, Tokens::Fresh),
                (Worker::Edge, Tokens::Same),
            ] {
                group.push(Scenario {
                    worker,
                    alg,
                    tokens,
                    connections,
                });
            }
        }
        // The floors. They ignore the token; it is sent so that requests are the same size.
        for worker in [Worker::Passthrough, Worker::PassthroughKv] {
            group.push(Scenario {
                worker,
                alg: Alg::Es256,
                tokens: Tokens::Same,
                connections,
            });
        }
        all.push(group);
    }
    // The limiter scenarios (its own section of the report): one bundle, one token, the three routes
    // alternating in slices like the groups compared with jose.
    for connections in CONNECTIONS {
        all.push(
            LimitRoute::ALL
                .map(|route| Scenario {
                    worker: Worker::Limits(route),
                    alg: Alg::Es256,
                    tokens: Tokens::Same,
                    connections,
                })
                .to_vec(),
        );
    }
    // The overhead figure: the whole pipeline with a verification on every request, alternating
    // with a pass-through of its own (sent the same tokens), so that the two p50s of a round met
    // the same drift of the machine.
    all.push(
        [Worker::Edge, Worker::Passthrough]
            .map(|worker| Scenario {
                worker,
                alg: Alg::Es256,
                tokens: Tokens::Fresh,
                connections: 1,
            })
            .to_vec(),
    );
    all
}

/// The order of round `round` of `rounds`, as groups of indices into [`scenarios`]: the groups of
/// [`blocks`] rotated so that no group always follows the same neighbour, and each group's own
/// order reversed every other round, so that neither of two neighbours always goes first.
fn round_order(round: usize, rounds: usize) -> Vec<Vec<usize>> {
    let blocks = blocks();
    let mut starts = Vec::with_capacity(blocks.len());
    let mut next = 0;
    for b in &blocks {
        starts.push(next);
        next += b.len();
    }
    let offset = round * blocks.len() / rounds.max(1);
    (0..blocks.len())
        .map(|k| {
            let b = (k + offset) % blocks.len();
            let members = starts[b]..starts[b] + blocks[b].len();
            if round % 2 == 1 {
                members.rev().collect()
            } else {
                members.collect()
            }
        })
        .collect()
}

/// One slice of a run measured in slices of a second (the alternating groups, see `run`).
fn slice_plan(connections: usize) -> Plan {
    Plan {
        connections,
        warmup: Duration::from_millis(200),
        measure: Duration::from_secs(1),
    }
}

/// Whether a group runs in alternating slices of a second (see `run`): every group of more than
/// one scenario does, since the report divides figures of its members.
fn alternates(group: &[usize]) -> bool {
    group.len() > 1
}

/// The signed tokens, as ready-made `Authorization` values.
#[derive(Debug)]
struct Pools {
    fresh: [Arc<Vec<String>>; 2],
    same: [Arc<Vec<String>>; 2],
    /// Raw tokens for the smoke checks: one valid per algorithm, one for a revoked session.
    valid: [String; 2],
    revoked: [String; 2],
}

impl Pools {
    fn sign(issuer: &Issuer, now: i64) -> Result<Pools> {
        let exp = now + TOKEN_LIFETIME_SECS;
        let bearer = |t: &String| format!("Bearer {t}");
        // One thread per algorithm: signing 10,000 ES256 tokens is the slow part of start-up.
        let (es256, eddsa) = std::thread::scope(|s| {
            let es = s.spawn(|| issuer.pool(Alg::Es256, FRESH_TOKENS, now, exp));
            let ed = issuer.pool(Alg::EdDsa, FRESH_TOKENS, now, exp);
            (es.join(), ed)
        });
        let es256 = es256.map_err(|_| anyhow::anyhow!("signing ES256 tokens panicked"))?;
        let same = |pool: &[String]| Arc::new(vec![bearer(&pool[0])]);
        let revoked = |alg: Alg| {
            let who = Subject {
                sid: tokens::REVOKED_SESSION.into(),
                ..Subject::numbered(alg, 0)
            };
            issuer.token(alg, &who, now, exp)
        };
        Ok(Pools {
            same: [same(&es256), same(&eddsa)],
            valid: [es256[0].clone(), eddsa[0].clone()],
            revoked: [revoked(Alg::Es256), revoked(Alg::EdDsa)],
            fresh: [
                Arc::new(es256.iter().map(bearer).collect()),
                Arc::new(eddsa.iter().map(bearer).collect()),
            ],
        })
    }

    fn for_scenario(&self, s: &Scenario) -> &Arc<Vec<String>> {
        let i = Alg::ALL.iter().position(|a| *a == s.alg).unwrap_or(0);
        match s.tokens {
            Tokens::Fresh => &self.fresh[i],
            Tokens::Same => &self.same[i],
        }
    }
}

/// `cargo xtask bench <args>`.
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = repo_root();
    run(&root, &args)
}

fn run(root: &Path, args: &[String]) -> Result<()> {
    let options = Options::parse(args)?;
    tools::ensure(root)?;
    if options.instructions.is_some() {
        tools::ensure_valgrind()?;
    }
    edge::build_production(root)?;
    edge::build_variant(root, workerd::LIMITS_VARIANT, &["bench-policy"])?;
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    step(&format!(
        "signing {FRESH_TOKENS} ES256 and {FRESH_TOKENS} EdDSA tokens"
    ));
    let started = Instant::now();
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let issuer = Issuer::generate(ISSUER);
    let pools = Pools::sign(&issuer, now)?;
    println!("signed in {:.1} s", started.elapsed().as_secs_f64());

    // From here on Ctrl-C only raises a flag: the load generator stops within a request and the
    // `Workerd` guard then stops workerd's process group on the way out.
    let interrupted = interrupt_flag()?;
    step("starting workerd (ours with and without caches, and the limits bundle; jose; the pass-throughs; upstream, jwks, kv)");
    let ports = Ports::free()?;
    let settings = settings(&issuer, &ports)?;
    let launch = if options.instructions.is_some() {
        Launch::Callgrind(dir.join(instructions::DUMP_FILE))
    } else if options.profile {
        Launch::Inspector(
            std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port(),
        )
    } else {
        Launch::Plain
    };
    if let Launch::Callgrind(_) = launch {
        println!("under valgrind's callgrind: starting takes a minute or two");
    }
    let mut runtime = Workerd::start(root, &dir, &ports, &settings, &launch)?;

    step("checking that every Worker accepts good tokens and refuses bad ones");
    smoke::check(&ports, &pools).with_context(|| {
        format!(
            "smoke check failed; workerd's log: {}",
            runtime.log.display()
        )
    })?;

    step("warming up");
    let ours_and_jose = Worker::OURS
        .into_iter()
        .chain([Worker::Jose])
        .flat_map(|worker| {
            Alg::ALL.map(|alg| Scenario {
                worker,
                alg,
                tokens: Tokens::Fresh,
                connections: 1,
            })
        });
    let limits = LimitRoute::ALL.map(|route| Scenario {
        worker: Worker::Limits(route),
        alg: Alg::Es256,
        tokens: Tokens::Same,
        connections: 1,
    });
    for s in ours_and_jose.chain(limits) {
        if let Launch::Callgrind(_) = launch {
            instructions::prime(&s, &ports, &pools, &interrupted)?;
        }
        warm_up(&s, &ports, &pools, &interrupted, &runtime.log)?;
    }

    if let (Some(requests), Launch::Callgrind(out)) = (options.instructions, &launch) {
        return instructions::run(
            root,
            &options,
            requests,
            instructions::Workerd {
                runtime: &mut runtime,
                ports: &ports,
                dumps: out,
            },
            &pools,
            &interrupted,
        );
    }
    let profiles = match launch {
        Launch::Inspector(port) => {
            step(&format!(
                "profiling {} through workerd's inspector",
                profile::WORKERS.join(", ")
            ));
            profile::start(port)?
        }
        _ => Vec::new(),
    };
    let scenarios = scenarios();
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); scenarios.len()];
    let measuring = Instant::now();
    let busy_before = cpu::machine_busy()?;
    let pid = runtime.pid();
    let ours_before = cpu::used(Some(pid))? + cpu::used(None)?;
    let mut measure = |s: &Scenario, plan: Plan| -> Result<Measured> {
        runtime.check_alive()?;
        let workerd_before = cpu::used(Some(pid))?;
        let client_before = cpu::used(None)?;
        let load = load::run(
            &target(s, &ports),
            pools.for_scenario(s),
            plan,
            &interrupted,
        )?;
        Ok(Measured {
            workerd_cpu: cpu::used(Some(pid))? - workerd_before,
            client_cpu: cpu::used(None)? - client_before,
            load,
        })
    };
    for round in 0..options.rounds {
        step(&format!(
            "round {}/{}: {} scenarios of {} s",
            round + 1,
            options.rounds,
            scenarios.len(),
            options.seconds
        ));
        // Interleaved: every scenario once per round, in the order of `round_order`. A group
        // alternates in slices of a second (ours, jose, ours with a cache hit, ..., the floors,
        // ours, jose, ...), so that every ratio divides runs that met the same drift of the machine.
        for mut group in round_order(round, options.rounds) {
            if let Some(only) = &options.only {
                group.retain(|&i| {
                    only.iter()
                        .any(|o| scenarios[i].label().contains(o.as_str()))
                });
            }
            let runs: Vec<(usize, Measured)> = if alternates(&group) {
                let mut slices: Vec<Vec<Measured>> = group.iter().map(|_| Vec::new()).collect();
                for _ in 0..options.seconds {
                    for (k, &i) in group.iter().enumerate() {
                        let s = &scenarios[i];
                        slices[k].push(measure(s, slice_plan(s.connections))?);
                    }
                }
                group
                    .iter()
                    .copied()
                    .zip(slices.into_iter().map(Measured::combine))
                    .collect()
            } else {
                group
                    .iter()
                    .map(|&i| {
                        let s = &scenarios[i];
                        Ok((i, measure(s, options.plan(s.connections))?))
                    })
                    .collect::<Result<_>>()?
            };
            for (i, measured) in runs {
                let run = measured.into_run();
                print_run(&scenarios[i], &run);
                results[i].push(run);
            }
            if interrupted.load(Ordering::SeqCst) {
                bail!("interrupted");
            }
        }
    }
    // What the rest of the machine used meanwhile, in cores: the noise under every figure.
    let ours = cpu::used(Some(pid))? + cpu::used(None)? - ours_before;
    let others = cpu::machine_busy()?.saturating_sub(busy_before + ours);
    let other_cores = others.as_secs_f64() / measuring.elapsed().as_secs_f64();
    if options.profile {
        for session in profiles {
            println!("written: {}", session.finish(&dir)?.display());
        }
        drop(runtime);
        println!("a profiled run slows what it measures: docs/benchmarks.md is left as it was");
        return Ok(());
    }
    drop(runtime);

    let rows = scenarios
        .iter()
        .zip(results)
        .map(|(s, rounds)| Row::new(*s, rounds))
        .collect();
    let report = Report {
        facts: Facts::gather(root)?,
        seconds: options.seconds,
        rounds: options.rounds,
        warmup: options.plan(1).warmup,
        fresh_tokens: FRESH_TOKENS,
        cache_in_source: cache_in_source(root),
        other_cores,
        rows,
    };
    if options.only.is_some() {
        // The targets whose scenarios all ran are still worth reading (`invalid`: a side did not run).
        println!("{}", report.summary_for_terminal());
        println!(
            "load average when the rounds ended: {}; other processes used {:.2} cores meanwhile",
            report.facts.load, other_cores
        );
        println!("--only ran some scenarios: docs/benchmarks.md is left as it was");
        return Ok(());
    }
    let text = report.markdown();
    let out = root.join("docs/benchmarks.md");
    std::fs::create_dir_all(root.join("docs"))?;
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
    step(&format!("written to {}", out.display()));
    println!("{}", report.summary_for_terminal());
    Ok(())
}

/// One scenario's run before it becomes a [`Run`]: what the load generator saw and the CPU time
/// workerd and the load generator spent meanwhile.
struct Measured {
    load: load::Summary,
    workerd_cpu: Duration,
    client_cpu: Duration,
}

impl Measured {
    /// Slices of one scenario as one run.
    fn combine(parts: Vec<Measured>) -> Measured {
        let workerd_cpu = parts.iter().map(|p| p.workerd_cpu).sum();
        let client_cpu = parts.iter().map(|p| p.client_cpu).sum();
        Measured {
            load: load::Summary::combine(parts.into_iter().map(|p| p.load).collect()),
            workerd_cpu,
            client_cpu,
        }
    }

    fn into_run(self) -> Run {
        let per_request = |d: Duration| d.as_secs_f64() * 1e6 / self.load.completed.max(1) as f64;
        Run {
            workerd_cpu_us: per_request(self.workerd_cpu),
            client_cpu_us: per_request(self.client_cpu),
            load: self.load,
        }
    }
}

fn print_run(s: &Scenario, run: &Run) {
    let summary = &run.load;
    println!(
        "  {:<52} {:<5} {} conn: {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  cpu {:>4.0} µs/req{}",
        s.label(),
        s.alg.name(),
        s.connections,
        summary.per_sec,
        summary.p50.as_secs_f64() * 1e3,
        summary.p99.as_secs_f64() * 1e3,
        run.workerd_cpu_us,
        if summary.is_valid() {
            String::new()
        } else {
            format!(
                "  INVALID: {} errors, first: {}",
                summary.errors,
                summary.first_error.clone().unwrap_or_default()
            )
        }
    );
}

/// Half a second of one connection on `s`, which must answer as expected throughout.
fn warm_up(
    s: &Scenario,
    ports: &Ports,
    pools: &Pools,
    interrupted: &Arc<AtomicBool>,
    log: &Path,
) -> Result<()> {
    let warm = Plan {
        connections: 1,
        warmup: Duration::ZERO,
        measure: Duration::from_millis(500),
    };
    let summary = load::run(&target(s, ports), pools.for_scenario(s), warm, interrupted)?;
    if !summary.is_valid() {
        bail!(
            "{} ({}) fails while warming up: {}; see {}",
            s.label(),
            s.alg.name(),
            summary.first_error.unwrap_or_default(),
            log.display()
        );
    }
    Ok(())
}

fn target(s: &Scenario, ports: &Ports) -> Target {
    Target {
        port: s.worker.port(ports),
        path: match s.worker {
            Worker::Limits(route) => route.path(),
            _ => PATH,
        }
        .to_owned(),
    }
}

fn settings(issuer: &Issuer, ports: &Ports) -> Result<Settings> {
    let auth_issuers = serde_json::json!({ "issuers": [{
        "issuer": issuer.issuer,
        "jwks_uri": ports.jwks_uri(),
        "audiences": [tokens::AUDIENCE],
        "algorithms": ["ES256", "EdDSA"],
        "token_type": "at+jwt",
        "leeway_secs": 30,
        "tenant": "origin",
    }]});
    let revoked = auth_core::sessions::SessionKey {
        tenant: tokens::TENANT,
        session: tokens::REVOKED_SESSION,
    }
    .deny_entry_key();
    Ok(Settings {
        auth_issuers: auth_issuers.to_string(),
        jwks: issuer.jwks().to_string(),
        push_secret: (0..48)
            .map(|_| char::from(b'a' + rand::random::<u8>() % 26))
            .collect(),
        kv_seed: serde_json::json!({ revoked: "1" }).to_string(),
    })
}

/// Whether the edge Worker's source reads `TOKEN_CACHE_ENTRIES` (the verified-token cache exists).
fn cache_in_source(root: &Path) -> bool {
    std::fs::read_dir(root.join("edge-worker/src"))
        .map(|entries| {
            entries.flatten().any(|e| {
                std::fs::read_to_string(e.path())
                    .map(|t| t.contains("TOKEN_CACHE_ENTRIES"))
                    .unwrap_or(false)
            })
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn options_default_to_ten_seconds_and_three_rounds() {
        let o = Options::parse(&args("edge")).unwrap();
        assert_eq!((o.seconds, o.rounds), (10, 3));
        let o = Options::parse(&args("edge --seconds 2 --rounds 1")).unwrap();
        assert_eq!((o.seconds, o.rounds), (2, 1));
        assert!(Options::parse(&args("")).is_err());
        assert!(Options::parse(&args("edge --seconds")).is_err());
        assert!(Options::parse(&args("edge --seconds 0")).is_err());
        assert!(Options::parse(&args("edge --fast")).is_err());
        let o = Options::parse(&args("edge --profile --seconds 3")).unwrap();
        assert!(o.profile && o.seconds == 3);
        let o = Options::parse(&args("edge --only approximate,exact")).unwrap();
        assert_eq!(o.only.unwrap(), ["approximate", "exact"]);
        assert!(Options::parse(&args("edge --only")).is_err());
        assert_eq!(Options::parse(&args("edge")).unwrap().instructions, None);
    }

    #[test]
    fn instructions_count_a_number_of_requests_never_seconds() {
        let o = Options::parse(&args("edge --instructions")).unwrap();
        assert_eq!(o.instructions, Some(instructions::DEFAULT_REQUESTS));
        assert_eq!(o.rounds, 3);
        let o = Options::parse(&args(
            "edge --instructions --requests 300 --rounds 2 --only a,b",
        ))
        .unwrap();
        assert_eq!((o.instructions, o.rounds), (Some(300), 2));
        assert_eq!(o.only.unwrap(), ["a", "b"]);
        let o = Options::parse(&args("edge --requests 50 --instructions")).unwrap();
        assert_eq!(o.instructions, Some(50), "in either order");
        assert!(Options::parse(&args("edge --requests 300")).is_err());
        assert!(Options::parse(&args("edge --instructions --requests 0")).is_err());
        assert!(Options::parse(&args("edge --instructions --requests")).is_err());
        assert!(Options::parse(&args("edge --instructions --requests x")).is_err());
        assert!(Options::parse(&args("edge --instructions --seconds 2")).is_err());
        assert!(Options::parse(&args("edge --instructions --profile")).is_err());
    }

    #[test]
    fn every_round_runs_every_scenario_once_and_what_is_divided_alternates_together() {
        let all = scenarios();
        for rounds in [1, 3, 5] {
            let mut firsts = Vec::new();
            for round in 0..rounds {
                let groups = round_order(round, rounds);
                let mut flat = groups.concat();
                firsts.push(flat[0]);
                flat.sort_unstable();
                assert_eq!(flat, (0..all.len()).collect::<Vec<_>>(), "round {round}");
                let with_jose: Vec<&Vec<usize>> = groups
                    .iter()
                    .filter(|g| g.iter().any(|&i| all[i].worker == Worker::Jose))
                    .collect();
                assert_eq!(with_jose.len(), 2, "one per connection count");
                for group in with_jose {
                    assert!(alternates(group));
                    let connections = all[group[0]].connections;
                    let mut members: Vec<String> = group
                        .iter()
                        .map(|&i| all[i])
                        .inspect(|s| assert_eq!(s.connections, connections))
                        .map(|s| format!("{:?} {:?} {:?}", s.worker, s.alg, s.tokens))
                        .collect();
                    let mut expected: Vec<String> = Alg::ALL
                        .into_iter()
                        .flat_map(|alg| {
                            [
                                (Worker::EdgeNoCache, Tokens::Fresh),
                                (Worker::Jose, Tokens::Fresh),
                                (Worker::Edge, Tokens::Same),
                            ]
                            .map(|(w, t)| format!("{w:?} {alg:?} {t:?}"))
                        })
                        .chain(
                            [Worker::Passthrough, Worker::PassthroughKv]
                                .map(|w| format!("{w:?} {:?} {:?}", Alg::Es256, Tokens::Same)),
                        )
                        .collect();
                    members.sort();
                    expected.sort();
                    assert_eq!(
                        members, expected,
                        "ours alternates with jose and the floors"
                    );
                }
                let overhead: Vec<&Vec<usize>> = groups
                    .iter()
                    .filter(|g| {
                        g.iter().any(|&i| {
                            all[i].worker == Worker::Edge && all[i].tokens == Tokens::Fresh
                        })
                    })
                    .collect();
                assert_eq!(overhead.len(), 1);
                assert!(alternates(overhead[0]));
                let mut members: Vec<(Worker, Tokens, usize)> = overhead[0]
                    .iter()
                    .map(|&i| (all[i].worker, all[i].tokens, all[i].connections))
                    .collect();
                members.sort_by_key(|m| format!("{m:?}"));
                assert_eq!(
                    members,
                    [
                        (Worker::Edge, Tokens::Fresh, 1),
                        (Worker::Passthrough, Tokens::Fresh, 1)
                    ],
                    "the full pipeline alternates with its own pass-through"
                );
                let limits = groups.iter().filter(|g| {
                    g.iter()
                        .any(|&i| matches!(all[i].worker, Worker::Limits(_)))
                });
                for group in limits {
                    assert!(alternates(group));
                    assert_eq!(group.len(), LimitRoute::ALL.len());
                }
            }
            if rounds > 1 {
                assert_ne!(firsts[0], firsts[1], "the order rotates between rounds");
            }
        }
        // Every other round reverses each group: ours goes first, then last.
        let (even, odd) = (round_order(0, 2), round_order(1, 2));
        assert_eq!(all[even[0][0]].worker, Worker::EdgeNoCache);
        for group in &even {
            let reversed: Vec<usize> = group.iter().rev().copied().collect();
            assert!(
                odd.contains(&reversed),
                "{group:?} runs reversed in round 2"
            );
        }
    }

    #[test]
    fn every_ratio_the_report_needs_has_its_scenarios() {
        let all = scenarios();
        for alg in Alg::ALL {
            for connections in CONNECTIONS {
                for (worker, tokens) in [
                    (Worker::EdgeNoCache, Tokens::Fresh),
                    (Worker::Edge, Tokens::Same),
                    (Worker::Jose, Tokens::Fresh),
                ] {
                    let s = Scenario {
                        worker,
                        alg,
                        tokens,
                        connections,
                    };
                    assert!(all.contains(&s), "{s:?} is missing");
                }
            }
        }
        assert!(all
            .iter()
            .any(|s| s.worker == Worker::Passthrough && s.connections == 1));
    }
}
