//! `cargo xtask conformance`: outside test vectors and generated tokens through both signature paths.
//!
//! The native path is auth-core's own steps with [`auth_core::verify::check_signature_native`]
//! ([`native`]); the WebCrypto path is the edge Worker itself, built with the `conformance` feature
//! and run under `wrangler dev` ([`worker`]), whose endpoints run the same steps compiled to wasm32
//! with the runtime's WebCrypto. Every case is compared three ways: each path with the vector's
//! expected result, and the two paths with each other. A divergence passes only if the reviewed table
//! in [`justify`] explains it; anything else fails the command. The report is `docs/conformance.md`.
//!
//! Then [`request_path`] checks what a request through the Worker's gate costs: a token whose
//! signature was not verified must cost no storage read, Durable Object call or fetch of its own.
//!
//! The outside vectors are vendored in `conformance/vectors/` (sources and licences in its README) and
//! read by [`vectors`]; the differential cases ([`differential`]) are generated here from a fixed
//! seed, so the report is the same on every run.

mod differential;
mod justify;
mod native;
mod report;
mod request_path;
mod vectors;
mod worker;

use anyhow::{bail, Context as _, Result};
use serde::Deserialize;
use serde_json::Value;
use std::path::Path;
use std::time::Instant;
use xtask::{edge, repo_root, step, tools};

/// `cargo xtask conformance`: tools first, then [`run`].
fn main() -> Result<()> {
    // Keep running on Ctrl-C until the Worker has stopped, so it is torn down by Drop.
    let _interrupted = xtask::interrupt_flag()?;
    let root = repo_root();
    tools::ensure(&root)?;
    run(&root)
}

/// Runs every suite through both paths, writes `docs/conformance.md`, and fails on any divergence
/// the justification table does not explain.
fn run(root: &Path) -> Result<()> {
    let started = Instant::now();
    step("conformance: loading vectors and generating differential tokens");
    let vectors_dir = root.join(VECTORS);
    let mut cases = vectors::load(&vectors_dir)
        .with_context(|| format!("reading the vectors in {}", vectors_dir.display()))?;
    let generating = Instant::now();
    cases.extend(differential::cases(root)?);
    println!(
        "{} cases ({} generated in {:.1?})",
        cases.len(),
        cases
            .iter()
            .filter(|c| c.suite == differential::SUITE)
            .count(),
        generating.elapsed()
    );

    let bundle = edge::build_variant(root, "conformance", &["conformance"])?;
    step("conformance: running every case through both paths");
    let issuer = request_path::Issuer::start()?;
    let edge = worker::Edge::start(root, &bundle, &issuer)?;
    step("conformance: what a request through the gate costs (adapter calls)");
    let costs = request_path::check(&edge, &issuer)?;
    for line in &costs.lines {
        println!("{line}");
    }
    // After the checks above, which made the tenant's Durable Object (its Rust object lives in the
    // wasm instance), and before the vectors, so that every case below runs on the instance rebuilt
    // after the panic: the fetch handler and the Durable Object must both get a fresh one.
    edge.recovers_from_a_panic()?;
    request_path::answers_after_a_panic(&edge, &issuer)?;
    println!("a panic failed only its own request; the fetch handler and the Durable Object answer from a fresh instance");
    let (native, webcrypto) = run_both(&edge, &cases)?;
    edge.finish();

    let results: Vec<CaseResult> = cases
        .iter()
        .zip(native.into_iter().zip(webcrypto))
        .map(|(case, (native, webcrypto))| CaseResult::judge(case, native, webcrypto))
        .collect();
    let judged = justify::apply(&cases, &results);
    let mut text = report::render(&cases, &results, &judged, &vectors::sources(&vectors_dir));
    text.push_str(&costs.markdown());
    let path = root.join("docs/conformance.md");
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;

    let unexplained: Vec<usize> = judged.unexplained();
    let generated: Vec<&CaseResult> = cases
        .iter()
        .zip(&results)
        .filter(|(c, _)| c.suite == differential::SUITE)
        .map(|(_, r)| r)
        .collect();
    println!(
        "differential: {} generated tokens, {} with the expected verdict on both paths, {} where the paths disagree",
        generated.len(),
        generated.iter().filter(|r| !r.diverges()).count(),
        generated.iter().filter(|r| r.paths_disagree).count(),
    );
    println!(
        "{} cases: {} agree with the vectors and across paths, {} justified divergences, {} unexplained; report: docs/conformance.md ({:.1?})",
        cases.len(),
        results.iter().filter(|r| !r.diverges()).count(),
        results.iter().filter(|r| r.diverges()).count() - unexplained.len(),
        unexplained.len(),
        started.elapsed()
    );
    for rule in judged.unused_rules() {
        println!("warning: justification no longer needed: {rule}");
    }
    if !unexplained.is_empty() {
        for &i in unexplained.iter().take(40) {
            eprintln!("unexplained: {}", report::one_line(&cases[i], &results[i]));
        }
        bail!(
            "{} unexplained conformance divergences (listed in docs/conformance.md): fix the path \
             or add a reviewed justification in conformance/src/justify.rs",
            unexplained.len()
        );
    }
    Ok(())
}

/// The vendored outside vectors, relative to the workspace root.
const VECTORS: &str = "conformance/vectors";

type Outcomes = Vec<Option<Outcome>>;

/// Every case through both paths at once. The native path (a debug build: RSA and Ed25519 checks
/// take milliseconds each) is split over the cores; the Worker needs one for a second or two.
fn run_both(edge: &worker::Edge, cases: &[Case]) -> Result<(Outcomes, Outcomes)> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
    let chunk = cases.len().div_ceil(threads).max(1);
    let (native, (webcrypto, webcrypto_time)) = std::thread::scope(|s| {
        let native = s.spawn(|| {
            timed(|| {
                let parts: Vec<_> = cases
                    .chunks(chunk)
                    .map(|part| s.spawn(|| native::run_all(part)))
                    .collect();
                parts
                    .into_iter()
                    .map(|p| p.join())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map(|parts| parts.concat())
            })
        });
        (native.join(), timed(|| edge.run_all(cases)))
    });
    let panicked = || anyhow::anyhow!("the native path panicked");
    let (native, native_time) = native.map_err(|_| panicked())?;
    let native = native.map_err(|_| panicked())?;
    let webcrypto = webcrypto?;
    println!(
        "native path: {native_time:.1?}; webcrypto path (Worker under wrangler dev): {webcrypto_time:.1?}"
    );
    Ok((native, webcrypto))
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, std::time::Duration) {
    let started = Instant::now();
    (f(), started.elapsed())
}

/// What a vector says the verdict must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Valid,
    Invalid,
    /// Either verdict conforms; which one we give is a decision, written down in [`justify`].
    Acceptable,
}

impl Expected {
    fn parse(result: &str) -> Result<Expected> {
        Ok(match result {
            "valid" => Expected::Valid,
            "invalid" => Expected::Invalid,
            "acceptable" => Expected::Acceptable,
            other => bail!("unknown expected result {other:?}"),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Expected::Valid => "valid",
            Expected::Invalid => "invalid",
            Expected::Acceptable => "acceptable",
        }
    }
}

/// The key a token is checked against.
#[derive(Debug, Clone, PartialEq)]
pub enum KeySource {
    /// One JWK, used whatever the token's `kid` (vectors name keys their own way).
    Jwk(Value),
    /// A JWKS document as text: the key-set policy, then `kid` selection, as at the edge.
    Jwks(String),
}

/// What one case runs.
#[derive(Debug, Clone)]
pub enum Input {
    /// A raw signature over a text message, with the algorithm a token would name.
    Signature {
        jwk: Value,
        alg: String,
        signing_input: String,
        /// base64url
        signature: String,
    },
    /// A compact token. `opaque_payload`: the payload is bytes, not JWT claims (Wycheproof JWS).
    Token {
        key: KeySource,
        token: String,
        opaque_payload: bool,
    },
    /// A JWKS document through the key-set policy (and, at the edge, WebCrypto import).
    KeySet { document: String },
    /// A vector neither path can be given; the reason is reported and must be justified.
    NotRun { why: &'static str },
}

/// One vector or generated token.
#[derive(Debug, Clone)]
pub struct Case {
    pub suite: &'static str,
    pub group: String,
    /// The vector's `tcId`, or a name for cookbook examples and generated tokens.
    pub id: String,
    pub comment: String,
    pub flags: Vec<String>,
    /// The algorithm the case is about: the token's `alg`, else the key's; empty when neither says.
    pub alg: String,
    /// `None` for key-set cases, where only the two paths are compared.
    pub expected: Option<Expected>,
    pub input: Input,
}

/// How far an input got on one path; only `verified` with `valid` is an accepted signature.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Outcome {
    pub stage: String,
    pub valid: bool,
    #[serde(default)]
    pub detail: String,
    /// Key-set cases: how many keys the set kept.
    #[serde(default)]
    pub keys: Option<usize>,
}

impl Outcome {
    pub fn accepted(&self) -> bool {
        self.valid && (self.stage == "verified" || self.stage == "keyset_accepted")
    }

    /// The verdict as the report shows it.
    pub fn verdict(&self) -> String {
        match (self.accepted(), self.keys) {
            (true, Some(n)) => format!("accepted ({n} keys)"),
            (true, None) => "valid".into(),
            (false, _) if self.stage == "verified" => "invalid signature".into(),
            (false, _) => format!("refused: {}", self.stage),
        }
    }
}

/// A case's outcomes on both paths and how they compare.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub native: Option<Outcome>,
    pub webcrypto: Option<Outcome>,
    pub native_vs_expected: bool,
    pub webcrypto_vs_expected: bool,
    pub paths_disagree: bool,
    pub acceptable: bool,
}

impl CaseResult {
    fn judge(case: &Case, native: Option<Outcome>, webcrypto: Option<Outcome>) -> CaseResult {
        let wrong = |o: &Option<Outcome>| match (o, case.expected) {
            (Some(o), Some(Expected::Valid)) => !o.accepted(),
            (Some(o), Some(Expected::Invalid)) => o.accepted(),
            _ => false,
        };
        let paths_disagree = match (&native, &webcrypto) {
            (Some(n), Some(w)) => n.accepted() != w.accepted() || n.keys != w.keys,
            (None, None) => false,
            _ => true,
        };
        CaseResult {
            native_vs_expected: wrong(&native),
            webcrypto_vs_expected: wrong(&webcrypto),
            paths_disagree,
            acceptable: case.expected == Some(Expected::Acceptable),
            native,
            webcrypto,
        }
    }

    pub fn not_run(&self) -> bool {
        self.native.is_none() && self.webcrypto.is_none()
    }

    /// Anything that needs a written decision: a mismatch, a disagreement, a vector not run, or an
    /// `acceptable` vector (either verdict conforms, so the one we give is a choice).
    pub fn diverges(&self) -> bool {
        self.native_vs_expected
            || self.webcrypto_vs_expected
            || self.paths_disagree
            || self.not_run()
            || self.acceptable
    }
}
