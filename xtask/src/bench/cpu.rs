//! CPU time of a process (all its threads), from `/proc/<pid>/stat`.
//!
//! CPU time per request is the figure Workers bill and cap, and on a shared 2-core machine it is
//! steadier than throughput: another process stealing the core lowers req/s but not CPU per request.

use anyhow::{Context as _, Result};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// User plus system time consumed so far by process `pid` (`None`: this process).
pub fn used(pid: Option<u32>) -> Result<Duration> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_ticks(&stat).with_context(|| format!("parsing {path}"))?;
    Ok(Duration::from_secs_f64(ticks as f64 / ticks_per_second()))
}

/// CPU time all processes of the machine have spent so far (busy time summed over cores).
pub fn machine_busy() -> Result<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks = parse_machine_busy(&stat).context("parsing /proc/stat")?;
    Ok(Duration::from_secs_f64(ticks as f64 / ticks_per_second()))
}

/// The `cpu` line's user, nice, system, irq, softirq and steal ticks (idle and iowait excluded;
/// guest time is already inside user).
fn parse_machine_busy(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    Some(v.first()? + v.get(1)? + v.get(2)? + v.get(5)? + v.get(6)? + v.get(7)?)
}

/// `utime + stime` (fields 14 and 15). The command name (field 2) may contain spaces and
/// parentheses, so fields are counted from the last `)`.
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, index 11 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        crate::process::output(Command::new("getconf").arg("CLK_TCK"))
            .and_then(|t| t.parse().ok())
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utime_and_stime_are_read_after_the_command_name() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 10 0 0";
        assert_eq!(parse_ticks(stat), Some(300));
        assert_eq!(parse_ticks("garbage"), None);
    }

    #[test]
    fn machine_busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  10 1 5 1000 50 2 3 4 0 0\ncpu0 5 0 2 500 25 1 1 2 0 0\n";
        assert_eq!(parse_machine_busy(stat), Some(25));
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        assert!(used(None).is_ok());
    }
}
