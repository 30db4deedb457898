//! The query service on real parts: tables written by the real pipeline
//! from canonical events, read through the tenant-scoped catalog, over real
//! TCP where HTTP is involved. One test binary (DataFusion and delta-rs
//! link slowly) with a module per concern.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

mod cancelled_refresh;
mod freshness;
mod fuzz_sql;
mod golden;
mod http;
mod isolation;
mod metrics;
mod metrics_index;
mod partitions;
mod perf;
mod prometheus;
mod staged;
mod support;
