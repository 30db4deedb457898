//! Stripe customers: `customer.created|updated` → `customer.upserted`, and
//! the customer reference that subscriptions, charges and invoices carry.

use revstream_schemas::event::Customer;
use revstream_schemas::{CanonicalEvent, EventKind};

use super::Envelope;
use super::json::Node;
use crate::normalize::Result;

/// `customer.created|updated`: id, email and name of the Customer object.
pub(crate) fn upserted(env: &Envelope<'_>) -> Result<CanonicalEvent> {
    let c = &env.object;
    let customer = Customer {
        id: c.get("id").object_id()?,
        email: c.get("email").opt_email()?,
        name: name(&c.get("name"))?,
    };
    let mut e = env.event(None, EventKind::CustomerUpserted)?;
    e.customer = Some(customer);
    env.finish(e)
}

/// A `customer` field: the id string webhooks send, or an expanded Customer
/// (sync pulls), whose email and name are then kept too.
pub(crate) fn reference(node: &Node<'_>) -> Result<Customer> {
    let id = node.expandable_id()?;
    if node.present().is_some_and(serde_json::Value::is_object) {
        return Ok(Customer {
            id,
            email: node.get("email").opt_email()?,
            name: name(&node.get("name"))?,
        });
    }
    Ok(Customer {
        id,
        email: None,
        name: None,
    })
}

/// A display name; blank counts as absent, because Stripe sends `""` when a
/// name was cleared in the dashboard.
fn name(node: &Node<'_>) -> Result<Option<String>> {
    Ok(node
        .opt_str()?
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned))
}
