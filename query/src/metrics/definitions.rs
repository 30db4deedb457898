//! Every metric of `spec/metrics.md` by name, and its value from additive
//! sums. Rates are computed here, at query time, from the sums of the
//! period (never averaged); a zero denominator gives null.

use serde_json::{Value, json};

/// How a metric is obtained, which decides whether it needs a currency and
/// whether it can be grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    /// MRR, movements and what is derived from them: per currency, not
    /// groupable (MRR belongs to customers, not to calls).
    Mrr,
    /// Sales calls: no currency, groupable.
    Calls,
    /// Payments and refunds: per currency, groupable by attribution.
    Cash,
}

macro_rules! metrics {
    ($($variant:ident => $name:literal, $family:ident;)*) => {
        /// A metric of `spec/metrics.md`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Metric { $($variant,)* }

        impl Metric {
            /// In the order of `spec/metrics.md`.
            pub const ALL: &'static [Metric] = &[$(Metric::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(Metric::$variant => $name,)* }
            }

            pub(crate) fn family(self) -> Family {
                match self { $(Metric::$variant => Family::$family,)* }
            }
        }
    };
}

metrics! {
    Mrr => "mrr", Mrr;
    Arr => "arr", Mrr;
    MrrStart => "mrr_start", Mrr;
    ActiveCustomers => "active_customers", Mrr;
    ActiveCustomersStart => "active_customers_start", Mrr;
    NewMrr => "new_mrr", Mrr;
    ExpansionMrr => "expansion_mrr", Mrr;
    ContractionMrr => "contraction_mrr", Mrr;
    ChurnedMrr => "churned_mrr", Mrr;
    ReactivationMrr => "reactivation_mrr", Mrr;
    NetNewMrr => "net_new_mrr", Mrr;
    NewCustomers => "new_customers", Mrr;
    ChurnedCustomers => "churned_customers", Mrr;
    ReactivatedCustomers => "reactivated_customers", Mrr;
    CustomerChurnRate => "customer_churn_rate", Mrr;
    GrossMrrChurnRate => "gross_mrr_churn_rate", Mrr;
    NetMrrChurnRate => "net_mrr_churn_rate", Mrr;
    Nrr => "nrr", Mrr;
    Arpu => "arpu", Mrr;
    Ltv => "ltv", Mrr;
    QuickRatio => "quick_ratio", Mrr;
    BookedCalls => "booked_calls", Calls;
    Showed => "showed", Calls;
    NoShows => "no_shows", Calls;
    Pending => "pending", Calls;
    Offers => "offers", Calls;
    Closed => "closed", Calls;
    ShowRate => "show_rate", Calls;
    CloseRate => "close_rate", Calls;
    OfferRate => "offer_rate", Calls;
    OfferCloseRate => "offer_close_rate", Calls;
    CanceledCalls => "canceled_calls", Calls;
    RescheduledCalls => "rescheduled_calls", Calls;
    CashCollected => "cash_collected", Cash;
    Refunds => "refunds", Cash;
    NetRevenue => "net_revenue", Cash;
}

impl Metric {
    pub fn parse(name: &str) -> Option<Metric> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// Amounts in one currency.
    pub(crate) fn needs_currency(self) -> bool {
        self.family() != Family::Calls
    }

    pub(crate) fn groupable(self) -> bool {
        self.family() != Family::Mrr
    }

    /// Needs MRR or active customers at a point in time (the movements
    /// sweep), not only the period's sums.
    pub(crate) fn point_in_time(self) -> bool {
        matches!(
            self,
            Metric::Mrr
                | Metric::Arr
                | Metric::MrrStart
                | Metric::ActiveCustomers
                | Metric::ActiveCustomersStart
                | Metric::CustomerChurnRate
                | Metric::GrossMrrChurnRate
                | Metric::NetMrrChurnRate
                | Metric::Nrr
                | Metric::Arpu
                | Metric::Ltv
        )
    }
}

/// The additive sums of one period (and, for MRR metrics, the state at its
/// start and end), from which every metric is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub(crate) new_mrr: i64,
    pub(crate) expansion_mrr: i64,
    pub(crate) contraction_mrr: i64,
    pub(crate) churned_mrr: i64,
    pub(crate) reactivation_mrr: i64,
    pub(crate) new_customers: i64,
    pub(crate) churned_customers: i64,
    pub(crate) reactivated_customers: i64,
    pub(crate) cash_collected: i64,
    pub(crate) refunds: i64,
    pub(crate) booked_calls: i64,
    pub(crate) showed: i64,
    pub(crate) no_shows: i64,
    pub(crate) pending: i64,
    pub(crate) offers: i64,
    pub(crate) closed: i64,
    pub(crate) canceled_calls: i64,
    pub(crate) rescheduled_calls: i64,
    /// MRR at the end of the period's last day.
    pub(crate) mrr: i64,
    /// MRR at the end of the day before the period.
    pub(crate) mrr_start: i64,
    pub(crate) active_customers: i64,
    pub(crate) active_customers_start: i64,
}

impl Sums {
    /// Adds another period's additive counters (not the point-in-time
    /// state).
    pub(crate) fn add(&mut self, o: &Sums) {
        self.new_mrr += o.new_mrr;
        self.expansion_mrr += o.expansion_mrr;
        self.contraction_mrr += o.contraction_mrr;
        self.churned_mrr += o.churned_mrr;
        self.reactivation_mrr += o.reactivation_mrr;
        self.new_customers += o.new_customers;
        self.churned_customers += o.churned_customers;
        self.reactivated_customers += o.reactivated_customers;
        self.cash_collected += o.cash_collected;
        self.refunds += o.refunds;
        self.booked_calls += o.booked_calls;
        self.showed += o.showed;
        self.no_shows += o.no_shows;
        self.pending += o.pending;
        self.offers += o.offers;
        self.closed += o.closed;
        self.canceled_calls += o.canceled_calls;
        self.rescheduled_calls += o.rescheduled_calls;
    }

    fn lost(&self) -> i64 {
        self.churned_mrr + self.contraction_mrr
    }

    fn gained(&self) -> i64 {
        self.new_mrr + self.expansion_mrr + self.reactivation_mrr
    }

    fn customer_churn_rate(&self) -> Option<f64> {
        ratio(self.churned_customers, self.active_customers_start)
    }

    fn net_mrr_churn_rate(&self) -> Option<f64> {
        ratio(
            self.lost() - self.expansion_mrr - self.reactivation_mrr,
            self.mrr_start,
        )
    }

    fn arpu(&self) -> Option<f64> {
        ratio(self.mrr, self.active_customers)
    }

    /// The metric's value: integers for counts and money (minor units),
    /// floats for rates and averages, null on a zero denominator.
    pub(crate) fn value(&self, metric: Metric) -> Value {
        match metric {
            Metric::Mrr => json!(self.mrr),
            Metric::Arr => json!(self.mrr.saturating_mul(12)),
            Metric::MrrStart => json!(self.mrr_start),
            Metric::ActiveCustomers => json!(self.active_customers),
            Metric::ActiveCustomersStart => json!(self.active_customers_start),
            Metric::NewMrr => json!(self.new_mrr),
            Metric::ExpansionMrr => json!(self.expansion_mrr),
            Metric::ContractionMrr => json!(self.contraction_mrr),
            Metric::ChurnedMrr => json!(self.churned_mrr),
            Metric::ReactivationMrr => json!(self.reactivation_mrr),
            Metric::NetNewMrr => json!(self.gained() - self.lost()),
            Metric::NewCustomers => json!(self.new_customers),
            Metric::ChurnedCustomers => json!(self.churned_customers),
            Metric::ReactivatedCustomers => json!(self.reactivated_customers),
            Metric::CustomerChurnRate => json!(self.customer_churn_rate()),
            Metric::GrossMrrChurnRate => json!(ratio(self.lost(), self.mrr_start)),
            Metric::NetMrrChurnRate => json!(self.net_mrr_churn_rate()),
            Metric::Nrr => json!(self.net_mrr_churn_rate().map(|r| 1.0 - r)),
            Metric::Arpu => json!(self.arpu()),
            Metric::Ltv => json!(match (self.arpu(), self.customer_churn_rate()) {
                (Some(arpu), Some(churn)) if churn != 0.0 => Some(arpu / churn),
                _ => None,
            }),
            Metric::QuickRatio => json!(ratio(self.gained(), self.lost())),
            Metric::BookedCalls => json!(self.booked_calls),
            Metric::Showed => json!(self.showed),
            Metric::NoShows => json!(self.no_shows),
            Metric::Pending => json!(self.pending),
            Metric::Offers => json!(self.offers),
            Metric::Closed => json!(self.closed),
            Metric::ShowRate => json!(ratio(self.showed, self.showed + self.no_shows)),
            Metric::CloseRate => json!(ratio(self.closed, self.showed)),
            Metric::OfferRate => json!(ratio(self.offers, self.showed)),
            Metric::OfferCloseRate => json!(ratio(self.closed, self.offers)),
            Metric::CanceledCalls => json!(self.canceled_calls),
            Metric::RescheduledCalls => json!(self.rescheduled_calls),
            Metric::CashCollected => json!(self.cash_collected),
            Metric::Refunds => json!(self.refunds),
            Metric::NetRevenue => json!(self.cash_collected - self.refunds),
        }
    }
}

fn ratio(numerator: i64, denominator: i64) -> Option<f64> {
    (denominator != 0).then(|| numerator as f64 / denominator as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        assert_eq!(Metric::ALL.len(), 36);
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()), Some(*m));
        }
    }

    #[test]
    fn zero_denominators_are_null() {
        let s = Sums::default();
        for m in [
            Metric::CustomerChurnRate,
            Metric::GrossMrrChurnRate,
            Metric::NetMrrChurnRate,
            Metric::Nrr,
            Metric::Arpu,
            Metric::Ltv,
            Metric::QuickRatio,
            Metric::ShowRate,
            Metric::CloseRate,
            Metric::OfferRate,
            Metric::OfferCloseRate,
        ] {
            assert_eq!(s.value(m), Value::Null, "{}", m.name());
        }
    }

    #[test]
    fn rates_from_sums() {
        let s = Sums {
            mrr_start: 10_000,
            mrr: 11_000,
            churned_mrr: 1_000,
            contraction_mrr: 500,
            expansion_mrr: 2_000,
            new_mrr: 500,
            active_customers_start: 4,
            active_customers: 5,
            churned_customers: 1,
            ..Sums::default()
        };
        assert_eq!(s.value(Metric::GrossMrrChurnRate), json!(0.15));
        assert_eq!(s.value(Metric::NetMrrChurnRate), json!(-0.05));
        assert_eq!(s.value(Metric::Nrr), json!(1.05));
        assert_eq!(s.value(Metric::CustomerChurnRate), json!(0.25));
        assert_eq!(s.value(Metric::Arpu), json!(2200.0));
        assert_eq!(s.value(Metric::Ltv), json!(8800.0));
        assert_eq!(s.value(Metric::QuickRatio), json!(2500.0 / 1500.0));
        assert_eq!(s.value(Metric::NetNewMrr), json!(1_000));
        assert_eq!(s.value(Metric::Arr), json!(132_000));
    }
}
