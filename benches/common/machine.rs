//! What the numbers were measured on: the machine, the toolchain and the
//! build profile, from /proc and the environment. Shared by the load
//! harnesses, so every report describes its machine the same way.

// Each harness uses the parts its report shows.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// `nproc`, the CPU model and memory, from /proc where available.
pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(String::new(), |kb| {
            format!(", {:.0} GiB RAM", kb / 1024.0 / 1024.0)
        });
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("nproc {cpus}, {model}{mem_gib}, Linux {}", kernel.trim())
}

/// The distribution's name (`PRETTY_NAME` of /etc/os-release).
pub(crate) fn os() -> String {
    std::fs::read_to_string("/etc/os-release")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map_or_else(
            || "unknown OS".to_owned(),
            |v| v.trim_matches('"').to_owned(),
        )
}

/// `rustc --version` of the toolchain on PATH (the one cargo built with,
/// unless a toolchain override is in play).
pub(crate) fn rustc() -> String {
    Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned()))
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown rustc".to_owned(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        )
}

/// The profile this binary was built with.
pub(crate) fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug (numbers not representative; use cargo bench)"
    } else {
        "release (cargo bench)"
    }
}

/// The filesystem type of the mount holding `dir`, from /proc/mounts.
pub(crate) fn filesystem_of(dir: &Path) -> String {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let _device = fields.next()?;
            let mount = fields.next()?;
            let kind = fields.next()?;
            dir.starts_with(mount)
                .then(|| (mount.len(), kind.to_owned()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "an unknown filesystem".to_owned(), |(_, kind)| kind)
}
