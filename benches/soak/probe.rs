//! Looking at the serve process from outside: its memory, threads, file
//! descriptors and CPU time from /proc/PID, and its own counters from the
//! Prometheus endpoint `/metrics`.

use anyhow::Context;

/// Linux reports CPU times in ticks of 1/100 s (USER_HZ).
const TICKS_PER_SEC: f64 = 100.0;

/// One look at /proc/PID.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ProcSample {
    pub(crate) rss_bytes: u64,
    /// The part of RSS that is anonymous memory (the heap), not file pages
    /// mapped by the process.
    pub(crate) anon_bytes: u64,
    /// The peak RSS so far (VmHWM).
    pub(crate) hwm_bytes: u64,
    pub(crate) threads: u64,
    pub(crate) fds: u64,
    /// utime + stime in seconds, all threads.
    pub(crate) cpu_secs: f64,
}

pub(crate) fn proc_sample(pid: u32) -> anyhow::Result<ProcSample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib = |field: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .with_context(|| format!("listing /proc/{pid}/fd"))?
        .count() as u64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields 14 and 15 (utime, stime), counted after the parenthesized name.
    let cpu_ticks = stat.rsplit_once(')').map_or(0, |(_, rest)| {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
            .sum()
    });
    Ok(ProcSample {
        rss_bytes: kib("VmRSS:") * 1024,
        anon_bytes: kib("RssAnon:") * 1024,
        hwm_bytes: kib("VmHWM:") * 1024,
        threads: kib("Threads:"),
        fds,
        cpu_secs: cpu_ticks as f64 / TICKS_PER_SEC,
    })
}

/// One scrape of `/metrics`: every sample line as (series, value).
#[derive(Debug, Clone, Default)]
pub(crate) struct Scrape(Vec<(String, f64)>);

impl Scrape {
    pub(crate) async fn fetch(client: &reqwest::Client, base: &str) -> anyhow::Result<Self> {
        let response = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .context("GET /metrics")?;
        let status = response.status();
        let text = response.text().await.context("reading /metrics")?;
        if !status.is_success() {
            anyhow::bail!("GET /metrics: {status} {text}");
        }
        Ok(Self::parse(&text))
    }

    fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .filter_map(|l| {
                    let (series, value) = l.rsplit_once(' ')?;
                    Some((series.to_owned(), value.parse().ok()?))
                })
                .collect(),
        )
    }

    /// The sum of `name`'s series, those with `label="value"` only if given.
    pub(crate) fn sum(&self, name: &str, label: Option<(&str, &str)>) -> f64 {
        let wanted = label.map(|(k, v)| format!("{k}=\"{v}\""));
        self.0
            .iter()
            .filter(|(series, _)| {
                let (metric, labels) = series.split_once('{').unwrap_or((series, ""));
                metric == name && wanted.as_ref().is_none_or(|w| labels.contains(w.as_str()))
            })
            .map(|(_, v)| v)
            .sum()
    }

    pub(crate) fn count(&self, name: &str, label: Option<(&str, &str)>) -> u64 {
        self.sum(name, label).max(0.0) as u64
    }

    /// A histogram's buckets: (upper bound, cumulative count), in order.
    pub(crate) fn buckets(&self, name: &str) -> Vec<(f64, f64)> {
        let metric = format!("{name}_bucket{{");
        let mut out: Vec<(f64, f64)> = self
            .0
            .iter()
            .filter_map(|(series, value)| {
                let labels = series.strip_prefix(&metric)?;
                let le = labels.split("le=\"").nth(1)?.split('"').next()?;
                let bound = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((bound, *value))
            })
            .collect();
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }
}

/// The counters the soak follows.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    /// Events ingest appended to the log (webhooks and batches).
    pub(crate) accepted: u64,
    /// Events ingest answered as duplicates without appending them.
    pub(crate) ingest_duplicates: u64,
    pub(crate) records_read: u64,
    pub(crate) committed: u64,
    pub(crate) pipeline_duplicates: u64,
    pub(crate) undecodable: u64,
    pub(crate) commits: u64,
    pub(crate) commit_failures: u64,
    /// Records behind the end of the log, all partitions.
    pub(crate) lag: u64,
    /// Gauges of what the server holds in memory: jemalloc's allocated and
    /// resident bytes, the events in the pipeline's state, and the query
    /// side's /v1/metrics indexes and result cache.
    pub(crate) heap_allocated: u64,
    pub(crate) heap_resident: u64,
    pub(crate) state_events: u64,
    pub(crate) query_held_bytes: u64,
}

impl Counters {
    pub(crate) fn of(s: &Scrape) -> Self {
        Self {
            accepted: s.count(
                "revstream_ingest_events_total",
                Some(("status", "accepted")),
            ),
            ingest_duplicates: s.count(
                "revstream_ingest_events_total",
                Some(("status", "duplicate")),
            ),
            records_read: s.count("revstream_pipeline_records_read_total", None),
            committed: s.count("revstream_pipeline_events_committed_total", None),
            pipeline_duplicates: s.count("revstream_pipeline_duplicates_total", None),
            undecodable: s.count("revstream_pipeline_undecodable_total", None),
            commits: s.count("revstream_pipeline_commits_total", None),
            commit_failures: s.count("revstream_pipeline_commit_failures_total", None),
            lag: s.count("revstream_pipeline_consumer_lag_records", None),
            heap_allocated: s.count("revstream_process_heap_allocated_bytes", None),
            heap_resident: s.count("revstream_process_heap_resident_bytes", None),
            state_events: s.count("revstream_pipeline_state_events", None),
            query_held_bytes: s.count("revstream_query_metrics_index_bytes", None)
                + s.count("revstream_query_cache_bytes", None),
        }
    }
}

/// The `p` quantile of what a histogram counted between two scrapes, as
/// the upper bound of the bucket it falls in (`None` without samples).
pub(crate) fn quantile_between(before: &[(f64, f64)], after: &[(f64, f64)], p: f64) -> Option<f64> {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|&(bound, count)| {
            let earlier = before
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0.0, |(_, c)| *c);
            (bound, count - earlier)
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    delta
        .iter()
        .find(|(_, cumulative)| *cumulative >= p * total)
        .map(|(bound, _)| *bound)
}
