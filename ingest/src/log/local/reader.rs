//! Reading a partition: durable records only, across segment boundaries.
//!
//! ```text
//!  read(from = 41_990, max = 20)     high watermark = 42_005
//!    segment 0 ─ seek to index entry ≤ 41_990, scan ─▶ 41_990 ..= 41_999
//!    segment 42_000 ───────────────────────────────────▶ 42_000 ..= 42_004   (stops at the watermark)
//! ```
//!
//! The high watermark is read once, before anything else, and bounds the
//! whole read: bytes past it may be in the file but are not yet fsynced.
//! Every frame read is validated again (checksum, expected offset); damage
//! below the watermark is reported, never skipped.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};

use super::StoredRecord;
use super::frame;
use super::partition::PartitionState;
use super::segment::Segment;
use crate::log::{LogError, Result};

pub(crate) fn read(
    part: &PartitionState,
    from: u64,
    max_records: usize,
) -> Result<Vec<StoredRecord>> {
    let high_watermark = part.high_watermark();
    if max_records == 0 || from >= high_watermark {
        return Ok(Vec::new());
    }
    let segments = part.segments();
    let start = segments.first().map_or(0, |s| s.base());
    if from < start {
        return Err(LogError::Rejected(format!(
            "partition {}: offset {from} is below the log start {start} (removed by retention)",
            part.id()
        )));
    }
    let wanted = usize::try_from(high_watermark - from)
        .unwrap_or(usize::MAX)
        .min(max_records);
    let mut out = Vec::with_capacity(wanted.min(4096));
    let mut next = from;
    let mut i = segments
        .partition_point(|s| s.base() <= from)
        .saturating_sub(1);
    while next < high_watermark && out.len() < max_records {
        let Some(segment) = segments.get(i) else {
            break;
        };
        let end = segments
            .get(i + 1)
            .map_or(high_watermark, |s| s.base())
            .min(high_watermark);
        if next < end {
            next = read_segment(part, segment, next, end, max_records - out.len(), &mut out)?;
        }
        i += 1;
    }
    Ok(out)
}

/// Appends records `from..end` of `segment` to `out`, at most `limit` of
/// them; returns the offset after the last one read.
fn read_segment(
    part: &PartitionState,
    segment: &Segment,
    from: u64,
    end: u64,
    limit: usize,
    out: &mut Vec<StoredRecord>,
) -> Result<u64> {
    let path = segment.path();
    let io_error = |e: std::io::Error| {
        LogError::Unavailable(format!(
            "partition {}: reading {}: {e}",
            part.id(),
            path.display()
        ))
    };
    let (mut expected, mut position) = segment.seek_hint(from).map_err(io_error)?;
    let mut reader = BufReader::with_capacity(64 * 1024, File::open(path).map_err(io_error)?);
    reader.seek(SeekFrom::Start(position)).map_err(io_error)?;
    let mut buf = Vec::new();
    let mut taken = 0;
    while expected < end && taken < limit {
        let damage = match frame::read_frame(&mut reader, &mut buf) {
            Ok(Some(f)) if f.offset == expected => {
                if expected >= from {
                    out.push(StoredRecord {
                        offset: f.offset,
                        key: f.key.to_string(),
                        payload: f.payload.to_vec(),
                    });
                    taken += 1;
                }
                expected += 1;
                position += f.disk_len;
                continue;
            }
            Ok(Some(f)) => format!("offset {} where {expected} was expected", f.offset),
            Ok(None) => format!("file ends before offset {expected}, which is below {end}"),
            Err(frame::FrameError::Io(e)) => return Err(io_error(e)),
            Err(e) => e.to_string(),
        };
        tracing::error!(
            partition = part.id(),
            segment = %path.display(),
            position,
            offset = expected,
            %damage,
            "local log: damaged record below the high watermark"
        );
        return Err(LogError::Unavailable(format!(
            "partition {}: {} is damaged at position {position} (offset {expected}): {damage}",
            part.id(),
            path.display()
        )));
    }
    Ok(expected)
}
