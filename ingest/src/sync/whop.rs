//! Whop: memberships and payments, with the plans they reference, through
//! numbered pages (`page`, `per`; the answer's `pagination` gives
//! `current_page` and `total_pages`, or `next_page`).
//!
//! ```text
//!  GET /v5/company/plans (all pages, kept in memory) ─▶ /v5/company/memberships ─▶ /v5/company/payments
//!  cursor = "<stage>:<page>"  (plans are re-read on resume: they are not events)
//! ```
//!
//! - membership: a membership whose `plan` is an id gets the listed plan
//!   embedded, then it is wrapped as a current-generation webhook. First
//!   seen → `membership.activated` at `created_at`; one that is over
//!   (canceled, completed, expired) is activated as it was while running
//!   and `membership.deactivated` at `canceled_at` (else `expires_at`,
//!   `updated_at`). Later changes → `membership.updated` at the snapshot.
//! - payment: paid ones → `payment.succeeded` at `paid_at` (else
//!   `created_at`); failed ones → `payment.failed`; others are skipped.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::error::{Result, SyncError};
use super::fetch::Fetcher;
use super::page::{Page, Puller, str_of, time_of};
use super::snapshot::Observed;

const STAGES: [&str; 2] = ["memberships", "payments"];
const PER_PAGE: u32 = 50;

/// The Whop page walker.
#[derive(Debug)]
pub struct WhopPull {
    fetcher: Fetcher,
    snapshot_at: DateTime<Utc>,
    stage: usize,
    page: u64,
    plans: Option<HashMap<String, Value>>,
}

impl WhopPull {
    pub fn new(fetcher: Fetcher, snapshot_at: DateTime<Utc>, cursor: Option<&str>) -> Result<Self> {
        let (stage, page) = match cursor {
            None => (0, 1),
            Some(c) => {
                let parsed = c.split_once(':').and_then(|(name, page)| {
                    Some((STAGES.iter().position(|s| *s == name)?, page.parse().ok()?))
                });
                parsed.ok_or_else(|| {
                    SyncError::Invalid(format!("saved Whop cursor {c:?} is not <stage>:<page>"))
                })?
            }
        };
        Ok(Self {
            fetcher,
            snapshot_at,
            stage,
            page,
            plans: None,
        })
    }

    /// One page of `resource`: its items and the next page number, if any.
    async fn list(&self, resource: &str, page: u64) -> Result<(Vec<Value>, Option<u64>)> {
        let path = format!("/v5/company/{resource}?page={page}&per={PER_PAGE}");
        let body = self.fetcher.get_json(&path).await?;
        let bad = |problem: &str| SyncError::BadPage {
            provider: "whop",
            url: path.clone(),
            problem: problem.to_owned(),
        };
        let data = body
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("`data` must be an array"))?
            .clone();
        let pagination = body
            .get("pagination")
            .ok_or_else(|| bad("`pagination` is required"))?;
        let next = match pagination.get("next_page") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::Null) => None,
            _ => {
                let current = pagination
                    .get("current_page")
                    .and_then(Value::as_u64)
                    .unwrap_or(page);
                let total = pagination
                    .get("total_pages")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad("`pagination` needs next_page or total_pages"))?;
                (current < total).then_some(current + 1)
            }
        };
        if next.is_some_and(|n| n <= page) {
            return Err(bad("`pagination` does not move forward"));
        }
        Ok((data, next))
    }

    async fn load_plans(&mut self) -> Result<()> {
        if self.plans.is_some() {
            return Ok(());
        }
        let mut plans = HashMap::new();
        let mut page = Some(1);
        while let Some(p) = page {
            let (items, next) = self.list("plans", p).await?;
            for plan in items {
                if let Some(id) = str_of(&plan, "id") {
                    plans.insert(id.to_owned(), plan.clone());
                }
            }
            page = next;
        }
        self.plans = Some(plans);
        Ok(())
    }
}

#[async_trait]
impl Puller for WhopPull {
    async fn next_page(&mut self) -> Result<Page> {
        let Some(&stage) = STAGES.get(self.stage) else {
            return Ok(Page {
                objects: Vec::new(),
                next: None,
            });
        };
        self.load_plans().await?;
        let (items, next) = self.list(stage, self.page).await?;
        let empty = HashMap::new();
        let plans = self.plans.as_ref().unwrap_or(&empty);
        let objects = items
            .iter()
            .filter_map(|item| match stage {
                "memberships" => membership(&with_plan(item, plans), self.snapshot_at),
                _ => payment(item),
            })
            .collect();
        match next {
            Some(n) => self.page = n,
            None => {
                self.stage += 1;
                self.page = 1;
            }
        }
        let next = STAGES.get(self.stage).map(|s| format!("{s}:{}", self.page));
        Ok(Page { objects, next })
    }
}

/// A membership whose `plan` is an id, with that plan embedded.
pub fn with_plan(membership: &Value, plans: &HashMap<String, Value>) -> Value {
    let mut m = membership.clone();
    if let Some(plan) = str_of(membership, "plan").and_then(|id| plans.get(id))
        && let Value::Object(map) = &mut m
    {
        map.insert("plan".into(), plan.clone());
    }
    m
}

fn envelope(kind: &str, at: DateTime<Utc>, data: &Value) -> Value {
    json!({
        "id": "sync_pending",
        "api_version": "v1",
        "type": kind,
        "timestamp": at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "data": data,
    })
}

/// Which kind of Whop object this is: by its id prefix.
pub fn observe(
    obj: &Value,
    plans: &HashMap<String, Value>,
    snapshot_at: DateTime<Utc>,
) -> Option<Observed> {
    let id = str_of(obj, "id")?;
    if id.starts_with("mem_") {
        membership(&with_plan(obj, plans), snapshot_at)
    } else if id.starts_with("pay_") {
        payment(obj)
    } else {
        None
    }
}

fn membership(m: &Value, snapshot_at: DateTime<Utc>) -> Option<Observed> {
    let id = str_of(m, "id")?;
    let created = time_of(m.get("created_at")).unwrap_or(snapshot_at);
    let status = str_of(m, "status").unwrap_or("").to_ascii_lowercase();
    let over = matches!(status.as_str(), "canceled" | "completed" | "expired");
    let history = if over {
        let end = ["canceled_at", "expires_at", "updated_at"]
            .iter()
            .find_map(|k| time_of(m.get(*k)))
            .unwrap_or(snapshot_at)
            .max(created);
        let mut running = m.clone();
        if let Value::Object(map) = &mut running {
            map.insert("status".into(), json!("active"));
            map.insert("canceled_at".into(), Value::Null);
            map.insert("cancel_at_period_end".into(), json!(false));
        }
        vec![
            envelope("membership.activated", created, &running),
            envelope("membership.deactivated", end, m),
        ]
    } else {
        vec![envelope("membership.activated", created, m)]
    };
    Some(Observed {
        key: format!("membership:{id}"),
        history,
        current: Some(envelope("membership.updated", snapshot_at, m)),
    })
}

fn payment(p: &Value) -> Option<Observed> {
    let id = str_of(p, "id")?;
    let status = str_of(p, "status").unwrap_or("").to_ascii_lowercase();
    let kind = match status.as_str() {
        "paid" | "succeeded" => "payment.succeeded",
        "failed" => "payment.failed",
        _ => return None,
    };
    let at = time_of(p.get("paid_at")).or_else(|| time_of(p.get("created_at")))?;
    Some(Observed {
        key: format!("payment:{id}"),
        history: vec![envelope(kind, at, p)],
        current: None,
    })
}
