//! Derived rows → Arrow record batches with the schemas of
//! `revstream_schemas::tables`. One function per table; the tenant column
//! is added here, since [`crate::derive`] works on one tenant at a time.
//! A cycle builds one batch per changed bucket (see [`crate::buckets`]).

mod columns;
mod events;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::error::ArrowError;
use revstream_schemas::{TableName, TenantId};

use crate::buckets::{Bucket, Bucketed, RewriteScope, rows_in};
use crate::derive::{
    CallRow, CustomerRow, DailyRow, Derived, MovementRow, PaymentRow, RefundRow, SubscriptionRow,
};
use columns::{day, day_opt, flag, int, int_opt, text, text_opt, ts, ts_opt};

pub use events::{EventRow, events_batch};

/// The derived tables of one tenant, one batch per table (every bucket).
pub fn derived_batches(
    tenant: &TenantId,
    d: &Derived,
) -> Result<Vec<(TableName, RecordBatch)>, ArrowError> {
    let mut out = Vec::with_capacity(TableName::DERIVED.len());
    for table in TableName::DERIVED {
        let batch = match table {
            TableName::Subscriptions => subscriptions(tenant, &refs_of(&d.subscriptions))?,
            TableName::MrrMovements => movements(tenant, &refs_of(&d.movements))?,
            TableName::MetricsDaily => daily(tenant, &refs_of(&d.daily))?,
            TableName::Calls => calls(tenant, &refs_of(&d.calls))?,
            TableName::Payments => payments(tenant, &refs_of(&d.payments))?,
            TableName::Refunds => refunds(tenant, &refs_of(&d.refunds))?,
            TableName::Customers => customers(tenant, &refs_of(&d.customers))?,
            TableName::Events => continue,
        };
        out.push((table, batch));
    }
    Ok(out)
}

/// One batch per bucket of `scope` that has rows.
pub type BucketBatches = Vec<(Bucket, RecordBatch)>;

/// The batches of one derived table's buckets in `scope` (`Events` has
/// none): a cycle builds only the buckets whose rows changed.
pub fn bucket_batches(
    tenant: &TenantId,
    d: &Derived,
    table: TableName,
    scope: &RewriteScope,
) -> Result<BucketBatches, ArrowError> {
    match table {
        TableName::Subscriptions => each(tenant, &d.subscriptions, scope, subscriptions),
        TableName::MrrMovements => each(tenant, &d.movements, scope, movements),
        TableName::MetricsDaily => each(tenant, &d.daily, scope, daily),
        TableName::Calls => each(tenant, &d.calls, scope, calls),
        TableName::Payments => each(tenant, &d.payments, scope, payments),
        TableName::Refunds => each(tenant, &d.refunds, scope, refunds),
        TableName::Customers => each(tenant, &d.customers, scope, customers),
        TableName::Events => Ok(Vec::new()),
    }
}

fn each<R: Bucketed>(
    tenant: &TenantId,
    rows: &[R],
    scope: &RewriteScope,
    build: fn(&TenantId, &[&R]) -> Result<RecordBatch, ArrowError>,
) -> Result<BucketBatches, ArrowError> {
    rows_in(rows, scope)
        .into_iter()
        .map(|(bucket, rows)| Ok((bucket, build(tenant, &rows)?)))
        .collect()
}

fn refs_of<R>(rows: &[R]) -> Vec<&R> {
    rows.iter().collect()
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

fn subscriptions(tenant: &TenantId, rows: &[&SubscriptionRow]) -> Result<RecordBatch, ArrowError> {
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

fn movements(tenant: &TenantId, rows: &[&MovementRow]) -> Result<RecordBatch, ArrowError> {
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

fn daily(tenant: &TenantId, rows: &[&DailyRow]) -> Result<RecordBatch, ArrowError> {
    let r = rows.iter();
    let mut columns = vec![
        day(r.clone().map(|r| r.day)),
        text_opt(r.clone().map(|r| r.currency.as_ref().map(|c| c.as_str()))),
    ];
    let counters: Vec<[(&str, i64); 20]> = rows.iter().map(|r| r.counters()).collect();
    for i in 0..revstream_schemas::tables::DAILY_COUNTERS.len() {
        columns.push(int(counters.iter().map(|c| c[i].1)));
    }
    batch(TableName::MetricsDaily, tenant, rows.len(), columns)
}

fn calls(tenant: &TenantId, rows: &[&CallRow]) -> Result<RecordBatch, ArrowError> {
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

fn payments(tenant: &TenantId, rows: &[&PaymentRow]) -> Result<RecordBatch, ArrowError> {
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

fn refunds(tenant: &TenantId, rows: &[&RefundRow]) -> Result<RecordBatch, ArrowError> {
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

fn customers(tenant: &TenantId, rows: &[&CustomerRow]) -> Result<RecordBatch, ArrowError> {
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

    use chrono::NaiveDate;
    use revstream_schemas::CanonicalEvent;

    use crate::derive::{TenantSettings, derive};

    /// Payments on the 1st and 20th of January and February 2026.
    fn two_months() -> Derived {
        let events: Vec<CanonicalEvent> = ["01-01", "01-20", "02-01", "02-20"]
            .iter()
            .enumerate()
            .map(|(n, day)| {
                let json = format!(
                    r#"{{"id":"evt_{n}","type":"payment.succeeded","occurred_at":"2026-{day}T10:00:00Z",
                    "source":"stripe","customer":{{"id":"cus_{n}"}},
                    "payment":{{"id":"ch_{n}","amount":100,"currency":"usd","paid_at":"2026-{day}T10:00:00Z"}}}}"#
                );
                CanonicalEvent::from_json(json.as_bytes()).expect("valid test event")
            })
            .collect();
        derive(&TenantSettings::default(), &events)
    }

    fn month(m: u32) -> Bucket {
        Bucket::of_day(NaiveDate::from_ymd_opt(2026, m, 1).expect("a date"))
    }

    #[test]
    fn a_scope_builds_one_batch_per_bucket_with_rows() {
        let tenant = TenantId::parse("acme").expect("valid id");
        let d = two_months();
        let rows = |built: &BucketBatches| -> Vec<(Bucket, usize)> {
            built
                .iter()
                .map(|(b, batch)| (*b, batch.num_rows()))
                .collect()
        };
        let whole = bucket_batches(&tenant, &d, TableName::Payments, &RewriteScope::Whole)
            .expect("valid rows");
        assert_eq!(rows(&whole), [(month(1), 2), (month(2), 2)]);
        for (_, batch) in &whole {
            assert_eq!(batch.schema(), TableName::Payments.schema());
        }
        let feb = RewriteScope::Buckets(vec![month(2)]);
        let built = bucket_batches(&tenant, &d, TableName::Payments, &feb).expect("valid rows");
        assert_eq!(rows(&built), [(month(2), 2)]);
        // A bucket without rows has no batch: its file goes, none replaces it.
        let march = RewriteScope::Buckets(vec![month(3)]);
        let built = bucket_batches(&tenant, &d, TableName::Payments, &march).expect("valid rows");
        assert!(built.is_empty());
        let built = bucket_batches(&tenant, &d, TableName::Events, &RewriteScope::Whole)
            .expect("nothing to build");
        assert!(built.is_empty());
    }

    #[test]
    fn derived_batches_hold_every_row_of_every_derived_table() {
        let tenant = TenantId::parse("acme").expect("valid id");
        let built = derived_batches(&tenant, &two_months()).expect("valid rows");
        let tables: Vec<TableName> = built.iter().map(|(t, _)| *t).collect();
        assert_eq!(tables, TableName::DERIVED);
        for (table, batch) in &built {
            assert_eq!(batch.schema(), table.schema(), "{table}");
        }
        assert_eq!(built[4], (TableName::Payments, built[4].1.clone()));
        assert_eq!(built[4].1.num_rows(), 4);
    }
}
