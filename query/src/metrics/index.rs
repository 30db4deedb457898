//! A tenant's series index: everything a `/v1/metrics` series needs, read
//! once per version of the tenant's `metrics_daily` and `mrr_movements`
//! files and then answered from memory.
//!
//! ```text
//!  metrics_daily (every row of the tenant)   ─▶ per-day Sums: calls rows │ money rows per currency
//!  mrr_movements (every row, in sweep order) ─▶ per currency: (day, MRR, active customers) at each day's end
//!  request (from, to, currency, period ends) ─▶ the same per-day sums and day-end states the queries of
//!                                               [`super::load`] return, without planning a query
//! ```
//!
//! A dashboard asks many ranges and intervals of the same few tenants, and
//! each asked two DataFusion queries; at concurrency 16 on two cores the
//! planning and scanning was most of the latency. The index answers any
//! range, interval and metric subset of a series (grouped requests have
//! [`super::group_index`]). It is the queries' result over the whole
//! history, so an answer from it equals the queries' answer; the tests
//! compare the two.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use deltalake::datafusion::common::DataFusionError;
use deltalake::datafusion::execution::SessionState;

use super::definitions::Sums;
use super::load::{Sweep, dates, ints, sums_of_row, texts};
use crate::engine::collect;

type Result<T> = std::result::Result<T, DataFusionError>;

/// One tenant's series inputs at one version of its files.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SeriesIndex {
    /// Per-day counters of the rows without a currency (calls).
    calls: BTreeMap<NaiveDate, Sums>,
    /// Per-day counters of the money rows, by currency (sorted).
    money: BTreeMap<String, BTreeMap<NaiveDate, Sums>>,
    /// Per currency: MRR and active customers at the end of every day that
    /// has movements, in day order.
    day_ends: HashMap<String, Vec<DayEnd>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DayEnd {
    day: NaiveDate,
    mrr: i64,
    active: i64,
}

impl SeriesIndex {
    /// Reads the tenant's whole `metrics_daily` and `mrr_movements` in its
    /// query context.
    pub(crate) async fn load(state: &SessionState) -> Result<SeriesIndex> {
        let daily = collect(
            state,
            "SELECT day, currency, new_mrr, expansion_mrr, contraction_mrr, churned_mrr, \
             reactivation_mrr, new_customers, churned_customers, reactivated_customers, \
             cash_collected, refunds, booked_calls, showed, no_shows, pending, offers, closed, \
             canceled_calls, rescheduled_calls FROM metrics_daily",
            vec![],
        );
        let movements = collect(
            state,
            "SELECT currency, day, source, customer_id, amount, mrr_after FROM mrr_movements \
             ORDER BY currency, day, occurred_at, event_id",
            vec![],
        );
        let (daily, movements) = futures::try_join!(daily, movements)?;

        let mut index = SeriesIndex::default();
        for b in &daily {
            let days = dates(b, 0)?;
            let currencies = texts(b, 1)?;
            let c: Vec<Vec<i64>> = (2..b.num_columns())
                .map(|i| ints(b, i))
                .collect::<Result<_>>()?;
            for (row, (day, currency)) in days.into_iter().zip(currencies).enumerate() {
                let Some(day) = day else { continue };
                let days = match currency {
                    None => &mut index.calls,
                    Some(c) => index.money.entry(c).or_default(),
                };
                days.entry(day)
                    .or_default()
                    .add(&sums_of_row(|i| c[i][row]));
            }
        }
        index.day_ends = sweep(&movements)?;
        Ok(index)
    }

    /// The tenant's currencies with amounts, sorted (as
    /// [`super::load::currencies`]).
    pub(crate) fn currencies(&self) -> Vec<String> {
        self.money.keys().cloned().collect()
    }

    /// The per-day counters of `[from, to]` for `currency` (as
    /// [`super::load::daily`]).
    pub(crate) fn daily(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        currency: Option<&str>,
    ) -> BTreeMap<NaiveDate, Sums> {
        let mut out: BTreeMap<NaiveDate, Sums> =
            self.calls.range(from..=to).map(|(d, s)| (*d, *s)).collect();
        if let Some(days) = currency.and_then(|c| self.money.get(c)) {
            for (day, sums) in days.range(from..=to) {
                out.entry(*day).or_default().add(sums);
            }
        }
        out
    }

    /// MRR and active customers of `currency` at the end of each of `days`
    /// (as [`super::load::state_at`]).
    pub(crate) fn state_at(
        &self,
        currency: &str,
        days: &[NaiveDate],
    ) -> HashMap<NaiveDate, (i64, i64)> {
        let ends = self.day_ends.get(currency).map_or(&[][..], Vec::as_slice);
        days.iter()
            .map(|&day| {
                // The last day end on or before `day`; none yet is 0 and 0.
                let at = ends.partition_point(|e| e.day <= day);
                let state = at
                    .checked_sub(1)
                    .map_or((0, 0), |i| (ends[i].mrr, ends[i].active));
                (day, state)
            })
            .collect()
    }

    /// About the heap bytes held, for the cache's budget.
    pub(crate) fn bytes(&self) -> usize {
        // A B-tree entry of a date and its sums, with the tree's overhead.
        const DAY: usize = size_of::<NaiveDate>() + size_of::<Sums>() + 16;
        let days = self.calls.len() + self.money.values().map(BTreeMap::len).sum::<usize>();
        let ends: usize = self.day_ends.values().map(Vec::len).sum();
        size_of::<Self>() + days * DAY + ends * size_of::<DayEnd>()
    }
}

/// The movements sweep of [`super::load::state_at`] over every currency at
/// once (rows sorted by currency, day, occurred_at, event_id), keeping the
/// state at each day's end.
fn sweep(batches: &[arrow::array::RecordBatch]) -> Result<HashMap<String, Vec<DayEnd>>> {
    let mut out: HashMap<String, Vec<DayEnd>> = HashMap::new();
    let mut current: Option<(String, Sweep)> = None;
    for b in batches {
        let currency = texts(b, 0)?;
        let day = dates(b, 1)?;
        let source = texts(b, 2)?;
        let customer = texts(b, 3)?;
        let amount = ints(b, 4)?;
        let after = ints(b, 5)?;
        for i in 0..b.num_rows() {
            let (Some(c), Some(d)) = (&currency[i], day[i]) else {
                continue;
            };
            if current.as_ref().is_none_or(|(held, _)| held != c) {
                current = Some((c.clone(), Sweep::default()));
            }
            let Some((_, sweep)) = current.as_mut() else {
                continue;
            };
            let key = (
                source[i].clone().unwrap_or_default(),
                customer[i].clone().unwrap_or_default(),
            );
            sweep.apply(key, amount[i], after[i]);
            let end = DayEnd {
                day: d,
                mrr: sweep.mrr,
                active: sweep.active,
            };
            let ends = out.entry(c.clone()).or_default();
            match ends.last_mut() {
                Some(last) if last.day == d => *last = end,
                _ => ends.push(end),
            }
        }
    }
    Ok(out)
}
