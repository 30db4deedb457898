//! What commands print. Results go to stdout (so scripts can capture them),
//! notes for humans to stderr.

use std::io::Write;

/// Prints a result line on stdout.
pub(crate) fn result(line: impl std::fmt::Display) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    Ok(())
}

/// Prints a note for the human on stderr.
pub(crate) fn note(line: impl std::fmt::Display) {
    eprintln!("{line}");
}
