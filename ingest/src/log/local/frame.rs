//! One record on disk.
//!
//! ```text
//!  ┌──────────┬──────────┬─────────────┬──────────────┬─────┬─────────┐
//!  │ len: u32 │ crc: u32 │ offset: u64 │ key_len: u16 │ key │ payload │   all integers little-endian
//!  └──────────┴──────────┴─────────────┴──────────────┴─────┴─────────┘
//!               crc32 ───└──────────────────── body (len bytes) ───────┘
//! ```
//!
//! `len` counts the body only, so a frame is `8 + len` bytes. The checksum
//! covers the body, offset included: a frame copied to the wrong place, or a
//! stale frame from an earlier life of the file, fails validation instead of
//! being read as the record that belongs there. `len` itself is not covered;
//! a damaged `len` makes the checksum land on the wrong bytes and fail.

use std::fmt;
use std::io::{self, Read};

/// `len` + `crc`.
pub(crate) const HEADER_LEN: usize = 8;
/// `offset` + `key_len`.
const BODY_FIXED: usize = 10;
/// Bytes a frame adds to its key and payload.
pub(crate) const FRAME_OVERHEAD: usize = HEADER_LEN + BODY_FIXED;
/// The largest `max_record_bytes` the log accepts. Recovery bounds `len` by
/// this constant, not by the configured maximum, so lowering the option
/// never makes records that were valid when written look like a torn tail.
pub(crate) const MAX_RECORD_BYTES_LIMIT: usize = 64 << 20;
const MAX_BODY: usize = BODY_FIXED + MAX_RECORD_BYTES_LIMIT;

/// Bytes the frame of `key` and `payload` takes on disk.
pub(crate) fn frame_len(key: &str, payload: &[u8]) -> usize {
    FRAME_OVERHEAD + key.len() + payload.len()
}

/// Appends the frame of one record to `buf`. The caller has checked that the
/// key fits a `u16` and the record fits [`MAX_RECORD_BYTES_LIMIT`].
pub(crate) fn encode(buf: &mut Vec<u8>, offset: u64, key: &str, payload: &[u8]) {
    let body_len = BODY_FIXED + key.len() + payload.len();
    debug_assert!(body_len <= MAX_BODY && key.len() <= usize::from(u16::MAX));
    let start = buf.len();
    buf.reserve(HEADER_LEN + body_len);
    buf.extend_from_slice(&(body_len as u32).to_le_bytes());
    buf.extend_from_slice(&[0; 4]); // checksum, filled in below
    let body_start = buf.len();
    buf.extend_from_slice(&offset.to_le_bytes());
    buf.extend_from_slice(&(key.len() as u16).to_le_bytes());
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(payload);
    let crc = crc32fast::hash(&buf[body_start..]);
    buf[start + 4..body_start].copy_from_slice(&crc.to_le_bytes());
}

/// A decoded frame, borrowing the read buffer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FrameRef<'a> {
    pub(crate) offset: u64,
    pub(crate) key: &'a str,
    pub(crate) payload: &'a [u8],
    /// Bytes the frame took on disk, header included.
    pub(crate) disk_len: u64,
}

/// Why the bytes at a position are not a valid frame.
#[derive(Debug)]
pub(crate) enum FrameError {
    /// The file ends inside the frame: a write that never completed.
    Incomplete,
    /// `len` is out of bounds: garbage, not a frame.
    BadLength(u32),
    BadChecksum,
    /// `key_len` overruns the body or the key is not UTF-8.
    BadKey,
    /// The disk failed to read. Never a reason to truncate anything.
    Io(io::Error),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Incomplete => f.write_str("incomplete frame"),
            Self::BadLength(len) => write!(f, "frame length {len} out of bounds"),
            Self::BadChecksum => f.write_str("checksum mismatch"),
            Self::BadKey => f.write_str("malformed key"),
            Self::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

/// Reads the next frame. `Ok(None)` is a clean end of file at a frame
/// boundary; anything that is not a whole, valid frame is an error.
pub(crate) fn read_frame<'a, R: Read>(
    reader: &mut R,
    buf: &'a mut Vec<u8>,
) -> Result<Option<FrameRef<'a>>, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    match read_full(reader, &mut header).map_err(FrameError::Io)? {
        0 => return Ok(None),
        HEADER_LEN => {}
        _ => return Err(FrameError::Incomplete),
    }
    let [l0, l1, l2, l3, c0, c1, c2, c3] = header;
    let len = u32::from_le_bytes([l0, l1, l2, l3]);
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    let body_len = len as usize;
    if !(BODY_FIXED..=MAX_BODY).contains(&body_len) {
        return Err(FrameError::BadLength(len));
    }
    buf.clear();
    buf.resize(body_len, 0);
    if read_full(reader, buf).map_err(FrameError::Io)? != body_len {
        return Err(FrameError::Incomplete);
    }
    if crc32fast::hash(buf) != crc {
        return Err(FrameError::BadChecksum);
    }
    let body: &'a [u8] = buf;
    let (fixed, rest) = body.split_at(BODY_FIXED);
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&fixed[..8]);
    let key_len = usize::from(u16::from_le_bytes([fixed[8], fixed[9]]));
    if key_len > rest.len() {
        return Err(FrameError::BadKey);
    }
    let (key, payload) = rest.split_at(key_len);
    let key = std::str::from_utf8(key).map_err(|_| FrameError::BadKey)?;
    Ok(Some(FrameRef {
        offset: u64::from_le_bytes(offset),
        key,
        payload,
        disk_len: (HEADER_LEN + body_len) as u64,
    }))
}

/// Fills `buf` as far as the reader goes; returns how many bytes it got.
fn read_full<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(records: &[(u64, &str, &[u8])]) -> Vec<u8> {
        let mut buf = Vec::new();
        for (offset, key, payload) in records {
            encode(&mut buf, *offset, key, payload);
        }
        buf
    }

    #[test]
    fn round_trips_and_ends_cleanly() {
        let bytes = frames(&[
            (0, "acme", b"hello"),
            (1, "", b""),
            (2, "beta", &[0xff; 300]),
        ]);
        let mut reader = &bytes[..];
        let mut buf = Vec::new();
        let first = read_frame(&mut reader, &mut buf).unwrap().unwrap();
        assert_eq!(
            (first.offset, first.key, first.payload),
            (0, "acme", &b"hello"[..])
        );
        assert_eq!(first.disk_len, frame_len("acme", b"hello") as u64);
        let second = read_frame(&mut reader, &mut buf).unwrap().unwrap();
        assert_eq!(
            (second.offset, second.key, second.payload.len()),
            (1, "", 0)
        );
        let third = read_frame(&mut reader, &mut buf).unwrap().unwrap();
        assert_eq!((third.offset, third.payload.len()), (2, 300));
        assert!(read_frame(&mut reader, &mut buf).unwrap().is_none());
    }

    #[test]
    fn every_cut_is_incomplete_and_every_flip_is_caught() {
        let bytes = frames(&[(7, "acme", b"payload")]);
        let mut buf = Vec::new();
        for cut in 1..bytes.len() {
            let err = read_frame(&mut &bytes[..cut], &mut buf).unwrap_err();
            assert!(matches!(err, FrameError::Incomplete), "cut at {cut}: {err}");
        }
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x40;
            assert!(
                read_frame(&mut &damaged[..], &mut buf).is_err(),
                "flip at {i} went unnoticed"
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A small deterministic generator: no dependency, same bytes every run.
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut buf = Vec::new();
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if len >= 4 && next() % 2 == 0 {
                // Plausible lengths reach the checksum and key checks too.
                bytes[..4].copy_from_slice(&((len as u32).saturating_sub(8)).to_le_bytes());
            }
            let _ = read_frame(&mut &bytes[..], &mut buf);
        }
    }

    #[test]
    fn lengths_out_of_bounds_are_rejected_before_allocating() {
        let mut bytes = frames(&[(0, "k", b"v")]);
        bytes[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = read_frame(&mut &bytes[..], &mut Vec::new()).unwrap_err();
        assert!(matches!(err, FrameError::BadLength(u32::MAX)));
        bytes[..4].copy_from_slice(&3u32.to_le_bytes());
        let err = read_frame(&mut &bytes[..], &mut Vec::new()).unwrap_err();
        assert!(matches!(err, FrameError::BadLength(3)));
    }
}
