//! Customers: one row per (source, customer id), identity across sources by
//! email.
//!
//! A customer is seen on any event that names one: the `customer` section
//! (customer, subscription and payment events, or as context on others) and
//! a payment's own `payment.customer`. Email and name are the latest non-null
//! values; `first_seen_at` / `updated_at` the first / latest such event.

use std::collections::BTreeMap;

use revstream_schemas::event::Customer;
use revstream_schemas::{Email, ObjectId, SourceName};

use super::CompactEvent;
use super::rows::CustomerRow;

/// The customers of a tenant by (source, customer id).
#[derive(Debug, Default)]
pub(crate) struct Customers {
    rows: BTreeMap<(SourceName, ObjectId), CustomerRow>,
}

impl Customers {
    pub(crate) fn derive(events: &[&CompactEvent]) -> Self {
        let mut customers = Customers::default();
        for event in events {
            let from_payment = event.payment.as_ref().and_then(|p| p.customer.as_ref());
            for customer in event.customer.as_deref().into_iter().chain(from_payment) {
                customers.see(event, customer);
            }
        }
        customers
    }

    fn see(&mut self, event: &CompactEvent, customer: &Customer) {
        let row = self
            .rows
            .entry((event.source.clone(), customer.id.clone()))
            .or_insert_with(|| CustomerRow {
                identity: String::new(),
                source: event.source.clone(),
                customer_id: customer.id.clone(),
                email: None,
                name: None,
                first_seen_at: event.occurred_at,
                updated_at: event.occurred_at,
            });
        row.updated_at = event.occurred_at;
        if let Some(email) = &customer.email {
            row.email = Some(email.clone());
        }
        if let Some(name) = &customer.name {
            row.name = Some(name.clone());
        }
    }

    /// The known email of a customer.
    pub(crate) fn email(&self, source: &SourceName, customer_id: &ObjectId) -> Option<&Email> {
        self.rows
            .get(&(source.clone(), customer_id.clone()))
            .and_then(|row| row.email.as_ref())
    }

    /// Rows sorted by (source, customer id), with their identity.
    pub(crate) fn into_rows(self) -> Vec<CustomerRow> {
        self.rows
            .into_values()
            .map(|mut row| {
                row.identity = match &row.email {
                    Some(email) => email.as_str().to_owned(),
                    None => format!("{}:{}", row.source, row.customer_id),
                };
                row
            })
            .collect()
    }
}
