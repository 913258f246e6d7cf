//! CPU time of a process (all its threads) and of the whole machine, from `/proc` (read by the
//! `procfs` crate).
//!
//! CPU time per request is the figure Workers bill and cap, and on a shared 2-core machine it is
//! steadier than throughput: another process stealing the core lowers req/s but not CPU per request.

use anyhow::{Context as _, Result};
use procfs::process::Process;
use procfs::{CurrentSI as _, KernelStats};
use std::time::Duration;

/// User plus system time consumed so far by process `pid` (`None`: this process).
pub fn used(pid: Option<u32>) -> Result<Duration> {
    let process = match pid {
        Some(p) => Process::new(i32::try_from(p)?),
        None => Process::myself(),
    };
    let stat = process.and_then(|p| p.stat()).with_context(|| {
        format!(
            "reading /proc/{}/stat",
            pid.map_or("self".into(), |p| p.to_string())
        )
    })?;
    Ok(ticks(stat.utime + stat.stime))
}

/// CPU time all processes of the machine have spent so far (busy time summed over cores): user,
/// nice, system, irq, softirq and steal; idle and iowait excluded, guest time already inside user.
pub fn machine_busy() -> Result<Duration> {
    let t = KernelStats::current().context("reading /proc/stat")?.total;
    let optional = [t.irq, t.softirq, t.steal].iter().flatten().sum::<u64>();
    Ok(ticks(t.user + t.nice + t.system + optional))
}

fn ticks(n: u64) -> Duration {
    Duration::from_secs_f64(n as f64 / procfs::ticks_per_second() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_spent_by_this_process_shows_in_its_figure_and_the_machines() {
        let (mine, machine) = (used(None).unwrap(), machine_busy().unwrap());
        let started = std::time::Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(used(None).unwrap() > mine, "300 ms of spinning counted");
        assert!(machine_busy().unwrap() > machine);
        assert!(used(Some(std::process::id())).is_ok());
    }
}
