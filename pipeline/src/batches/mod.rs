//! Derived rows → Arrow record batches with the schemas of
//! `revstream_schemas::tables`. One function per table; the tenant column
//! is added here, since [`crate::derive`] works on one tenant at a time.

mod columns;
mod events;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::error::ArrowError;
use revstream_schemas::{TableName, TenantId};

use crate::derive::{
    CallRow, CustomerRow, DailyRow, Derived, MovementRow, PaymentRow, RefundRow, SubscriptionRow,
};
use columns::{day, day_opt, flag, int, int_opt, text, text_opt, ts, ts_opt};

pub use events::{EventRow, events_batch};

/// The derived tables of one tenant, as batches keyed by table.
pub fn derived_batches(
    tenant: &TenantId,
    d: &Derived,
) -> Result<Vec<(TableName, RecordBatch)>, ArrowError> {
    derived_batches_of(tenant, d, &TableName::DERIVED)
}

/// The batches of only `tables` (derived ones; others are skipped): a
/// cycle builds only the tables whose rows changed.
pub fn derived_batches_of(
    tenant: &TenantId,
    d: &Derived,
    tables: &[TableName],
) -> Result<Vec<(TableName, RecordBatch)>, ArrowError> {
    let mut out = Vec::with_capacity(tables.len());
    for &table in tables {
        let batch = match table {
            TableName::Subscriptions => subscriptions(tenant, &d.subscriptions)?,
            TableName::MrrMovements => movements(tenant, &d.movements)?,
            TableName::MetricsDaily => daily(tenant, &d.daily)?,
            TableName::Calls => calls(tenant, &d.calls)?,
            TableName::Payments => payments(tenant, &d.payments)?,
            TableName::Refunds => refunds(tenant, &d.refunds)?,
            TableName::Customers => customers(tenant, &d.customers)?,
            TableName::Events => continue,
        };
        out.push((table, batch));
    }
    Ok(out)
}

fn batch(
    table: TableName,
    tenant: &TenantId,
    rows: usize,
    mut columns: Vec<ArrayRef>,
) -> Result<RecordBatch, ArrowError> {
    columns.insert(0, text(std::iter::repeat_n(tenant.as_str(), rows)));
    RecordBatch::try_new(table.schema(), columns)
}

fn subscriptions(tenant: &TenantId, rows: &[SubscriptionRow]) -> Result<RecordBatch, ArrowError> {
    let r = rows.iter();
    batch(
        TableName::Subscriptions,
        tenant,
        rows.len(),
        vec![
            text(r.clone().map(|r| r.source.as_str())),
            text(r.clone().map(|r| r.subscription_id.as_str())),
            text(r.clone().map(|r| r.customer_id.as_str())),
            text(r.clone().map(|r| r.status.as_str())),
            text(r.clone().map(|r| r.currency.as_str())),
            int(r.clone().map(|r| r.billing_amount)),
            text_opt(r.clone().map(|r| r.billing_interval.map(|i| i.as_str()))),
            int_opt(r.clone().map(|r| r.billing_interval_count)),
            int(r.clone().map(|r| r.mrr)),
            flag(r.clone().map(|r| r.cancel_at_period_end)),
            flag(r.clone().map(|r| r.scheduled_churn)),
            ts_opt(r.clone().map(|r| r.current_period_end)),
            ts_opt(r.clone().map(|r| r.canceled_at)),
            ts_opt(r.clone().map(|r| r.ended_at)),
            ts(r.clone().map(|r| r.started_at)),
            ts(r.clone().map(|r| r.updated_at)),
            text(r.map(|r| r.last_event_id.as_str())),
        ],
    )
}

fn movements(tenant: &TenantId, rows: &[MovementRow]) -> Result<RecordBatch, ArrowError> {
    let r = rows.iter();
    batch(
        TableName::MrrMovements,
        tenant,
        rows.len(),
        vec![
            day(r.clone().map(|r| r.day)),
            ts(r.clone().map(|r| r.occurred_at)),
            text(r.clone().map(|r| r.source.as_str())),
            text(r.clone().map(|r| r.customer_id.as_str())),
            text(r.clone().map(|r| r.currency.as_str())),
            text(r.clone().map(|r| r.movement.as_str())),
            int(r.clone().map(|r| r.amount)),
            int(r.clone().map(|r| r.mrr_before)),
            int(r.clone().map(|r| r.mrr_after)),
            text(r.clone().map(|r| r.subscription_id.as_str())),
            text(r.map(|r| r.event_id.as_str())),
        ],
    )
}

fn daily(tenant: &TenantId, rows: &[DailyRow]) -> Result<RecordBatch, ArrowError> {
    let r = rows.iter();
    let mut columns = vec![
        day(r.clone().map(|r| r.day)),
        text_opt(r.clone().map(|r| r.currency.as_ref().map(|c| c.as_str()))),
    ];
    let counters: Vec<[(&str, i64); 20]> = rows.iter().map(DailyRow::counters).collect();
    for i in 0..revstream_schemas::tables::DAILY_COUNTERS.len() {
        columns.push(int(counters.iter().map(|c| c[i].1)));
    }
    batch(TableName::MetricsDaily, tenant, rows.len(), columns)
}

fn calls(tenant: &TenantId, rows: &[CallRow]) -> Result<RecordBatch, ArrowError> {
    let r = rows.iter();
    batch(
        TableName::Calls,
        tenant,
        rows.len(),
        vec![
            text(r.clone().map(|r| r.call_id.as_str())),
            text(r.clone().map(|r| r.source.as_str())),
            text(r.clone().map(|r| r.status.as_str())),
            text(r.clone().map(|r| r.attendance.as_str())),
            flag(r.clone().map(|r| r.offer_made)),
            flag(r.clone().map(|r| r.closed)),
            ts_opt(r.clone().map(|r| r.booked_at)),
            ts_opt(r.clone().map(|r| r.scheduled_at)),
            day_opt(r.clone().map(|r| r.scheduled_day)),
            text_opt(r.clone().map(|r| r.closer.as_deref())),
            text_opt(r.clone().map(|r| r.setter.as_deref())),
            text_opt(r.clone().map(|r| r.lead_source.as_deref())),
            text_opt(r.clone().map(|r| r.call_type.as_deref())),
            text_opt(r.clone().map(|r| r.lead_email.as_ref().map(|e| e.as_str()))),
            text_opt(r.clone().map(|r| r.lead_name.as_deref())),
            text_opt(
                r.clone()
                    .map(|r| r.rescheduled_from.as_ref().map(|c| c.as_str())),
            ),
            int_opt(r.clone().map(|r| r.cash_collected)),
            text_opt(r.clone().map(|r| r.currency.as_ref().map(|c| c.as_str()))),
            ts(r.map(|r| r.updated_at)),
        ],
    )
}

fn payments(tenant: &TenantId, rows: &[PaymentRow]) -> Result<RecordBatch, ArrowError> {
    let r = rows.iter();
    batch(
        TableName::Payments,
        tenant,
        rows.len(),
        vec![
            text(r.clone().map(|r| r.source.as_str())),
            text(r.clone().map(|r| r.payment_id.as_str())),
            text(r.clone().map(|r| r.status.as_str())),
            int(r.clone().map(|r| r.amount)),
            int(r.clone().map(|r| r.refunded_amount)),
            text(r.clone().map(|r| r.currency.as_str())),
            ts(r.clone().map(|r| r.paid_at)),
            day(r.clone().map(|r| r.paid_day)),
            text_opt(
                r.clone()
                    .map(|r| r.customer_id.as_ref().map(|c| c.as_str())),
            ),
            text_opt(r.clone().map(|r| r.email.as_ref().map(|e| e.as_str()))),
            text_opt(
                r.clone()
                    .map(|r| r.subscription_id.as_ref().map(|c| c.as_str())),
            ),
            text_opt(r.clone().map(|r| r.invoice_id.as_ref().map(|c| c.as_str()))),
            text_opt(r.clone().map(|r| r.call_id.as_ref().map(|c| c.as_str()))),
            text_opt(r.clone().map(|r| r.closer.as_deref())),
            text_opt(r.clone().map(|r| r.setter.as_deref())),
            text_opt(r.map(|r| r.lead_source.as_deref())),
        ],
    )
}

fn refunds(tenant: &TenantId, rows: &[RefundRow]) -> Result<RecordBatch, ArrowError> {
    let r = rows.iter();
    batch(
        TableName::Refunds,
        tenant,
        rows.len(),
        vec![
            text(r.clone().map(|r| r.source.as_str())),
            text(r.clone().map(|r| r.refund_id.as_str())),
            text(r.clone().map(|r| r.payment_id.as_str())),
            int(r.clone().map(|r| r.amount)),
            text(r.clone().map(|r| r.currency.as_str())),
            ts(r.clone().map(|r| r.refunded_at)),
            day(r.map(|r| r.refunded_day)),
        ],
    )
}

fn customers(tenant: &TenantId, rows: &[CustomerRow]) -> Result<RecordBatch, ArrowError> {
    let r = rows.iter();
    batch(
        TableName::Customers,
        tenant,
        rows.len(),
        vec![
            text(r.clone().map(|r| r.identity.as_str())),
            text(r.clone().map(|r| r.source.as_str())),
            text(r.clone().map(|r| r.customer_id.as_str())),
            text_opt(r.clone().map(|r| r.email.as_ref().map(|e| e.as_str()))),
            text_opt(r.clone().map(|r| r.name.as_deref())),
            ts(r.clone().map(|r| r.first_seen_at)),
            ts(r.map(|r| r.updated_at)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_asked_derived_tables_are_built_in_the_asked_order() {
        let tenant = TenantId::parse("acme").expect("valid id");
        let asked = [
            TableName::Customers,
            TableName::Events,
            TableName::Subscriptions,
        ];
        let built = derived_batches_of(&tenant, &Derived::default(), &asked).expect("empty rows");
        let tables: Vec<TableName> = built.iter().map(|(t, _)| *t).collect();
        assert_eq!(tables, [TableName::Customers, TableName::Subscriptions]);
        for (table, batch) in &built {
            assert_eq!(batch.schema(), table.schema(), "{table}");
        }
        let all: Vec<TableName> = derived_batches(&tenant, &Derived::default())
            .expect("empty rows")
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        assert_eq!(all, TableName::DERIVED);
    }
}
