//! Hostile JSON for the fuzz tests of this crate: values of every type and
//! size, raw splices that no `serde_json::Value` can hold (numbers past
//! `f64`, lone surrogates, invalid UTF-8, nesting past the parser's limit),
//! and a mutator that applies them at JSON pointers of a real payload.

#![allow(dead_code)] // each test crate uses a part

use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::{Value, json};

/// Stands for a value whose raw text is spliced in after serializing.
const RAW_MARK: &str = "__revstream_fuzz_raw__";

/// `cases` cases, no regression files written into the tree (a failure is
/// printed shrunk, with its inputs).
pub(crate) fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// The JSON pointer of every node of `v`, the root (`""`) first.
pub(crate) fn pointers(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_pointers(v, String::new(), &mut out);
    out
}

fn collect_pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                collect_pointers(child, format!("{at}/{key}"), out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                collect_pointers(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// What one mutation puts at its place.
#[derive(Debug, Clone)]
pub(crate) enum Hostile {
    Value(Value),
    /// Raw bytes, spliced into the serialized text in place of the value.
    Raw(Vec<u8>),
    Remove,
}

fn nested(depth: usize, object: bool) -> Value {
    (0..depth).fold(json!(1), |inner, _| {
        if object {
            json!({ "a": inner })
        } else {
            json!([inner])
        }
    })
}

fn tricky_strings() -> Vec<&'static str> {
    vec![
        "",
        " ",
        "0",
        "-1",
        "1e400",
        "NaN",
        "Infinity",
        "99999999999999999999999999",
        "0.0000000000000000000001",
        "12.345",
        "1,000.00",
        "usd",
        "USD",
        "XXX",
        "us",
        "ÜSD",
        "active",
        "canceled",
        "trialing",
        "month",
        "year",
        "day",
        "9999-12-31T23:59:59Z",
        "0000-01-01T00:00:00Z",
        "+275760-09-13T00:00:00Z",
        "2026-13-45T25:61:61Z",
        "2026-01-05T10:00:00",
        "2026-01-05",
        "not an email",
        "a@b",
        "\u{0}",
        "\u{7f}\u{1b}[31m",
        "\u{202e}gnp.exe",
        "\u{200b}",
        "😀🏳️‍🌈",
        "ｆｕｌｌｗｉｄｔｈ",
        "../../etc/passwd",
        "'; DROP TABLE events; --",
        "whsec_",
    ]
}

pub(crate) fn hostile() -> impl Strategy<Value = Hostile> {
    let numbers = prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        prop::sample::select(vec![
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(-1),
            json!(0),
            json!(-0.0),
            json!(0.5),
            json!(1.005),
            json!(1e15),
            json!(1e19),
            json!(1e300),
            json!(-1e300),
            json!(f64::MAX),
            json!(f64::MIN_POSITIVE),
            json!(5e-324),
            json!(4_102_444_800_000_i64), // year 2100 in milliseconds
            json!(253_402_300_800_i64),   // year 10000 in seconds
        ]),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinities", |f| f.is_finite())
            .prop_map(|f| json!(f)),
    ];
    let strings = prop_oneof![
        prop::sample::select(tricky_strings()).prop_map(|s| json!(s)),
        ".{0,40}".prop_map(|s| json!(s)),
        "[0-9]{15,40}".prop_map(|s| json!(s)),
        "-?[0-9]{1,6}\\.[0-9]{1,8}".prop_map(|s| json!(s)),
        (1_000usize..12_000).prop_map(|n| json!("x".repeat(n))),
    ];
    let shapes = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        Just(json!({})),
        Just(json!([])),
        Just(json!([null])),
        Just(json!({"id": null, "object": 7})),
        (1usize..100, any::<bool>()).prop_map(|(d, o)| nested(d, o)),
        prop::collection::btree_map("[a-z_]{1,12}", any::<i32>(), 0..6).prop_map(|m| json!(m)),
    ];
    let raw = prop::sample::select(vec![
        b"1e400".to_vec(),
        b"-1e400".to_vec(),
        b"1208925819614629174706176".to_vec(), // 2^80
        b"-123456789012345678901234567890".to_vec(),
        b"1.7976931348623157e309".to_vec(),
        b"0.1e-400".to_vec(),
        b"-0".to_vec(),
        b"\"\\ud800\"".to_vec(),
        b"\"\\udfff\\ud800\"".to_vec(),
        b"\"\xff\xfe\"".to_vec(),
        b"\"\xc3\x28\"".to_vec(),
        b"\"\xed\xa0\x80\"".to_vec(),
        b"\"a\x00b\"".to_vec(),
        format!("{}1{}", "[".repeat(200), "]".repeat(200)).into_bytes(),
        format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200)).into_bytes(),
        b"[".repeat(100_000),
        b"NaN".to_vec(),
        b"01".to_vec(),
        b"".to_vec(),
    ])
    .prop_map(Hostile::Raw);
    prop_oneof![
        4 => numbers.prop_map(Hostile::Value),
        4 => strings.prop_map(Hostile::Value),
        3 => shapes.prop_map(Hostile::Value),
        1 => raw,
        2 => Just(Hostile::Remove),
    ]
}

/// One to four mutations, each at a node picked by index.
pub(crate) fn mutations() -> impl Strategy<Value = Vec<(prop::sample::Index, Hostile)>> {
    prop::collection::vec((any::<prop::sample::Index>(), hostile()), 1..=4)
}

/// `original` with generated `mutations` applied at nodes among `pointers`.
pub(crate) fn mutated(
    original: &Value,
    pointers: &[String],
    mutations: &[(prop::sample::Index, Hostile)],
) -> Vec<u8> {
    let at: Vec<(&str, Hostile)> = mutations
        .iter()
        .map(|(i, h)| (i.get(pointers).as_str(), h.clone()))
        .collect();
    mutate(original, &at)
}

/// Applies the mutations (a JSON pointer into the original tree each) in
/// order and returns the body bytes.
pub(crate) fn mutate(original: &Value, mutations: &[(&str, Hostile)]) -> Vec<u8> {
    let mut value = original.clone();
    let mut raws = Vec::new();
    for (pointer, hostile) in mutations {
        // An earlier mutation may have removed or replaced the node; then
        // this one is moot.
        match hostile {
            Hostile::Remove => remove(&mut value, pointer),
            Hostile::Value(v) => replace(&mut value, pointer, v.clone()),
            Hostile::Raw(bytes) => {
                replace(
                    &mut value,
                    pointer,
                    json!(format!("{RAW_MARK}{}", raws.len())),
                );
                raws.push(bytes.clone());
            }
        }
    }
    let mut body = serde_json::to_vec(&value).expect("a Value serializes");
    for (i, raw) in raws.iter().enumerate() {
        let mark = format!("\"{RAW_MARK}{i}\"");
        if let Some(start) = find(&body, mark.as_bytes()) {
            body.splice(start..start + mark.len(), raw.iter().copied());
        }
    }
    body
}

fn replace(root: &mut Value, pointer: &str, with: Value) {
    if pointer.is_empty() {
        *root = with;
    } else if let Some(slot) = root.pointer_mut(pointer) {
        *slot = with;
    }
}

fn remove(root: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return; // the root stays
    };
    let key = last.replace("~1", "/").replace("~0", "~");
    match root.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(&key);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = key.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
