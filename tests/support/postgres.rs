//! A fresh PostgreSQL database per test, dropped when the guard goes.

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// Server URL without a database; `REVSTREAM_TEST_POSTGRES` overrides.
fn server_url() -> String {
    std::env::var("REVSTREAM_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
}

/// A database that exists for one test.
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl TestDatabase {
    /// Creates `rs_test_<random>`; `None` (skip) when PostgreSQL is absent
    /// outside CI.
    pub async fn create() -> Option<TestDatabase> {
        let admin_url = format!("{}/postgres", server_url());
        let mut conn = match PgConnection::connect(&admin_url).await {
            Ok(c) => c,
            Err(e) => return super::service_missing("PostgreSQL", e),
        };
        let name = format!("rs_test_{:016x}", rand_u64());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        Some(TestDatabase {
            url: format!("{}/{name}", server_url()),
            name,
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin_url = format!("{}/postgres", server_url());
        let name = self.name.clone();
        // Drop in a thread with its own runtime: Drop cannot be async, and
        // the test's runtime may already be shutting down.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}
