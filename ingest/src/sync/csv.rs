//! CSV rows → canonical events through a column mapping.
//!
//! A mapping (a JSON file, or `--map COLUMN=FIELD` and `--set FIELD=VALUE`
//! on the command line) names, for each CSV column, the canonical field it
//! fills (`customer.email`, `payment.amount`, `subscription.items.0.unit_amount`),
//! and constants that every row shares (`type`, `payment.currency`):
//!
//! ```json
//! {"constants": {"type": "payment.succeeded", "payment.currency": "usd"},
//!  "columns": {"Deal": "payment.id", "Cents": "payment.amount",
//!              "Closed on": "payment.paid_at", "Email": "customer.email"}}
//! ```
//!
//! - Cells are trimmed; an empty cell leaves its field out. Money and
//!   counts (`amount`, `unit_amount`, `quantity`, …) must be integers in
//!   minor units; flags (`showed`, `closed`, …) accept true/false/yes/no/1/0.
//! - `source` defaults to `csv`; `occurred_at` defaults to the first of
//!   `payment.paid_at`, `refund.refunded_at`, `call.booked_at`,
//!   `call.scheduled_at` that the row has.
//! - `id` (unless mapped) is `csv_` + 24 hex of SHA-256 over the header and
//!   the row's cells, so re-importing the same rows appends the same ids
//!   and changes nothing; an edited row is a new event.
//! - Errors name the line, the column and its header.

use std::collections::BTreeMap;
use std::path::Path;

use revstream_registry::SyncRun;
use revstream_schemas::CanonicalEvent;
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::error::{Result, SyncError};
use super::run::{ChunkedAppend, Progress, RecordErrors, SyncTarget};

/// Which CSV column fills which canonical field.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvMapping {
    /// CSV header → canonical field path.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Canonical field path → the value of every row.
    #[serde(default)]
    pub constants: BTreeMap<String, Value>,
}

const INTEGER_FIELDS: [&str; 7] = [
    "amount",
    "unit_amount",
    "quantity",
    "interval_count",
    "percent_off",
    "amount_off",
    "cash_collected",
];
const BOOLEAN_FIELDS: [&str; 4] = ["showed", "offer_made", "closed", "cancel_at_period_end"];
const TIME_FALLBACKS: [&str; 4] = [
    "payment.paid_at",
    "refund.refunded_at",
    "call.booked_at",
    "call.scheduled_at",
];

impl CsvMapping {
    /// Reads a JSON mapping file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = super::files::read(path)?;
        serde_json::from_str(&text).map_err(|e| SyncError::File {
            file: path.display().to_string(),
            at: format!("line {}, column {}", e.line(), e.column()),
            problem: format!(
                "not a CSV mapping ({{\"columns\": {{…}}, \"constants\": {{…}}}}): {e}"
            ),
        })
    }

    /// Adds `COLUMN=FIELD`.
    pub fn map_flag(&mut self, flag: &str) -> Result<()> {
        let (col, field) = split_flag(flag, "--map COLUMN=FIELD")?;
        self.columns.insert(col.to_owned(), field.to_owned());
        Ok(())
    }

    /// Adds `FIELD=VALUE` (a string constant).
    pub fn set_flag(&mut self, flag: &str) -> Result<()> {
        let (field, value) = split_flag(flag, "--set FIELD=VALUE")?;
        self.constants
            .insert(field.to_owned(), Value::String(value.to_owned()));
        Ok(())
    }
}

fn split_flag<'a>(flag: &'a str, shape: &str) -> Result<(&'a str, &'a str)> {
    flag.split_once('=')
        .map(|(a, b)| (a.trim(), b.trim()))
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| SyncError::Invalid(format!("{flag:?} must read {shape}")))
}

/// Imports a CSV file for `run`.
pub async fn import_csv(
    target: &SyncTarget,
    path: &Path,
    mapping: &CsvMapping,
    mut run: SyncRun,
    progress: &dyn Progress,
) -> SyncRun {
    let mut errors = RecordErrors::default();
    let result = async {
        let file = path.display().to_string();
        let mut reader = ::csv::ReaderBuilder::new()
            .flexible(false)
            .from_path(path)
            .map_err(|e| SyncError::Io {
                file: file.clone(),
                detail: e.to_string(),
            })?;
        let headers = reader.headers().map_err(|e| file_error(&file, &e))?.clone();
        for col in mapping.columns.keys() {
            if !headers.iter().any(|h| h.trim() == col) {
                return Err(SyncError::File {
                    file,
                    at: "line 1".into(),
                    problem: format!(
                        "the mapping names column {col:?}, which the header does not have ({})",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ),
                });
            }
        }
        let mut chunked = ChunkedAppend::default();
        for record in reader.records() {
            let record = match record {
                Ok(r) => r,
                Err(e) => {
                    run.counts.seen += 1;
                    errors.push(&mut run.counts, file_error(&file, &e).to_string());
                    continue;
                }
            };
            run.counts.seen += 1;
            let line = record.position().map_or(0, |p| p.line());
            match row_event(&headers, &record, mapping) {
                Ok(e) => chunked.push(e, target, &mut run.counts, progress).await?,
                Err(at_problem) => errors.push(
                    &mut run.counts,
                    format!("{file}: line {line}, {at_problem}"),
                ),
            }
        }
        chunked.finish(target, &mut run.counts, progress).await
    }
    .await;
    target.finish(run, result, &errors).await
}

fn file_error(file: &str, e: &::csv::Error) -> SyncError {
    let at = match e.position() {
        Some(p) => format!("line {}", p.line()),
        None => "line ?".into(),
    };
    SyncError::File {
        file: file.to_owned(),
        at,
        problem: e.to_string(),
    }
}

/// One row → one event; the error reads "column N (Header): problem".
fn row_event(
    headers: &::csv::StringRecord,
    record: &::csv::StringRecord,
    mapping: &CsvMapping,
) -> std::result::Result<CanonicalEvent, String> {
    let mut root = Map::new();
    for (field, value) in &mapping.constants {
        set_path(&mut root, field, value.clone()).map_err(|p| format!("constant {field}: {p}"))?;
    }
    // Which column filled which field, to name it in errors.
    let mut filled: Vec<(String, usize)> = Vec::new();
    for (i, header) in headers.iter().enumerate() {
        let Some(field) = mapping.columns.get(header.trim()) else {
            continue;
        };
        let at = || format!("column {} ({})", i + 1, header.trim());
        let cell = record.get(i).unwrap_or("").trim();
        if cell.is_empty() {
            continue;
        }
        let value = typed(field, cell).map_err(|p| format!("{}: {p}", at()))?;
        set_path(&mut root, field, value).map_err(|p| format!("{}: {p}", at()))?;
        filled.push((field.clone(), i));
    }
    root.entry("source")
        .or_insert_with(|| Value::String("csv".into()));
    if !root.contains_key("occurred_at") {
        let fallback = TIME_FALLBACKS
            .iter()
            .find_map(|path| get_path(&root, path).cloned())
            .ok_or_else(|| {
                "occurred_at is not mapped and the row has none of payment.paid_at, \
                 refund.refunded_at, call.booked_at, call.scheduled_at"
                    .to_owned()
            })?;
        root.insert("occurred_at".into(), fallback);
    }
    if !root.contains_key("id") {
        let mut h = Sha256::new();
        for (header, cell) in headers.iter().zip(record.iter()) {
            h.update(header.as_bytes());
            h.update([0x1f]);
            h.update(cell.as_bytes());
            h.update([0x1e]);
        }
        root.insert(
            "id".into(),
            Value::String(format!("csv_{}", &hex::encode(h.finalize())[..24])),
        );
    }
    CanonicalEvent::from_value(Value::Object(root)).map_err(|e| {
        let message = e.to_string();
        // Name the column whose field the error is about, when one is.
        let column = filled
            .iter()
            .filter(|(field, _)| message.starts_with(field.as_str()))
            .max_by_key(|(field, _)| field.len())
            .map(|(field, i)| (field, *i));
        match column {
            Some((_, i)) => format!(
                "column {} ({}): {message}",
                i + 1,
                headers.get(i).unwrap_or("").trim()
            ),
            None => format!("field {message}"),
        }
    })
}

/// A cell as the JSON value its field takes.
fn typed(field: &str, cell: &str) -> std::result::Result<Value, String> {
    let last = field.rsplit('.').next().unwrap_or(field);
    if INTEGER_FIELDS.contains(&last) {
        return cell
            .replace([',', '_'], "")
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{field} must be a whole number (minor units, e.g. 4900 for $49.00), got {cell:?}"));
    }
    if BOOLEAN_FIELDS.contains(&last) {
        return match cell.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => Ok(Value::Bool(true)),
            "false" | "no" | "n" | "0" => Ok(Value::Bool(false)),
            _ => Err(format!(
                "{field} must be true/false, yes/no or 1/0, got {cell:?}"
            )),
        };
    }
    Ok(Value::String(cell.to_owned()))
}

/// Sets `a.b.0.c` in `root`, creating objects (and arrays for numeric
/// segments) on the way.
fn set_path(
    root: &mut Map<String, Value>,
    path: &str,
    value: Value,
) -> std::result::Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("{path:?} is not a field path (a.b.c)"));
    }
    let mut slot = root.entry(segments[0].to_owned()).or_insert(Value::Null);
    for (n, seg) in segments.iter().enumerate().skip(1) {
        let next_is_index = seg.parse::<usize>().is_ok();
        slot = if next_is_index {
            let i: usize = seg.parse().unwrap_or(0);
            if i > 100 {
                return Err(format!("{path}: index {i} is too large"));
            }
            if slot.is_null() {
                *slot = Value::Array(Vec::new());
            }
            let Value::Array(items) = slot else {
                return Err(format!("{path}: {} is not a list", segments[..n].join(".")));
            };
            while items.len() <= i {
                items.push(Value::Null);
            }
            &mut items[i]
        } else {
            if slot.is_null() {
                *slot = Value::Object(Map::new());
            }
            let Value::Object(map) = slot else {
                return Err(format!(
                    "{path}: {} is not an object",
                    segments[..n].join(".")
                ));
            };
            map.entry((*seg).to_owned()).or_insert(Value::Null)
        };
    }
    *slot = value;
    Ok(())
}

fn get_path<'a>(root: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let mut parts = path.split('.');
    let mut cur = root.get(parts.next()?)?;
    for p in parts {
        cur = cur.get(p)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_build_objects_and_lists() {
        let mut root = Map::new();
        set_path(
            &mut root,
            "subscription.items.0.unit_amount",
            Value::from(4900),
        )
        .unwrap();
        set_path(
            &mut root,
            "subscription.items.0.interval",
            Value::from("month"),
        )
        .unwrap();
        set_path(&mut root, "customer.id", Value::from("c1")).unwrap();
        assert_eq!(
            Value::Object(root),
            serde_json::json!({"subscription": {"items": [{"unit_amount": 4900, "interval": "month"}]},
                               "customer": {"id": "c1"}})
        );
        let mut bad = Map::new();
        set_path(&mut bad, "a", Value::from(1)).unwrap();
        assert!(set_path(&mut bad, "a.b", Value::from(1)).is_err());
        assert!(set_path(&mut bad, "x..y", Value::from(1)).is_err());
    }

    #[test]
    fn cells_take_their_field_types() {
        assert_eq!(typed("payment.amount", "4,900").unwrap(), Value::from(4900));
        assert!(
            typed("payment.amount", "49.00")
                .unwrap_err()
                .contains("minor units")
        );
        assert_eq!(typed("outcome.closed", "Yes").unwrap(), Value::Bool(true));
        assert!(typed("outcome.closed", "maybe").is_err());
        assert_eq!(
            typed("customer.email", "a@b.co").unwrap(),
            Value::from("a@b.co")
        );
    }
}
