//! A deterministic generator of realistic canonical event streams: tenants
//! with customers subscribing, upgrading, downgrading and churning, paying
//! and refunding, booking calls that show or not — plus provider-style
//! duplicates and out-of-order delivery.

use revstream_ingest::log::{LogEnvelope, LogRecord};
use revstream_schemas::{CanonicalEvent, TenantId};
use serde_json::{Value, json};

/// xorshift64*: small, fast, seeded; good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn at(day: u64, second: u64) -> String {
    let base = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap();
    (base + chrono::Duration::seconds((day * 86_400 + second) as i64))
        .with_timezone(&chrono::Utc)
        .to_rfc3339()
}

fn event(v: Value) -> CanonicalEvent {
    CanonicalEvent::from_json(v.to_string().as_bytes()).unwrap()
}

/// About `per_tenant` events for each of `tenants` tenants.
pub fn stream(seed: u64, tenants: usize, per_tenant: usize) -> Vec<(TenantId, CanonicalEvent)> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let plans = [2900, 4900, 9900, 19900];
    for t in 0..tenants {
        let tenant = TenantId::parse(&format!("tenant-{t:04}")).unwrap();
        let customers = (per_tenant / 8).max(1) as u64;
        for n in 0..per_tenant {
            let c = rng.below(customers);
            let day = rng.below(90);
            let second = rng.below(86_400);
            let id = format!("t{t}e{n}");
            let e = match rng.below(10) {
                0..=3 => {
                    let status = if rng.below(6) == 0 {
                        "canceled"
                    } else {
                        "active"
                    };
                    let amount = plans[rng.below(plans.len() as u64) as usize];
                    event(
                        json!({"id": id, "type": "subscription.updated", "occurred_at": at(day, second),
                        "source": "stripe", "customer": {"id": format!("cus_{c}"), "email": format!("c{c}@example.com")},
                        "subscription": {"id": format!("sub_{c}"), "status": status, "currency": "usd",
                            "items": [{"unit_amount": amount, "quantity": 1 + rng.below(2), "interval": "month"}]}}),
                    )
                }
                4..=5 => event(
                    json!({"id": id, "type": "payment.succeeded", "occurred_at": at(day, second),
                    "source": "stripe", "payment": {"id": format!("ch_{t}_{n}"), "amount": 1000 + rng.below(9000),
                    "currency": "usd", "paid_at": at(day, second),
                    "customer": {"id": format!("cus_{c}"), "email": format!("c{c}@example.com")}}}),
                ),
                6 => event(
                    json!({"id": id, "type": "refund.created", "occurred_at": at(day, second),
                    "source": "stripe", "refund": {"id": format!("re_{t}_{n}"), "payment_id": format!("ch_{t}_{}", rng.below(n as u64 + 1)),
                    "amount": 500, "currency": "usd", "refunded_at": at(day, second)}}),
                ),
                7..=8 => event(
                    json!({"id": id, "type": "call.booked", "occurred_at": at(day, second),
                    "source": "calendly", "call": {"id": format!("call_{c}_{}", rng.below(3)),
                    "lead": {"email": format!("c{c}@example.com")}, "closer": format!("closer{}", rng.below(3)),
                    "booked_at": at(day, second), "scheduled_at": at(day + 2, second)}}),
                ),
                _ => {
                    let kind =
                        ["call.showed", "call.no_show", "call.canceled"][rng.below(3) as usize];
                    event(
                        json!({"id": id, "type": kind, "occurred_at": at(day + 2, second + 60),
                        "source": "calendly", "call": {"id": format!("call_{c}_{}", rng.below(3))}}),
                    )
                }
            };
            out.push((tenant.clone(), e));
        }
    }
    // Providers retry (duplicates) and do not keep order.
    let dups: Vec<_> = (0..out.len() / 10)
        .map(|_| out[rng.below(out.len() as u64) as usize].clone())
        .collect();
    out.extend(dups);
    for i in (1..out.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        out.swap(i, j);
    }
    out
}

/// Distinct (tenant, source, id) in a stream.
pub fn distinct(events: &[(TenantId, CanonicalEvent)]) -> usize {
    events
        .iter()
        .map(|(t, e)| (t.clone(), e.source.clone(), e.id.clone()))
        .collect::<std::collections::HashSet<_>>()
        .len()
}

pub fn records(events: &[(TenantId, CanonicalEvent)]) -> Vec<LogRecord> {
    events
        .iter()
        .map(|(tenant, event)| {
            LogEnvelope {
                tenant: tenant.clone(),
                received_at: chrono::Utc::now(),
                event: event.clone(),
            }
            .to_record()
        })
        .collect()
}
