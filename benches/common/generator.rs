//! A realistic, deterministic multi-tenant event stream for the benches.
//!
//! ```text
//!  tenant ─┬─ lead calls: call.booked ─▶ outcome | no_show | canceled | rescheduled
//!          └─ customers: (booked call ─▶ showed, closed) ─▶ subscription.created ─▶ payment.succeeded
//!               every period: renewal payment (sometimes failed, then retried),
//!               upgrades, downgrades, cancel at period end ─▶ subscription.canceled,
//!               refunds; a few customers pay in EUR, a few yearly
//! ```
//!
//! Everything comes from one seeded generator (splitmix64), so a size and a
//! seed always give the same events, in the same order, on every machine.
//! Each tenant gets exactly the number of events asked for: customers are
//! added until the count is reached and the last lifecycle is cut there,
//! like a history read up to today. Events are canonical JSON parsed by
//! [`CanonicalEvent::from_json`], the same path producers take.

// Each bench target uses the parts it needs.
#![allow(dead_code)]

use chrono::{DateTime, Duration, NaiveDate, Utc};
use revstream_schemas::{CanonicalEvent, TenantId};
use serde_json::{Value, json};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamSpec {
    /// Events per tenant.
    pub(crate) events_per_tenant: usize,
    /// Days of history, starting at [`StreamSpec::start`].
    pub(crate) days: u32,
    pub(crate) seed: u64,
    pub(crate) start: NaiveDate,
}

impl StreamSpec {
    pub(crate) fn new(events_per_tenant: usize, days: u32, seed: u64) -> Self {
        Self {
            events_per_tenant,
            days: days.max(1),
            seed,
            start: NaiveDate::from_ymd_opt(2025, 1, 1).unwrap_or_default(),
        }
    }

    /// The first and last day of history (inclusive).
    pub(crate) fn range(&self) -> (NaiveDate, NaiveDate) {
        (
            self.start,
            self.start + chrono::Days::new(u64::from(self.days) - 1),
        )
    }
}

/// splitmix64: tiny, fast, and good enough for picking plans and days.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// True with probability `percent` / 100.
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const CLOSERS: [&str; 5] = ["alice", "bob", "carol", "dan", "erin"];
const SETTERS: [&str; 3] = ["sam", "tina", "uma"];
const LEAD_SOURCES: [&str; 4] = ["ads", "organic", "youtube", "referral"];
const CALL_TYPES: [&str; 2] = ["discovery", "sales"];
/// Monthly prices in minor units; yearly plans cost ten months.
const PRICES: [i64; 5] = [2_900, 4_900, 9_900, 19_900, 49_900];

fn ts(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The events of one tenant, ordered by `occurred_at`.
pub(crate) fn tenant_events(
    spec: &StreamSpec,
    tenant_index: u64,
) -> anyhow::Result<Vec<CanonicalEvent>> {
    let values = TenantWriter::new(spec, tenant_index).generate();
    let mut events = values
        .into_iter()
        .map(|(_, v)| {
            CanonicalEvent::from_json(v.to_string().as_bytes())
                .map_err(|e| anyhow::anyhow!("generated an invalid event {v}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    events.sort_by_key(|e| e.occurred_at);
    Ok(events)
}

/// A tenant id for bench tenant `index` with `prefix` ("t" → `t00042`).
pub(crate) fn tenant_id(prefix: &str, index: u64) -> anyhow::Result<TenantId> {
    Ok(TenantId::parse(&format!("{prefix}{index:05}"))?)
}

/// Every tenant's events merged into one stream in time order, as a
/// provider-wide log would see them.
pub(crate) fn stream(
    spec: &StreamSpec,
    prefix: &str,
    tenants: u64,
) -> anyhow::Result<Vec<(TenantId, CanonicalEvent)>> {
    let mut all = Vec::with_capacity(spec.events_per_tenant * tenants as usize);
    for t in 0..tenants {
        let id = tenant_id(prefix, t)?;
        all.extend(tenant_events(spec, t)?.into_iter().map(|e| (id.clone(), e)));
    }
    // Stable: a tenant's own order is kept among equal timestamps.
    all.sort_by_key(|(_, e)| e.occurred_at);
    Ok(all)
}

/// Writes one tenant's lifecycles as canonical JSON.
struct TenantWriter {
    rng: Rng,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    target: usize,
    tenant: u64,
    out: Vec<(DateTime<Utc>, Value)>,
    next_id: u64,
}

impl TenantWriter {
    fn new(spec: &StreamSpec, tenant: u64) -> Self {
        let start = spec
            .start
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc();
        Self {
            rng: Rng::new(spec.seed.wrapping_mul(1_000_003).wrapping_add(tenant)),
            start,
            end: start + Duration::days(i64::from(spec.days)),
            target: spec.events_per_tenant,
            tenant,
            out: Vec::with_capacity(spec.events_per_tenant + 64),
            next_id: 0,
        }
    }

    fn generate(mut self) -> Vec<(DateTime<Utc>, Value)> {
        let mut customer = 0u64;
        while self.out.len() < self.target {
            // Roughly one converting customer for every two leads that do not.
            for _ in 0..self.rng.below(3) {
                self.lead_call(None);
            }
            self.customer(customer);
            customer += 1;
        }
        self.out.truncate(self.target);
        self.out
    }

    fn push(&mut self, at: DateTime<Utc>, mut event: Value) {
        if at >= self.end {
            return;
        }
        self.next_id += 1;
        event["id"] = json!(format!("evt_{}_{}", self.tenant, self.next_id));
        event["occurred_at"] = json!(ts(at));
        self.out.push((at, event));
    }

    /// A random instant within history (business hours, UTC).
    fn some_time(&mut self) -> DateTime<Utc> {
        let days = (self.end - self.start).num_days().max(1) as u64;
        self.start
            + Duration::days(self.rng.below(days) as i64)
            + Duration::hours(8 + self.rng.below(10) as i64)
            + Duration::minutes(self.rng.below(60) as i64)
    }

    /// A booked call and what became of it. With `closes`, the lead shows
    /// and closes (and becomes that customer).
    fn lead_call(&mut self, closes: Option<(DateTime<Utc>, &str)>) {
        let n = self.next_id;
        let call = format!("call_{}_{n}", self.tenant);
        let (scheduled, email) = match closes {
            Some((at, email)) => (at - Duration::hours(2), email.to_owned()),
            None => (
                self.some_time(),
                format!("lead{n}@t{}.example.com", self.tenant),
            ),
        };
        let booked = scheduled - Duration::days(1 + self.rng.below(6) as i64);
        let booked = booked.max(self.start);
        let booking = json!({"type": "call.booked", "source": "calendly",
            "call": {"id": call, "lead": {"email": email, "name": format!("Lead {n}")},
                "closer": self.rng.pick(&CLOSERS), "setter": self.rng.pick(&SETTERS),
                "source": self.rng.pick(&LEAD_SOURCES), "call_type": self.rng.pick(&CALL_TYPES),
                "booked_at": ts(booked), "scheduled_at": ts(scheduled)}});
        self.push(booked, booking);
        let after = scheduled + Duration::minutes(45);
        if closes.is_some() {
            self.push(
                after,
                json!({"type": "call.outcome", "source": "api", "call": {"id": call},
                    "outcome": {"showed": true, "offer_made": true, "closed": true}}),
            );
            return;
        }
        match self.rng.below(10) {
            0..=1 => self.push(
                after,
                json!({"type": "call.no_show", "source": "calendly", "call": {"id": call}}),
            ),
            2 => self.push(
                booked + Duration::hours(3),
                json!({"type": "call.canceled", "source": "calendly", "call": {"id": call}}),
            ),
            3 => self.push(
                booked + Duration::hours(4),
                json!({"type": "call.rescheduled", "source": "calendly", "call": {"id": call}}),
            ),
            _ => {
                let offer = self.rng.chance(60);
                self.push(
                    after,
                    json!({"type": "call.outcome", "source": "api", "call": {"id": call},
                        "outcome": {"showed": true, "offer_made": offer, "closed": false}}),
                );
            }
        }
    }

    fn customer(&mut self, c: u64) {
        let t = self.tenant;
        let customer = json!({"id": format!("cus_{c}"), "email": format!("c{c}@t{t}.example.com"),
            "name": format!("Customer {c}")});
        let email = format!("c{c}@t{t}.example.com");
        let currency = if self.rng.chance(10) { "eur" } else { "usd" };
        let yearly = self.rng.chance(15);
        let (interval, months) = if yearly { ("year", 12) } else { ("month", 1) };
        let mut price_index = self.rng.below(PRICES.len() as u64) as usize;
        let signed_up = self.some_time();
        if self.rng.chance(40) {
            self.lead_call(Some((signed_up, &email)));
        }
        let subscription = format!("sub_{c}");
        let sub =
            |status: &str, price: i64, cancel_at_period_end: bool, period_end: DateTime<Utc>| {
                let amount = if yearly { price * 10 } else { price };
                json!({"id": subscription, "status": status, "currency": currency,
                "items": [{"price_id": format!("plan_{price}_{interval}"), "unit_amount": amount,
                    "quantity": 1, "interval": interval, "interval_count": 1}],
                "cancel_at_period_end": cancel_at_period_end, "current_period_end": ts(period_end)})
            };
        let mut period_start = signed_up;
        let mut period_end = add_months(signed_up, months);
        self.push(
            signed_up,
            json!({"type": "subscription.created", "source": "stripe", "customer": customer,
                "subscription": sub("active", PRICES[price_index], false, period_end)}),
        );
        let mut payment = 0u64;
        loop {
            // The period's invoice: sometimes the card fails and is retried.
            let price = PRICES[price_index] * if yearly { 10 } else { 1 };
            let mut paid_at = period_start + Duration::minutes(1);
            if self.rng.chance(5) {
                self.payment(c, payment, "failed", paid_at, price, currency, &email);
                payment += 1;
                paid_at += Duration::days(1);
            }
            self.payment(c, payment, "succeeded", paid_at, price, currency, &email);
            if self.rng.chance(2) {
                let refunded = paid_at + Duration::days(1 + self.rng.below(10) as i64);
                let amount = if self.rng.chance(50) {
                    price
                } else {
                    price / 2
                };
                self.push(
                    refunded,
                    json!({"type": "refund.created", "source": "stripe",
                        "refund": {"id": format!("re_{c}_{payment}"), "payment_id": format!("pay_{c}_{payment}"),
                            "amount": amount, "currency": currency, "refunded_at": ts(refunded)}}),
                );
            }
            payment += 1;
            if period_end >= self.end || self.out.len() >= self.target {
                return;
            }
            // Mid-period: a plan change, or a cancellation at period end.
            let change_at = period_start + (period_end - period_start) / 2;
            match self.rng.below(100) {
                0..=7 if price_index + 1 < PRICES.len() => {
                    price_index += 1;
                    self.push(
                        change_at,
                        json!({"type": "subscription.updated", "source": "stripe", "customer": customer,
                            "subscription": sub("active", PRICES[price_index], false, period_end)}),
                    );
                }
                8..=11 if price_index > 0 => {
                    price_index -= 1;
                    self.push(
                        change_at,
                        json!({"type": "subscription.updated", "source": "stripe", "customer": customer,
                            "subscription": sub("active", PRICES[price_index], false, period_end)}),
                    );
                }
                12..=15 => {
                    self.push(
                        change_at,
                        json!({"type": "subscription.updated", "source": "stripe", "customer": customer,
                            "subscription": sub("active", PRICES[price_index], true, period_end)}),
                    );
                    self.push(
                        period_end,
                        json!({"type": "subscription.canceled", "source": "stripe", "customer": customer,
                            "subscription": sub("canceled", PRICES[price_index], true, period_end)}),
                    );
                    return;
                }
                _ => {}
            }
            period_start = period_end;
            period_end = add_months(period_end, months);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn payment(
        &mut self,
        c: u64,
        n: u64,
        status: &str,
        at: DateTime<Utc>,
        amount: i64,
        currency: &str,
        email: &str,
    ) {
        self.push(
            at,
            json!({"type": format!("payment.{status}"), "source": "stripe",
                "payment": {"id": format!("pay_{c}_{n}"), "amount": amount, "currency": currency,
                    "paid_at": ts(at), "customer": {"id": format!("cus_{c}"), "email": email},
                    "subscription_id": format!("sub_{c}")}}),
        );
    }
}

fn add_months(at: DateTime<Utc>, months: u32) -> DateTime<Utc> {
    at.checked_add_months(chrono::Months::new(months))
        .unwrap_or(at + Duration::days(30 * i64::from(months)))
}
