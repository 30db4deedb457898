//! Webhook deliveries as the providers send them: the real fixtures of
//! `ingest/tests/fixtures/`, with their ids rewritten so every delivery is
//! a new provider event about one customer of a fixed population, signed
//! at send time with the provider's scheme.
//!
//! ```text
//!  fixture ── ids of the event, payment, invitee ──▶ unique per delivery (evt_soak_<n>, …)
//!          └─ ids of the customer, subscription ──▶ one of C customers (cus_soak_<c>, …)
//! ```
//!
//! The mix per delivery: Stripe subscription update, Stripe charge, Whop
//! payment (Standard Webhooks), Calendly booking, Stripe subscription
//! update, Stripe charge, … (half Stripe, a quarter each Whop and Calendly).

use std::collections::HashSet;
use std::path::Path;

use anyhow::{Context, bail, ensure};
use chrono::Utc;
use revstream_ingest::normalize::{calendly, stripe, whop};
use revstream_ingest::verify::{sign_standard, sign_t_v1};

use super::setup::{CALENDLY_SECRET, STRIPE_SECRET, WHOP_SECRET};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Provider {
    Stripe,
    Whop,
    Calendly,
}

impl Provider {
    pub(crate) fn path(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::Whop => "whop",
            Provider::Calendly => "calendly",
        }
    }
}

/// Which ids of a fixture change, and how.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// A new value for every delivery: `{prefix}{delivery}`.
    Delivery,
    /// The customer's: `{prefix}{customer}`.
    Customer,
}

struct Template {
    provider: Provider,
    text: String,
    /// (the fixture's id, scope, prefix of the new id)
    ids: Vec<(&'static str, Scope, &'static str)>,
    /// Events the pipeline gets from one delivery (checked at load).
    events: u64,
}

/// A delivery ready to send (its body is signed at send time).
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) provider: Provider,
    pub(crate) body: Vec<u8>,
    /// The Standard Webhooks `webhook-id` (Whop), the same on a retry.
    pub(crate) webhook_id: Option<String>,
    /// Distinct events it carries.
    pub(crate) events: u64,
}

impl Delivery {
    /// The signature headers for sending it now.
    pub(crate) fn headers(&self) -> anyhow::Result<Vec<(&'static str, String)>> {
        let now = Utc::now().timestamp();
        Ok(match self.provider {
            Provider::Stripe => vec![(
                "Stripe-Signature",
                sign_t_v1(STRIPE_SECRET, now, &self.body),
            )],
            Provider::Calendly => vec![(
                "Calendly-Webhook-Signature",
                sign_t_v1(CALENDLY_SECRET, now, &self.body),
            )],
            Provider::Whop => {
                let id = self.webhook_id.as_deref().context("a Whop delivery id")?;
                vec![
                    ("webhook-id", id.to_owned()),
                    ("webhook-timestamp", now.to_string()),
                    (
                        "webhook-signature",
                        sign_standard(WHOP_SECRET, id, now, &self.body)
                            .map_err(|e| anyhow::anyhow!("signing a Whop delivery: {e}"))?,
                    ),
                ]
            }
        })
    }
}

pub(crate) struct Templates(Vec<Template>);

impl Templates {
    /// Loads the fixtures and checks that two deliveries give distinct
    /// events and that the same delivery gives the same ones (so a retry
    /// is a duplicate).
    pub(crate) fn load() -> anyhow::Result<Self> {
        use Scope::{Customer, Delivery};
        let stripe_subscription = Template::load(
            Provider::Stripe,
            "stripe/customer.subscription.updated.annual.json",
            vec![
                ("evt_1QkAnuE7f3KYlo2CgH5iJ6kL", Delivery, "evt_soak_"),
                ("cus_RaF3kqpT9Xv2Lm", Customer, "cus_soak_"),
                ("sub_1QiAnnE7f3KYlo2C9sTeAm3Q", Customer, "sub_soak_"),
            ],
        )?;
        let stripe_charge = Template::load(
            Provider::Stripe,
            "stripe/charge.succeeded.json",
            vec![
                ("evt_3QkAnnE7f3KYlo2C1aBcDeFg", Delivery, "evt_soak_"),
                ("ch_3QkAnnE7f3KYlo2C1xYzAbCd", Delivery, "ch_soak_"),
                ("pi_3QkAnnE7f3KYlo2C1pQrStUv", Delivery, "pi_soak_"),
                ("cus_RbT4turingAl", Customer, "cus_soak_"),
            ],
        )?;
        let whop_payment = Template::load(
            Provider::Whop,
            "whop/payment_succeeded.json",
            vec![
                ("msg_8iO4pA7sD0fG3hJ6kL9zX2cV", Delivery, "msg_soak_"),
                ("pay_Qw8Er7Ty6Ui5Op", Delivery, "pay_soak_"),
                ("user_Rk3bN8vQ1xYp2", Customer, "user_soak_"),
                ("mem_Hx92kLm4PqR7sT", Customer, "mem_soak_"),
                ("mber_V7c1Qe9Zt3Lw", Customer, "mber_soak_"),
            ],
        )?;
        let calendly_booking = Template::load(
            Provider::Calendly,
            "calendly/invitee_created.json",
            vec![
                ("INV1C7QW2ERT4YU6", Delivery, "INVSOAK"),
                ("EVT1A2B3C4D5E6F7", Delivery, "EVTSOAK"),
            ],
        )?;
        Ok(Self(vec![
            stripe_subscription,
            stripe_charge,
            whop_payment,
            calendly_booking,
        ]))
    }

    /// Delivery `n` (a global counter) about customer `customer`.
    pub(crate) fn delivery(&self, n: u64, customer: u64) -> Delivery {
        // 0: Stripe subscription, 1: Stripe charge, 2: Whop, 3: Calendly,
        // 4: Stripe subscription, 5: Stripe charge: half Stripe.
        let index = match n % 6 {
            0 | 4 => 0,
            1 | 5 => 1,
            2 => 2,
            _ => 3,
        };
        self.0[index].render(n, customer)
    }
}

impl Template {
    fn load(
        provider: Provider,
        name: &str,
        ids: Vec<(&'static str, Scope, &'static str)>,
    ) -> anyhow::Result<Self> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("ingest/tests/fixtures")
            .join(name);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        for (id, _, _) in &ids {
            ensure!(text.contains(id), "{name}: {id} is not in the fixture");
        }
        let mut template = Self {
            provider,
            text,
            ids,
            events: 0,
        };
        let first = template.normalized(&template.render(1, 1))?;
        let again = template.normalized(&template.render(1, 1))?;
        let other = template.normalized(&template.render(2, 1))?;
        if first.is_empty() || first != again {
            bail!("{name}: a delivery must give the same events every time it is sent");
        }
        if !first.is_disjoint(&other) {
            bail!("{name}: two deliveries gave the same event ids {first:?}");
        }
        template.events = first.len() as u64;
        Ok(template)
    }

    fn render(&self, n: u64, customer: u64) -> Delivery {
        let mut text = self.text.clone();
        for (id, scope, prefix) in &self.ids {
            let value = match scope {
                Scope::Delivery => n,
                Scope::Customer => customer,
            };
            text = text.replace(id, &format!("{prefix}{value}"));
        }
        Delivery {
            provider: self.provider,
            body: text.into_bytes(),
            webhook_id: (self.provider == Provider::Whop).then(|| format!("msg_soak_{n}")),
            events: self.events,
        }
    }

    /// The (source, id) of every event the server makes of `delivery`.
    fn normalized(&self, delivery: &Delivery) -> anyhow::Result<HashSet<String>> {
        let body = &delivery.body;
        let normalized = match self.provider {
            Provider::Stripe => stripe::normalize(body),
            Provider::Whop => whop::normalize(body, delivery.webhook_id.as_deref()),
            Provider::Calendly => calendly::normalize(body),
        }
        .map_err(|e| anyhow::anyhow!("normalizing a {} delivery: {e}", self.provider.path()))?;
        Ok(normalized
            .events
            .iter()
            .map(|e| format!("{}/{}", e.source, e.id))
            .collect())
    }
}
