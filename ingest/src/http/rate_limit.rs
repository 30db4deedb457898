//! Per-tenant token buckets: a tenant may spend `rate` units a second with
//! bursts up to `burst`. A webhook costs 1; a batch costs its row count, so
//! one producer's flood cannot starve the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub(crate) fn new(rate_per_sec: f64, burst: f64) -> Self {
        Self {
            rate: rate_per_sec.max(0.001),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `cost` tokens, or says how many whole seconds until they exist.
    pub(crate) fn try_take(&self, tenant: &str, cost: f64) -> Result<(), u64> {
        self.try_take_at(tenant, cost, Instant::now())
    }

    fn try_take_at(&self, tenant: &str, cost: f64, now: Instant) -> Result<(), u64> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(tenant.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        // A request larger than the burst could never pass; let it through
        // on a full bucket (it drains the bucket) instead of refusing forever.
        let cost = cost.min(self.burst);
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            Ok(())
        } else {
            let wait = (cost - bucket.tokens) / self.rate;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let l = RateLimiter::new(10.0, 5.0);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.try_take_at("acme", 1.0, t0).is_ok());
        }
        assert_eq!(l.try_take_at("acme", 1.0, t0), Err(1));
        // Other tenants have their own bucket.
        assert!(l.try_take_at("beta", 1.0, t0).is_ok());
        // 0.5 s at 10/s refills 5 tokens.
        let later = t0 + Duration::from_millis(500);
        for _ in 0..5 {
            assert!(l.try_take_at("acme", 1.0, later).is_ok());
        }
        assert!(l.try_take_at("acme", 1.0, later).is_err());
    }

    #[test]
    fn retry_after_reflects_the_deficit() {
        let l = RateLimiter::new(2.0, 10.0);
        let t0 = Instant::now();
        assert!(l.try_take_at("acme", 10.0, t0).is_ok());
        assert_eq!(l.try_take_at("acme", 6.0, t0), Err(3));
    }
}
