//! The report's rate-limiting section: the limits bundle's three routes (no limit, approximate,
//! exact; `bench/routes.toml`) measured in alternating slices, so each round's figures are paired.

use super::{Report, Row};
use crate::tokens::Alg;
use crate::{LimitRoute, Tokens, Worker, CONNECTIONS};
use std::fmt::Write as _;

/// The approximate tier adds at most this share of a cache hit's workerd CPU per request.
pub(crate) const APPROXIMATE_CPU_GOAL: f64 = 1.05;
/// The exact tier adds at most this to a cache hit's p50 at one connection.
const EXACT_P50_GOAL_MS: f64 = 1.0;

impl Report {
    fn limits_row(&self, route: LimitRoute, connections: usize) -> Option<&Row> {
        self.row(Worker::Limits(route), Alg::Es256, Tokens::Same, connections)
            .filter(|r| r.valid())
    }

    /// Per round, `f(limited) / f(unlimited)` (or `−`), both measured in the same slices.
    fn paired(
        &self,
        route: LimitRoute,
        connections: usize,
        f: impl Fn(&super::Run) -> f64,
        op: fn(f64, f64) -> f64,
    ) -> Option<Vec<f64>> {
        let a = self.limits_row(route, connections)?;
        let b = self.limits_row(LimitRoute::Unlimited, connections)?;
        (a.rounds.len() == b.rounds.len()).then(|| {
            a.rounds
                .iter()
                .zip(&b.rounds)
                .map(|(a, b)| op(f(a), f(b)))
                .collect()
        })
    }

    /// The goals: (name, goal, value, met).
    pub(super) fn limiter_goals(&self) -> Vec<(String, String, Option<String>, Option<bool>)> {
        let c = *CONNECTIONS.last().unwrap_or(&1);
        let cpu = self
            .paired(
                LimitRoute::Approximate,
                c,
                |r| r.workerd_cpu_us,
                |a, b| a / b,
            )
            .map(super::median);
        let p50 = self
            .paired(
                LimitRoute::Exact,
                1,
                |r| r.load.p50.as_secs_f64() * 1e3,
                |a, b| a - b,
            )
            .map(super::median);
        vec![
            (
                format!(
                    "approximate tier: workerd CPU per request ÷ a cache hit's, {c} connections"
                ),
                format!("≤ {APPROXIMATE_CPU_GOAL:.2}×"),
                cpu.map(|x| format!("{x:.3}×")),
                cpu.map(|x| x <= APPROXIMATE_CPU_GOAL),
            ),
            (
                "exact tier: p50 − a cache hit's p50, 1 connection".to_owned(),
                format!("≤ +{EXACT_P50_GOAL_MS:.1} ms"),
                p50.map(|x| format!("{x:+.3} ms")),
                p50.map(|x| x <= EXACT_P50_GOAL_MS),
            ),
        ]
    }

    pub(super) fn limiter_markdown(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(
            md,
            "One bundle built with `bench/routes.toml` (edge-worker feature `bench-policy`), one \
             repeated ES256 token (a verified-token cache hit), three routes measured in alternating \
             slices of a second: no limit, an approximate limit (per subject, a hot key: its object \
             hears one report per 100 admissions, after the answer) and an exact one (per subject: \
             the key's Durable Object asked on every request). No request is refused. Each cell: \
             median over rounds of the paired per-round figure, lowest and highest round in \
             brackets.\n"
        );
        let _ = writeln!(md, "| goal | target | measured | met |");
        let _ = writeln!(md, "|---|---|---|---|");
        for (name, goal, value, met) in self.limiter_goals() {
            let met = match met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "**unknown (invalid run)**",
            };
            let value = value.unwrap_or_else(|| "—".into());
            let _ = writeln!(md, "| {name} | {goal} | {value} | {met} |");
        }
        let _ = writeln!(
            md,
            "\n| route | conns | req/s | p50 ms | workerd CPU µs/req | CPU ÷ no limit | p50 − no limit, ms |"
        );
        let _ = writeln!(md, "|---|---|---|---|---|---|---|");
        for connections in CONNECTIONS {
            for route in LimitRoute::ALL {
                let Some(row) = self.limits_row(route, connections) else {
                    let _ = writeln!(md, "| {route:?} | {connections} | **INVALID** | | | | |");
                    continue;
                };
                let paired = |f: fn(&super::Run) -> f64, op: fn(f64, f64) -> f64, unit: &str| {
                    if route == LimitRoute::Unlimited {
                        return "—".to_owned();
                    }
                    self.paired(route, connections, f, op)
                        .map(|v| spread(&v, unit))
                        .unwrap_or_else(|| "—".into())
                };
                let _ = writeln!(
                    md,
                    "| {} | {connections} | {:.0} | {:.2} | {:.0} | {} | {} |",
                    match route {
                        LimitRoute::Unlimited => "no limit (cache hit)",
                        LimitRoute::Approximate => "approximate limit",
                        LimitRoute::Exact => "exact limit",
                    },
                    row.per_sec(),
                    row.p50_ms(),
                    row.median_of(|r| r.workerd_cpu_us),
                    paired(|r| r.workerd_cpu_us, |a, b| a / b, "×"),
                    paired(|r| r.load.p50.as_secs_f64() * 1e3, |a, b| a - b, ""),
                );
            }
        }
        md
    }
}

/// `median [low–high]` with `unit` after each number.
fn spread(values: &[f64], unit: &str) -> String {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    format!(
        "{:.3}{unit} [{lo:.3}–{hi:.3}]",
        super::median(values.to_vec())
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::report;

    #[test]
    fn each_tier_is_judged_against_the_cache_hit_measured_beside_it() {
        let goals = report().limiter_goals();
        assert_eq!(goals.len(), 2);
        let (_, _, cpu, met) = &goals[0];
        assert_eq!(cpu.as_deref(), Some("1.030×"));
        assert_eq!(*met, Some(true), "3 % is within 5 %");
        let (_, _, p50, met) = &goals[1];
        assert_eq!(p50.as_deref(), Some("+1.400 ms"));
        assert_eq!(*met, Some(false), "1.4 ms is over 1 ms");
        let md = report().limiter_markdown();
        assert!(
            md.contains("| exact limit | 1 | 1500 | 2.00 | 420 |"),
            "{md}"
        );
        assert!(md.contains("**missed**"), "{md}");
    }
}
