//! One unit of load per scenario: a signed webhook, a batch request, or a
//! raw append.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use revstream_ingest::log::{EventLog, LogRecord};
use revstream_ingest::verify::sign_t_v1;

use super::Tenant;
use super::workload::{StripeTemplates, canonical_batch};

/// One unit of load: a request or an append. Returns the events it carried.
pub(crate) trait Step: Send + Sync + 'static {
    fn run(&self, worker: usize) -> impl Future<Output = Result<u64, String>> + Send;
}

pub(crate) struct WebhookStep {
    pub(crate) client: reqwest::Client,
    pub(crate) base: String,
    pub(crate) tenants: Arc<Vec<Tenant>>,
    pub(crate) templates: Arc<StripeTemplates>,
    pub(crate) next: Arc<AtomicU64>,
}

impl Step for WebhookStep {
    async fn run(&self, worker: usize) -> Result<u64, String> {
        let tenant = &self.tenants[worker % self.tenants.len()];
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let body = self.templates.render(n);
        // Signed at send time, as Stripe does.
        let signature = sign_t_v1(&tenant.stripe_secret, Utc::now().timestamp(), &body);
        let url = format!("{}/v1/webhooks/stripe/{}", self.base, tenant.id);
        let response = self
            .client
            .post(url)
            .header("Stripe-Signature", signature)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("webhook: {e}"))?;
        let status = response.status();
        let answer = response
            .bytes()
            .await
            .map_err(|e| format!("webhook answer: {e}"))?;
        let accepted = serde_json::from_slice::<serde_json::Value>(&answer)
            .is_ok_and(|v| v["status"] == "accepted");
        if !status.is_success() || !accepted {
            return Err(format!(
                "webhook evt_bench_{n}: {status} {}",
                String::from_utf8_lossy(&answer)
            ));
        }
        Ok(1)
    }
}

pub(crate) struct BatchStep {
    pub(crate) client: reqwest::Client,
    pub(crate) url: String,
    pub(crate) tenants: Arc<Vec<Tenant>>,
    pub(crate) batch_size: usize,
    pub(crate) next: Arc<AtomicU64>,
}

impl Step for BatchStep {
    async fn run(&self, worker: usize) -> Result<u64, String> {
        let tenant = &self.tenants[worker % self.tenants.len()];
        let first = self
            .next
            .fetch_add(self.batch_size as u64, Ordering::Relaxed);
        let body = canonical_batch(first, self.batch_size);
        let response = self
            .client
            .post(&self.url)
            .bearer_auth(&tenant.ingest_key)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("batch: {e}"))?;
        let status = response.status();
        let answer = response
            .bytes()
            .await
            .map_err(|e| format!("batch answer: {e}"))?;
        let accepted = serde_json::from_slice::<serde_json::Value>(&answer)
            .ok()
            .and_then(|v| v["accepted"].as_u64());
        if !status.is_success() || accepted != Some(self.batch_size as u64) {
            let text = String::from_utf8_lossy(&answer);
            return Err(format!(
                "batch from bev_{first}: {status} {}",
                text.chars().take(300).collect::<String>()
            ));
        }
        Ok(self.batch_size as u64)
    }
}

/// Appends prepared batches straight to the log: per tenant, a pool of
/// batches cycled through.
pub(crate) struct RawStep {
    log: Arc<dyn EventLog>,
    pool: Vec<Vec<Vec<LogRecord>>>,
    next: AtomicU64,
}

impl RawStep {
    pub(crate) fn new(log: Arc<dyn EventLog>, pool: Vec<Vec<Vec<LogRecord>>>) -> Self {
        Self {
            log,
            pool,
            next: AtomicU64::new(0),
        }
    }
}

impl Step for RawStep {
    async fn run(&self, worker: usize) -> Result<u64, String> {
        let batches = &self.pool[worker % self.pool.len()];
        let n = self.next.fetch_add(1, Ordering::Relaxed) as usize;
        let batch = batches[n % batches.len()].clone();
        let events = batch.len() as u64;
        self.log
            .append(batch)
            .await
            .map_err(|e| format!("raw append: {e}"))?;
        Ok(events)
    }
}
