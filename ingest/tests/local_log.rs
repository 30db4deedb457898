//! The embedded local log against its contract: durable acks, ordered
//! partitions, recovery from torn and corrupt tails and from SIGKILL.
// Lets clippy's allow-unwrap-in-tests cover the helpers too (rust-clippy#11119).
#![cfg(test)]

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use revstream_ingest::log::local::{LocalLog, LocalLogOptions, OpenError, StoredRecord};
use revstream_ingest::log::{EventLog, LogError, LogRecord, partition_for};

fn small_segments() -> LocalLogOptions {
    LocalLogOptions {
        segment_bytes: 1024,
        ..LocalLogOptions::default()
    }
}

fn record(key: &str, payload: impl Into<Vec<u8>>) -> LogRecord {
    LogRecord {
        key: key.to_string(),
        payload: payload.into(),
    }
}

async fn read_all(log: &LocalLog, partition: u32) -> Vec<StoredRecord> {
    log.read(partition, 0, usize::MAX).await.unwrap()
}

fn segment_files(dir: &Path, partition: u32) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join(format!("p-{partition:05}")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

/// A key that `partition_for` sends to `partition`.
fn key_for(partition: u32, partitions: u32) -> String {
    (0..)
        .map(|i| format!("tenant-{i}"))
        .find(|k| partition_for(k, partitions) == partition)
        .unwrap()
}

#[tokio::test]
async fn appends_read_back_across_partitions_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), 4, small_segments()).unwrap();
    let tenants: Vec<String> = (0..12).map(|i| format!("tenant-{i}")).collect();
    for n in 0..40 {
        for tenant in &tenants {
            log.append(vec![record(
                tenant,
                format!("{tenant} event {n} {}", "x".repeat(n)),
            )])
            .await
            .unwrap();
        }
    }
    let mut total = 0;
    for p in 0..4 {
        let records = read_all(&log, p).await;
        assert_eq!(log.high_watermark(p).unwrap(), records.len() as u64);
        for (i, r) in records.iter().enumerate() {
            assert_eq!(r.offset, i as u64, "offsets are sequential from 0");
            assert_eq!(partition_for(&r.key, 4), p);
        }
        // Each tenant's events come back in the order they were appended.
        for tenant in tenants.iter().filter(|t| partition_for(t, 4) == p) {
            let mine: Vec<_> = records
                .iter()
                .filter(|r| &r.key == tenant)
                .map(|r| r.payload.clone())
                .collect();
            let expected: Vec<_> = (0..40)
                .map(|n| format!("{tenant} event {n} {}", "x".repeat(n)).into_bytes())
                .collect();
            assert_eq!(mine, expected);
        }
        // Any window, including windows across segment boundaries.
        for from in 0..records.len() {
            let window = log.read(p, from as u64, 7).await.unwrap();
            assert_eq!(window, records[from..(from + 7).min(records.len())]);
        }
        total += records.len();
    }
    assert_eq!(total, 12 * 40);
    assert!(
        (0..4).all(|p| segment_files(dir.path(), p).len() > 3),
        "small segments roll"
    );
}

#[tokio::test]
async fn one_batch_keeps_its_order_within_each_partition() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), 3, small_segments()).unwrap();
    let keys: Vec<String> = (0..3).map(|p| key_for(p, 3)).collect();
    let batch: Vec<LogRecord> = (0..30)
        .map(|i| record(&keys[i % 3], format!("{i}")))
        .collect();
    let positions = log.append_with_offsets(batch.clone()).await.unwrap();
    for (i, position) in positions.iter().enumerate() {
        assert_eq!(position.partition, (i % 3) as u32);
        assert_eq!(
            position.offset,
            (i / 3) as u64,
            "batch order is offset order"
        );
        let stored = log
            .read(position.partition, position.offset, 1)
            .await
            .unwrap();
        assert_eq!(stored[0].payload, batch[i].payload);
    }
}

#[tokio::test]
async fn reopen_keeps_everything_and_continues_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), 2, small_segments()).unwrap();
    for i in 0..50 {
        log.append(vec![
            record("acme", format!("first life {i}")),
            record("beta", "b"),
        ])
        .await
        .unwrap();
    }
    let before = [read_all(&log, 0).await, read_all(&log, 1).await];
    drop(log);

    let log = LocalLog::open(dir.path(), 2, small_segments()).unwrap();
    assert_eq!([read_all(&log, 0).await, read_all(&log, 1).await], before);
    let p = partition_for("acme", 2);
    let position = log
        .append_with_offsets(vec![record("acme", "second life")])
        .await
        .unwrap()[0];
    assert_eq!(position.offset, before[p as usize].len() as u64);
    assert_eq!(
        read_all(&log, p).await.last().unwrap().payload,
        b"second life"
    );
}

/// Appends `count` records to partition 0 of a one-partition log, damages
/// the tail segment with `damage`, reopens, and checks recovery kept
/// exactly `expected_kept` records and continues after them.
async fn recover_after(damage: impl FnOnce(&Path, usize), count: usize, expected_kept: usize) {
    let dir = tempfile::tempdir().unwrap();
    let payload = |i: usize| format!("payload number {i} {}", "p".repeat(i % 17)).into_bytes();
    let log = LocalLog::open(dir.path(), 1, small_segments()).unwrap();
    for i in 0..count {
        log.append(vec![record("acme", payload(i))]).await.unwrap();
    }
    drop(log);
    let tail = segment_files(dir.path(), 0).pop().unwrap();
    damage(&tail, payload(count - 1).len());

    let log = LocalLog::open(dir.path(), 1, small_segments()).unwrap();
    let records = read_all(&log, 0).await;
    assert_eq!(records.len(), expected_kept);
    for (i, r) in records.iter().enumerate() {
        assert_eq!((r.offset, &r.payload), (i as u64, &payload(i)));
    }
    let next = log
        .append_with_offsets(vec![record("acme", "after recovery")])
        .await
        .unwrap()[0];
    assert_eq!(next.offset, expected_kept as u64);
    drop(log);
    let log = LocalLog::open(dir.path(), 1, small_segments()).unwrap();
    assert_eq!(log.high_watermark(0).unwrap(), expected_kept as u64 + 1);
    assert_eq!(
        read_all(&log, 0).await.last().unwrap().payload,
        b"after recovery"
    );
}

#[tokio::test]
async fn a_frame_cut_in_half_is_truncated() {
    let cut = |tail: &Path, last_payload: usize| {
        let file = OpenOptions::new().write(true).open(tail).unwrap();
        let len = file.metadata().unwrap().len();
        file.set_len(len - (last_payload as u64 / 2 + 5)).unwrap();
    };
    recover_after(cut, 30, 29).await;
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_payload_is_truncated() {
    let flip = |tail: &Path, _: usize| {
        let mut bytes = fs::read(tail).unwrap();
        let last = bytes.len() - 3; // inside the last frame's payload
        bytes[last] ^= 0x20;
        fs::write(tail, bytes).unwrap();
    };
    recover_after(flip, 30, 29).await;
}

#[tokio::test]
async fn garbage_after_the_last_frame_is_truncated() {
    let garbage = |tail: &Path, _: usize| {
        let mut bytes = fs::read(tail).unwrap();
        bytes.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0, 1, 2, 3]);
        fs::write(tail, bytes).unwrap();
    };
    recover_after(garbage, 30, 30).await;
}

#[tokio::test]
async fn an_empty_tail_segment_is_not_a_problem() {
    let empty = |tail: &Path, _: usize| {
        let base: u64 = tail.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        fs::write(tail.with_file_name(format!("{:020}.log", base + 1000)), b"").unwrap();
    };
    recover_after(empty, 30, 30).await;
}

#[tokio::test]
async fn damage_in_a_sealed_segment_is_reported_not_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), 1, small_segments()).unwrap();
    for i in 0..60 {
        log.append(vec![record(
            "acme",
            format!("record {i} {}", "s".repeat(30)),
        )])
        .await
        .unwrap();
    }
    drop(log);
    let sealed = segment_files(dir.path(), 0).remove(1);
    let base: u64 = sealed
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut bytes = fs::read(&sealed).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&sealed, bytes).unwrap();

    // Only tails are scanned at open; the damage surfaces on the read that needs it.
    let log = LocalLog::open(dir.path(), 1, small_segments()).unwrap();
    assert_eq!(log.high_watermark(0).unwrap(), 60);
    assert_eq!(
        log.read(0, 0, base as usize).await.unwrap().len(),
        base as usize
    );
    let err = log.read(0, 0, 60).await.unwrap_err();
    assert!(
        matches!(err, LogError::Unavailable(ref m) if m.contains("damaged")),
        "{err}"
    );
    let after = segment_files(dir.path(), 0)[2].clone();
    let next: u64 = after
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        log.read(0, next, 100).await.unwrap().len(),
        60 - next as usize
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), 4, LocalLogOptions::default()).unwrap();
    let (tasks, per_task) = (64, 20);
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                for n in 0..per_task {
                    log.append(vec![record(
                        &format!("tenant-{}", t % 16),
                        format!("{t}/{n}"),
                    )])
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    let appends = (tasks * per_task) as u64;
    let mut seen = Vec::new();
    for p in 0..4 {
        seen.extend(
            read_all(&log, p)
                .await
                .into_iter()
                .map(|r| String::from_utf8(r.payload).unwrap()),
        );
    }
    seen.sort();
    let mut expected: Vec<String> = (0..tasks)
        .flat_map(|t| (0..per_task).map(move |n| format!("{t}/{n}")))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert!(
        log.fsync_count() < appends / 2,
        "{} fsyncs for {appends} appends",
        log.fsync_count()
    );
}

#[tokio::test]
async fn an_oversize_record_is_rejected_without_harm() {
    let dir = tempfile::tempdir().unwrap();
    let options = LocalLogOptions {
        max_record_bytes: 1000,
        ..LocalLogOptions::default()
    };
    let log = LocalLog::open(dir.path(), 2, options).unwrap();
    log.append(vec![record("acme", "before")]).await.unwrap();
    let p = partition_for("acme", 2);
    let batch = vec![
        record("acme", "fine"),
        record("acme", vec![0; 1000]),
        record("beta", "fine"),
    ];
    let (rejected, neighbour) = tokio::join!(
        log.append(batch),
        log.append(vec![record("acme", "neighbour")])
    );
    assert!(
        matches!(rejected, Err(LogError::Rejected(ref m)) if m.contains("record 1")),
        "{rejected:?}"
    );
    neighbour.unwrap();
    log.append(vec![record("acme", "after")]).await.unwrap();
    let payloads: Vec<_> = read_all(&log, p)
        .await
        .into_iter()
        .map(|r| r.payload)
        .collect();
    assert_eq!(
        payloads,
        [&b"before"[..], b"neighbour", b"after"],
        "nothing of the rejected batch was written"
    );
    let q = partition_for("beta", 2);
    if q != p {
        assert!(read_all(&log, q).await.is_empty());
    }
    log.check().await.unwrap();
}

#[tokio::test]
async fn the_partition_count_is_fixed_and_the_directory_exclusive() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), 4, LocalLogOptions::default()).unwrap();
    let err = LocalLog::open(dir.path(), 4, LocalLogOptions::default()).unwrap_err();
    assert!(matches!(err, OpenError::Locked { .. }), "{err}");
    drop(log);
    let err = LocalLog::open(dir.path(), 8, LocalLogOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::PartitionCountMismatch {
                on_disk: 4,
                requested: 8,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("has 4 partitions but was opened with 8"),
        "{err}"
    );
    LocalLog::open(dir.path(), 4, LocalLogOptions::default()).unwrap();
}

#[tokio::test]
async fn readers_wait_for_durable_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), 1, LocalLogOptions::default()).unwrap();
    assert!(log.read(0, 0, 10).await.unwrap().is_empty());
    let mut updates = log.subscribe(0).unwrap();
    let waiter = {
        let log = Arc::clone(&log);
        tokio::spawn(async move { log.wait_for(0, 1).await })
    };
    log.append(vec![record("a", "0"), record("a", "1")])
        .await
        .unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), 2);
    updates.changed().await.unwrap();
    assert_eq!(*updates.borrow(), 2);
    assert!(log.read(0, 2, 10).await.unwrap().is_empty());
    assert!(log.read(0, 0, 0).await.unwrap().is_empty());
    assert!(matches!(
        log.read(7, 0, 10).await,
        Err(LogError::Rejected(_))
    ));
}

#[tokio::test]
async fn check_describe_and_retention() {
    let dir = tempfile::tempdir().unwrap();
    let log = LocalLog::open(dir.path(), 2, small_segments()).unwrap();
    log.check().await.unwrap();
    assert_eq!(
        log.describe(),
        format!("local log at {} (2 partitions)", dir.path().display())
    );
    let p = partition_for("acme", 2);
    for i in 0..100 {
        log.append(vec![record(
            "acme",
            format!("record {i:03} {}", "r".repeat(40)),
        )])
        .await
        .unwrap();
    }
    let before = segment_files(dir.path(), p).len();
    let start = log.truncate_before(p, 50).await.unwrap();
    assert!(start > 0 && start <= 50, "log start {start}");
    assert!(segment_files(dir.path(), p).len() < before);
    assert_eq!(log.log_start(p).unwrap(), start);
    assert!(matches!(
        log.read(p, 0, 1).await,
        Err(LogError::Rejected(_))
    ));
    assert_eq!(log.read(p, 50, 100).await.unwrap().len(), 50);
    // Never the tail, even when asked for everything.
    log.truncate_before(p, u64::MAX).await.unwrap();
    assert_eq!(segment_files(dir.path(), p).len(), 1);
    drop(log);
    let log = LocalLog::open(dir.path(), 2, small_segments()).unwrap();
    assert_eq!(log.high_watermark(p).unwrap(), 100);
    log.append(vec![record("acme", "more")]).await.unwrap();
    assert_eq!(log.read(p, 100, 1).await.unwrap()[0].payload, b"more");
}

const CRASH_DIR: &str = "REVSTREAM_LOCAL_LOG_CRASH_DIR";
const CRASH_PARTITIONS: u32 = 4;

/// What the crash child appends under `id`; the parent checks it byte for byte.
fn crash_payload(id: &str) -> Vec<u8> {
    let repeat = 1 + id.bytes().map(usize::from).sum::<usize>() % 40;
    format!("{id};").repeat(repeat).into_bytes()
}

/// Not a test on its own: the body of the child process of
/// `a_killed_process_loses_no_acknowledged_record`, which runs it with
/// `CRASH_DIR` set. It appends until killed, printing each acknowledged
/// record as `ACK partition offset id`.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CRASH_DIR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let options = LocalLogOptions {
            segment_bytes: 16 * 1024,
            ..LocalLogOptions::default()
        };
        let log = LocalLog::open(&dir, CRASH_PARTITIONS, options).unwrap();
        let pid = std::process::id();
        let tasks: Vec<_> = (0..8u64)
            .map(|task| {
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    for n in 0u64.. {
                        let ids: Vec<String> = (0..1 + n % 3)
                            .map(|k| format!("{pid}-{task}-{n}-{k}"))
                            .collect();
                        let batch = ids.iter().map(|id| {
                            record(&format!("tenant-{}", (task + n) % 10), crash_payload(id))
                        });
                        let positions = log.append_with_offsets(batch.collect()).await.unwrap();
                        for (id, at) in ids.iter().zip(positions) {
                            println!("ACK {} {} {id}", at.partition, at.offset);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

#[test]
fn a_killed_process_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked: Vec<(u32, u64, String)> = Vec::new();
    for round in 0..3u32 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CRASH_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines, acks) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = String::new();
            // A line cut off by the kill has no newline and does not count.
            while stdout.read_line(&mut line).is_ok_and(|n| n > 0) && line.ends_with('\n') {
                let fields: Vec<&str> = line.split_whitespace().collect();
                if let ["ACK", partition, offset, id] = fields[..] {
                    let ack = (
                        partition.parse().unwrap(),
                        offset.parse().unwrap(),
                        id.to_string(),
                    );
                    let _ = lines.send(ack);
                }
                line.clear();
            }
        });
        let first = acks
            .recv_timeout(Duration::from_secs(120))
            .expect("the child acknowledged nothing");
        acked.push(first);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        std::thread::sleep(Duration::from_millis(
            20 + u64::from((nanos ^ round.wrapping_mul(7919)) % 400),
        ));
        child.kill().unwrap(); // SIGKILL: no destructor, no flush, no goodbye
        child.wait().unwrap();
        reader.join().unwrap();
        acked.extend(acks.try_iter());
    }
    assert!(
        acked.len() > 3,
        "the child should have acknowledged more than its first records"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = LocalLog::open(dir.path(), CRASH_PARTITIONS, LocalLogOptions::default()).unwrap();
        for (partition, offset, id) in &acked {
            let stored = log.read(*partition, *offset, 1).await.unwrap();
            assert_eq!(
                stored.len(),
                1,
                "acknowledged record {id} at {partition}/{offset} is gone"
            );
            assert_eq!(
                stored[0].payload,
                crash_payload(id),
                "record at {partition}/{offset} is not {id}"
            );
        }
        for p in 0..CRASH_PARTITIONS {
            let records = read_all(&log, p).await;
            assert!(
                records
                    .iter()
                    .enumerate()
                    .all(|(i, r)| r.offset == i as u64)
            );
        }
    });
}
