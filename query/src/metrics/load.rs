//! The few queries behind `/v1/metrics`, run in the tenant's context (so
//! the same tenant-scoped tables as any SQL), and their results as plain
//! Rust values.
//!
//! ```text
//!  metrics_daily (day, currency | calls row) ─▶ per-day Sums ─▶ period sums
//!  mrr_movements (day, customer, amount, mrr_after) ─▶ sweep ─▶ MRR, active customers at day ends
//!  calls / payments / refunds (with attribution) ─▶ per-group Sums      (group_by only)
//! ```

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Date32Type, Int64Type};
use chrono::{DateTime, Days, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use deltalake::datafusion::common::{DataFusionError, ScalarValue};
use deltalake::datafusion::execution::SessionState;

use super::GroupBy;
use super::definitions::Sums;
use crate::engine::collect;

type Result<T> = std::result::Result<T, DataFusionError>;

fn date_param(day: NaiveDate) -> ScalarValue {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let days = i32::try_from(day.signed_duration_since(epoch).num_days()).unwrap_or(i32::MAX);
    ScalarValue::Date32(Some(days))
}

fn text_param(value: Option<&str>) -> ScalarValue {
    ScalarValue::Utf8(value.map(str::to_owned))
}

fn micros_param(at: DateTime<Utc>) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(Some(at.timestamp_micros()), Some("UTC".into()))
}

/// A column cast to `to` (strings may come back as views or dictionaries).
fn column(batch: &RecordBatch, index: usize, to: &DataType) -> Result<ArrayRef> {
    Ok(cast(batch.column(index), to)?)
}

pub(super) fn ints(batch: &RecordBatch, index: usize) -> Result<Vec<i64>> {
    let a = column(batch, index, &DataType::Int64)?;
    let a = a.as_primitive::<Int64Type>();
    Ok((0..a.len())
        .map(|i| if a.is_null(i) { 0 } else { a.value(i) })
        .collect())
}

fn opt_ints(batch: &RecordBatch, index: usize) -> Result<Vec<Option<i64>>> {
    let a = column(batch, index, &DataType::Int64)?;
    let a = a.as_primitive::<Int64Type>();
    Ok((0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect())
}

pub(super) fn texts(batch: &RecordBatch, index: usize) -> Result<Vec<Option<String>>> {
    let a = column(batch, index, &DataType::Utf8)?;
    let a = a.as_string::<i32>();
    Ok((0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i).to_owned()))
        .collect())
}

fn bools(batch: &RecordBatch, index: usize) -> Result<Vec<bool>> {
    let a = column(batch, index, &DataType::Boolean)?;
    let a = a.as_boolean();
    Ok((0..a.len()).map(|i| !a.is_null(i) && a.value(i)).collect())
}

pub(super) fn dates(batch: &RecordBatch, index: usize) -> Result<Vec<Option<NaiveDate>>> {
    let a = column(batch, index, &DataType::Date32)?;
    let a = a.as_primitive::<Date32Type>();
    Ok((0..a.len())
        .map(|i| {
            if a.is_null(i) {
                None
            } else {
                a.value_as_date(i)
            }
        })
        .collect())
}

/// Currencies the tenant has amounts in, sorted.
pub(crate) async fn currencies(state: &SessionState) -> Result<Vec<String>> {
    let batches = collect(
        state,
        "SELECT DISTINCT currency FROM metrics_daily WHERE currency IS NOT NULL ORDER BY currency",
        vec![],
    )
    .await?;
    let mut out = Vec::new();
    for b in &batches {
        out.extend(texts(b, 0)?.into_iter().flatten());
    }
    Ok(out)
}

/// The daily counters of `[from, to]`: money of `currency` and the calls
/// rows, summed per day.
pub(crate) async fn daily(
    state: &SessionState,
    from: NaiveDate,
    to: NaiveDate,
    currency: Option<&str>,
) -> Result<BTreeMap<NaiveDate, Sums>> {
    let batches = collect(
        state,
        "SELECT day, new_mrr, expansion_mrr, contraction_mrr, churned_mrr, reactivation_mrr, \
         new_customers, churned_customers, reactivated_customers, cash_collected, refunds, \
         booked_calls, showed, no_shows, pending, offers, closed, canceled_calls, rescheduled_calls \
         FROM metrics_daily \
         WHERE day >= $1 AND day <= $2 AND (currency IS NULL OR currency = $3)",
        vec![date_param(from), date_param(to), text_param(currency)],
    )
    .await?;
    let mut out: BTreeMap<NaiveDate, Sums> = BTreeMap::new();
    for b in &batches {
        let days = dates(b, 0)?;
        let c: Vec<Vec<i64>> = (1..b.num_columns())
            .map(|i| ints(b, i))
            .collect::<Result<_>>()?;
        for (row, day) in days.into_iter().enumerate() {
            let Some(day) = day else { continue };
            out.entry(day).or_default().add(&sums_of_row(|i| c[i][row]));
        }
    }
    Ok(out)
}

/// MRR and active customers at the end of each of `days` (sorted,
/// distinct): MRR = Σ signed movements up to the day; a customer is active
/// when its latest movement up to the day leaves MRR > 0.
pub(crate) async fn state_at(
    state: &SessionState,
    currency: &str,
    days: &[NaiveDate],
) -> Result<HashMap<NaiveDate, (i64, i64)>> {
    let mut out = HashMap::new();
    let Some(last) = days.last() else {
        return Ok(out);
    };
    let batches = collect(
        state,
        "SELECT day, source, customer_id, amount, mrr_after FROM mrr_movements \
         WHERE currency = $1 AND day <= $2 ORDER BY day, occurred_at, event_id",
        vec![text_param(Some(currency)), date_param(*last)],
    )
    .await?;
    let mut movements = Vec::new();
    for b in &batches {
        let day = dates(b, 0)?;
        let source = texts(b, 1)?;
        let customer = texts(b, 2)?;
        let amount = ints(b, 3)?;
        let after = ints(b, 4)?;
        for i in 0..b.num_rows() {
            if let Some(d) = day[i] {
                let key = (
                    source[i].clone().unwrap_or_default(),
                    customer[i].clone().unwrap_or_default(),
                );
                movements.push((d, key, amount[i], after[i]));
            }
        }
    }

    let mut sweep = Sweep::default();
    let mut next = movements.into_iter().peekable();
    for &day in days {
        while let Some((_, key, amount, after)) = next.next_if(|m| m.0 <= day) {
            sweep.apply(key, amount, after);
        }
        out.insert(day, (sweep.mrr, sweep.active));
    }
    Ok(out)
}

/// MRR and active customers of one currency, movement by movement (in
/// day, occurred_at, event_id order): MRR = Σ signed movements; a customer
/// is active while its latest movement leaves MRR > 0.
#[derive(Debug, Default)]
pub(super) struct Sweep {
    pub(super) mrr: i64,
    pub(super) active: i64,
    /// Latest MRR by (source, customer id).
    customers: HashMap<(String, String), i64>,
}

impl Sweep {
    pub(super) fn apply(&mut self, customer: (String, String), amount: i64, after: i64) {
        self.mrr = self.mrr.saturating_add(amount);
        let before = self.customers.insert(customer, after).unwrap_or(0);
        match (before > 0, after > 0) {
            (false, true) => self.active += 1,
            (true, false) => self.active -= 1,
            _ => {}
        }
    }
}

/// The counters of one `metrics_daily` row from its counter columns, in
/// the order both metrics queries select them (new_mrr … rescheduled_calls).
pub(super) fn sums_of_row(v: impl Fn(usize) -> i64) -> Sums {
    Sums {
        new_mrr: v(0),
        expansion_mrr: v(1),
        contraction_mrr: v(2),
        churned_mrr: v(3),
        reactivation_mrr: v(4),
        new_customers: v(5),
        churned_customers: v(6),
        reactivated_customers: v(7),
        cash_collected: v(8),
        refunds: v(9),
        booked_calls: v(10),
        showed: v(11),
        no_shows: v(12),
        pending: v(13),
        offers: v(14),
        closed: v(15),
        canceled_calls: v(16),
        rescheduled_calls: v(17),
        ..Sums::default()
    }
}

/// Sums of call metrics per group over `[from, to]`: counted on the
/// tenant-local `scheduled_day` (status scheduled for attendance, offers
/// and closes) and, for bookings, on the tenant-local date of `booked_at`
/// — the same rules as `metrics_daily`.
pub(crate) async fn calls_by(
    state: &SessionState,
    by: GroupBy,
    from: NaiveDate,
    to: NaiveDate,
    timezone: Tz,
) -> Result<BTreeMap<Option<String>, Sums>> {
    // Any instant whose local date is in [from, to] lies within a day of
    // the UTC dates (offsets are under 24 h).
    let lo = Utc.from_utc_datetime(&from.pred_opt().unwrap_or(from).and_time(NaiveTime::MIN));
    let hi = Utc.from_utc_datetime(
        &to.checked_add_days(Days::new(2))
            .unwrap_or(to)
            .and_time(NaiveTime::MIN),
    );
    let sql = format!(
        "SELECT {key}, {CALL_COLUMNS} FROM calls \
         WHERE (scheduled_day >= $1 AND scheduled_day <= $2) OR (booked_at >= $3 AND booked_at < $4)",
        key = by.calls_column()
    );
    let batches = collect(
        state,
        &sql,
        vec![
            date_param(from),
            date_param(to),
            micros_param(lo),
            micros_param(hi),
        ],
    )
    .await?;
    let within = |d: Option<NaiveDate>| d.is_some_and(|d| d >= from && d <= to);
    let mut out: BTreeMap<Option<String>, Sums> = BTreeMap::new();
    for call in call_rows(&batches, timezone)? {
        let sums = out.entry(call.key.clone()).or_default();
        if within(call.booked_day) {
            sums.booked_calls += 1;
        }
        if within(call.scheduled_day) {
            call.count_scheduled(sums);
        }
    }
    // Calls that matched only through the wide booked_at window count
    // nothing; drop groups that ended up empty.
    out.retain(|_, s| *s != Sums::default());
    Ok(out)
}

/// The columns of `calls` after the group key that [`call_rows`] reads.
pub(super) const CALL_COLUMNS: &str =
    "status, attendance, offer_made, closed, booked_at, scheduled_day";

/// A `calls` row as the call metrics count it.
pub(super) struct CallRow {
    /// The group's key (the grouped-by column).
    pub(super) key: Option<String>,
    /// The tenant-local date of `booked_at`: bookings count on it.
    pub(super) booked_day: Option<NaiveDate>,
    /// Everything else counts on this day.
    pub(super) scheduled_day: Option<NaiveDate>,
    status: Option<String>,
    attendance: Option<String>,
    offer: bool,
    closed: bool,
}

impl CallRow {
    /// Counts the call on its scheduled day: canceled, rescheduled, or by
    /// attendance (showed, with its offer and close; no-show; pending).
    pub(super) fn count_scheduled(&self, sums: &mut Sums) {
        match self.status.as_deref() {
            Some("canceled") => sums.canceled_calls += 1,
            Some("rescheduled") => sums.rescheduled_calls += 1,
            _ => match self.attendance.as_deref() {
                Some("showed") => {
                    sums.showed += 1;
                    sums.offers += i64::from(self.offer);
                    sums.closed += i64::from(self.closed);
                }
                Some("no_show") => sums.no_shows += 1,
                _ => sums.pending += 1,
            },
        }
    }
}

/// The rows of `SELECT key, CALL_COLUMNS FROM calls …`, booking dates in
/// `timezone`.
pub(super) fn call_rows(batches: &[RecordBatch], timezone: Tz) -> Result<Vec<CallRow>> {
    let mut out = Vec::new();
    for b in batches {
        let key = texts(b, 0)?;
        let status = texts(b, 1)?;
        let attendance = texts(b, 2)?;
        let offer = bools(b, 3)?;
        let closed = bools(b, 4)?;
        let booked = opt_ints(b, 5)?;
        let scheduled = dates(b, 6)?;
        for i in 0..b.num_rows() {
            out.push(CallRow {
                key: key[i].clone(),
                booked_day: booked[i]
                    .and_then(DateTime::from_timestamp_micros)
                    .map(|at| at.with_timezone(&timezone).date_naive()),
                scheduled_day: scheduled[i],
                status: status[i].clone(),
                attendance: attendance[i].clone(),
                offer: offer[i],
                closed: closed[i],
            });
        }
    }
    Ok(out)
}

/// Cash and refunds per group over `[from, to]`, by the payment's
/// attribution (a refund follows its payment's attribution).
pub(crate) async fn cash_by(
    state: &SessionState,
    by: GroupBy,
    from: NaiveDate,
    to: NaiveDate,
    currency: &str,
) -> Result<BTreeMap<Option<String>, Sums>> {
    let (key, join) = by.payments_key();
    let params = || vec![text_param(Some(currency)), date_param(from), date_param(to)];
    let cash = collect(
        state,
        &format!(
            "SELECT {key}, SUM(p.amount) FROM payments p {join} \
             WHERE p.status = 'succeeded' AND p.currency = $1 AND p.paid_day >= $2 AND p.paid_day <= $3 \
             GROUP BY {key}"
        ),
        params(),
    )
    .await?;
    let refunds = collect(
        state,
        &format!(
            "SELECT {key}, SUM(r.amount) FROM refunds r \
             LEFT JOIN payments p ON r.source = p.source AND r.payment_id = p.payment_id {join} \
             WHERE r.currency = $1 AND r.refunded_day >= $2 AND r.refunded_day <= $3 \
             GROUP BY {key}"
        ),
        params(),
    )
    .await?;
    let mut out: BTreeMap<Option<String>, Sums> = BTreeMap::new();
    for (batches, is_cash) in [(&cash, true), (&refunds, false)] {
        for b in batches {
            let keys = texts(b, 0)?;
            let amounts = ints(b, 1)?;
            for (k, amount) in keys.into_iter().zip(amounts) {
                let sums = out.entry(k).or_default();
                if is_cash {
                    sums.cash_collected += amount;
                } else {
                    sums.refunds += amount;
                }
            }
        }
    }
    Ok(out)
}
