//! The registry commands as a user runs them: the real binary against a
//! SQLite data dir and against the real PostgreSQL.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod support;

use std::path::Path;
use std::process::{Command, Output};

use revstream_registry::{MasterKey, Registry};
use support::postgres::TestDatabase;

fn revstream(data_dir: &Path, database_url: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_revstream"));
    cmd.args(args)
        .env("REVSTREAM_DATA_DIR", data_dir)
        .env_remove("REVSTREAM_DATABASE_URL")
        .env_remove("REVSTREAM_MASTER_KEY");
    if let Some(url) = database_url {
        cmd.env("REVSTREAM_DATABASE_URL", url);
    }
    cmd.output().expect("run revstream")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

async fn exercise(data_dir: &Path, url: Option<&str>) {
    let run = |args: &[&str]| revstream(data_dir, url, args);

    let created = run(&[
        "tenants",
        "create",
        "acme",
        "--name",
        "Acme",
        "--timezone",
        "Europe/Berlin",
    ]);
    assert!(created.status.success(), "{}", stderr(&created));
    assert_eq!(stdout(&created), "acme");

    let dup = run(&["tenants", "create", "acme"]);
    assert!(!dup.status.success());
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));

    let tz = run(&["tenants", "create", "beta", "--timezone", "Nowhere/Land"]);
    assert!(!tz.status.success());
    assert!(
        stderr(&tz).contains("unknown timezone \"Nowhere/Land\""),
        "{}",
        stderr(&tz)
    );

    let bad_id = run(&["tenants", "create", "Not Valid"]);
    assert!(!bad_id.status.success());
    assert!(stderr(&bad_id).contains("lowercase"), "{}", stderr(&bad_id));

    let key = run(&["keys", "create", "--tenant", "acme", "--role", "analyst"]);
    assert!(key.status.success(), "{}", stderr(&key));
    let key = stdout(&key);
    assert!(key.starts_with("rsk_"), "{key}");

    let bad_role = run(&["keys", "create", "--tenant", "acme", "--role", "owner"]);
    assert!(!bad_role.status.success());
    assert!(stderr(&bad_role).contains("admin, analyst, viewer or ingest"));

    let secret = run(&[
        "secrets",
        "set",
        "--tenant",
        "acme",
        "--source",
        "stripe",
        "--secret",
        "whsec_one",
    ]);
    assert!(secret.status.success(), "{}", stderr(&secret));
    assert_eq!(stdout(&secret), "1");
    let secret = run(&[
        "secrets",
        "set",
        "--tenant",
        "acme",
        "--source",
        "stripe",
        "--secret",
        "whsec_two",
    ]);
    assert_eq!(stdout(&secret), "2");
    let listed = run(&["secrets", "list", "--tenant", "acme", "--source", "stripe"]);
    assert_eq!(stdout(&listed).lines().count(), 2, "{}", stdout(&listed));
    assert!(
        !stdout(&listed).contains("whsec_"),
        "values are never listed"
    );

    let list = run(&["tenants", "list"]);
    assert!(stdout(&list).starts_with("acme\tAcme\tEurope/Berlin\tat_period_end"));

    // What the CLI wrote, the library reads: same registry, same master key.
    let master = MasterKey::load_or_create(None, data_dir).unwrap();
    let registry = match url {
        Some(url) => Registry::open(url, master).await.unwrap(),
        None => Registry::open_in_data_dir(data_dir, master).await.unwrap(),
    };
    let who = registry
        .verify_key(&key)
        .await
        .unwrap()
        .expect("key verifies");
    assert_eq!(who.tenant.as_str(), "acme");
    let acme = revstream_schemas::TenantId::parse("acme").unwrap();
    assert_eq!(
        registry.webhook_secrets(&acme, "stripe").await.unwrap(),
        ["whsec_one", "whsec_two"]
    );

    let deleted = run(&[
        "secrets", "delete", "--tenant", "acme", "--source", "stripe", "--n", "1",
    ]);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert_eq!(
        registry.webhook_secrets(&acme, "stripe").await.unwrap(),
        ["whsec_two"]
    );
}

#[tokio::test]
async fn registry_commands_work_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(dir.path(), None).await;
    assert!(dir.path().join("registry.db").exists());
}

#[tokio::test]
async fn registry_commands_work_on_postgres() {
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    exercise(dir.path(), Some(&db.url)).await;
    assert!(
        !dir.path().join("registry.db").exists(),
        "nothing went to SQLite"
    );
}

#[test]
fn help_explains_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let help = revstream(dir.path(), None, &["--help"]);
    let text = stdout(&help);
    for word in ["tenants", "keys", "secrets", "per-tenant metrics"] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
    let secrets = stdout(&revstream(dir.path(), None, &["secrets", "set", "--help"]));
    assert!(secrets.contains("REVSTREAM_SECRET"), "{secrets}");
}
