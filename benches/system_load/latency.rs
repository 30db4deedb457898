//! Latency samples and their percentiles.

use std::time::Duration;

/// Latencies of one measurement, sorted.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latencies(Vec<Duration>);

impl Latencies {
    pub(crate) fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self(samples)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile in milliseconds (NaN without samples).
    pub(crate) fn ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = (p * self.0.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.0.len()) - 1;
        self.0[index].as_secs_f64() * 1000.0
    }

    pub(crate) fn p50(&self) -> f64 {
        self.ms(0.50)
    }

    pub(crate) fn p99(&self) -> f64 {
        self.ms(0.99)
    }

    pub(crate) fn max(&self) -> f64 {
        self.ms(1.0)
    }
}

/// Milliseconds with a precision that suits their size.
pub(crate) fn fmt_ms(ms: f64) -> String {
    if ms.is_nan() {
        "n/a".to_owned()
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else if ms < 100.0 {
        format!("{ms:.1}")
    } else {
        format!("{ms:.0}")
    }
}

/// A count with thousands separators: 1234567 → "1,234,567".
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
