//! The sync bookkeeping of the registry on both databases: runs, the
//! ledger and cursor saved together, soft deletes, schedules and claims.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use revstream_registry::{MasterKey, NewTenant, Registry, SyncStatus};
use revstream_schemas::TenantId;
use support::postgres::TestDatabase;

async fn check(registry: &Registry, backend: &str) {
    let t = TenantId::parse("acme").unwrap();
    registry
        .create_tenant(NewTenant {
            id: t.clone(),
            name: None,
            timezone: None,
            churn_recognition: None,
        })
        .await
        .unwrap();
    assert!(
        registry.start_sync_run(&t, "paypal", "pull").await.is_err(),
        "{backend}"
    );

    let mut run = registry.start_sync_run(&t, "stripe", "pull").await.unwrap();
    assert_eq!(run.status, SyncStatus::Running);
    let entries = vec![
        ("subscription:a".to_owned(), "h1".to_owned()),
        ("subscription:b".to_owned(), "h2".to_owned()),
    ];
    registry
        .save_sync_page(
            &t,
            "stripe",
            &run.id,
            &entries,
            Some(Some("subscriptions:b")),
        )
        .await
        .unwrap();
    let cursor = registry.sync_cursor(&t, "stripe").await.unwrap().unwrap();
    assert_eq!(
        (cursor.sweep.as_str(), cursor.cursor.as_str()),
        (run.id.as_str(), "subscriptions:b")
    );
    // A file import records objects but leaves the pull's cursor alone.
    registry
        .save_sync_page(
            &t,
            "stripe",
            "file-run",
            &[("charge:c".to_owned(), "h3".to_owned())],
            None,
        )
        .await
        .unwrap();
    assert!(
        registry.sync_cursor(&t, "stripe").await.unwrap().is_some(),
        "{backend}"
    );
    registry
        .save_sync_page(
            &t,
            "stripe",
            &run.id,
            &[("subscription:a".to_owned(), "h1b".to_owned())],
            Some(None),
        )
        .await
        .unwrap();
    assert!(
        registry.sync_cursor(&t, "stripe").await.unwrap().is_none(),
        "{backend}"
    );
    let ledger = registry.sync_objects(&t, "stripe").await.unwrap();
    assert_eq!(ledger.len(), 3);
    assert_eq!(ledger["subscription:a"], "h1b");

    // Objects another pass saw and this one did not are soft-deleted.
    assert_eq!(
        registry
            .mark_unseen_deleted(&t, "stripe", &run.id)
            .await
            .unwrap(),
        1,
        "{backend}"
    );
    assert_eq!(
        registry.deleted_sync_objects(&t, "stripe").await.unwrap(),
        vec!["charge:c"]
    );

    run.status = SyncStatus::Failed;
    run.counts.seen = 3;
    run.counts.failed = 1;
    run.error = Some("boom".into());
    registry.update_sync_run(&mut run).await.unwrap();
    let runs = registry.sync_runs(&t).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!((runs[0].counts.seen, runs[0].counts.failed), (3, 1));
    assert_eq!(runs[0].error.as_deref(), Some("boom"));
    assert!(runs[0].finished_at_ms.is_some(), "{backend}");

    registry
        .set_sync_schedule(&t, "whop", Some(15))
        .await
        .unwrap();
    let s = registry.sync_schedules().await.unwrap();
    assert_eq!(
        (s.len(), s[0].every_minutes, s[0].last_run_ms),
        (1, 15, None)
    );
    assert!(registry.claim_sync_schedule(&s[0], 1_000).await.unwrap());
    assert!(
        !registry.claim_sync_schedule(&s[0], 1_000).await.unwrap(),
        "claimed once only"
    );
    let s = registry.sync_schedules().await.unwrap();
    assert!(registry.claim_sync_schedule(&s[0], 2_000).await.unwrap());
    assert!(
        registry
            .set_sync_schedule(&t, "whop", Some(0))
            .await
            .is_err()
    );
    registry.set_sync_schedule(&t, "whop", None).await.unwrap();
    assert!(
        registry.sync_schedules().await.unwrap().is_empty(),
        "{backend}"
    );
}

#[tokio::test]
async fn sync_bookkeeping_works_on_sqlite_and_postgres() {
    let master = MasterKey::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Registry::open_in_data_dir(dir.path(), master.clone())
        .await
        .unwrap();
    check(&sqlite, "sqlite").await;
    if let Some(db) = TestDatabase::create().await {
        let pg = Registry::open(&db.url, master).await.unwrap();
        check(&pg, "postgres").await;
        pg.close().await;
    }
}
