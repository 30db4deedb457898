//! GET a provider's list page with the tenant's credential, retrying what
//! retrying can fix.
//!
//! - 429 and 5xx: exponential backoff with full jitter (base × 2^attempt,
//!   capped), honouring `Retry-After` seconds when the provider sends it
//!   (capped too, so a hostile header cannot park a run for a day).
//! - Connection errors and timeouts: retried the same way; after the last
//!   attempt the provider is reported unreachable.
//! - 401 and 403: never retried; the credential is wrong.
//! - Any other status: reported with the start of the body.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use serde_json::Value;

use super::error::{Result, SyncError};

/// How often and how long to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Timeout of one request.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (0-based): `Retry-After` when
    /// given, else a random delay up to base × 2^attempt; both capped.
    fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(d) = retry_after {
            return d.min(self.max_delay);
        }
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max_delay);
        // Full jitter: clients that failed together do not retry together.
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(random % millis.saturating_add(1))
    }
}

/// A provider's API at a base URL, with a bearer credential.
#[derive(Debug, Clone)]
pub struct Fetcher {
    provider: &'static str,
    client: reqwest::Client,
    base_url: String,
    credential: String,
    retry: RetryPolicy,
}

impl Fetcher {
    pub fn new(
        provider: &'static str,
        base_url: &str,
        credential: String,
        retry: RetryPolicy,
    ) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(retry.request_timeout)
            .build()
            .map_err(|e| SyncError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            provider,
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            credential,
            retry,
        })
    }

    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// GETs `path` (with its query) under the base URL and parses JSON.
    pub async fn get_json(&self, path: &str) -> Result<Value> {
        let url = format!("{}{path}", self.base_url);
        let mut attempt = 0;
        loop {
            let sent = self
                .client
                .get(&url)
                .bearer_auth(&self.credential)
                .header("accept", "application/json")
                .send()
                .await;
            let last = attempt + 1 >= self.retry.max_attempts;
            let response = match sent {
                Ok(r) => r,
                Err(e) if last => {
                    return Err(SyncError::Unreachable {
                        provider: self.provider,
                        url,
                        attempts: attempt + 1,
                        detail: error_chain(&e),
                    });
                }
                Err(e) => {
                    tracing::warn!(provider = self.provider, %url, error = %e, attempt, "provider request failed; retrying");
                    tokio::time::sleep(self.retry.delay(attempt, None)).await;
                    attempt += 1;
                    continue;
                }
            };
            let status = response.status();
            if status.is_success() {
                let bytes = response.bytes().await.map_err(|e| SyncError::Unreachable {
                    provider: self.provider,
                    url: url.clone(),
                    attempts: attempt + 1,
                    detail: format!("reading the body: {}", error_chain(&e)),
                })?;
                return serde_json::from_slice(&bytes).map_err(|e| SyncError::BadPage {
                    provider: self.provider,
                    url,
                    problem: format!("not JSON: {e}"),
                });
            }
            if status.as_u16() == 401 || status.as_u16() == 403 {
                return Err(SyncError::Unauthorized {
                    provider: self.provider,
                    status: status.as_u16(),
                    url,
                });
            }
            let retryable = status.as_u16() == 429 || status.is_server_error();
            if retryable && !last {
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                tracing::warn!(provider = self.provider, %url, status = status.as_u16(), attempt, "provider asked to retry");
                tokio::time::sleep(self.retry.delay(attempt, retry_after)).await;
                attempt += 1;
                continue;
            }
            let body = response.text().await.unwrap_or_default();
            return Err(SyncError::Http {
                provider: self.provider,
                status: status.as_u16(),
                url,
                attempts: attempt + 1,
                body: body.chars().take(300).collect(),
            });
        }
    }
}

/// An error with its causes ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_capped_and_honour_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            request_timeout: Duration::from_secs(1),
        };
        for attempt in 0..20 {
            assert!(p.delay(attempt, None) <= Duration::from_secs(2));
        }
        assert!(p.delay(0, None) <= Duration::from_millis(100));
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(1))),
            Duration::from_secs(1)
        );
        assert_eq!(
            p.delay(0, Some(Duration::from_secs(3600))),
            Duration::from_secs(2)
        );
    }
}
