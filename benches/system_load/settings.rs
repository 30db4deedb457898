//! The harness's knobs, all from the environment, checked up front so a
//! typo fails in the first second rather than after a twenty-minute run.

use crate::env::env_or;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

/// The scenarios, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    Pipeline,
    Freshness,
    Query,
    Tenants,
}

impl Scenario {
    const ALL: [Scenario; 4] = [
        Scenario::Pipeline,
        Scenario::Freshness,
        Scenario::Query,
        Scenario::Tenants,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Pipeline => "pipeline",
            Scenario::Freshness => "freshness",
            Scenario::Query => "query",
            Scenario::Tenants => "tenants",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) scenarios: Vec<Scenario>,
    pub(crate) seed: u64,
    pub(crate) days: u32,
    /// Scenario 2: tenants × events per tenant pre-filled into the log.
    pub(crate) tenants: u64,
    pub(crate) events_per_tenant: usize,
    pub(crate) partitions: u32,
    /// Scenario 3.
    pub(crate) rate: u64,
    pub(crate) freshness_secs: u64,
    pub(crate) warmup_secs: u64,
    pub(crate) freshness_batch: usize,
    pub(crate) freshness_tenants: u64,
    /// Scenarios 4 and 5.
    pub(crate) busy_events: usize,
    pub(crate) small_events: usize,
    pub(crate) query_requests: usize,
    pub(crate) tenant_steps: Vec<u64>,
    pub(crate) python: String,
    /// Where the markdown goes.
    pub(crate) out: PathBuf,
}

impl Settings {
    pub(crate) fn from_env() -> anyhow::Result<Self> {
        let scenarios = match std::env::var("REVSTREAM_BENCH_SCENARIOS") {
            Ok(v) if !v.trim().is_empty() => {
                let mut picked = Vec::new();
                for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let Some(s) = Scenario::ALL.into_iter().find(|s| s.name() == name) else {
                        bail!(
                            "REVSTREAM_BENCH_SCENARIOS: unknown scenario {name:?} \
                             (pipeline, freshness, query, tenants)"
                        );
                    };
                    picked.push(s);
                }
                // Always in the documented order, each once.
                Scenario::ALL
                    .into_iter()
                    .filter(|s| picked.contains(s))
                    .collect()
            }
            _ => Scenario::ALL.to_vec(),
        };
        let tenant_steps = match std::env::var("REVSTREAM_BENCH_TENANT_STEPS") {
            Ok(v) if !v.trim().is_empty() => v
                .split(',')
                .map(|s| s.trim().parse::<u64>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("REVSTREAM_BENCH_TENANT_STEPS={v:?}: {e}"))?,
            _ => vec![10, 1_000, 10_000],
        };
        let settings = Self {
            scenarios,
            seed: env_or("REVSTREAM_BENCH_SEED", 42)?,
            days: env_or("REVSTREAM_BENCH_DAYS", 365)?,
            tenants: env_or("REVSTREAM_BENCH_TENANTS", 100)?,
            events_per_tenant: env_or("REVSTREAM_BENCH_EVENTS_PER_TENANT", 10_000)?,
            partitions: env_or("REVSTREAM_BENCH_PARTITIONS", 4)?,
            rate: env_or("REVSTREAM_BENCH_RATE", 5_000)?,
            freshness_secs: env_or("REVSTREAM_BENCH_FRESHNESS_SECS", 30)?,
            warmup_secs: env_or("REVSTREAM_BENCH_WARMUP_SECS", 5)?,
            freshness_batch: env_or("REVSTREAM_BENCH_BATCH", 100)?,
            freshness_tenants: env_or("REVSTREAM_BENCH_FRESHNESS_TENANTS", 10)?,
            busy_events: env_or("REVSTREAM_BENCH_BUSY_EVENTS", 20_000)?,
            small_events: env_or("REVSTREAM_BENCH_SMALL_EVENTS", 4)?,
            query_requests: env_or("REVSTREAM_BENCH_QUERY_REQUESTS", 200)?,
            tenant_steps,
            python: env_or("REVSTREAM_BENCH_PYTHON", "python3".to_owned())?,
            out: env_or(
                "REVSTREAM_BENCH_OUT",
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/BENCHMARKS.md")),
            )?,
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        if !(1..=3650).contains(&self.days) {
            bail!("REVSTREAM_BENCH_DAYS must be 1 to 3650");
        }
        if !(1..=100_000).contains(&self.tenants) {
            bail!("REVSTREAM_BENCH_TENANTS must be 1 to 100000");
        }
        if !(1..=10_000_000).contains(&self.events_per_tenant)
            || self.tenants * self.events_per_tenant as u64 > 50_000_000
        {
            bail!(
                "REVSTREAM_BENCH_EVENTS_PER_TENANT must be 1 to 10M, and tenants × events at most 50M"
            );
        }
        if !(1..=256).contains(&self.partitions) {
            bail!("REVSTREAM_BENCH_PARTITIONS must be 1 to 256");
        }
        if !(1..=1_000_000).contains(&self.rate) {
            bail!("REVSTREAM_BENCH_RATE must be 1 to 1000000 events/s");
        }
        if !(1..=3600).contains(&self.freshness_secs) || self.warmup_secs > 600 {
            bail!(
                "REVSTREAM_BENCH_FRESHNESS_SECS must be 1 to 3600, REVSTREAM_BENCH_WARMUP_SECS at most 600"
            );
        }
        if !(2..=10_000).contains(&self.freshness_batch) {
            bail!(
                "REVSTREAM_BENCH_BATCH must be 2 to 10000 (one event of each batch is its marker)"
            );
        }
        if !(1..=1000).contains(&self.freshness_tenants) {
            bail!("REVSTREAM_BENCH_FRESHNESS_TENANTS must be 1 to 1000");
        }
        if !(1..=5_000_000).contains(&self.busy_events) || !(1..=1000).contains(&self.small_events)
        {
            bail!(
                "REVSTREAM_BENCH_BUSY_EVENTS must be 1 to 5M, REVSTREAM_BENCH_SMALL_EVENTS 1 to 1000"
            );
        }
        if !(1..=1_000_000).contains(&self.query_requests) {
            bail!("REVSTREAM_BENCH_QUERY_REQUESTS must be 1 to 1000000");
        }
        if self.tenant_steps.is_empty()
            || self
                .tenant_steps
                .iter()
                .any(|&n| !(1..=100_000).contains(&n))
            || self.tenant_steps.windows(2).any(|w| w[0] >= w[1])
        {
            bail!(
                "REVSTREAM_BENCH_TENANT_STEPS must be increasing counts of 1 to 100000 (e.g. 10,1000,10000)"
            );
        }
        Ok(())
    }

    /// The steady-load phase of scenario 3, warm-up included.
    pub(crate) fn freshness_duration(&self) -> Duration {
        Duration::from_secs(self.warmup_secs + self.freshness_secs)
    }
}
