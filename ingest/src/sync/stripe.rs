//! Stripe: customers, subscriptions (items and discounts included),
//! charges and refunds, through the list API's cursor pagination
//! (`limit`, `starting_after` = the last id of the page, `has_more`).
//!
//! ```text
//!  GET /v1/customers ─▶ /v1/subscriptions?status=all ─▶ /v1/charges ─▶ /v1/refunds
//!  cursor = "<stage>:<starting_after>"  (saved after each durable page)
//! ```
//!
//! Each listed object is the object a webhook carries in `data.object`, so
//! it is wrapped in a webhook envelope and normalized by the webhook code:
//! - customer: current state (`customer.updated` at the snapshot time);
//!   first seen at its `created`.
//! - subscription: first seen → `customer.subscription.created` at
//!   `start_date` (or `created`); when it has ended, it is created as it
//!   was while running (active, or trialing when the trial outlasted it)
//!   and then `customer.subscription.deleted` at `ended_at` (else
//!   `canceled_at`), so history lands on the right days. Later changes →
//!   `customer.subscription.updated` at the snapshot time.
//! - charge: succeeded ones → `charge.succeeded` at `created`; others carry
//!   no cash and are skipped.
//! - refund: `refund.created` at `created` (failed and canceled refunds
//!   are dropped by the normalizer).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::error::{Result, SyncError};
use super::fetch::Fetcher;
use super::page::{Page, Puller, escape, str_of, time_of};
use super::snapshot::Observed;

const STAGES: [&str; 4] = ["customers", "subscriptions", "charges", "refunds"];
const PAGE_SIZE: u32 = 100;

/// The Stripe list walker.
#[derive(Debug)]
pub struct StripePull {
    fetcher: Fetcher,
    snapshot_at: DateTime<Utc>,
    stage: usize,
    after: Option<String>,
}

impl StripePull {
    /// From the start, or from a saved cursor.
    pub fn new(fetcher: Fetcher, snapshot_at: DateTime<Utc>, cursor: Option<&str>) -> Result<Self> {
        let (stage, after) = match cursor {
            None => (0, None),
            Some(c) => {
                let (name, after) = c.split_once(':').unwrap_or((c, ""));
                let stage = STAGES.iter().position(|s| *s == name).ok_or_else(|| {
                    SyncError::Invalid(format!("saved Stripe cursor {c:?} names no stage"))
                })?;
                (stage, (!after.is_empty()).then(|| after.to_owned()))
            }
        };
        Ok(Self {
            fetcher,
            snapshot_at,
            stage,
            after,
        })
    }
}

#[async_trait]
impl Puller for StripePull {
    async fn next_page(&mut self) -> Result<Page> {
        let Some(&stage) = STAGES.get(self.stage) else {
            return Ok(Page {
                objects: Vec::new(),
                next: None,
            });
        };
        let mut path = format!("/v1/{stage}?limit={PAGE_SIZE}");
        if stage == "subscriptions" {
            path.push_str("&status=all");
        }
        if let Some(after) = &self.after {
            path.push_str("&starting_after=");
            path.push_str(&escape(after));
        }
        let body = self.fetcher.get_json(&path).await?;
        let bad = |problem: &str| SyncError::BadPage {
            provider: "stripe",
            url: path.clone(),
            problem: problem.to_owned(),
        };
        let data = body
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("`data` must be an array"))?;
        let has_more = body
            .get("has_more")
            .and_then(Value::as_bool)
            .ok_or_else(|| bad("`has_more` must be a boolean"))?;
        let mut objects = Vec::new();
        for obj in data {
            objects.extend(observe(obj, self.snapshot_at));
        }
        let last = data.last().and_then(|o| str_of(o, "id")).map(str::to_owned);
        match (has_more, last) {
            (true, Some(last)) => self.after = Some(last),
            (true, None) => return Err(bad("`has_more` is true but the page is empty")),
            (false, _) => {
                self.stage += 1;
                self.after = None;
            }
        }
        let next = STAGES
            .get(self.stage)
            .map(|s| format!("{s}:{}", self.after.as_deref().unwrap_or("")));
        Ok(Page { objects, next })
    }
}

fn envelope(kind: &str, at: DateTime<Utc>, object: &Value) -> Value {
    json!({
        "id": "sync_pending",
        "object": "event",
        "type": kind,
        "created": at.timestamp(),
        "data": {"object": object},
    })
}

/// One listed Stripe object (its `object` field says which), or `None` for
/// an object that carries nothing revstream counts.
pub fn observe(obj: &Value, snapshot_at: DateTime<Utc>) -> Option<Observed> {
    let id = str_of(obj, "id")?;
    let created = time_of(obj.get("created")).unwrap_or(snapshot_at);
    match str_of(obj, "object")? {
        "customer" => Some(Observed {
            key: format!("customer:{id}"),
            history: vec![envelope("customer.created", created, obj)],
            current: Some(envelope("customer.updated", snapshot_at, obj)),
        }),
        "subscription" => Some(Observed {
            key: format!("subscription:{id}"),
            history: subscription_history(obj, created, snapshot_at),
            current: Some(envelope("customer.subscription.updated", snapshot_at, obj)),
        }),
        "charge" => (str_of(obj, "status") == Some("succeeded")).then(|| Observed {
            key: format!("charge:{id}"),
            history: vec![envelope("charge.succeeded", created, obj)],
            current: None,
        }),
        "refund" => Some(Observed {
            key: format!("refund:{id}"),
            history: vec![envelope("refund.created", created, obj)],
            current: None,
        }),
        _ => None,
    }
}

fn subscription_history(
    obj: &Value,
    created: DateTime<Utc>,
    snapshot_at: DateTime<Utc>,
) -> Vec<Value> {
    let started = time_of(obj.get("start_date")).unwrap_or(created);
    let ended = time_of(obj.get("ended_at"));
    let over = str_of(obj, "status") == Some("canceled") || ended.is_some();
    if !over {
        return vec![envelope("customer.subscription.created", started, obj)];
    }
    let end = ended
        .or_else(|| time_of(obj.get("canceled_at")))
        .unwrap_or(snapshot_at);
    let trial_outlasted = time_of(obj.get("trial_end")).is_some_and(|t| t >= end);
    let mut running = obj.clone();
    if let Value::Object(m) = &mut running {
        let status = if trial_outlasted {
            "trialing"
        } else {
            "active"
        };
        m.insert("status".into(), json!(status));
        m.insert("canceled_at".into(), Value::Null);
        m.insert("ended_at".into(), Value::Null);
        m.insert("cancel_at_period_end".into(), json!(false));
    }
    vec![
        envelope("customer.subscription.created", started, &running),
        envelope("customer.subscription.deleted", end.max(started), obj),
    ]
}
