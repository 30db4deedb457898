//! Money is integer minor units with an ISO 4217 currency (invariant 6).
//! Providers that send decimals in major units (Whop) are converted exactly
//! here, with the currency's own exponent: JPY has 0 decimals, USD 2, KWD 3.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an amount or currency was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MoneyError(String);

/// ISO 4217 codes whose minor unit is not 1/100.
const EXPONENT_0: &[&str] = &[
    "bif", "clp", "djf", "gnf", "isk", "jpy", "kmf", "krw", "pyg", "rwf", "ugx", "uyi", "vnd",
    "vuv", "xaf", "xof", "xpf",
];
const EXPONENT_3: &[&str] = &["bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"];
const EXPONENT_4: &[&str] = &["clf", "uyw"];
/// Active ISO 4217 codes with two decimals.
const EXPONENT_2: &[&str] = &[
    "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam", "bbd", "bdt",
    "bgn", "bmd", "bnd", "bob", "bov", "brl", "bsd", "btn", "bwp", "byn", "bzd", "cad", "cdf",
    "che", "chf", "chw", "cny", "cop", "cou", "crc", "cuc", "cup", "cve", "czk", "dkk", "dop",
    "dzd", "egp", "ern", "etb", "eur", "fjd", "fkp", "gbp", "gel", "ghs", "gip", "gmd", "gtq",
    "gyd", "hkd", "hnl", "hrk", "htg", "huf", "idr", "ils", "inr", "irr", "jmd", "kes", "kgs",
    "khr", "kpw", "kyd", "kzt", "lak", "lbp", "lkr", "lrd", "lsl", "mad", "mdl", "mga", "mkd",
    "mmk", "mnt", "mop", "mru", "mur", "mvr", "mwk", "mxn", "mxv", "myr", "mzn", "nad", "ngn",
    "nio", "nok", "npr", "nzd", "pab", "pen", "pgk", "php", "pkr", "pln", "qar", "ron", "rsd",
    "rub", "sar", "sbd", "scr", "sdg", "sek", "sgd", "shp", "sle", "sll", "sos", "srd", "ssp",
    "stn", "svc", "syp", "szl", "thb", "tjs", "tmt", "top", "try", "ttd", "twd", "tzs", "uah",
    "usd", "usn", "uyu", "uzs", "ved", "ves", "wst", "xcd", "xcg", "yer", "zar", "zmw", "zwg",
    "zwl",
];

/// An ISO 4217 currency, stored lowercase (Stripe's spelling); accepts any
/// case on input.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

// Serde reads and writes the code as a string without allocating one: a
// currency is on most events, read by the pipeline and written to the
// `events` table.
impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Code;
        impl serde::de::Visitor<'_> for Code {
            type Value = Currency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an ISO 4217 currency code")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Currency, E> {
                Currency::parse(s).map_err(E::custom)
            }
        }
        d.deserialize_str(Code)
    }
}

impl Currency {
    pub const USD: Currency = Currency(*b"usd");

    pub fn parse(s: &str) -> Result<Self, MoneyError> {
        let bytes: [u8; 3] = s
            .as_bytes()
            .try_into()
            .map_err(|_| MoneyError(format!("must be a 3-letter ISO 4217 code, got {s:?}")))?;
        let c = Currency(bytes.map(|b| b.to_ascii_lowercase()));
        if c.lookup_exponent().is_none() {
            return Err(MoneyError(format!(
                "is not an ISO 4217 currency code: {s:?}"
            )));
        }
        Ok(c)
    }

    pub fn as_str(&self) -> &str {
        // Only constructed from ASCII codes in the tables above.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Decimal places of the minor unit: 2 for USD (cents), 0 for JPY, 3 for KWD.
    pub fn exponent(&self) -> u32 {
        self.lookup_exponent().unwrap_or(2)
    }

    /// Binary search in each (sorted) table: a scan compared "usd" with
    /// some 150 codes on every parse.
    fn lookup_exponent(&self) -> Option<u32> {
        let code = self.as_str();
        [
            (EXPONENT_2, 2),
            (EXPONENT_0, 0),
            (EXPONENT_3, 3),
            (EXPONENT_4, 4),
        ]
        .into_iter()
        .find_map(|(codes, exp)| codes.binary_search(&code).is_ok().then_some(exp))
    }

    /// Converts a decimal amount in major units ("49.99") to minor units,
    /// exactly. More decimals than the currency has are an error unless they
    /// are zeros, because rounding money silently is how ledgers drift.
    pub fn major_to_minor(&self, decimal: &str) -> Result<i64, MoneyError> {
        let bad = || MoneyError(format!("is not a decimal amount: {decimal:?}"));
        let (negative, digits) = match decimal.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, decimal),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let exp = self.exponent() as usize;
        let (kept, dropped) = frac.split_at(frac.len().min(exp));
        if dropped.bytes().any(|b| b != b'0') {
            return Err(MoneyError(format!(
                "has more than {exp} decimals for {}: {decimal:?}",
                self.as_str().to_uppercase()
            )));
        }
        let overflow = || MoneyError(format!("is too large: {decimal:?}"));
        let mut minor: i64 = 0;
        for b in whole.bytes().chain(kept.bytes()) {
            minor = minor
                .checked_mul(10)
                .and_then(|m| m.checked_add(i64::from(b - b'0')))
                .ok_or_else(overflow)?;
        }
        for _ in kept.len()..exp {
            minor = minor.checked_mul(10).ok_or_else(overflow)?;
        }
        Ok(if negative { -minor } else { minor })
    }

    /// Like [`Currency::major_to_minor`] for a JSON number. `f64`'s `Display`
    /// prints the shortest decimal that round-trips, so `49.99` stays `49.99`.
    pub fn major_f64_to_minor(&self, value: f64) -> Result<i64, MoneyError> {
        if !value.is_finite() {
            return Err(MoneyError(format!("is not a finite amount: {value}")));
        }
        self.major_to_minor(&value.to_string())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(s: String) -> Result<Self, MoneyError> {
        Self::parse(&s)
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl std::str::FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, MoneyError> {
        Self::parse(s)
    }
}

/// An amount in integer minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Adds two amounts of the same currency; `None` for different
    /// currencies or overflow, so nothing is ever summed across currencies.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        if self.currency != other.currency {
            return None;
        }
        Some(Money::new(
            self.amount.checked_add(other.amount)?,
            self.currency,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cur(s: &str) -> Currency {
        Currency::parse(s).unwrap()
    }

    #[test]
    fn exponent_tables_are_sorted_and_disjoint() {
        // `lookup_exponent` binary-searches them.
        let tables = [EXPONENT_0, EXPONENT_2, EXPONENT_3, EXPONENT_4];
        for codes in tables {
            assert!(codes.windows(2).all(|w| w[0] < w[1]), "{codes:?}");
        }
        let mut all: Vec<&str> = tables.concat();
        let count = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), count);
    }

    #[test]
    fn currencies_round_trip_through_serde() {
        let c: Currency = serde_json::from_str("\"EUR\"").unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"eur\"");
        let escaped: Currency = serde_json::from_str("\"\\u0075sd\"").unwrap();
        assert_eq!(escaped, Currency::USD);
        for bad in ["\"xyz\"", "\"us\"", "\"usdd\"", "\"ü$\"", "840"] {
            assert!(serde_json::from_str::<Currency>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn currencies_parse_case_insensitively_and_know_their_exponent() {
        assert_eq!(cur("USD"), cur("usd"));
        assert_eq!(cur("usd").exponent(), 2);
        assert_eq!(cur("JPY").exponent(), 0);
        assert_eq!(cur("kwd").exponent(), 3);
        assert!(Currency::parse("xyz").is_err());
        assert!(Currency::parse("dollars").is_err());
        assert!(Currency::parse("").is_err());
    }

    #[test]
    fn major_units_convert_exactly_per_currency() {
        assert_eq!(cur("usd").major_to_minor("49.99").unwrap(), 4999);
        assert_eq!(cur("usd").major_to_minor("49.9").unwrap(), 4990);
        assert_eq!(cur("usd").major_to_minor("49").unwrap(), 4900);
        assert_eq!(cur("usd").major_to_minor("49.990").unwrap(), 4999);
        assert_eq!(cur("usd").major_to_minor(".5").unwrap(), 50);
        assert_eq!(cur("usd").major_to_minor("-1.25").unwrap(), -125);
        assert_eq!(cur("jpy").major_to_minor("5000").unwrap(), 5000);
        assert_eq!(cur("kwd").major_to_minor("1.234").unwrap(), 1234);
        assert!(cur("usd").major_to_minor("49.999").is_err());
        assert!(cur("jpy").major_to_minor("10.5").is_err());
        assert!(cur("usd").major_to_minor("1e3").is_err());
        assert!(cur("usd").major_to_minor("").is_err());
        assert!(cur("usd").major_to_minor(".").is_err());
        assert!(cur("usd").major_to_minor("99999999999999999999").is_err());
    }

    #[test]
    fn floats_convert_through_their_shortest_decimal() {
        assert_eq!(cur("usd").major_f64_to_minor(49.99).unwrap(), 4999);
        // 0.1 + 0.2 is 0.30000000000000004: not a whole number of cents.
        assert!(cur("usd").major_f64_to_minor(0.1 + 0.2).is_err());
        assert_eq!(
            cur("usd").major_f64_to_minor(1234567.89).unwrap(),
            123456789
        );
        assert!(cur("usd").major_f64_to_minor(f64::NAN).is_err());
    }

    #[test]
    fn money_never_adds_across_currencies() {
        let usd = Money::new(100, cur("usd"));
        let eur = Money::new(100, cur("eur"));
        assert_eq!(usd.checked_add(usd).unwrap().amount, 200);
        assert!(usd.checked_add(eur).is_none());
    }
}
