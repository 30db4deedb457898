//! Turning the outcome of one append into a [`LogError`]: which failures a
//! retry can fix (`Unavailable`, answered with 503) and which it cannot
//! (`Rejected`: a record the broker will never take).

use std::fmt::Write as _;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::log::LogError;

/// Whether librdkafka or the broker refused the record itself, so that
/// sending it again can never succeed.
pub(super) fn is_rejection(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidRecord
        )
    )
}

/// Whether the producer that saw `err` should be replaced before the next
/// append: its idempotence state (producer id, epoch, sequence numbers) is
/// refused by the cluster, or is about to be.
///
/// After a record times out, librdkafka bumps the producer epoch on its own
/// (KIP-360) and uses it once the cluster is back. Apache Kafka accepts
/// that; tansu 0.6 does not: its SQLite storage has no row for the bumped
/// epoch, fails the request (a panic inside the broker, answered
/// UNKNOWN_SERVER_ERROR) and after that acknowledged nothing from us, not
/// even from a fresh producer; its memory storage answers PRODUCER_FENCED.
/// So a producer is replaced as soon as its records time out, before the
/// bumped epoch is ever sent, and when the cluster refuses its state. A
/// fresh producer starts with a new producer id; the cost is a reconnect.
pub(super) fn spoils_producer(err: &KafkaError) -> bool {
    matches!(
        err.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageTimedOut
                | RDKafkaErrorCode::Fatal
                | RDKafkaErrorCode::Unknown
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::InvalidProducerIdMapping
                | RDKafkaErrorCode::ProducerFenced
        )
    )
}

/// One record that did not become durable.
#[derive(Debug)]
struct Failure {
    index: usize,
    tenant: String,
    size: usize,
    error: String,
}

/// What went wrong in one batch. The first failure of each kind is enough
/// to explain it; the count says how much of the batch it concerns.
#[derive(Debug)]
pub(super) struct BatchFailures {
    total: usize,
    failed: usize,
    first_unavailable: Option<Failure>,
    first_rejected: Option<Failure>,
    /// Some failure means the producer should be replaced.
    producer_spoiled: bool,
}

impl BatchFailures {
    pub(super) fn new(total: usize) -> Self {
        BatchFailures {
            total,
            failed: 0,
            first_unavailable: None,
            first_rejected: None,
            producer_spoiled: false,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.failed == 0
    }

    /// Whether the next append should use a fresh producer (see
    /// [`spoils_producer`]).
    pub(super) fn producer_spoiled(&self) -> bool {
        self.producer_spoiled
    }

    /// Records a failure of record `index` reported by librdkafka.
    pub(super) fn kafka(&mut self, index: usize, tenant: &str, size: usize, err: &KafkaError) {
        let rejected = is_rejection(err);
        self.producer_spoiled |= spoils_producer(err);
        self.add(index, tenant, size, describe(err), rejected);
    }

    /// Records a failure that is not a librdkafka error (no delivery report
    /// in time, producer gone): worth a retry, with a fresh producer since
    /// this one is not keeping its promises.
    pub(super) fn other(&mut self, index: usize, tenant: &str, size: usize, error: String) {
        self.producer_spoiled = true;
        self.add(index, tenant, size, error, false);
    }

    /// Records that record `index` and the `count - 1` after it were never
    /// handed to the producer (the batch had already failed).
    pub(super) fn not_sent(&mut self, count: usize) {
        self.failed += count;
    }

    fn add(&mut self, index: usize, tenant: &str, size: usize, error: String, rejected: bool) {
        self.failed += 1;
        let slot = if rejected {
            &mut self.first_rejected
        } else {
            &mut self.first_unavailable
        };
        if slot.is_none() {
            *slot = Some(Failure {
                index,
                tenant: tenant.to_owned(),
                size,
                error,
            });
        }
    }

    /// The error for the whole batch. A rejection wins: retrying cannot fix
    /// it, and the caller must learn which record to drop or shrink.
    pub(super) fn into_error(self, log: &str, timeout: Duration) -> LogError {
        let BatchFailures {
            total,
            failed,
            first_unavailable,
            first_rejected,
            producer_spoiled: _,
        } = self;
        if let Some(r) = first_rejected {
            let mut message = format!(
                "record {} of {total} (tenant {}, {} bytes) refused by {log}: {}",
                r.index, r.tenant, r.size, r.error
            );
            if failed > 1 {
                let _ = write!(
                    message,
                    "; {failed} records of the batch not acknowledged in all"
                );
            }
            return LogError::Rejected(message);
        }
        let (first, error) = match first_unavailable {
            Some(f) => (format!("record {}, tenant {}", f.index, f.tenant), f.error),
            None => ("unknown".to_owned(), "no delivery report".to_owned()),
        };
        LogError::Unavailable(format!(
            "{failed} of {total} records not acknowledged by {log} within {}: {error} (first: {first})",
            humanize(timeout)
        ))
    }
}

/// librdkafka's description of an error, with a hint for the common case of
/// an unreachable cluster.
fn describe(err: &KafkaError) -> String {
    match err.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageTimedOut) => {
            "message timed out (broker unreachable or not acknowledging)".to_owned()
        }
        Some(code) => code.to_string(),
        None => err.to_string(),
    }
}

/// `3s`, `1.5s`, `250ms`: short enough for an error message.
pub(super) fn humanize(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production(code: RDKafkaErrorCode) -> KafkaError {
        KafkaError::MessageProduction(code)
    }

    #[test]
    fn size_errors_are_rejections_and_outages_are_not() {
        assert!(is_rejection(&production(
            RDKafkaErrorCode::MessageSizeTooLarge
        )));
        assert!(is_rejection(&production(
            RDKafkaErrorCode::MessageBatchTooLarge
        )));
        assert!(!is_rejection(&production(
            RDKafkaErrorCode::MessageTimedOut
        )));
        assert!(!is_rejection(&production(RDKafkaErrorCode::AllBrokersDown)));
        assert!(!is_rejection(&production(RDKafkaErrorCode::QueueFull)));
    }

    #[test]
    fn timeouts_and_producer_state_errors_spoil_the_producer_and_rejections_do_not() {
        for code in [
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::Fatal,
            RDKafkaErrorCode::Unknown,
            RDKafkaErrorCode::ProducerFenced,
        ] {
            let mut f = BatchFailures::new(1);
            f.kafka(0, "acme", 1, &production(code));
            assert!(f.producer_spoiled(), "{code:?}");
        }
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::QueueFull,
        ] {
            let mut f = BatchFailures::new(1);
            f.kafka(0, "acme", 1, &production(code));
            assert!(!f.producer_spoiled(), "{code:?}");
        }
    }

    #[test]
    fn an_outage_names_the_count_the_cause_and_the_first_record() {
        let mut f = BatchFailures::new(10);
        assert!(f.is_empty());
        f.kafka(
            2,
            "acme",
            40,
            &production(RDKafkaErrorCode::MessageTimedOut),
        );
        f.kafka(
            3,
            "beta",
            40,
            &production(RDKafkaErrorCode::MessageTimedOut),
        );
        assert!(!f.is_empty());
        let err = f.into_error("kafka b:9092 topic t", Duration::from_secs(3));
        let LogError::Unavailable(m) = err else {
            panic!("expected Unavailable, got {err:?}")
        };
        assert!(
            m.starts_with("2 of 10 records not acknowledged by kafka b:9092 topic t within 3s"),
            "{m}"
        );
        assert!(
            m.contains("timed out") && m.contains("record 2, tenant acme"),
            "{m}"
        );
    }

    #[test]
    fn a_rejection_wins_over_an_outage() {
        let mut f = BatchFailures::new(5);
        f.other(0, "acme", 10, "no delivery report".to_owned());
        f.kafka(
            4,
            "beta",
            2_000_000,
            &production(RDKafkaErrorCode::MessageSizeTooLarge),
        );
        let err = f.into_error("kafka", Duration::from_secs(3));
        let LogError::Rejected(m) = err else {
            panic!("expected Rejected, got {err:?}")
        };
        assert!(
            m.contains("record 4 of 5 (tenant beta, 2000000 bytes)"),
            "{m}"
        );
        assert!(m.contains("2 records of the batch"), "{m}");
    }

    #[test]
    fn unsent_records_count_as_failed() {
        let mut f = BatchFailures::new(4);
        f.kafka(1, "acme", 10, &production(RDKafkaErrorCode::AllBrokersDown));
        f.not_sent(2);
        let m = f
            .into_error("kafka", Duration::from_millis(1500))
            .to_string();
        assert!(
            m.contains("3 of 4 records") && m.contains("within 1.5s"),
            "{m}"
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(humanize(Duration::from_secs(10)), "10s");
        assert_eq!(humanize(Duration::from_millis(250)), "250ms");
        assert_eq!(humanize(Duration::from_millis(2500)), "2.5s");
    }
}
