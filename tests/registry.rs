//! The tenant registry on both of its databases: SQLite (a real file) and
//! the real PostgreSQL server.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use revstream_registry::{ChurnRecognition, Error, MasterKey, NewTenant, Registry, Role};
use revstream_schemas::TenantId;
use support::postgres::TestDatabase;

/// One registry per backend, with whatever keeps its storage alive.
struct Backend {
    name: &'static str,
    registry: Registry,
    master: MasterKey,
    url: String,
    _dir: tempfile::TempDir,
    _pg: Option<TestDatabase>,
}

async fn backends() -> Vec<Backend> {
    let mut out = Vec::new();
    let master = MasterKey::generate().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let url = revstream_registry::sqlite_url(&dir.path().join("registry.db"));
    out.push(Backend {
        name: "sqlite",
        registry: Registry::open(&url, master.clone()).await.unwrap(),
        master: master.clone(),
        url,
        _dir: dir,
        _pg: None,
    });

    if let Some(db) = TestDatabase::create().await {
        out.push(Backend {
            name: "postgres",
            registry: Registry::open(&db.url, master.clone()).await.unwrap(),
            master,
            url: db.url.clone(),
            _dir: tempfile::tempdir().unwrap(),
            _pg: Some(db),
        });
    }
    out
}

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).unwrap()
}

fn new_tenant(id: &str) -> NewTenant {
    NewTenant {
        id: tenant(id),
        name: None,
        timezone: None,
        churn_recognition: None,
    }
}

#[tokio::test]
async fn tenants_are_created_read_and_listed() {
    for b in backends().await {
        let r = &b.registry;
        let created = r
            .create_tenant(NewTenant {
                name: Some("Acme Coaching".into()),
                timezone: Some("America/New_York".into()),
                churn_recognition: Some(ChurnRecognition::AtRequest),
                ..new_tenant("acme")
            })
            .await
            .unwrap();
        r.create_tenant(new_tenant("beta")).await.unwrap();

        let read = r.tenant("acme").await.unwrap();
        assert_eq!(read, created, "{}", b.name);
        assert_eq!(read.timezone.name(), "America/New_York");
        assert_eq!(read.churn_recognition, ChurnRecognition::AtRequest);

        let beta = r.tenant("beta").await.unwrap();
        assert_eq!(beta.name, "beta", "{}: name defaults to the id", b.name);
        assert_eq!(beta.timezone.name(), "UTC");
        assert_eq!(beta.churn_recognition, ChurnRecognition::AtPeriodEnd);

        let ids: Vec<_> = r
            .tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id.to_string())
            .collect();
        assert_eq!(ids, ["acme", "beta"], "{}", b.name);
    }
}

#[tokio::test]
async fn bad_tenant_input_errors_clearly() {
    for b in backends().await {
        let r = &b.registry;
        r.create_tenant(new_tenant("acme")).await.unwrap();

        let dup = r.create_tenant(new_tenant("acme")).await.unwrap_err();
        assert!(matches!(dup, Error::TenantExists(_)), "{}: {dup:?}", b.name);
        assert_eq!(dup.to_string(), "tenant \"acme\" already exists");
        assert!(dup.is_caller_error());

        let tz = r
            .create_tenant(NewTenant {
                timezone: Some("Mars/Olympus_Mons".into()),
                ..new_tenant("other")
            })
            .await
            .unwrap_err();
        assert!(
            matches!(tz, Error::UnknownTimezone(_)),
            "{}: {tz:?}",
            b.name
        );
        assert!(tz.to_string().contains("Mars/Olympus_Mons"));
        assert!(
            r.tenant("other").await.is_err(),
            "{}: nothing half-created",
            b.name
        );

        let missing = r.tenant("nobody").await.unwrap_err();
        assert!(matches!(missing, Error::TenantNotFound(_)), "{}", b.name);

        let churn = "sometimes".parse::<ChurnRecognition>().unwrap_err();
        assert!(churn.to_string().contains("at_period_end or at_request"));
    }
}

#[tokio::test]
async fn keys_verify_and_wrong_keys_fail() {
    for b in backends().await {
        let r = &b.registry;
        r.create_tenant(new_tenant("acme")).await.unwrap();
        r.create_tenant(new_tenant("beta")).await.unwrap();

        let key = r.create_key(&tenant("acme"), Role::Analyst).await.unwrap();
        assert!(key.key.starts_with("rsk_"), "{}", key.key);
        let who = r.verify_key(&key.key).await.unwrap().expect("valid key");
        assert_eq!(who.tenant, tenant("acme"), "{}", b.name);
        assert_eq!(who.role, Role::Analyst);

        let beta_key = r.create_key(&tenant("beta"), Role::Ingest).await.unwrap();
        let beta = r.verify_key(&beta_key.key).await.unwrap().unwrap();
        assert_eq!(beta.tenant, tenant("beta"), "{}", b.name);
        assert_ne!(key.key, beta_key.key);

        // One character off, a key of the right shape that was never issued,
        // and garbage: all simply not valid.
        let mut tampered = key.key.clone();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert_eq!(r.verify_key(&tampered).await.unwrap(), None, "{}", b.name);
        assert_eq!(
            r.verify_key("rsk_000000000000_notissued").await.unwrap(),
            None
        );
        assert_eq!(r.verify_key("").await.unwrap(), None);
        assert_eq!(r.verify_key("Bearer nonsense").await.unwrap(), None);

        assert!(r.revoke_key(&tenant("acme"), &key.key_id).await.unwrap());
        assert_eq!(
            r.verify_key(&key.key).await.unwrap(),
            None,
            "{}: revoked",
            b.name
        );

        let no_tenant = r
            .create_key(&tenant("ghost"), Role::Viewer)
            .await
            .unwrap_err();
        assert!(matches!(no_tenant, Error::TenantNotFound(_)), "{}", b.name);
        assert!("owner".parse::<Role>().is_err());
    }
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_round_trip() {
    for b in backends().await {
        let r = &b.registry;
        let acme = tenant("acme");
        r.create_tenant(new_tenant("acme")).await.unwrap();
        let secret = "whsec_test_5up3r_s3cr3t_value";
        let n = r.add_webhook_secret(&acme, "stripe", secret).await.unwrap();
        assert_eq!(n, 1);

        let stored = r.sealed_webhook_secrets(&acme, "stripe").await.unwrap();
        assert_eq!(stored.len(), 1);
        assert!(!stored[0].contains(secret), "{}: stored in clear", b.name);
        assert!(!stored[0].contains("5up3r"), "{}", b.name);

        assert_eq!(r.webhook_secrets(&acme, "stripe").await.unwrap(), [secret]);
        assert!(r.webhook_secrets(&acme, "whop").await.unwrap().is_empty());

        // The same rows under another master key do not open.
        let other = Registry::open(&b.url, MasterKey::generate().unwrap())
            .await
            .unwrap();
        let err = other.webhook_secrets(&acme, "stripe").await.unwrap_err();
        assert!(matches!(err, Error::Decrypt), "{}: {err:?}", b.name);
        // … and the right key, on a new connection, does.
        let again = Registry::open(&b.url, b.master.clone()).await.unwrap();
        assert_eq!(
            again.webhook_secrets(&acme, "stripe").await.unwrap(),
            [secret]
        );

        let bad_source = r
            .add_webhook_secret(&acme, "paypal", "x")
            .await
            .unwrap_err();
        assert!(bad_source.to_string().contains("paypal"), "{bad_source}");
        let no_tenant = r
            .add_webhook_secret(&tenant("ghost"), "stripe", "x")
            .await
            .unwrap_err();
        assert!(matches!(no_tenant, Error::TenantNotFound(_)));
    }
}

#[tokio::test]
async fn rotation_keeps_old_and_new_secrets_valid_until_removed() {
    for b in backends().await {
        let r = &b.registry;
        let acme = tenant("acme");
        r.create_tenant(new_tenant("acme")).await.unwrap();
        let old = r
            .add_webhook_secret(&acme, "whop", "whsec_old")
            .await
            .unwrap();
        let new = r
            .add_webhook_secret(&acme, "whop", "whsec_new")
            .await
            .unwrap();
        assert_eq!((old, new), (1, 2), "{}", b.name);
        assert_eq!(
            r.webhook_secrets(&acme, "whop").await.unwrap(),
            ["whsec_old", "whsec_new"]
        );
        let listed: Vec<_> = r
            .list_webhook_secrets(&acme, "whop")
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.n)
            .collect();
        assert_eq!(listed, [1, 2]);

        r.delete_webhook_secret(&acme, "whop", old).await.unwrap();
        assert_eq!(
            r.webhook_secrets(&acme, "whop").await.unwrap(),
            ["whsec_new"]
        );
        let gone = r
            .delete_webhook_secret(&acme, "whop", old)
            .await
            .unwrap_err();
        assert!(
            matches!(gone, Error::SecretNotFound { n: 1, .. }),
            "{}",
            b.name
        );

        // Numbers keep growing after a removal, so `n` never names two secrets.
        let third = r
            .add_webhook_secret(&acme, "whop", "whsec_third")
            .await
            .unwrap();
        assert_eq!(third, 3);
    }
}

#[tokio::test]
async fn provider_credentials_are_sealed_and_replaced() {
    for b in backends().await {
        let r = &b.registry;
        let acme = tenant("acme");
        r.create_tenant(new_tenant("acme")).await.unwrap();
        assert_eq!(r.credential(&acme, "stripe").await.unwrap(), None);
        r.set_credential(&acme, "stripe", "rk_live_one")
            .await
            .unwrap();
        r.set_credential(&acme, "stripe", "rk_live_two")
            .await
            .unwrap();
        assert_eq!(
            r.credential(&acme, "stripe").await.unwrap().as_deref(),
            Some("rk_live_two"),
            "{}",
            b.name
        );
        assert!(r.set_credential(&acme, "standard", "x").await.is_err());
    }
}

#[tokio::test]
async fn sqlite_registry_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let master = MasterKey::load_or_create(None, dir.path()).unwrap();
    let r = Registry::open_in_data_dir(dir.path(), master)
        .await
        .unwrap();
    r.create_tenant(new_tenant("acme")).await.unwrap();
    let key = r.create_key(&tenant("acme"), Role::Admin).await.unwrap();
    r.add_webhook_secret(&tenant("acme"), "calendly", "signing-key")
        .await
        .unwrap();
    r.close().await;

    let master = MasterKey::load_or_create(None, dir.path()).unwrap();
    let r = Registry::open_in_data_dir(dir.path(), master)
        .await
        .unwrap();
    assert_eq!(r.tenant("acme").await.unwrap().id.as_str(), "acme");
    assert!(r.verify_key(&key.key).await.unwrap().is_some());
    assert_eq!(
        r.webhook_secrets(&tenant("acme"), "calendly")
            .await
            .unwrap(),
        ["signing-key"]
    );
}

#[tokio::test]
async fn unsupported_database_urls_are_refused() {
    let err = Registry::open("mysql://localhost/x", MasterKey::generate().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnsupportedUrl(_)));
}
