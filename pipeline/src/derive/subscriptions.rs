//! Subscription state, each customer's MRR timeline and its movements.
//!
//! ```text
//! subscription event (full state) ─▶ MRR of the subscription (status, churn setting, amounts)
//!   ─▶ contribution to (source, customer id, currency) ─▶ customer MRR before → after
//!   ─▶ movement new | reactivation | expansion | contraction | churn
//! ```
//!
//! Every subscription event carries the full state, so the latest one (by
//! (occurred_at, event id)) is the subscription. A customer's MRR is kept per
//! currency: a customer paying in USD and EUR has two timelines and two sets
//! of movements (invariant 6).

use std::collections::{BTreeMap, BTreeSet};

use revstream_schemas::event::{Subscription, SubscriptionStatus};
use revstream_schemas::{Currency, EventKind, ObjectId, SourceName};

use super::CompactEvent;
use super::rows::{MovementKind, MovementRow, SubscriptionRow};
use super::{ChurnSetting, TenantSettings, local_day, mrr};

/// The key of a subscription.
type SubKey = (SourceName, ObjectId);
/// The key of an MRR timeline: (source, customer id, currency).
type MrrKey = (SourceName, ObjectId, Currency);

/// Subscription rows (sorted by source, id) and movements (in event order).
pub(crate) fn derive(
    settings: &TenantSettings,
    events: &[&CompactEvent],
) -> (Vec<SubscriptionRow>, Vec<MovementRow>) {
    let mut subs: BTreeMap<SubKey, SubscriptionRow> = BTreeMap::new();
    let mut timelines = Timelines::default();
    let mut movements = Vec::new();

    for event in events {
        let Some(sub) = subscription_event(event) else {
            continue;
        };
        let key = (event.source.clone(), sub.id.clone());
        let previous = subs.get(&key);
        let Some(customer_id) = event
            .customer
            .as_ref()
            .map(|c| c.id.clone())
            .or_else(|| previous.map(|p| p.customer_id.clone()))
        else {
            tracing::warn!(event_id = %event.id, "subscription event without a customer skipped");
            continue;
        };
        let row = subscription_row(settings, event, sub, customer_id, previous);
        let mrr_key = (row.source.clone(), row.customer_id.clone(), row.currency);
        let sub_id = row.subscription_id.clone();
        let new_mrr = row.mrr;
        subs.insert(key.clone(), row);

        for change in timelines.set(key, mrr_key, new_mrr) {
            let (source, customer_id, currency) = change.key;
            movements.push(MovementRow {
                day: local_day(settings.timezone, event.occurred_at),
                occurred_at: event.occurred_at,
                source,
                customer_id,
                currency,
                movement: change.kind,
                amount: change.after.saturating_sub(change.before),
                mrr_before: change.before,
                mrr_after: change.after,
                subscription_id: sub_id.clone(),
                event_id: event.id.clone(),
            });
        }
    }
    (subs.into_values().collect(), movements)
}

fn subscription_event(event: &CompactEvent) -> Option<&Subscription> {
    match event.kind {
        EventKind::SubscriptionCreated
        | EventKind::SubscriptionUpdated
        | EventKind::SubscriptionCanceled => event.subscription.as_deref(),
        _ => None,
    }
}

fn subscription_row(
    settings: &TenantSettings,
    event: &CompactEvent,
    sub: &Subscription,
    customer_id: ObjectId,
    previous: Option<&SubscriptionRow>,
) -> SubscriptionRow {
    let deleted = event.kind == EventKind::SubscriptionCanceled;
    let ended = deleted || sub.status == SubscriptionStatus::Canceled || sub.ended_at.is_some();
    let requested = sub.cancel_at_period_end || sub.canceled_at.is_some();
    let counts = sub.status.counts_for_mrr()
        && !ended
        && !(settings.churn == ChurnSetting::AtRequest && requested);

    let amounts = mrr::amounts(sub).unwrap_or_else(|| {
        tracing::warn!(
            event_id = %event.id,
            subscription_id = %sub.id,
            "subscription amount cannot be computed (overflow or invalid interval); counted as 0"
        );
        mrr::Amounts::default()
    });

    SubscriptionRow {
        source: event.source.clone(),
        subscription_id: sub.id.clone(),
        customer_id,
        status: if deleted {
            SubscriptionStatus::Canceled
        } else {
            sub.status
        },
        currency: sub.currency,
        billing_amount: amounts.billing_amount,
        billing_interval: amounts.interval.map(|(i, _)| i),
        billing_interval_count: amounts.interval.map(|(_, n)| n),
        mrr: if counts { amounts.monthly } else { 0 },
        cancel_at_period_end: sub.cancel_at_period_end,
        scheduled_churn: requested && !ended,
        current_period_end: sub.current_period_end,
        canceled_at: sub.canceled_at,
        ended_at: sub.ended_at,
        started_at: previous.map_or(event.occurred_at, |p| p.started_at),
        updated_at: event.occurred_at,
        last_event_id: event.id.clone(),
    }
}

/// One change of a timeline's MRR.
struct Change {
    key: MrrKey,
    kind: MovementKind,
    before: i64,
    after: i64,
}

/// Customer MRR per (source, customer, currency) as the Σ of its
/// subscriptions' contributions.
#[derive(Default)]
struct Timelines {
    /// Where each subscription currently contributes, and how much.
    placed: BTreeMap<SubKey, (MrrKey, i64)>,
    /// Contributions per timeline.
    by_key: BTreeMap<MrrKey, BTreeMap<SubKey, i64>>,
    /// Timelines that have been above 0 at some time.
    ever_positive: BTreeSet<MrrKey>,
}

impl Timelines {
    /// Moves a subscription's contribution to `key` with `mrr` and returns the
    /// resulting changes: one, or two when the subscription changed customer
    /// or currency.
    fn set(&mut self, sub: SubKey, key: MrrKey, mrr: i64) -> Vec<Change> {
        let old_key = self.placed.get(&sub).map(|(k, _)| k.clone());
        let mut touched = vec![key.clone()];
        if let Some(old) = old_key.filter(|old| *old != key) {
            touched.insert(0, old);
        }
        let before: Vec<i64> = touched.iter().map(|k| self.total(k)).collect();

        if let Some((old, _)) = self.placed.remove(&sub)
            && let Some(contributions) = self.by_key.get_mut(&old)
        {
            contributions.remove(&sub);
        }
        self.by_key
            .entry(key.clone())
            .or_default()
            .insert(sub.clone(), mrr);
        self.placed.insert(sub, (key, mrr));

        let mut changes = Vec::new();
        for (k, before) in touched.into_iter().zip(before) {
            let after = self.total(&k);
            if let Some(kind) = classify(before, after, self.ever_positive.contains(&k)) {
                if after > 0 {
                    self.ever_positive.insert(k.clone());
                }
                changes.push(Change {
                    key: k,
                    kind,
                    before,
                    after,
                });
            }
        }
        changes
    }

    fn total(&self, key: &MrrKey) -> i64 {
        let sum: i128 = self
            .by_key
            .get(key)
            .map_or(0, |c| c.values().map(|&v| i128::from(v)).sum());
        i64::try_from(sum).unwrap_or(i64::MAX)
    }
}

/// The movement a change of customer MRR from `before` to `after` is.
fn classify(before: i64, after: i64, was_positive: bool) -> Option<MovementKind> {
    match (before > 0, after > 0) {
        _ if before == after => None,
        (false, true) if was_positive => Some(MovementKind::Reactivation),
        (false, true) => Some(MovementKind::New),
        (true, false) => Some(MovementKind::Churn),
        (true, true) if after > before => Some(MovementKind::Expansion),
        (true, true) => Some(MovementKind::Contraction),
        // Both ≤ 0 but different: only reachable with negative amounts,
        // which validation rejects; not a movement.
        (false, false) => None,
    }
}
