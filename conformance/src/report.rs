//! `docs/conformance.md`: counts per suite and group, then every divergence with its reason.
//!
//! The text depends only on the vectors, the code under test and the fixed seed: no timestamps, no
//! timings, so an unchanged run leaves the committed file unchanged.

use super::justify::{Judged, RULES};
use super::vectors::SUITES;
use super::{differential, Case, CaseResult};
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    total: usize,
    agree: usize,
    native_vs_expected: usize,
    webcrypto_vs_expected: usize,
    paths_disagree: usize,
    not_run: usize,
    justified: usize,
    unexplained: usize,
}

impl Counts {
    fn add(&mut self, result: &CaseResult, unexplained: bool) {
        self.total += 1;
        self.agree += usize::from(!result.diverges());
        self.native_vs_expected += usize::from(result.native_vs_expected);
        self.webcrypto_vs_expected += usize::from(result.webcrypto_vs_expected);
        self.paths_disagree += usize::from(result.paths_disagree);
        self.not_run += usize::from(result.not_run());
        self.justified += usize::from(result.diverges() && !unexplained);
        self.unexplained += usize::from(unexplained);
    }

    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            self.total,
            self.agree,
            self.native_vs_expected,
            self.webcrypto_vs_expected,
            self.paths_disagree,
            self.not_run,
            self.justified,
            if self.unexplained == 0 {
                "0".to_owned()
            } else {
                format!("**{}**", self.unexplained)
            }
        )
    }
}

const COUNT_COLUMNS: [&str; 8] = [
    "cases",
    "agree",
    "native ≠ expected",
    "webcrypto ≠ expected",
    "native ≠ webcrypto",
    "not run",
    "justified",
    "unexplained",
];

/// A table header: the label columns, then the counts.
fn header(labels: &[&str]) -> String {
    let names: Vec<&str> = labels.iter().copied().chain(COUNT_COLUMNS).collect();
    let rule: Vec<&str> = labels
        .iter()
        .map(|_| "---")
        .chain(COUNT_COLUMNS.iter().map(|_| "--:"))
        .collect();
    format!("| {} |\n|{}|\n", names.join(" | "), rule.join("|"))
}

pub fn render(cases: &[Case], results: &[CaseResult], judged: &Judged, sources: &str) -> String {
    let mut suites: Vec<&str> = SUITES.to_vec();
    suites.push(differential::SUITE);
    let mut per_suite: BTreeMap<&str, Counts> = BTreeMap::new();
    let mut per_group: BTreeMap<(&str, &str), Counts> = BTreeMap::new();
    let mut total = Counts::default();
    for (i, (case, result)) in cases.iter().zip(results).enumerate() {
        let unexplained = judged.is_unexplained(i);
        per_suite
            .entry(case.suite)
            .or_default()
            .add(result, unexplained);
        per_group
            .entry((case.suite, case.group.as_str()))
            .or_default()
            .add(result, unexplained);
        total.add(result, unexplained);
    }

    let mut md = String::new();
    md.push_str(&INTRO.replace("{sources}", sources));
    md.push_str("\n## Summary\n\n");
    md.push_str(&header(&["suite"]));
    for suite in &suites {
        if let Some(c) = per_suite.get(suite) {
            md.push_str(&c.row(suite));
        }
    }
    md.push_str(&total.row("**all**"));
    md.push_str(COLUMNS);

    md.push_str("\n## Differential: generated tokens\n\n");
    md.push_str(DIFFERENTIAL);
    md.push_str(&header(&["algorithm and mutation", "expected"]));
    let mut expected_of: BTreeMap<&str, &str> = BTreeMap::new();
    for case in cases.iter().filter(|c| c.suite == differential::SUITE) {
        if let Some(e) = case.expected {
            expected_of.insert(case.group.as_str(), e.name());
        }
    }
    for ((suite, group), c) in &per_group {
        if *suite == differential::SUITE {
            let expected = expected_of.get(group).copied().unwrap_or("");
            md.push_str(&c.row(&format!("{group} | {expected}")));
        }
    }

    md.push_str("\n## Per group\n\n");
    for suite in SUITES {
        let rows: Vec<_> = per_group.iter().filter(|((s, _), _)| *s == suite).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = write!(
            md,
            "<details><summary>{suite} ({} groups)</summary>\n\n",
            rows.len()
        );
        md.push_str(&header(&["group"]));
        for ((_, group), c) in rows {
            md.push_str(&c.row(&cell(group)));
        }
        md.push_str("\n</details>\n\n");
    }

    md.push_str("## Divergences and the decisions behind them\n\n");
    md.push_str(DIVERGENCES);
    let unexplained = judged.unexplained();
    if !unexplained.is_empty() {
        let _ = write!(
            md,
            "### Unexplained ({}): these fail `cargo xtask conformance`\n\n",
            unexplained.len()
        );
        md.push_str(CASE_HEADER);
        for &i in &unexplained {
            md.push_str(&case_row(&cases[i], &results[i]));
        }
        md.push('\n');
    }
    for (r, rule) in RULES.iter().enumerate() {
        let _ = write!(
            md,
            "### {}. {}\n\n{} ({})\n\n",
            r + 1,
            rule.to_string().replace('<', "&lt;"),
            rule.reason,
            match judged.uses[r] {
                1 => "1 case".to_owned(),
                n => format!("{n} cases"),
            }
        );
        if judged.uses[r] == 0 {
            continue;
        }
        md.push_str(CASE_HEADER);
        for (i, (case, result)) in cases.iter().zip(results).enumerate() {
            if judged.rule[i] == Some(r) {
                md.push_str(&case_row(case, result));
            }
        }
        md.push('\n');
    }
    md
}

const CASE_HEADER: &str = "| suite | group | case | comment | flags | alg | expected | native | webcrypto |\n|---|---|---|---|---|---|---|---|---|\n";

fn case_row(case: &Case, result: &CaseResult) -> String {
    let outcome = |o: &Option<super::Outcome>| match o {
        Some(o) if o.detail.is_empty() => o.verdict(),
        Some(o) => format!("{} ({})", o.verdict(), o.detail),
        None => match &case.input {
            super::Input::NotRun { why } => format!("not run: {why}"),
            _ => "—".into(),
        },
    };
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        cell(case.suite),
        cell(&case.group),
        cell(&case.id),
        cell(&case.comment),
        cell(&case.flags.join(", ")),
        cell(&case.alg),
        case.expected.map_or("—", |e| e.name()),
        cell(&outcome(&result.native)),
        cell(&outcome(&result.webcrypto)),
    )
}

/// One case on one line, for the terminal.
pub fn one_line(case: &Case, result: &CaseResult) -> String {
    let o = |o: &Option<super::Outcome>| match o {
        None => "not run".to_owned(),
        Some(o) if o.detail.is_empty() => o.verdict(),
        Some(o) => format!("{} ({})", o.verdict(), o.detail),
    };
    format!(
        "{} / {} / {} ({}): expected {}, native {}, webcrypto {}",
        case.suite,
        case.group,
        case.id,
        case.comment,
        case.expected.map_or("—", |e| e.name()),
        o(&result.native),
        o(&result.webcrypto)
    )
}

/// Text safe inside a table cell.
fn cell(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let short = if one_line.chars().count() > 160 {
        format!("{}…", one_line.chars().take(160).collect::<String>())
    } else {
        one_line
    };
    short.replace('|', "\\|").replace('<', "&lt;")
}

const INTRO: &str = r#"# Conformance: outside vectors and a differential test, native vs WebCrypto

Generated by `cargo xtask conformance` (also a step of `cargo xtask test`); do not edit by hand. The
reasons quoted below live in `conformance/src/justify.rs`, the reviewed table the command checks
every divergence against.

Every case runs through two paths, and each verdict is compared with the vector's expected result and
with the other path's:

- **native**: auth-core's steps (strict JWK import `VerificationKey::from_jwk`, the key-set policy
  `KeySet::from_jwks_json`, the token parser `UnverifiedToken::parse`, `signature_job`), then
  `verify::check_signature_native` (jwt-compact over p256 / ed25519-dalek / rsa). This is what the
  origin, the CLI and the tests run.
- **webcrypto**: the edge Worker itself, built with the `conformance` cargo feature and run under
  `wrangler dev` (workerd): the same core steps compiled to wasm32, the key imported into WebCrypto
  (`webcrypto::import`; keys it refuses are dropped from a key set, as the edge does), then
  `webcrypto::check_signature`. This is what production runs.

Vectors are vendored in `conformance/vectors/` ({sources}; see its README). How they are driven:

- Wycheproof JWS / JSON Web Crypto / JWK files: each test's text is a bearer token, checked against the
  group's key (`public`, else `private`): one JWK, or a JWKS through the key-set policy and `kid`
  selection. Their payloads are bytes such as `foo`, not JWT claims, so the parser runs with the
  payload replaced by `{}` after checking it is canonical base64url; the signature is still checked
  over the original signing input. Each JWK-file key set also runs alone (the "key set" rows).
- Wycheproof raw signature files (ECDSA P-256 in P1363 form, Ed25519, RSA PKCS#1 v1.5 and PSS with
  SHA-256): the message is the signing input, with the group's JWK and the algorithm the file tests.
- JOSE cookbook (RFC 7520 §4, RFC 8037, RFC 7797): each example's compact form and both JSON
  serializations, against the public half of the example's key; all are valid per the RFCs.
"#;

const COLUMNS: &str = r#"
*agree*: both paths give the expected verdict and the same one. *native ≠ expected*,
*webcrypto ≠ expected*: a path's verdict differs from the vector's (`acceptable` matches either).
*native ≠ webcrypto*: the paths differ (for key sets: in what they keep). *not run*: the vector cannot
be expressed as an input of either path. *justified*: divergent (including `acceptable` vectors,
where the verdict we give is a decision) and explained by a rule below; *unexplained* fails the
command.
"#;

const DIFFERENTIAL: &str = r#"Tokens signed in Rust (`conformance/src/differential.rs`, fixed seed): two P-256 and two
Ed25519 keys, and a 2048-bit and a 4096-bit RSA key each published for RS256 and for PS256. Every key
is in one JWKS, so each token also goes through the key-set policy and `kid` selection. Each base
token is mutated; the expected verdict is the one the mutation calls for, and both paths must give it.

"#;

const DIVERGENCES: &str = r#"Grouped by the rule that explains them; each rule is one entry of the table in
`conformance/src/justify.rs`.

"#;
