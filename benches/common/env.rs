//! The load harnesses' knobs: environment variables with defaults.

use std::str::FromStr;

/// `name` parsed as `T`, or `default` when it is unset or blank; a value
/// that does not parse is an error naming the variable.
pub(crate) fn env_or<T: FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}")),
        _ => Ok(default),
    }
}
