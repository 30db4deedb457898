//! The mixed load: four open-loop streams at fixed rates until the
//! deadline, each tick a request of its own.
//!
//! ```text
//!  webhooks   R·share/s   signed Stripe / Whop / Calendly deliveries, round robin over tenants;
//!                         some delivered again 1–30 s later (provider retries)
//!  batches    R·(1−share)/B per s   POST /v1/events, each tenant's stream in order;
//!                         some sent twice at once (a producer retrying a lost ack)
//!  dashboards Q·(1−sql)/s GET /v1/metrics: months, days, by closer, the last 30 days
//!  SQL        Q·sql/s     POST /v1/query: analyst SQL over the tenant's tables
//! ```
//!
//! Open loop: a tick does not wait for earlier requests, so a slow server
//! does not lower the offered load; at most `max_in_flight` requests of a
//! stream are out at once, and a tick that finds none free is counted as
//! skipped. 429 and 503 are refusals, not failures; ingest requests are
//! retried after `Retry-After` as providers do (queries are not).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

use super::generator::{Rng, StreamSpec};
use super::producer::TenantBatches;
use super::record::{Recorder, Route};
use super::settings::Settings;
use super::setup::Tenant;
use super::webhooks::{Delivery, Templates};

/// Attempts of one ingest request that keeps being refused.
const ATTEMPTS: u32 = 5;
/// A provider retry comes this long after the first delivery, at most.
const RETRY_DELAY_MAX_SECS: u64 = 30;

/// Analyst SQL, as in `query/tests/golden/` and the system load harness.
pub(crate) const SQL: [&str; 5] = [
    "SELECT date_trunc('month', day) AS month, currency, SUM(amount) AS net_change \
     FROM mrr_movements GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT date_trunc('month', paid_day) AS month, currency, COUNT(*) AS payments, \
     SUM(amount) AS gross, SUM(refunded_amount) AS refunded \
     FROM payments WHERE status = 'succeeded' GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT closer, \
     COUNT(*) FILTER (WHERE status = 'scheduled' AND attendance = 'showed') AS showed, \
     COUNT(*) FILTER (WHERE status = 'scheduled' AND attendance = 'showed' AND closed) AS closed \
     FROM calls GROUP BY closer ORDER BY closer NULLS LAST",
    "SELECT customer_id, currency, SUM(amount) AS paid FROM payments \
     WHERE status = 'succeeded' GROUP BY 1, 2 ORDER BY paid DESC LIMIT 20",
    "SELECT type, COUNT(*) AS n FROM events GROUP BY type ORDER BY n DESC",
];

pub(crate) struct Load {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) tenants: Vec<Tenant>,
    pub(crate) templates: Templates,
    pub(crate) batches: Vec<TenantBatches>,
    pub(crate) settings: Settings,
    pub(crate) rec: Recorder,
    /// Query strings of the dashboard requests.
    pub(crate) dashboards: Vec<String>,
    rng: Mutex<Rng>,
}

impl Load {
    pub(crate) fn new(
        client: reqwest::Client,
        base: String,
        tenants: Vec<Tenant>,
        templates: Templates,
        batches: Vec<TenantBatches>,
        settings: Settings,
    ) -> Self {
        let (from, to) = StreamSpec::new(1, settings.days, settings.seed).range();
        let month_ago = to - chrono::Days::new(30);
        let span = format!("from={from}&to={to}&currency=usd");
        let dashboards = vec![
            format!("{span}&interval=month"),
            format!("{span}&interval=day"),
            format!("{span}&group_by=closer"),
            format!(
                "from={month_ago}&to={to}&currency=usd&interval=day\
                 &metrics=mrr,new_mrr,churned_mrr,cash_collected,show_rate,close_rate"
            ),
        ];
        let rng = Mutex::new(Rng::new(settings.seed ^ 0x50a4));
        Self {
            client,
            base,
            tenants,
            templates,
            batches,
            settings,
            rec: Recorder::default(),
            dashboards,
            rng,
        }
    }

    fn chance(&self, percent: u64) -> bool {
        self.rng.lock().is_ok_and(|mut r| r.chance(percent))
    }

    fn below(&self, n: u64) -> u64 {
        self.rng.lock().map_or(0, |mut r| r.below(n))
    }

    fn tenant(&self, n: u64) -> &Tenant {
        &self.tenants[(n % self.tenants.len() as u64) as usize]
    }
}

/// Runs the four streams until `deadline` (or `stop`), then waits for the
/// requests still out.
pub(crate) async fn run(load: Arc<Load>, deadline: Instant, stop: Arc<AtomicBool>) {
    let s = &load.settings;
    let mut streams = JoinSet::new();
    let rates = [
        (Route::Webhook, s.webhook_rate()),
        (Route::Batch, s.batch_rate()),
        (Route::Dashboard, s.dashboard_rate()),
        (Route::Sql, s.sql_rate()),
    ];
    for (route, rate) in rates {
        let (load, stop) = (load.clone(), stop.clone());
        streams.spawn(async move {
            match route {
                Route::Webhook => paced(load, route, rate, deadline, stop, webhook).await,
                Route::Batch => paced(load, route, rate, deadline, stop, batch).await,
                Route::Dashboard => paced(load, route, rate, deadline, stop, dashboard).await,
                Route::Sql => paced(load, route, rate, deadline, stop, sql).await,
            }
        });
    }
    while streams.join_next().await.is_some() {}
}

/// One stream: a request every 1/`rate` s, each in its own task.
async fn paced<F, Fut>(
    load: Arc<Load>,
    route: Route,
    rate: f64,
    deadline: Instant,
    stop: Arc<AtomicBool>,
    request: F,
) where
    F: Fn(Arc<Load>, u64, OwnedSemaphorePermit, Instant) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if rate <= 0.0 {
        return;
    }
    let slots = Arc::new(Semaphore::new(load.settings.max_in_flight));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    // A stalled load generator does not make up for lost ticks in a burst.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut out = JoinSet::new();
    let mut n = 0u64;
    loop {
        ticker.tick().await;
        if Instant::now() >= deadline || stop.load(Ordering::Relaxed) {
            break;
        }
        while out.try_join_next().is_some() {}
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                out.spawn(request(load.clone(), n, permit, deadline));
            }
            Err(_) => load.rec.skipped(route),
        }
        n += 1;
    }
    while out.join_next().await.is_some() {}
}

/// A request's outcome: the answer, or a failure already described.
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
    latency: Duration,
    retry_after: Option<u64>,
}

async fn send(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let started = Instant::now();
    let response = request.send().await.map_err(|e| error_chain(&e))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let body = response
        .bytes()
        .await
        .map_err(|e| error_chain(&e))?
        .to_vec();
    Ok(Answer {
        status,
        body,
        latency: started.elapsed(),
        retry_after,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    message
}

fn refused(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

fn describe(answer: &Answer) -> String {
    format!(
        "{} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
            .chars()
            .take(300)
            .collect::<String>()
    )
}

/// An ingest request, retried after `Retry-After` while refused. `None`
/// when it failed (recorded).
async fn ingest<B>(load: &Load, route: Route, build: B) -> Option<Answer>
where
    B: Fn() -> Result<reqwest::RequestBuilder, String>,
{
    for _ in 0..ATTEMPTS {
        let answer = match build() {
            Ok(request) => send(request).await,
            Err(e) => Err(e),
        };
        match answer {
            Ok(a) if a.status.is_success() => {
                load.rec.ok(route, a.latency);
                return Some(a);
            }
            Ok(a) if refused(a.status) => {
                load.rec.refused(route);
                let wait = a.retry_after.unwrap_or(1).clamp(1, 30);
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            Ok(a) => {
                load.rec.failed(route, describe(&a));
                return None;
            }
            Err(e) => {
                load.rec.failed(route, e);
                return None;
            }
        }
    }
    load.rec
        .failed(route, format!("still refused after {ATTEMPTS} attempts"));
    None
}

async fn webhook(load: Arc<Load>, n: u64, permit: OwnedSemaphorePermit, deadline: Instant) {
    let tenant = load.tenant(n).id.clone();
    let customer = load.below(load.settings.customers);
    let delivery = load.templates.delivery(n, customer);
    let Some(status) = deliver(&load, &tenant, &delivery).await else {
        load.rec.in_doubt(delivery.events);
        return;
    };
    // A new provider event is never a duplicate.
    if status != "accepted" && status != "ignored" {
        load.rec.failed(
            Route::Webhook,
            format!("a new delivery was answered {status:?}"),
        );
        return;
    }
    load.rec.accepted(delivery.events);
    if !load.chance(load.settings.duplicate_pct) {
        return;
    }
    // The provider did not see our 200 and delivers again later.
    drop(permit);
    let delay = Duration::from_millis(1_000 + load.below(RETRY_DELAY_MAX_SECS * 1_000));
    if Instant::now() + delay >= deadline {
        return;
    }
    tokio::time::sleep(delay).await;
    let Some(status) = deliver(&load, &tenant, &delivery).await else {
        return;
    };
    if !matches!(status.as_str(), "accepted" | "ignored" | "duplicate") {
        load.rec.failed(
            Route::Webhook,
            format!("a retried delivery was answered {status:?}"),
        );
        return;
    }
    load.rec.retry(|r| {
        r.webhooks += 1;
        r.webhooks_duplicate += u64::from(status == "duplicate");
    });
}

/// Sends a delivery (signed now); the `status` of the answer.
async fn deliver(load: &Load, tenant: &str, delivery: &Delivery) -> Option<String> {
    let url = format!(
        "{}/v1/webhooks/{}/{tenant}",
        load.base,
        delivery.provider.path()
    );
    let answer = ingest(load, Route::Webhook, || {
        let mut request = load
            .client
            .post(&url)
            .header("content-type", "application/json")
            .body(delivery.body.clone());
        for (name, value) in delivery.headers().map_err(|e| format!("{e:#}"))? {
            request = request.header(name, value);
        }
        Ok(request)
    })
    .await?;
    let status = serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .and_then(|v| v["status"].as_str().map(str::to_owned));
    if status.is_none() {
        load.rec.failed(Route::Webhook, describe(&answer));
    }
    status
}

async fn batch(load: Arc<Load>, n: u64, _permit: OwnedSemaphorePermit, _deadline: Instant) {
    let t = (n % load.tenants.len() as u64) as usize;
    let Some((body, rows)) = load.batches[t].next() else {
        load.rec
            .failed(Route::Batch, "the tenant's generated stream ran out".into());
        return;
    };
    let Some((accepted, duplicates)) = post_batch(&load, t, &body, rows).await else {
        load.rec.in_doubt(rows);
        return;
    };
    if accepted != rows || duplicates != 0 {
        load.rec.failed(
            Route::Batch,
            format!("a new batch of {rows}: {accepted} accepted, {duplicates} duplicates"),
        );
        return;
    }
    load.rec.accepted(rows);
    if load.chance(load.settings.duplicate_pct) {
        // The producer lost the ack and sends the same batch again.
        let Some((_, duplicates)) = post_batch(&load, t, &body, rows).await else {
            return;
        };
        load.rec.retry(|r| {
            r.batches += 1;
            r.batch_rows += rows;
            r.batch_rows_duplicate += duplicates;
        });
    }
}

/// Posts a batch; (accepted, duplicates) when every row was taken.
async fn post_batch(load: &Load, t: usize, body: &str, rows: u64) -> Option<(u64, u64)> {
    let url = format!("{}/v1/events", load.base);
    let key = &load.tenants[t].ingest_key;
    let answer = ingest(load, Route::Batch, || {
        Ok(load
            .client
            .post(&url)
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_owned()))
    })
    .await?;
    let parsed = serde_json::from_slice::<Value>(&answer.body).ok();
    let counts = parsed.as_ref().and_then(|v| {
        let rejected = v["rejected"].as_array().map_or(1, Vec::len);
        Some((v["accepted"].as_u64()?, v["duplicates"].as_u64()?)).filter(|_| rejected == 0)
    });
    match counts {
        Some((accepted, duplicates)) if accepted + duplicates == rows => {
            Some((accepted, duplicates))
        }
        _ => {
            load.rec.failed(
                Route::Batch,
                format!("a batch of {rows} rows: {}", describe(&answer)),
            );
            None
        }
    }
}

async fn dashboard(load: Arc<Load>, n: u64, _permit: OwnedSemaphorePermit, _deadline: Instant) {
    let tenant = load.tenant(n);
    let tenants = load.tenants.len() as u64;
    let params = &load.dashboards[((n / tenants) % load.dashboards.len() as u64) as usize];
    let request = load
        .client
        .get(format!("{}/v1/metrics?{params}", load.base))
        .bearer_auth(&tenant.viewer_key);
    query(&load, Route::Dashboard, request).await;
}

async fn sql(load: Arc<Load>, n: u64, _permit: OwnedSemaphorePermit, _deadline: Instant) {
    let tenant = load.tenant(n);
    let tenants = load.tenants.len() as u64;
    let statement = SQL[((n / tenants) % SQL.len() as u64) as usize];
    let request = load
        .client
        .post(format!("{}/v1/query", load.base))
        .bearer_auth(&tenant.analyst_key)
        .json(&json!({"sql": statement}));
    query(&load, Route::Sql, request).await;
}

/// A query: 200 with a JSON document, or a refusal, or a failure.
async fn query(load: &Load, route: Route, request: reqwest::RequestBuilder) {
    match send(request).await {
        Ok(a) if a.status.is_success() => {
            if serde_json::from_slice::<Value>(&a.body).is_ok() {
                load.rec.ok(route, a.latency);
            } else {
                load.rec.failed(route, describe(&a));
            }
        }
        Ok(a) if refused(a.status) => load.rec.refused(route),
        Ok(a) => load.rec.failed(route, describe(&a)),
        Err(e) => load.rec.failed(route, e),
    }
}

/// Distinct events in `tenant`'s `events` table, over SQL.
pub(crate) async fn stored_events(load: &Load, tenant: &Tenant) -> anyhow::Result<u64> {
    let answer = send(
        load.client
            .post(format!("{}/v1/query", load.base))
            .bearer_auth(&tenant.analyst_key)
            .json(&json!({"sql": "SELECT COUNT(*) AS n FROM events", "format": "ndjson"})),
    )
    .await
    .map_err(|e| anyhow::anyhow!("counting stored events: {e}"))?;
    if !answer.status.is_success() {
        anyhow::bail!("counting stored events: {}", describe(&answer));
    }
    let row: Value = serde_json::from_slice(answer.body.trim_ascii())
        .map_err(|e| anyhow::anyhow!("counting stored events: {e}: {}", describe(&answer)))?;
    row["n"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("counting stored events: {}", describe(&answer)))
}
