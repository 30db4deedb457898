//! How much memory a `serde_json::Value` holds, for the result cache's byte
//! budget.
//!
//! The text length undercounts by several times: every value is a 32-byte
//! enum, every object entry a heap-allocated key plus map-node overhead. A
//! `/v1/metrics` answer (maps of small numbers) takes about 6× its text in
//! memory, so a cache budgeted by text length held several times its
//! budget (seen in the soak as memory still growing after minutes of load).

use std::mem::size_of;

use serde_json::Value;

/// Per object entry: the map's node bookkeeping (slots, lengths, parent
/// links) divided over its entries; an estimate, on the high side.
const MAP_ENTRY_OVERHEAD: usize = 16;

/// An estimate of the bytes `value` occupies, itself included.
pub(crate) fn json_bytes(value: &Value) -> usize {
    size_of::<Value>()
        + match value {
            Value::String(s) => s.capacity(),
            Value::Array(items) => {
                items.iter().map(json_bytes).sum::<usize>()
                    + (items.capacity() - items.len()) * size_of::<Value>()
            }
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    size_of::<String>() + k.capacity() + MAP_ENTRY_OVERHEAD + json_bytes(v)
                })
                .sum(),
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metrics_like_answer_counts_far_more_than_its_text() {
        let periods: Vec<Value> = (0..24)
            .map(|i| serde_json::json!({"start": format!("2026-{i:02}-01"), "values": {"mrr": i, "churn": 0, "cash_collected": 100 * i}}))
            .collect();
        let answer = serde_json::json!({"periods": periods, "totals": {"mrr": 1}});
        let text = answer.to_string().len();
        let estimate = json_bytes(&answer);
        assert!(
            estimate > 3 * text,
            "estimate {estimate} bytes vs text {text}"
        );
    }

    #[test]
    fn scalars_are_one_value_each() {
        assert_eq!(json_bytes(&Value::Null), size_of::<Value>());
        assert_eq!(json_bytes(&serde_json::json!(12.5)), size_of::<Value>());
        let s = Value::String("abc".into());
        assert_eq!(json_bytes(&s), size_of::<Value>() + 3);
    }
}
