//! CPU time of this process and of the whole machine, from /proc, so the
//! report shows whether the cores were ours or shared with something else.

use std::time::Duration;

/// Linux reports both in clock ticks of 1/100 s (USER_HZ) on every
/// architecture revstream builds for.
const TICKS_PER_SEC: f64 = 100.0;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuSnapshot {
    process_ticks: u64,
    machine_busy_ticks: u64,
}

/// Average cores busy over an interval.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuUse {
    pub(crate) process: f64,
    pub(crate) machine: f64,
}

impl CpuSnapshot {
    /// Zeros where /proc is missing; the report then shows 0.00.
    pub(crate) fn now() -> Self {
        Self {
            process_ticks: process_ticks().unwrap_or(0),
            machine_busy_ticks: machine_busy_ticks().unwrap_or(0),
        }
    }

    pub(crate) fn since(self, earlier: Self, elapsed: Duration) -> CpuUse {
        let secs = elapsed.as_secs_f64().max(1e-9) * TICKS_PER_SEC;
        CpuUse {
            process: self.process_ticks.saturating_sub(earlier.process_ticks) as f64 / secs,
            machine: self
                .machine_busy_ticks
                .saturating_sub(earlier.machine_busy_ticks) as f64
                / secs,
        }
    }
}

/// utime + stime of this process (all threads): fields 14 and 15 of
/// /proc/self/stat, counted after the parenthesized command name.
fn process_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Every CPU's non-idle time: the first line of /proc/stat less idle and iowait.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| values.get(i))
        .sum();
    Some(busy)
}
