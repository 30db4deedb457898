//! File imports: provider list-API pages and NDJSON canonical events.
//!
//! - **Provider pages** (`--source stripe|whop|calendly FILE`): one list
//!   page as the API answers it, a JSON array of such pages, or one page
//!   per line. Stripe `{"object": "list", "data": [...]}`; Whop `{"data":
//!   [...], "pagination": {...}}` (plans, memberships and payments, told
//!   apart by id prefix); Calendly `{"collection": [...]}` of scheduled
//!   events and invitees (an invitee's `event` names its scheduled event).
//!   Objects go through the same reconciliation as a pull (the same
//!   ledger, the same ids), but a file is not known to be complete, so
//!   nothing is soft-deleted and the pull cursor is left alone.
//! - **NDJSON** (`--source ndjson FILE`): one canonical event per line
//!   (API.md), `source` defaulting to `api` like `/v1/events`, ids as
//!   given. Bad lines are counted and named (line, column or field); good
//!   lines are appended all the same, and the run is marked failed so the
//!   file gets fixed and imported again (which is safe: same ids).
//!
//! For NDJSON and CSV a run's `created` counts the records appended;
//! whether they were new is the pipeline's dedupe to decide.

use std::collections::HashMap;
use std::path::Path;

use revstream_registry::SyncRun;
use revstream_schemas::CanonicalEvent;
use serde_json::Value;

use super::calendly::observe_invitee;
use super::error::{Result, SyncError};
use super::page::str_of;
use super::run::{ChunkedAppend, Progress, RecordErrors, SyncTarget};
use super::snapshot::{Observed, Provider};
use super::{stripe, whop};

/// Objects per ledger transaction when importing pages.
const OBJECT_CHUNK: usize = 500;

pub(crate) fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| SyncError::Io {
        file: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// Imports a file of provider list pages for `run`.
pub async fn import_pages(
    target: &SyncTarget,
    provider: Provider,
    path: &Path,
    mut run: SyncRun,
    progress: &dyn Progress,
) -> SyncRun {
    let mut errors = RecordErrors::default();
    let result = async {
        let text = read(path)?;
        let pages = parse_pages(&text, path)?;
        let objects = observe_pages(provider, &pages, path)?;
        let source = provider.as_str();
        let mut ledger = target.registry.sync_objects(&target.tenant, source).await?;
        let mut done = 0;
        for chunk in objects.chunks(OBJECT_CHUNK) {
            let entries = target
                .apply(provider, chunk, &mut ledger, &mut run.counts, &mut errors)
                .await?;
            target
                .registry
                .save_sync_page(&target.tenant, source, &run.id, &entries, None)
                .await?;
            done += 1;
            progress.update(done, &run.counts);
        }
        Ok(())
    }
    .await;
    target.finish(run, result, &errors).await
}

/// A page, an array of pages, or one page per line.
fn parse_pages(text: &str, path: &Path) -> Result<Vec<Value>> {
    let file = path.display().to_string();
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(pages)) => Ok(pages),
        Ok(page @ Value::Object(_)) => Ok(vec![page]),
        Ok(_) => Err(SyncError::File {
            file,
            at: "line 1, column 1".into(),
            problem: "must be a list page (a JSON object), an array of pages, or one page per line"
                .into(),
        }),
        Err(_) => text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str::<Value>(line).map_err(|e| SyncError::File {
                    file: file.clone(),
                    at: format!("line {}, column {}", i + 1, e.column()),
                    problem: format!("not a JSON list page: {e}"),
                })
            })
            .collect(),
    }
}

/// The items of one page in `provider`'s list format.
fn items<'a>(provider: Provider, page: &'a Value, n: usize, path: &Path) -> Result<&'a [Value]> {
    let key = match provider {
        Provider::Calendly => "collection",
        _ => "data",
    };
    page.get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| SyncError::File {
            file: path.display().to_string(),
            at: format!("page {}", n + 1),
            problem: format!(
                "`{key}` must be an array ({} list format)",
                provider.as_str()
            ),
        })
}

fn observe_pages(provider: Provider, pages: &[Value], path: &Path) -> Result<Vec<Observed>> {
    let snapshot_at = chrono::Utc::now();
    let mut all = Vec::new();
    for (n, page) in pages.iter().enumerate() {
        all.extend(items(provider, page, n, path)?.iter());
    }
    Ok(match provider {
        Provider::Stripe => all
            .into_iter()
            .filter_map(|o| stripe::observe(o, snapshot_at))
            .collect(),
        Provider::Whop => {
            let plans: HashMap<String, Value> = all
                .iter()
                .filter_map(|o| {
                    let id = str_of(o, "id")?;
                    id.starts_with("plan_")
                        .then(|| (id.to_owned(), (*o).clone()))
                })
                .collect();
            all.into_iter()
                .filter_map(|o| whop::observe(o, &plans, snapshot_at))
                .collect()
        }
        Provider::Calendly => {
            let events: HashMap<&str, &Value> = all
                .iter()
                .filter(|o| o.get("email").is_none())
                .filter_map(|o| Some((str_of(o, "uri")?, *o)))
                .collect();
            let mut out = Vec::new();
            for invitee in all.iter().filter(|o| o.get("email").is_some()) {
                let event_uri = str_of(invitee, "event").unwrap_or("");
                let event = events.get(event_uri).ok_or_else(|| SyncError::File {
                    file: path.display().to_string(),
                    at: format!("invitee {}", str_of(invitee, "uri").unwrap_or("?")),
                    problem: format!("its scheduled event {event_uri:?} is not in the file"),
                })?;
                out.extend(observe_invitee(invitee, event));
            }
            out
        }
    })
}

/// Imports NDJSON canonical events for `run`.
pub async fn import_ndjson(
    target: &SyncTarget,
    path: &Path,
    mut run: SyncRun,
    progress: &dyn Progress,
) -> SyncRun {
    let mut errors = RecordErrors::default();
    let result = async {
        let text = read(path)?;
        let file = path.display().to_string();
        let mut chunked = ChunkedAppend::default();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            run.counts.seen += 1;
            match ndjson_event(line) {
                Ok(e) => chunked.push(e, target, &mut run.counts, progress).await?,
                Err(at_problem) => errors.push(
                    &mut run.counts,
                    format!("{file}: line {}, {at_problem}", i + 1),
                ),
            }
        }
        chunked.finish(target, &mut run.counts, progress).await
    }
    .await;
    target.finish(run, result, &errors).await
}

/// serde_json's message without its " at line L column C" (we name those).
pub(crate) fn json_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_owned()
}

/// One line → an event, or "column C: problem" / "field F: problem".
fn ndjson_event(line: &str) -> std::result::Result<CanonicalEvent, String> {
    let mut value: Value = serde_json::from_str(line).map_err(|e| {
        format!(
            "column {}: not valid JSON: {}",
            e.column(),
            json_message(&e)
        )
    })?;
    let Value::Object(map) = &mut value else {
        return Err("column 1: must be a JSON object (one canonical event)".into());
    };
    map.entry("source")
        .or_insert_with(|| Value::String("api".into()));
    CanonicalEvent::from_value(value).map_err(|e| format!("field {e}"))
}
