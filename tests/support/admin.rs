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
    /// `method path` with the admin token and `body` as JSON; the response
    /// as it comes (outage tests check refusals with it).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &Value,
    ) -> reqwest::Response {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// `POST /v1/admin/tenants` with `body` (`{"id": …}` and any settings).
    pub async fn create_tenant(&self, body: Value) {
        let r = self
            .request(reqwest::Method::POST, "/v1/admin/tenants", &body)
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    /// Stores `tenant`'s signing secret for `provider` (`stripe`,
    /// `standard`, …).
    pub async fn put_secret(&self, tenant: &str, provider: &str, secret: &str) {
        let path = format!("/v1/admin/tenants/{tenant}/secrets/{provider}");
        let r = self
            .request(reqwest::Method::PUT, &path, &json!({"secret": secret}))
            .await;
        assert_eq!(r.status(), 204, "{}", r.text().await.unwrap());
    }

    /// A new API key of `tenant` with `role` (`admin`, `ingest`, `viewer`).
    pub async fn create_key(&self, tenant: &str, role: &str) -> String {
        let path = format!("/v1/admin/tenants/{tenant}/keys");
        let r = self
            .request(reqwest::Method::POST, &path, &json!({"role": role}))
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        let body: Value = r.json().await.unwrap();
        body["key"].as_str().expect("the new key").to_owned()
    }
}
