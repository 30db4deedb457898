//! A tenant's group index: the `/v1/metrics?group_by=` counters of every
//! group by day, read once per version of the tenant's `calls`,
//! `payments` and `refunds` files (and per grouping and timezone), then
//! answered from memory for any range.
//!
//! ```text
//!  calls (every row)                   ─▶ group ─▶ day ─▶ booked (local date of booked_at) │ status counters (scheduled_day)
//!  payments succeeded, by paid_day     ─▶ group ─▶ currency ─▶ day ─▶ cash, rows
//!  refunds (with their payment's group) ─▶ group ─▶ currency ─▶ day ─▶ refunds, rows
//!  request (from, to, currency)         ─▶ the per-group sums [`super::load::calls_by`] and
//!                                          [`super::load::cash_by`] return
//! ```
//!
//! The rules are those of the queries it replaces: a call counts its
//! booking on the tenant-local date of `booked_at` and its status on
//! `scheduled_day`; a group appears when a call of it counts something in
//! the range, or when a payment or refund of it falls in the range (even
//! of amount 0, as a SQL `GROUP BY` would show it).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use deltalake::datafusion::common::DataFusionError;
use deltalake::datafusion::execution::SessionState;

use super::GroupBy;
use super::definitions::Sums;
use super::load::{CALL_COLUMNS, call_rows, dates, ints, texts};
use crate::engine::collect;

type Result<T> = std::result::Result<T, DataFusionError>;

/// A group's key: the attribute's value, `None` for rows without it.
type Key = Option<String>;

/// Per currency, per group, per day: payments or refunds.
type MoneyByDay = BTreeMap<String, BTreeMap<Key, BTreeMap<NaiveDate, Money>>>;

/// Amount and row count of one group's payments or refunds on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Money {
    amount: i64,
    rows: i64,
}

/// One tenant's grouped counters for one grouping and timezone.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupIndex {
    /// Per group, per day: call counters (booked on the booking's local
    /// date, the rest on the scheduled day).
    calls: BTreeMap<Key, BTreeMap<NaiveDate, Sums>>,
    cash: MoneyByDay,
    refunds: MoneyByDay,
}

impl GroupIndex {
    /// Reads the tenant's calls, succeeded payments and refunds, grouped
    /// `by`, in its query context.
    pub(crate) async fn load(state: &SessionState, by: GroupBy, timezone: Tz) -> Result<Self> {
        let calls_sql = format!(
            "SELECT {key}, {CALL_COLUMNS} FROM calls",
            key = by.calls_column()
        );
        let (key, join) = by.payments_key();
        let cash_sql = format!(
            "SELECT {key}, p.currency, p.paid_day, SUM(p.amount), COUNT(*) FROM payments p {join} \
             WHERE p.status = 'succeeded' GROUP BY 1, 2, 3"
        );
        let refunds_sql = format!(
            "SELECT {key}, r.currency, r.refunded_day, SUM(r.amount), COUNT(*) FROM refunds r \
             LEFT JOIN payments p ON r.source = p.source AND r.payment_id = p.payment_id {join} \
             GROUP BY 1, 2, 3"
        );
        let (calls, cash, refunds) = futures::try_join!(
            collect(state, &calls_sql, vec![]),
            collect(state, &cash_sql, vec![]),
            collect(state, &refunds_sql, vec![]),
        )?;

        let mut index = GroupIndex::default();
        for call in call_rows(&calls, timezone)? {
            let days = index.calls.entry(call.key.clone()).or_default();
            if let Some(day) = call.booked_day {
                days.entry(day).or_default().booked_calls += 1;
            }
            if let Some(day) = call.scheduled_day {
                call.count_scheduled(days.entry(day).or_default());
            }
        }
        index.calls.retain(|_, days| !days.is_empty());
        index.cash = money_by_day(&cash)?;
        index.refunds = money_by_day(&refunds)?;
        Ok(index)
    }

    /// The call counters of each group over `[from, to]` (as
    /// [`super::load::calls_by`]).
    pub(crate) fn calls(&self, from: NaiveDate, to: NaiveDate) -> BTreeMap<Key, Sums> {
        let mut out = BTreeMap::new();
        for (key, days) in &self.calls {
            let mut sums = Sums::default();
            for (_, s) in days.range(from..=to) {
                sums.add(s);
            }
            if sums != Sums::default() {
                out.insert(key.clone(), sums);
            }
        }
        out
    }

    /// Cash and refunds of `currency` per group over `[from, to]` (as
    /// [`super::load::cash_by`]).
    pub(crate) fn cash(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        currency: &str,
    ) -> BTreeMap<Key, Sums> {
        let mut out: BTreeMap<Key, Sums> = BTreeMap::new();
        for (by_group, is_cash) in [(&self.cash, true), (&self.refunds, false)] {
            let Some(groups) = by_group.get(currency) else {
                continue;
            };
            for (key, days) in groups {
                let mut total = Money::default();
                for (_, m) in days.range(from..=to) {
                    total.amount = total.amount.saturating_add(m.amount);
                    total.rows += m.rows;
                }
                if total.rows == 0 {
                    continue;
                }
                let sums = out.entry(key.clone()).or_default();
                if is_cash {
                    sums.cash_collected += total.amount;
                } else {
                    sums.refunds += total.amount;
                }
            }
        }
        out
    }

    /// About the heap bytes held, for the cache's budget.
    pub(crate) fn bytes(&self) -> usize {
        const CALL_DAY: usize = size_of::<NaiveDate>() + size_of::<Sums>() + 16;
        const MONEY_DAY: usize = size_of::<NaiveDate>() + size_of::<Money>() + 16;
        // A group's entry: its key's text and the tree's overhead.
        const GROUP: usize = size_of::<Key>() + 48;
        let call_days: usize = self.calls.values().map(BTreeMap::len).sum();
        let mut money_days = 0;
        let mut groups = self.calls.len();
        for by_currency in [&self.cash, &self.refunds] {
            for g in by_currency.values() {
                groups += g.len();
                money_days += g.values().map(BTreeMap::len).sum::<usize>();
            }
        }
        size_of::<Self>() + groups * GROUP + call_days * CALL_DAY + money_days * MONEY_DAY
    }
}

/// Rows of (group, currency, day, SUM(amount), COUNT(*)) by currency,
/// group and day; rows without a currency or a day count on no day.
fn money_by_day(batches: &[arrow::array::RecordBatch]) -> Result<MoneyByDay> {
    let mut out = MoneyByDay::new();
    for b in batches {
        let key = texts(b, 0)?;
        let currency = texts(b, 1)?;
        let day = dates(b, 2)?;
        let amount = ints(b, 3)?;
        let rows = ints(b, 4)?;
        for i in 0..b.num_rows() {
            let (Some(c), Some(d)) = (&currency[i], day[i]) else {
                continue;
            };
            let m = out
                .entry(c.clone())
                .or_default()
                .entry(key[i].clone())
                .or_default()
                .entry(d)
                .or_default();
            m.amount = m.amount.saturating_add(amount[i]);
            m.rows += rows[i];
        }
    }
    Ok(out)
}
