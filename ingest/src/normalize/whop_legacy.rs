//! Identity of a legacy v5 Whop delivery: its event id and time.
//!
//! v5 bodies (`{api_version: "v5", action, data}`) carry neither a delivery
//! id nor an event time, yet a retry must dedupe and the pipeline must order
//! events, so both are derived from `data`, deterministically.

use chrono::{DateTime, Utc};
use revstream_schemas::EventKind;

use super::Action;
use super::json::{self, Obj};
use crate::normalize::Result;

/// The (event id, `occurred_at`) of a v5 delivery. The time is the first
/// set field of a per-action list, starting with the one closest to when
/// the change happened. The id is `v5:{action}:{data.id}:{time}`, plus the
/// state that changed for memberships (`:{status}:{cancel_at_period_end}`)
/// and refunds (`:{status}`): a retry of one change derives the same id, two
/// changes of the same object in the same period do not.
pub(super) fn identity(
    root: &Obj<'_>,
    name: &str,
    action: Action,
) -> Result<(String, DateTime<Utc>)> {
    let data = root.obj("data")?;
    let fields: &[&'static str] = match action {
        Action::Membership(EventKind::SubscriptionCreated) => {
            &["updated_at", "renewal_period_start", "created_at"]
        }
        Action::Membership(EventKind::SubscriptionCanceled) => &[
            "updated_at",
            "expires_at",
            "renewal_period_end",
            "canceled_at",
            "created_at",
        ],
        Action::Membership(_) => &[
            "updated_at",
            "canceled_at",
            "renewal_period_start",
            "created_at",
        ],
        Action::Payment(EventKind::PaymentFailed) => &["last_payment_attempt", "created_at"],
        Action::Payment(_) => &["paid_at", "created_at"],
        Action::RefundCreated | Action::RefundChanged | Action::Unknown => {
            &["updated_at", "created_at"]
        }
    };
    let at = data.first_time(fields)?.ok_or_else(|| {
        let listed: Vec<String> = fields.iter().map(|f| data.child(f)).collect();
        data.error(
            "created_at",
            format!(
                "is required: a v5 body has no event time, so one of {} must be set",
                listed.join(", ")
            ),
        )
    })?;
    let object_id = data.str("id")?;
    let state = match action {
        Action::Membership(_) => format!(
            ":{}:{}",
            data.opt_str("status")?.unwrap_or("-"),
            data.opt_bool("cancel_at_period_end")?.unwrap_or(false)
        ),
        Action::RefundCreated | Action::RefundChanged => {
            format!(":{}", data.opt_str("status")?.unwrap_or("-"))
        }
        _ => String::new(),
    };
    let id = format!("v5:{name}:{object_id}:{}{state}", json::stable_time(&at));
    Ok((id, at))
}
