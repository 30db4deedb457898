//! Setting tenants up through the admin API of a running revstream
//! process (`serve` or `ingest`), as an operator would: create the tenant,
//! store a webhook secret, issue a key. Each call asserts its status, so a
//! broken admin route fails the test where it happened.

use serde_json::{Value, json};

use super::process::ADMIN;

/// The admin routes of the process at `base`, with the tests' admin token.
#[derive(Debug, Clone, Copy)]
pub struct AdminApi<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
}

impl AdminApi<'_> {
    /// `POST /v1/admin/tenants` with `body` (`{"id": …}` and any settings).
    pub async fn create_tenant(&self, body: Value) {
        let r = self
            .http
            .post(format!("{}/v1/admin/tenants", self.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    /// Stores `tenant`'s signing secret for `provider` (`stripe`,
    /// `standard`, …).
    pub async fn put_secret(&self, tenant: &str, provider: &str, secret: &str) {
        let r = self
            .http
            .put(format!(
                "{}/v1/admin/tenants/{tenant}/secrets/{provider}",
                self.base
            ))
            .bearer_auth(ADMIN)
            .json(&json!({"secret": secret}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    }

    /// A new API key of `tenant` with `role` (`admin`, `ingest`, `viewer`).
    pub async fn create_key(&self, tenant: &str, role: &str) -> String {
        let r = self
            .http
            .post(format!("{}/v1/admin/tenants/{tenant}/keys", self.base))
            .bearer_auth(ADMIN)
            .json(&json!({"role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        body["key"].as_str().expect("the new key").to_owned()
    }
}
