//! The tenants, as an operator sets them up: created through the admin
//! API, with a webhook secret per provider and one key per role the load
//! uses (ingest for batches, viewer for dashboards, analyst for SQL).

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::generator::tenant_id;
use super::server::ADMIN_TOKEN;

pub(crate) const STRIPE_SECRET: &str = "whsec_soak_stripe_signing_secret";
/// Standard Webhooks: `whsec_` and base64 of the HMAC key.
pub(crate) const WHOP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub(crate) const CALENDLY_SECRET: &str = "soak-calendly-signing-key";

#[derive(Debug, Clone)]
pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) ingest_key: String,
    pub(crate) viewer_key: String,
    pub(crate) analyst_key: String,
}

/// Creates `n` tenants (`soak00000`…) on the server at `base`.
pub(crate) async fn tenants(
    http: &reqwest::Client,
    base: &str,
    n: u64,
) -> anyhow::Result<Vec<Tenant>> {
    let mut out = Vec::new();
    for t in 0..n {
        let id = tenant_id("soak", t)?.to_string();
        admin(
            http.post(format!("{base}/v1/admin/tenants")).json(
                &json!({"id": id, "name": format!("Soak tenant {t}"), "timezone": "America/New_York"}),
            ),
            "creating a tenant",
        )
        .await?;
        for (source, secret) in [
            ("stripe", STRIPE_SECRET),
            ("whop", WHOP_SECRET),
            ("calendly", CALENDLY_SECRET),
        ] {
            admin(
                http.put(format!("{base}/v1/admin/tenants/{id}/secrets/{source}"))
                    .json(&json!({"secret": secret})),
                "setting a webhook secret",
            )
            .await?;
        }
        let mut keys = Vec::new();
        for role in ["ingest", "viewer", "analyst"] {
            let answer = admin(
                http.post(format!("{base}/v1/admin/tenants/{id}/keys"))
                    .json(&json!({"role": role})),
                "creating a key",
            )
            .await?;
            let key: Value = serde_json::from_str(&answer).context("a key answer")?;
            keys.push(
                key["key"]
                    .as_str()
                    .with_context(|| format!("no key in {answer}"))?
                    .to_owned(),
            );
        }
        let [ingest_key, viewer_key, analyst_key] = <[String; 3]>::try_from(keys)
            .map_err(|_| anyhow::anyhow!("three keys were asked for"))?;
        out.push(Tenant {
            id,
            ingest_key,
            viewer_key,
            analyst_key,
        });
    }
    Ok(out)
}

/// Sends an admin request; its body on success.
async fn admin(request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<String> {
    let response = request
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .with_context(|| what.to_owned())?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{what}: {status} {body}");
    }
    Ok(body)
}
