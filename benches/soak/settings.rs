//! The soak's knobs, all from the environment, checked up front so a typo
//! fails in the first second rather than after a thirty-minute run.

use crate::env::env_or;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;

#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// How long the mixed load runs.
    pub(crate) duration: Duration,
    /// One row of the report (and one sample) per window.
    pub(crate) window: Duration,
    /// Windows that end before this are left out of the memory verdict.
    pub(crate) warmup: Duration,
    /// New events per second, webhooks and batches together.
    pub(crate) rate: f64,
    /// Percent of the new events that arrive as signed webhooks (one event
    /// per delivery); the rest come in producer batches.
    pub(crate) webhook_share: f64,
    /// Events per producer batch.
    pub(crate) batch: usize,
    /// Percent of webhooks delivered again later and of batches sent twice
    /// (provider and producer retries).
    pub(crate) duplicate_pct: u64,
    /// Queries per second, dashboards and SQL together.
    pub(crate) qps: f64,
    /// Percent of the queries that are ad-hoc SQL; the rest are `/v1/metrics`.
    pub(crate) sql_share: f64,
    pub(crate) tenants: u64,
    /// Customers per tenant the webhooks are about (the fixed population).
    pub(crate) customers: u64,
    /// Days of history the producer streams cover.
    pub(crate) days: u32,
    pub(crate) seed: u64,
    /// Memory is flat when the median RSS of the last third of the measured
    /// windows is at most this many percent above that of the first third.
    pub(crate) rss_tolerance_pct: f64,
    /// Whether memory that is not flat fails the run (it is always reported).
    pub(crate) strict_memory: bool,
    /// Requests of one kind in flight at most; a tick that finds them all
    /// busy is counted as skipped (the offered rate was not held).
    pub(crate) max_in_flight: usize,
    /// The run stops early (and fails) when the server's RSS passes this,
    /// so a leak cannot take a shared machine down with it.
    pub(crate) max_rss_bytes: u64,
    /// Where the markdown goes.
    pub(crate) out: PathBuf,
}

impl Settings {
    pub(crate) fn from_env() -> anyhow::Result<Self> {
        let minutes: f64 = env_or("REVSTREAM_SOAK_MINUTES", 30.0)?;
        let window_secs: f64 = env_or("REVSTREAM_SOAK_WINDOW_SECS", 60.0)?;
        if !(0.1..=24.0 * 60.0).contains(&minutes) {
            bail!("REVSTREAM_SOAK_MINUTES must be 0.1 to 1440");
        }
        if !(1.0..=3600.0).contains(&window_secs) || window_secs > minutes * 60.0 {
            bail!("REVSTREAM_SOAK_WINDOW_SECS must be 1 to 3600 and at most the run's length");
        }
        let duration = Duration::from_secs_f64(minutes * 60.0);
        // A sixth of the run, at most five minutes, by default.
        let warmup_secs: f64 = env_or("REVSTREAM_SOAK_WARMUP_SECS", (minutes * 10.0).min(300.0))?;
        let settings = Self {
            duration,
            window: Duration::from_secs_f64(window_secs),
            warmup: Duration::from_secs_f64(warmup_secs.max(0.0)),
            rate: env_or("REVSTREAM_SOAK_RATE", 200.0)?,
            webhook_share: env_or("REVSTREAM_SOAK_WEBHOOK_SHARE", 25.0)?,
            batch: env_or("REVSTREAM_SOAK_BATCH", 50)?,
            duplicate_pct: env_or("REVSTREAM_SOAK_DUPLICATE_PCT", 5)?,
            qps: env_or("REVSTREAM_SOAK_QPS", 20.0)?,
            sql_share: env_or("REVSTREAM_SOAK_SQL_SHARE", 25.0)?,
            tenants: env_or("REVSTREAM_SOAK_TENANTS", 8)?,
            customers: env_or("REVSTREAM_SOAK_CUSTOMERS", 500)?,
            days: env_or("REVSTREAM_SOAK_DAYS", 730)?,
            seed: env_or("REVSTREAM_SOAK_SEED", 42)?,
            rss_tolerance_pct: env_or("REVSTREAM_SOAK_RSS_TOLERANCE_PCT", 10.0)?,
            strict_memory: env_or("REVSTREAM_SOAK_STRICT_MEMORY", 0u8)? != 0,
            max_in_flight: env_or("REVSTREAM_SOAK_MAX_IN_FLIGHT", 32)?,
            max_rss_bytes: env_or::<u64>("REVSTREAM_SOAK_MAX_RSS_MB", 8192)?
                .saturating_mul(1 << 20),
            out: env_or(
                "REVSTREAM_SOAK_OUT",
                PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/SOAK.md")),
            )?,
        };
        settings.check()?;
        Ok(settings)
    }

    fn check(&self) -> anyhow::Result<()> {
        if self.warmup >= self.duration {
            bail!("REVSTREAM_SOAK_WARMUP_SECS must be shorter than the run");
        }
        if !(0.0..=20_000.0).contains(&self.rate) || !(0.0..=100.0).contains(&self.webhook_share) {
            bail!(
                "REVSTREAM_SOAK_RATE must be 0 to 20000 events/s, REVSTREAM_SOAK_WEBHOOK_SHARE 0 to 100"
            );
        }
        if !(1..=10_000).contains(&self.batch) {
            bail!("REVSTREAM_SOAK_BATCH must be 1 to 10000");
        }
        if self.duplicate_pct > 50 {
            bail!("REVSTREAM_SOAK_DUPLICATE_PCT must be 0 to 50");
        }
        if !(0.0..=1_000.0).contains(&self.qps) || !(0.0..=100.0).contains(&self.sql_share) {
            bail!("REVSTREAM_SOAK_QPS must be 0 to 1000, REVSTREAM_SOAK_SQL_SHARE 0 to 100");
        }
        if !(1..=1_000).contains(&self.tenants) || !(1..=1_000_000).contains(&self.customers) {
            bail!(
                "REVSTREAM_SOAK_TENANTS must be 1 to 1000, REVSTREAM_SOAK_CUSTOMERS 1 to 1000000"
            );
        }
        if !(1..=3650).contains(&self.days) {
            bail!("REVSTREAM_SOAK_DAYS must be 1 to 3650");
        }
        if !(0.0..=1_000.0).contains(&self.rss_tolerance_pct) {
            bail!("REVSTREAM_SOAK_RSS_TOLERANCE_PCT must be 0 to 1000");
        }
        if self.max_rss_bytes == 0 {
            bail!("REVSTREAM_SOAK_MAX_RSS_MB must be above 0");
        }
        if !(1..=4096).contains(&self.max_in_flight) {
            bail!("REVSTREAM_SOAK_MAX_IN_FLIGHT must be 1 to 4096");
        }
        Ok(())
    }

    /// Webhook deliveries per second (new ones; retries come on top).
    pub(crate) fn webhook_rate(&self) -> f64 {
        self.rate * self.webhook_share / 100.0
    }

    /// Producer batches per second (new ones; retries come on top).
    pub(crate) fn batch_rate(&self) -> f64 {
        self.rate * (100.0 - self.webhook_share) / 100.0 / self.batch as f64
    }

    pub(crate) fn sql_rate(&self) -> f64 {
        self.qps * self.sql_share / 100.0
    }

    pub(crate) fn dashboard_rate(&self) -> f64 {
        self.qps - self.sql_rate()
    }
}
