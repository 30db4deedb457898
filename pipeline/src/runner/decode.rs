//! Decoding a cycle's log records into envelopes, off the async runtime
//! and spread over the cores (see `spread`).
//!
//! Every record is a JSON envelope holding the canonical event and its raw
//! provider payload; parsing them took about a seventh of the pipeline's CPU
//! in a profile of a 1,000,000-event backlog. Like the derivation (see
//! `build`), it runs on the pipeline's CPU threads so that ingest and query
//! requests in the same process never wait behind it.

use revstream_ingest::log::LogEnvelope;

use super::spread::{cores, spread};
use crate::source::SourceRecord;

/// One record decoded (or why it could not be), with where it was read.
///
/// The envelope is boxed: an event is about a kilobyte inline, and a
/// cycle's hundred thousand of them move from the decoding threads to the
/// state and on to the `events` batch. Inline, each was copied at every
/// move and at every regrowth of the vectors holding them; `memmove` was
/// the largest single symbol in a profile of a backlog (about an eighth of
/// the samples), and these were the largest values moved.
pub(super) struct Decoded {
    pub partition: u32,
    pub offset: u64,
    pub envelope: Result<Box<LogEnvelope>, serde_json::Error>,
    /// The event's JSON as the record holds it, when it can be stored as
    /// the `events` row's payload as is (see
    /// [`LogEnvelope::from_payload_keeping_event_json`]).
    pub event_json: Option<Box<str>>,
}

/// Records are decoded in runs of this many: enough to make a run worth
/// a task, few enough that a thread left idle is rare.
const RUN: usize = 1_000;

/// The records decoded, in the order given.
pub(super) async fn decode(records: Vec<SourceRecord>) -> Vec<Decoded> {
    decode_on(records, cores()).await
}

async fn decode_on(records: Vec<SourceRecord>, threads: usize) -> Vec<Decoded> {
    let mut runs: Vec<Vec<SourceRecord>> = Vec::with_capacity(records.len().div_ceil(RUN));
    let mut records = records.into_iter().peekable();
    while records.peek().is_some() {
        runs.push(records.by_ref().take(RUN).collect());
    }
    let decoded = spread(runs, threads, Vec::len, |run: Vec<SourceRecord>| {
        run.into_iter().map(decode_one).collect::<Vec<_>>()
    })
    .await;
    let mut all = Vec::with_capacity(decoded.iter().map(Vec::len).sum());
    for run in decoded {
        all.extend(run);
    }
    all
}

fn decode_one(record: SourceRecord) -> Decoded {
    let (envelope, event_json) = match LogEnvelope::from_payload_keeping_event_json(&record.payload)
    {
        Ok((envelope, json)) => (Ok(Box::new(envelope)), json),
        Err(e) => (Err(e), None),
    };
    Decoded {
        partition: record.partition,
        offset: record.offset,
        envelope,
        event_json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> SourceRecord {
        // Every seventh record is damaged: decoding must say so in place,
        // not drop it or shift the others.
        let payload = if n % 7 == 3 {
            b"{not json".to_vec()
        } else {
            format!(
                r#"{{"tenant":"t{t}","received_at":"2026-01-05T10:00:00Z","event":{{"id":"evt_{n}","type":"track","occurred_at":"2026-01-05T10:00:00Z","name":"n{n}"}}}}"#,
                t = n % 3
            )
            .into_bytes()
        };
        SourceRecord {
            partition: (n % 4) as u32,
            offset: n,
            payload,
        }
    }

    fn summary(decoded: &[Decoded]) -> Vec<(u32, u64, Option<String>)> {
        decoded
            .iter()
            .map(|d| {
                (
                    d.partition,
                    d.offset,
                    d.envelope
                        .as_ref()
                        .ok()
                        .map(|e| e.event.id.as_str().to_owned()),
                )
            })
            .collect()
    }

    #[tokio::test]
    async fn threads_keep_every_record_in_its_place() {
        let records: Vec<SourceRecord> = (0..2_500).map(record).collect();
        let alone = summary(&decode_on(records.clone(), 1).await);
        assert_eq!(alone.len(), 2_500);
        for (n, (partition, offset, id)) in alone.iter().enumerate() {
            assert_eq!((*partition, *offset), ((n % 4) as u32, n as u64));
            assert_eq!(id.is_none(), n % 7 == 3, "record {n}: {id:?}");
            if let Some(id) = id {
                assert_eq!(id, &format!("evt_{n}"));
            }
        }
        for threads in [2, 3, 16] {
            assert_eq!(summary(&decode_on(records.clone(), threads).await), alone);
        }
    }
}
