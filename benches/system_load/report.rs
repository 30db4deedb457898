//! The results as markdown: what the machine was, each target next to the
//! value measured in this run with pass or miss, then one table per
//! scenario. Printed on stdout and written to BENCHMARKS.md.

use std::fmt::Write as _;
use std::time::Duration;

use super::machine::{machine, os, profile, rustc};
use super::settings::Settings;

/// One target of the issue and what this run measured for it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) target: String,
    pub(crate) measured: String,
    /// `None`: not measured in this run (say why in `measured`).
    pub(crate) pass: Option<bool>,
}

impl Target {
    pub(crate) fn new(name: &str, target: &str, measured: String, pass: Option<bool>) -> Self {
        Self {
            name: name.to_owned(),
            target: target.to_owned(),
            measured,
            pass,
        }
    }
}

/// A scenario's table, with the notes that say how it was measured.
#[derive(Debug, Clone, Default)]
pub(crate) struct Section {
    pub(crate) title: String,
    pub(crate) notes: Vec<String>,
    pub(crate) header: Vec<&'static str>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl Section {
    pub(crate) fn new(title: &str, header: &[&'static str]) -> Self {
        Self {
            title: title.to_owned(),
            header: header.to_vec(),
            ..Self::default()
        }
    }

    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }
}

/// What one scenario reports.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub(crate) sections: Vec<Section>,
    pub(crate) targets: Vec<Target>,
}

pub(crate) fn render(
    settings: &Settings,
    outcomes: &[Outcome],
    load_before: &str,
    elapsed: Duration,
) -> String {
    let mut md = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(md, "# revstream benchmarks\n");
    let _ = writeln!(
        md,
        "Written by `cargo bench --bench system_load` (scenarios: {}) on {}; the run took {:.0} s.\n",
        settings
            .scenarios
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", "),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        elapsed.as_secs_f64()
    );
    let _ = writeln!(md, "- machine: {}", machine());
    let _ = writeln!(md, "- OS: {}", os());
    let _ = writeln!(md, "- toolchain: {}", rustc());
    let _ = writeln!(md, "- build profile: {}", profile());
    let _ = writeln!(md, "- /proc/loadavg before the run: {load_before}");
    let _ = writeln!(
        md,
        "- everything runs in one process on 127.0.0.1 (load generator, servers, pipeline), \
         so the generator's CPU counts against the system's\n"
    );

    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | goal | measured | result |");
    let _ = writeln!(md, "|---|---|---|---|");
    for t in outcomes.iter().flat_map(|o| &o.targets) {
        let result = match t.pass {
            Some(true) => "pass",
            Some(false) => "**miss**",
            None => "not measured",
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {result} |",
            t.name, t.target, t.measured
        );
    }
    let _ = writeln!(md);

    for section in outcomes.iter().flat_map(|o| &o.sections) {
        let _ = writeln!(md, "## {}\n", section.title);
        for note in &section.notes {
            let _ = writeln!(md, "- {note}");
        }
        if !section.notes.is_empty() {
            let _ = writeln!(md);
        }
        let _ = writeln!(md, "| {} |", section.header.join(" | "));
        let _ = writeln!(
            md,
            "|{}",
            section
                .header
                .iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        );
        for row in &section.rows {
            let _ = writeln!(md, "| {} |", row.join(" | "));
        }
        let _ = writeln!(md);
    }

    let _ = writeln!(md, "## Reproduce\n");
    let _ = writeln!(
        md,
        "```sh\ncargo bench --bench system_load          # all scenarios, writes this file\n\
         REVSTREAM_BENCH_SCENARIOS=query cargo bench --bench system_load\n\
         cargo bench --bench ingest_load          # scenario 1: webhooks and batches vs the raw log / Kafka producer\n\
         cargo bench --bench pipeline_functions   # criterion: state, derive, Arrow, Delta commit\n\
         cargo bench --bench state_memory         # heap bytes per event the pipeline's state holds\n\
         cargo bench --bench ingest_functions     # criterion: verify, normalize, parse\n```\n"
    );
    let _ = writeln!(
        md,
        "Sizes and settings of each scenario are in its notes above (seed {}); every knob is an \
         environment variable, listed at the top of `benches/system_load.rs`.",
        settings.seed
    );
    md
}
