//! The payloads: Stripe webhook bodies with a fresh event id each, batches
//! of canonical events, and the same envelopes prepared for the raw log.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use chrono::Utc;
use revstream_ingest::log::{LogEnvelope, LogRecord};
use revstream_ingest::normalize::stripe;
use revstream_schemas::{CanonicalEvent, TenantId};

use super::Tenant;

/// Distinct single-record appends per tenant in the raw webhook reference.
const RAW_WEBHOOK_POOL: usize = 64;
/// The clock every event in a batch carries.
const AT: &str = "2026-01-05T10:00:00Z";

/// A Stripe fixture with its event id cut out, so every request carries a
/// fresh id without re-serializing the body.
struct StripeTemplate {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl StripeTemplate {
    fn load(name: &str) -> anyhow::Result<Self> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("ingest/tests/fixtures/stripe")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let parsed: serde_json::Value = serde_json::from_str(&text)?;
        let id = parsed["id"]
            .as_str()
            .with_context(|| format!("{name} has no top-level id"))?;
        let quoted = format!("\"{id}\"");
        let at = text
            .find(&quoted)
            .with_context(|| format!("{name}: id not found"))?;
        let template = Self {
            head: text.as_bytes()[..at + 1].to_vec(),
            tail: text.as_bytes()[at + quoted.len() - 1..].to_vec(),
        };
        // The cut must be the top-level id, or every request would dedupe.
        let probe: serde_json::Value = serde_json::from_slice(&template.render("evt_probe"))?;
        if probe["id"] != "evt_probe" {
            bail!("{name}: the first occurrence of its id is not the top-level one");
        }
        Ok(template)
    }

    fn render(&self, id: &str) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.head.len() + id.len() + self.tail.len());
        body.extend_from_slice(&self.head);
        body.extend_from_slice(id.as_bytes());
        body.extend_from_slice(&self.tail);
        body
    }
}

/// The webhook mix: a subscription change (6 kB) and a payment (3 kB), alternately.
pub(crate) struct StripeTemplates([StripeTemplate; 2]);

impl StripeTemplates {
    pub(crate) fn load() -> anyhow::Result<Self> {
        Ok(Self([
            StripeTemplate::load("customer.subscription.updated.annual.json")?,
            StripeTemplate::load("charge.succeeded.json")?,
        ]))
    }

    pub(crate) fn render(&self, n: u64) -> Vec<u8> {
        self.0[(n % 2) as usize].render(&format!("evt_bench_{n}"))
    }
}

/// Appends `n`'s canonical event to `out`: 40 % subscription.updated,
/// 40 % payment.succeeded, 20 % call.booked, over 100 tenants' worth of
/// customers (1,000 each).
fn write_canonical(out: &mut String, n: u64) {
    let (t, c) = (n % 100, (n / 100) % 1000);
    // Writing to a String cannot fail.
    let _ = match n % 5 {
        0 | 1 => write!(
            out,
            r#"{{"id":"bev_{n}","type":"subscription.updated","occurred_at":"{AT}","source":"billing","customer":{{"id":"cus_{t}_{c}","email":"c{c}@t{t}.example.com","name":"Customer {c}"}},"subscription":{{"id":"sub_{t}_{c}","status":"active","currency":"usd","items":[{{"price_id":"pro_monthly","unit_amount":4900,"quantity":1,"interval":"month","interval_count":1}}],"discount":{{"percent_off":20,"duration":"forever"}},"cancel_at_period_end":false,"current_period_end":"2026-02-05T10:00:00Z"}}}}"#
        ),
        2 | 3 => write!(
            out,
            r#"{{"id":"bev_{n}","type":"payment.succeeded","occurred_at":"{AT}","source":"billing","payment":{{"id":"pay_{n}","amount":4900,"currency":"usd","paid_at":"{AT}","customer":"cus_{t}_{c}","subscription_id":"sub_{t}_{c}"}}}}"#
        ),
        _ => write!(
            out,
            r#"{{"id":"bev_{n}","type":"call.booked","occurred_at":"{AT}","source":"calendar","call":{{"id":"call_{n}","lead":{{"email":"lead{c}@t{t}.example.com","name":"Lead {c}"}},"closer":"sam","setter":"kim","source":"youtube","call_type":"discovery","booked_at":"{AT}","scheduled_at":"2026-01-07T15:00:00Z"}}}}"#
        ),
    };
}

/// A JSON array of `size` canonical events numbered from `first`.
pub(crate) fn canonical_batch(first: u64, size: usize) -> String {
    let mut body = String::with_capacity(size * 480 + 2);
    body.push('[');
    for (i, n) in (first..first + size as u64).enumerate() {
        if i > 0 {
            body.push(',');
        }
        write_canonical(&mut body, n);
    }
    body.push(']');
    body
}

fn envelope(tenant: &TenantId, event: CanonicalEvent) -> LogRecord {
    LogEnvelope {
        tenant: tenant.clone(),
        received_at: Utc::now(),
        event,
    }
    .to_record()
}

/// What the webhook handler appends: the normalized Stripe events, one record per append.
pub(crate) fn raw_webhook_pool(
    tenants: &[Tenant],
    templates: &StripeTemplates,
) -> anyhow::Result<Vec<Vec<Vec<LogRecord>>>> {
    let mut pool = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        let mut batches = Vec::with_capacity(RAW_WEBHOOK_POOL);
        for n in 0..RAW_WEBHOOK_POOL as u64 {
            let normalized = stripe::normalize(&templates.render(n))?;
            for event in normalized.events {
                batches.push(vec![envelope(&tenant.id, event)]);
            }
        }
        pool.push(batches);
    }
    Ok(pool)
}

/// What the batch handler appends: the parsed rows of two batches per tenant.
pub(crate) fn raw_batch_pool(
    tenants: &[Tenant],
    batch_size: usize,
) -> anyhow::Result<Vec<Vec<Vec<LogRecord>>>> {
    let mut pool = Vec::with_capacity(tenants.len());
    for (t, tenant) in tenants.iter().enumerate() {
        let mut batches = Vec::new();
        for b in 0..2u64 {
            let first = (t as u64 * 2 + b) * batch_size as u64;
            let body = canonical_batch(first, batch_size);
            let rows: Vec<&serde_json::value::RawValue> = serde_json::from_str(&body)?;
            let records = rows
                .into_iter()
                .map(|row| {
                    Ok(envelope(
                        &tenant.id,
                        CanonicalEvent::from_json(row.get().as_bytes())?,
                    ))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            batches.push(records);
        }
        pool.push(batches);
    }
    Ok(pool)
}
