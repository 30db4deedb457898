//! Exact rationals for MRR arithmetic: amounts are normalized to a month as
//! fractions and rounded once, at the end (spec/metrics.md).
//!
//! Every operation is checked: an input absurd enough to overflow `i128`
//! gives `None` instead of a panic or a silently wrapped amount.

use std::cmp::Ordering;

/// `num / den` in lowest terms with `den > 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ratio {
    num: i128,
    den: i128,
}

impl Ratio {
    pub(crate) const ZERO: Ratio = Ratio { num: 0, den: 1 };

    /// `num / den`; `None` when `den` is 0 or the value cannot be held.
    pub(crate) fn new(num: i128, den: i128) -> Option<Ratio> {
        if den == 0 {
            return None;
        }
        let (num, den) = if den < 0 {
            (num.checked_neg()?, den.checked_neg()?)
        } else {
            (num, den)
        };
        let g = gcd(num.unsigned_abs(), den.unsigned_abs());
        // g divides both and is ≥ 1 (den ≠ 0); it fits i128 because it
        // divides den, which does.
        let g = i128::try_from(g).ok()?;
        Some(Ratio {
            num: num / g,
            den: den / g,
        })
    }

    pub(crate) fn integer(n: i128) -> Ratio {
        Ratio { num: n, den: 1 }
    }

    pub(crate) fn checked_add(self, other: Ratio) -> Option<Ratio> {
        let g = i128::try_from(gcd(self.den.unsigned_abs(), other.den.unsigned_abs())).ok()?;
        let lcm = (self.den / g).checked_mul(other.den)?;
        let a = self.num.checked_mul(lcm / self.den)?;
        let b = other.num.checked_mul(lcm / other.den)?;
        Ratio::new(a.checked_add(b)?, lcm)
    }

    pub(crate) fn checked_sub(self, other: Ratio) -> Option<Ratio> {
        self.checked_add(Ratio {
            num: other.num.checked_neg()?,
            den: other.den,
        })
    }

    pub(crate) fn checked_mul(self, other: Ratio) -> Option<Ratio> {
        // Cross-reduce first so that products stay small.
        let g1 = i128::try_from(gcd(self.num.unsigned_abs(), other.den.unsigned_abs())).ok()?;
        let g2 = i128::try_from(gcd(other.num.unsigned_abs(), self.den.unsigned_abs())).ok()?;
        let num = (self.num / g1).checked_mul(other.num / g2)?;
        let den = (self.den / g2).checked_mul(other.den / g1)?;
        Ratio::new(num, den)
    }

    pub(crate) fn checked_div(self, other: Ratio) -> Option<Ratio> {
        if other.num == 0 {
            return None;
        }
        self.checked_mul(Ratio::new(other.den, other.num)?)
    }

    pub(crate) fn is_negative(self) -> bool {
        self.num < 0
    }

    /// Rounds to the nearest integer, ties to the even neighbour (banker's
    /// rounding, so that halves do not drift upwards in sums).
    pub(crate) fn round_half_even(self) -> i128 {
        let q = self.num.div_euclid(self.den);
        let r = self.num.rem_euclid(self.den); // 0 ≤ r < den
        // Compare r with den − r rather than 2r with den: no overflow.
        match r.cmp(&(self.den - r)) {
            Ordering::Less => q,
            Ordering::Greater => q + 1,
            Ordering::Equal if q % 2 == 0 => q,
            Ordering::Equal => q + 1,
        }
    }
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i128, d: i128) -> Ratio {
        Ratio::new(n, d).unwrap()
    }

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(r(1000, 12).round_half_even(), 83);
        assert_eq!(r(1, 2).round_half_even(), 0);
        assert_eq!(r(3, 2).round_half_even(), 2);
        assert_eq!(r(5, 2).round_half_even(), 2);
        assert_eq!(r(7, 2).round_half_even(), 4);
        assert_eq!(r(-1, 2).round_half_even(), 0);
        assert_eq!(r(-3, 2).round_half_even(), -2);
        assert_eq!(r(-5, 3).round_half_even(), -2);
        assert_eq!(r(2, 3).round_half_even(), 1);
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(r(1, 3).checked_add(r(1, 6)).unwrap(), r(1, 2));
        assert_eq!(r(1, 3).checked_sub(r(1, 2)).unwrap(), r(-1, 6));
        assert_eq!(r(2, 3).checked_mul(r(9, 4)).unwrap(), r(3, 2));
        assert_eq!(r(2, 3).checked_div(r(4, 9)).unwrap(), r(3, 2));
        assert_eq!(r(4, -8), r(-1, 2));
        assert!(Ratio::new(1, 0).is_none());
        assert!(Ratio::integer(i128::MAX).checked_add(r(1, 1)).is_none());
        assert!(r(1, 2).checked_div(Ratio::ZERO).is_none());
    }
}
