//! Calendly: scheduled events and their invitees, through page tokens
//! (`count`, `page_token`; the answer's `pagination.next_page_token`).
//!
//! ```text
//!  GET /users/me ─▶ organization
//!  GET /scheduled_events?organization=…&count=100[&page_token=…]
//!      └─ for each event: GET /scheduled_events/{uuid}/invitees (all pages)
//!  cursor = the next events page token (saved after each durable events page)
//! ```
//!
//! Each invitee, with its scheduled event embedded as webhooks carry it, is
//! a fact (ledger key `invitee:<uri>`) told at its own times:
//! `invitee.created` at its `created_at`; if canceled, `invitee.canceled`
//! at the cancellation's `created_at` (else `updated_at`), which the
//! normalizer turns into a reschedule when `rescheduled` is true; if marked
//! a no-show, `invitee_no_show.created` at the mark's `created_at`.
//! An undone no-show is not detected by a pull (the list shows no trace of
//! it); the webhook `invitee_no_show.deleted` carries that.

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::error::{Result, SyncError};
use super::fetch::Fetcher;
use super::page::{Page, Puller, escape, str_of, time_of};
use super::snapshot::Observed;

const PAGE_SIZE: u32 = 100;

/// The Calendly page walker.
#[derive(Debug)]
pub struct CalendlyPull {
    fetcher: Fetcher,
    organization: Option<String>,
    token: Option<String>,
    done: bool,
}

impl CalendlyPull {
    pub fn new(fetcher: Fetcher, cursor: Option<&str>) -> Self {
        Self {
            fetcher,
            organization: None,
            token: cursor.filter(|c| !c.is_empty()).map(str::to_owned),
            done: false,
        }
    }

    fn bad(&self, url: &str, problem: &str) -> SyncError {
        SyncError::BadPage {
            provider: "calendly",
            url: url.to_owned(),
            problem: problem.to_owned(),
        }
    }

    /// One page of a collection: items and the next page token.
    async fn list(&self, path: &str) -> Result<(Vec<Value>, Option<String>)> {
        let body = self.fetcher.get_json(path).await?;
        let items = body
            .get("collection")
            .and_then(Value::as_array)
            .ok_or_else(|| self.bad(path, "`collection` must be an array"))?
            .clone();
        let token = body
            .get("pagination")
            .ok_or_else(|| self.bad(path, "`pagination` is required"))?
            .get("next_page_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok((items, token))
    }

    async fn organization(&mut self) -> Result<String> {
        if let Some(org) = &self.organization {
            return Ok(org.clone());
        }
        let me = self.fetcher.get_json("/users/me").await?;
        let org = me
            .get("resource")
            .and_then(|r| str_of(r, "current_organization"))
            .ok_or_else(|| self.bad("/users/me", "`resource.current_organization` is required"))?
            .to_owned();
        self.organization = Some(org.clone());
        Ok(org)
    }
}

#[async_trait]
impl Puller for CalendlyPull {
    async fn next_page(&mut self) -> Result<Page> {
        if self.done {
            return Ok(Page {
                objects: Vec::new(),
                next: None,
            });
        }
        let org = self.organization().await?;
        let mut path = format!(
            "/scheduled_events?organization={}&count={PAGE_SIZE}&sort=start_time:asc",
            escape(&org)
        );
        if let Some(t) = &self.token {
            path.push_str("&page_token=");
            path.push_str(&escape(t));
        }
        let (events, next) = self.list(&path).await?;
        let mut objects = Vec::new();
        for event in &events {
            let uri =
                str_of(event, "uri").ok_or_else(|| self.bad(&path, "an event has no `uri`"))?;
            let uuid = uri.rsplit('/').next().unwrap_or(uri);
            let mut token: Option<String> = None;
            loop {
                let mut ipath = format!(
                    "/scheduled_events/{}/invitees?count={PAGE_SIZE}",
                    escape(uuid)
                );
                if let Some(t) = &token {
                    ipath.push_str("&page_token=");
                    ipath.push_str(&escape(t));
                }
                let (invitees, next_invitees) = self.list(&ipath).await?;
                objects.extend(invitees.iter().filter_map(|i| observe_invitee(i, event)));
                match next_invitees {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
        }
        self.done = next.is_none();
        self.token.clone_from(&next);
        Ok(Page { objects, next })
    }
}

fn envelope(kind: &str, at: DateTime<Utc>, payload: Value) -> Value {
    json!({
        "event": kind,
        "created_at": at.to_rfc3339_opts(SecondsFormat::Micros, true),
        "payload": payload,
    })
}

/// One invitee of `event` (a scheduled event object).
pub fn observe_invitee(invitee: &Value, event: &Value) -> Option<Observed> {
    let uri = str_of(invitee, "uri")?;
    let booked_at = time_of(invitee.get("created_at"))?;
    let mut payload = invitee.clone();
    if let Value::Object(m) = &mut payload {
        m.insert("scheduled_event".into(), event.clone());
    }
    let mut history = vec![envelope("invitee.created", booked_at, payload.clone())];
    if str_of(invitee, "status") == Some("canceled") {
        let at = invitee
            .get("cancellation")
            .and_then(|c| time_of(c.get("created_at")))
            .or_else(|| time_of(invitee.get("updated_at")))
            .unwrap_or(booked_at);
        history.push(envelope("invitee.canceled", at.max(booked_at), payload));
    }
    if let Some(no_show) = invitee.get("no_show").filter(|n| n.is_object()) {
        let at = time_of(no_show.get("created_at")).unwrap_or(booked_at);
        let mut mark = no_show.clone();
        if let Value::Object(m) = &mut mark {
            m.insert("invitee".into(), json!(uri));
        }
        history.push(envelope("invitee_no_show.created", at, mark));
    }
    Some(Observed {
        key: format!("invitee:{uri}"),
        history,
        current: None,
    })
}
