//! Shared helpers for tests that talk to real services.
//!
//! A test that needs a service it cannot reach fails loudly when `CI` is
//! set, and is skipped with a message otherwise (a developer without
//! PostgreSQL can still run the rest).

#![allow(dead_code, unreachable_pub)]

pub mod admin;
pub mod events;
pub mod kafka;
pub mod postgres;
pub mod process;
pub mod proxy;
pub mod server;
pub mod tables;

/// Whether we run under CI, where a missing service is a failure.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Panics in CI, prints a skip notice elsewhere; returns `None` to let the
/// caller bail out of the test.
pub fn service_missing<T>(service: &str, why: impl std::fmt::Display) -> Option<T> {
    if in_ci() {
        panic!("{service} is required in CI but unreachable: {why}");
    }
    eprintln!("SKIPPED: {service} unreachable ({why}); set CI=1 to make this a failure");
    None
}
