//! Names and Arrow schemas of the tables the pipeline writes and the query
//! service reads. Every table is partitioned by `tenant_id`, its first
//! column. Columns are documented in `docs/tables.md`.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// The partition column of every table.
pub const TENANT_COLUMN: &str = "tenant_id";

/// A table of DESIGN.md. Names are fixed here so no caller builds a table
/// name or path with `format!`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TableName {
    Events,
    Subscriptions,
    MrrMovements,
    MetricsDaily,
    Calls,
    Payments,
    Refunds,
    Customers,
}

impl TableName {
    pub const ALL: [TableName; 8] = [
        TableName::Events,
        TableName::Subscriptions,
        TableName::MrrMovements,
        TableName::MetricsDaily,
        TableName::Calls,
        TableName::Payments,
        TableName::Refunds,
        TableName::Customers,
    ];

    /// The tables the pipeline derives from `events`: [`TableName::ALL`]
    /// without its first, `events`.
    pub const DERIVED: [TableName; 7] = {
        let [_events, derived @ ..] = Self::ALL;
        derived
    };

    /// The SQL name, also the directory name under the table location.
    pub fn as_str(self) -> &'static str {
        match self {
            TableName::Events => "events",
            TableName::Subscriptions => "subscriptions",
            TableName::MrrMovements => "mrr_movements",
            TableName::MetricsDaily => "metrics_daily",
            TableName::Calls => "calls",
            TableName::Payments => "payments",
            TableName::Refunds => "refunds",
            TableName::Customers => "customers",
        }
    }

    pub fn parse(s: &str) -> Option<TableName> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// The table's Arrow schema (shared, built once).
    pub fn schema(self) -> SchemaRef {
        static SCHEMAS: LazyLock<[SchemaRef; 8]> =
            LazyLock::new(|| TableName::ALL.map(|t| Arc::new(build(t))));
        SCHEMAS[self as usize].clone()
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, false)
}
fn text_opt(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}
fn int(name: &str) -> Field {
    Field::new(name, DataType::Int64, false)
}
fn int_opt(name: &str) -> Field {
    Field::new(name, DataType::Int64, true)
}
fn flag(name: &str) -> Field {
    Field::new(name, DataType::Boolean, false)
}
fn day(name: &str) -> Field {
    Field::new(name, DataType::Date32, false)
}
fn day_opt(name: &str) -> Field {
    Field::new(name, DataType::Date32, true)
}
fn ts(name: &str) -> Field {
    Field::new(name, timestamp_type(), false)
}
fn ts_opt(name: &str) -> Field {
    Field::new(name, timestamp_type(), true)
}

/// Microseconds in UTC: what Delta calls `timestamp`, readable by DuckDB,
/// Polars and Spark alike.
pub fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Additive counters of `metrics_daily`, in column order. Rates are computed
/// from these at query time, never stored.
pub const DAILY_COUNTERS: &[&str] = &[
    "new_mrr",
    "expansion_mrr",
    "contraction_mrr",
    "churned_mrr",
    "reactivation_mrr",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
    "cash_collected",
    "refunds",
    "payments_count",
    "refunds_count",
    "booked_calls",
    "showed",
    "no_shows",
    "pending",
    "offers",
    "closed",
    "canceled_calls",
    "rescheduled_calls",
];

fn build(table: TableName) -> Schema {
    let tenant = text(TENANT_COLUMN);
    let fields = match table {
        TableName::Events => vec![
            tenant,
            text("source"),
            text("event_id"),
            text("type"),
            ts("occurred_at"),
            day("day"),
            text_opt("customer_id"),
            text_opt("email"),
            text_opt("object_id"),
            int_opt("amount"),
            text_opt("currency"),
            text("payload"),
            text_opt("raw"),
            // Where the event was read from, so a pipeline that takes over a
            // log partition can reload exactly that partition's events.
            Field::new("log_partition", DataType::Int32, false),
            int("log_offset"),
        ],
        TableName::Subscriptions => vec![
            tenant,
            text("source"),
            text("subscription_id"),
            text("customer_id"),
            text("status"),
            text("currency"),
            int("billing_amount"),
            text_opt("billing_interval"),
            int_opt("billing_interval_count"),
            int("mrr"),
            flag("cancel_at_period_end"),
            flag("scheduled_churn"),
            ts_opt("current_period_end"),
            ts_opt("canceled_at"),
            ts_opt("ended_at"),
            ts("started_at"),
            ts("updated_at"),
            text("last_event_id"),
        ],
        TableName::MrrMovements => vec![
            tenant,
            day("day"),
            ts("occurred_at"),
            text("source"),
            text("customer_id"),
            text("currency"),
            text("movement"),
            int("amount"),
            int("mrr_before"),
            int("mrr_after"),
            text("subscription_id"),
            text("event_id"),
        ],
        TableName::MetricsDaily => {
            let mut f = vec![tenant, day("day"), text_opt("currency")];
            f.extend(DAILY_COUNTERS.iter().map(|c| int(c)));
            f
        }
        TableName::Calls => vec![
            tenant,
            text("call_id"),
            text("source"),
            text("status"),
            text("attendance"),
            flag("offer_made"),
            flag("closed"),
            ts_opt("booked_at"),
            ts_opt("scheduled_at"),
            day_opt("scheduled_day"),
            text_opt("closer"),
            text_opt("setter"),
            text_opt("lead_source"),
            text_opt("call_type"),
            text_opt("lead_email"),
            text_opt("lead_name"),
            text_opt("rescheduled_from"),
            int_opt("cash_collected"),
            text_opt("currency"),
            ts("updated_at"),
        ],
        TableName::Payments => vec![
            tenant,
            text("source"),
            text("payment_id"),
            text("status"),
            int("amount"),
            int("refunded_amount"),
            text("currency"),
            ts("paid_at"),
            day("paid_day"),
            text_opt("customer_id"),
            text_opt("email"),
            text_opt("subscription_id"),
            text_opt("invoice_id"),
            text_opt("call_id"),
            text_opt("closer"),
            text_opt("setter"),
            text_opt("lead_source"),
        ],
        TableName::Refunds => vec![
            tenant,
            text("source"),
            text("refund_id"),
            text("payment_id"),
            int("amount"),
            text("currency"),
            ts("refunded_at"),
            day("refunded_day"),
        ],
        TableName::Customers => vec![
            tenant,
            text("identity"),
            text("source"),
            text("customer_id"),
            text_opt("email"),
            text_opt("name"),
            ts("first_seen_at"),
            ts("updated_at"),
        ],
    };
    Schema::new(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_partitioned_by_tenant_first() {
        for t in TableName::ALL {
            let schema = t.schema();
            assert_eq!(schema.field(0).name(), TENANT_COLUMN, "{t}");
            assert!(!schema.field(0).is_nullable(), "{t}");
            assert_eq!(TableName::parse(t.as_str()), Some(t));
        }
    }

    #[test]
    fn the_derived_tables_are_every_table_but_events() {
        let others: Vec<TableName> = TableName::ALL
            .into_iter()
            .filter(|t| *t != TableName::Events)
            .collect();
        assert_eq!(others, TableName::DERIVED);
    }

    #[test]
    fn column_names_are_unique_per_table() {
        for t in TableName::ALL {
            let schema = t.schema();
            let mut names: Vec<_> = schema.fields().iter().map(|f| f.name().clone()).collect();
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "{t} has a duplicate column");
        }
    }

    #[test]
    fn daily_metrics_hold_only_additive_integers() {
        let schema = TableName::MetricsDaily.schema();
        for name in DAILY_COUNTERS {
            let f = schema.field_with_name(name).unwrap();
            assert_eq!(f.data_type(), &DataType::Int64, "{name}");
        }
    }
}
