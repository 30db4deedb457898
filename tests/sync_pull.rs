//! Pull clients against a local HTTP server serving each provider's
//! documented list format over several pages, with a 429 and a 500
//! injected; the pulled events go through a real local log and the
//! pipeline's derive, and the metrics are asserted.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod sync_support;

use chrono::NaiveDate;
use revstream_ingest::sync::{NoProgress, Provider, run_pull};
use revstream_pipeline::derive::{Derived, MovementKind};
use revstream_registry::{SyncRun, SyncStatus};
use sync_support::*;

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// (day, kind, customer, amount) of every movement.
fn movements(d: &Derived) -> Vec<(NaiveDate, MovementKind, String, i64)> {
    d.movements
        .iter()
        .map(|m| (m.day, m.movement, m.customer_id.to_string(), m.amount))
        .collect()
}

async fn pull(h: &Harness, p: &FakeProvider, provider: Provider) -> SyncRun {
    let target = h.target();
    let run = target.start(provider.as_str(), "pull").await.unwrap();
    run_pull(&target, provider, &p.options(), run, &NoProgress).await
}

#[tokio::test]
async fn stripe_pull_pages_through_429_and_500_and_gives_the_metrics() {
    let p = FakeProvider::start().await;
    stripe_account(&p);
    p.fail("/v1/subscriptions", "", 429);
    p.fail("/v1/subscriptions", "sub_2", 500);
    let h = Harness::new().await;
    h.credential("stripe", TOKEN).await;

    let run = pull(&h, &p, Provider::Stripe).await;
    assert_eq!(run.status, SyncStatus::Succeeded, "{:?}", run.error);
    // 3 customers + 3 subscriptions + 2 succeeded charges + 1 refund.
    assert_eq!(run.counts.seen, 9);
    assert_eq!(run.counts.created, 9);
    assert_eq!(run.counts.failed, 0);
    let requests = p.take_requests();
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.starts_with("/v1/subscriptions|"))
            .count(),
        4,
        "each subscriptions page once more after its failure: {requests:?}"
    );

    let d = h.derived().await;
    assert_eq!(
        movements(&d),
        vec![
            (day("2026-01-05"), MovementKind::New, "cus_1".into(), 4900),
            (day("2026-01-07"), MovementKind::New, "cus_3".into(), 2000),
            (day("2026-01-10"), MovementKind::New, "cus_2".into(), 9900),
            (
                day("2026-02-07"),
                MovementKind::Churn,
                "cus_3".into(),
                -2000
            ),
        ]
    );
    let mrr: i64 = d.subscriptions.iter().map(|s| s.mrr).sum();
    assert_eq!(mrr, 14_800);
    let cash: i64 = d.daily.iter().map(|r| r.cash_collected).sum();
    let refunds: i64 = d.daily.iter().map(|r| r.refunds).sum();
    assert_eq!((cash, refunds), (14_800, 1000));
    assert_eq!(d.customers.len(), 3);
    let ids: Vec<String> = h.events().await.iter().map(|e| e.id.to_string()).collect();
    assert!(
        ids.iter().all(|id| id.starts_with("sync_stripe_")),
        "{ids:?}"
    );

    // The runs table has the run with its counts.
    let runs = h.registry.sync_runs(&h.tenant).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].counts, run.counts);
    assert!(runs[0].finished_at_ms.is_some());
}

#[tokio::test]
async fn rerunning_a_pull_changes_no_table() {
    let p = FakeProvider::start().await;
    stripe_account(&p);
    let h = Harness::new().await;
    h.credential("stripe", TOKEN).await;
    pull(&h, &p, Provider::Stripe).await;
    let before = h.derived().await;
    let events_before = h.events().await.len();

    let again = pull(&h, &p, Provider::Stripe).await;
    assert_eq!(again.status, SyncStatus::Succeeded, "{:?}", again.error);
    assert_eq!(
        (
            again.counts.seen,
            again.counts.unchanged,
            again.counts.created
        ),
        (9, 9, 0)
    );
    assert_eq!(
        h.events().await.len(),
        events_before,
        "nothing new appended"
    );
    assert_eq!(h.derived().await, before);

    // Even with the ledger lost, the same ids come out and dedupe.
    let fresh = Harness::new().await;
    fresh.credential("stripe", TOKEN).await;
    pull(&fresh, &p, Provider::Stripe).await;
    let mut a: Vec<String> = h.events().await.iter().map(|e| e.id.to_string()).collect();
    let mut b: Vec<String> = fresh
        .events()
        .await
        .iter()
        .map(|e| e.id.to_string())
        .collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[tokio::test]
async fn a_changed_subscription_is_a_correction_and_a_missing_one_is_soft_deleted() {
    let p = FakeProvider::start().await;
    stripe_account(&p);
    let h = Harness::new().await;
    h.credential("stripe", TOKEN).await;
    pull(&h, &p, Provider::Stripe).await;

    // sub_1 upgraded to 9900 (its webhook was missed); sub_2 gone from the list.
    p.page(
        "/v1/subscriptions",
        "",
        stripe_list(
            vec![
                stripe_sub("sub_1", "cus_1", 9900, "2026-01-05T10:00:00Z", None),
                stripe_sub(
                    "sub_3",
                    "cus_3",
                    2000,
                    "2026-01-07T10:00:00Z",
                    Some("2026-02-07T10:00:00Z"),
                ),
            ],
            false,
        ),
    );
    let run = pull(&h, &p, Provider::Stripe).await;
    assert_eq!(run.status, SyncStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.counts.updated, 1);
    assert_eq!(run.counts.deleted, 1);
    assert_eq!(
        h.registry
            .deleted_sync_objects(&h.tenant, "stripe")
            .await
            .unwrap(),
        vec!["subscription:sub_2".to_owned()]
    );

    let d = h.derived().await;
    let today = chrono::Utc::now().date_naive();
    let m = movements(&d);
    // The correction lands at the snapshot time, not back in January.
    assert!(
        m.contains(&(today, MovementKind::Expansion, "cus_1".into(), 5000)),
        "{m:?}"
    );
    // The missing subscription is not churned.
    assert!(
        !m.iter()
            .any(|(_, k, c, _)| *k == MovementKind::Churn && c == "cus_2"),
        "{m:?}"
    );
    assert_eq!(
        d.subscriptions.iter().map(|s| s.mrr).sum::<i64>(),
        9900 + 9900
    );
}

#[tokio::test]
async fn an_interrupted_pull_resumes_from_its_saved_cursor() {
    let p = FakeProvider::start().await;
    stripe_account(&p);
    // The second subscriptions page fails more often than the retries allow.
    for _ in 0..4 {
        p.fail("/v1/subscriptions", "sub_2", 503);
    }
    let h = Harness::new().await;
    h.credential("stripe", TOKEN).await;
    let first = pull(&h, &p, Provider::Stripe).await;
    assert_eq!(first.status, SyncStatus::Failed);
    let error = first.error.clone().unwrap();
    assert!(
        error.contains("HTTP 503") && error.contains("4 attempts"),
        "{error}"
    );
    let cursor = h
        .registry
        .sync_cursor(&h.tenant, "stripe")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cursor.cursor, "subscriptions:sub_2");
    p.take_requests();

    let second = pull(&h, &p, Provider::Stripe).await;
    assert_eq!(second.status, SyncStatus::Succeeded, "{:?}", second.error);
    let requests = p.take_requests();
    assert_eq!(
        requests[0], "/v1/subscriptions|sub_2",
        "resumed, not restarted: {requests:?}"
    );
    assert!(!requests.iter().any(|r| r.starts_with("/v1/customers")));
    assert_eq!(first.counts.created + second.counts.created, 9);
    assert_eq!(
        second.counts.deleted, 0,
        "objects of the first half are not deleted"
    );
    assert!(
        h.registry
            .sync_cursor(&h.tenant, "stripe")
            .await
            .unwrap()
            .is_none()
    );

    // Same tables as one uninterrupted pull.
    let whole = Harness::new().await;
    whole.credential("stripe", TOKEN).await;
    pull(&whole, &p, Provider::Stripe).await;
    assert_eq!(h.derived().await, whole.derived().await);
}

#[tokio::test]
async fn bad_credentials_and_unreachable_providers_fail_the_run_clearly() {
    let p = FakeProvider::start().await;
    stripe_account(&p);
    let h = Harness::new().await;

    let none = pull(&h, &p, Provider::Stripe).await;
    assert_eq!(none.status, SyncStatus::Failed);
    assert!(
        none.error
            .as_deref()
            .unwrap()
            .contains("no stripe credential"),
        "{:?}",
        none.error
    );

    h.credential("stripe", "sk_test_wrong").await;
    let bad = pull(&h, &p, Provider::Stripe).await;
    assert_eq!(bad.status, SyncStatus::Failed);
    let error = bad.error.as_deref().unwrap();
    assert!(
        error.contains("rejected the tenant's credential (HTTP 401"),
        "{error}"
    );
    assert_eq!(p.take_requests().len(), 1, "a 401 is not retried");

    h.credential("stripe", TOKEN).await;
    let target = h.target();
    let run = target.start("stripe", "pull").await.unwrap();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut options = p.options();
    options.base_url = Some(format!("http://{closed}"));
    let down = run_pull(&target, Provider::Stripe, &options, run, &NoProgress).await;
    assert_eq!(down.status, SyncStatus::Failed);
    let error = down.error.as_deref().unwrap();
    assert!(
        error.contains("stripe is unreachable") && error.contains("4 attempts"),
        "{error}"
    );

    let runs = h.registry.sync_runs(&h.tenant).await.unwrap();
    assert_eq!(runs.len(), 3);
    assert!(
        runs.iter()
            .all(|r| r.status == SyncStatus::Failed && r.error.is_some())
    );
    assert!(h.events().await.is_empty());
}
