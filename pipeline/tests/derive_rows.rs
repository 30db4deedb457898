//! The row structs line up with the table definitions in `revstream_schemas`.

use revstream_pipeline::derive::{
    Attendance, CallStatus, ChurnSetting, DailyRow, MovementKind, PaymentStatus,
};
use revstream_schemas::tables::DAILY_COUNTERS;

#[test]
fn daily_counters_follow_the_table_column_order() {
    let row = DailyRow::default();
    let names: Vec<&str> = row.counters().iter().map(|(name, _)| *name).collect();
    assert_eq!(names, DAILY_COUNTERS);

    // Each name reads its own field.
    let row = DailyRow {
        new_mrr: 1,
        refunds: 10,
        rescheduled_calls: 20,
        ..DailyRow::default()
    };
    let values: Vec<(&str, i64)> = row
        .counters()
        .into_iter()
        .filter(|(_, v)| *v != 0)
        .collect();
    assert_eq!(
        values,
        vec![("new_mrr", 1), ("refunds", 10), ("rescheduled_calls", 20)]
    );
}

#[test]
fn enum_spellings_are_the_column_values() {
    let movements: Vec<&str> = [
        MovementKind::New,
        MovementKind::Expansion,
        MovementKind::Contraction,
        MovementKind::Churn,
        MovementKind::Reactivation,
    ]
    .map(MovementKind::as_str)
    .to_vec();
    assert_eq!(
        movements,
        ["new", "expansion", "contraction", "churn", "reactivation"]
    );
    assert_eq!(
        [
            CallStatus::Scheduled,
            CallStatus::Canceled,
            CallStatus::Rescheduled
        ]
        .map(CallStatus::as_str),
        ["scheduled", "canceled", "rescheduled"]
    );
    assert_eq!(
        [Attendance::Unknown, Attendance::Showed, Attendance::NoShow].map(Attendance::as_str),
        ["unknown", "showed", "no_show"]
    );
    assert_eq!(
        [PaymentStatus::Succeeded, PaymentStatus::Failed].map(PaymentStatus::as_str),
        ["succeeded", "failed"]
    );
    // serde spells them the same way.
    assert_eq!(
        serde_json::to_string(&Attendance::NoShow).unwrap(),
        "\"no_show\""
    );
    assert_eq!(
        serde_json::to_string(&MovementKind::Reactivation).unwrap(),
        "\"reactivation\""
    );
}

#[test]
fn churn_settings_parse_their_api_spelling() {
    for s in [ChurnSetting::AtPeriodEnd, ChurnSetting::AtRequest] {
        assert_eq!(ChurnSetting::parse(s.as_str()), Some(s));
    }
    assert_eq!(ChurnSetting::default(), ChurnSetting::AtPeriodEnd);
    assert_eq!(ChurnSetting::parse("immediately"), None);
}
