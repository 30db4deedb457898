//! Segment files and their sparse in-memory index.
//!
//! ```text
//!  p-00003/
//!    00000000000000000000.log   offsets 0 ..= 41_999     sealed
//!    00000000000000042000.log   offsets 42_000 ..= 83_117 sealed
//!    00000000000000083118.log   offsets 83_118 ..        tail (the writer appends here)
//! ```
//!
//! A file is named by the offset of its first record, so the segment that
//! holds an offset is found from the directory listing alone and a sealed
//! segment ends where the next one begins.
//!
//! The index keeps one `(offset, position)` entry per [`INDEX_INTERVAL_BYTES`]
//! of file, like Kafka's `index.interval.bytes`: a read seeks to the entry at
//! or before its offset and scans at most that many bytes forward. The tail's
//! index is built by recovery and extended by the writer; a sealed segment's
//! is built on its first read, so opening a large log scans only the tails.

use std::fs::{self, File};
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use super::frame;

/// Bytes of file between two index entries.
pub(crate) const INDEX_INTERVAL_BYTES: u64 = 4096;
const SEGMENT_SUFFIX: &str = ".log";
const SEGMENT_DIGITS: usize = 20;

/// The file name of the segment starting at `base`: `00000000000000000042.log`.
pub(crate) fn file_name(base: u64) -> String {
    format!("{base:0width$}{SEGMENT_SUFFIX}", width = SEGMENT_DIGITS)
}

/// The base offset a segment file name stands for, if it is one.
pub(crate) fn parse_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != SEGMENT_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Base offsets of the segment files in `dir`, ascending. Other files are
/// left alone: they are not ours to judge.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<u64>> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(base) = entry.file_name().to_str().and_then(parse_file_name)
            && entry.file_type()?.is_file()
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Makes creations, renames and removals in `dir` durable: fsync on a file
/// covers its data, not the directory entry that names it.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Makes the entry of a newly created `path` in its parent durable.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    offset: u64,
    position: u64,
}

/// Sparse offset → file position map of one segment.
#[derive(Debug, Default)]
pub(crate) struct SparseIndex {
    entries: Vec<IndexEntry>,
    /// Whether every frame of the file has been observed. A sealed segment
    /// starts incomplete and is scanned on first use.
    complete: bool,
}

impl SparseIndex {
    /// An index for frames that are about to be observed one by one.
    pub(crate) fn complete() -> Self {
        Self {
            entries: Vec::new(),
            complete: true,
        }
    }

    /// Records the frame `offset` at `position` if it is far enough from the
    /// previous entry. Frames must be observed in file order.
    pub(crate) fn observe(&mut self, offset: u64, position: u64) {
        let due = self
            .entries
            .last()
            .is_none_or(|last| position - last.position >= INDEX_INTERVAL_BYTES);
        if due {
            self.entries.push(IndexEntry { offset, position });
        }
    }

    /// Drops the entries of frames at `offset` and later: the writer cut
    /// them off the file after a failed write.
    pub(crate) fn forget_from(&mut self, offset: u64) {
        let keep = self.entries.partition_point(|e| e.offset < offset);
        self.entries.truncate(keep);
    }

    /// The closest known frame at or before `offset`.
    fn floor(&self, offset: u64) -> Option<IndexEntry> {
        let after = self.entries.partition_point(|e| e.offset <= offset);
        after.checked_sub(1).map(|i| self.entries[i])
    }
}

/// One segment file. Readers open the file per read, so a log with
/// thousands of sealed segments holds no file descriptors for them.
#[derive(Debug)]
pub(crate) struct Segment {
    base: u64,
    path: PathBuf,
    index: Mutex<SparseIndex>,
}

impl Segment {
    pub(crate) fn new(base: u64, path: PathBuf, index: SparseIndex) -> Self {
        Self {
            base,
            path,
            index: Mutex::new(index),
        }
    }

    /// A sealed segment whose index is built on first read.
    pub(crate) fn sealed(base: u64, path: PathBuf) -> Self {
        Self::new(base, path, SparseIndex::default())
    }

    pub(crate) fn base(&self) -> u64 {
        self.base
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Called by the writer for every frame it appends to this segment.
    pub(crate) fn observe(&self, offset: u64, position: u64) {
        self.lock_index().observe(offset, position);
    }

    /// Called by the writer when it cuts frames from `offset` on off this
    /// segment (a failed write is undone).
    pub(crate) fn forget_from(&self, offset: u64) {
        self.lock_index().forget_from(offset);
    }

    /// Where to start scanning for `offset`: the offset and position of the
    /// closest indexed frame at or before it (the segment start if none).
    pub(crate) fn seek_hint(&self, offset: u64) -> io::Result<(u64, u64)> {
        let mut index = self.lock_index();
        if !index.complete {
            *index = build_index(&self.path)?;
        }
        Ok(index
            .floor(offset)
            .map_or((self.base, 0), |e| (e.offset, e.position)))
    }

    fn lock_index(&self) -> std::sync::MutexGuard<'_, SparseIndex> {
        // The index is rebuilt from the file if in doubt; a panic elsewhere
        // while it was held leaves it no less usable than before.
        self.index.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Scans a sealed segment to index it. It stops quietly at the first frame
/// that does not decode: the read that needs that frame reports it, with
/// its position, instead of every read of the segment failing.
fn build_index(path: &Path) -> io::Result<SparseIndex> {
    let mut reader = BufReader::with_capacity(64 * 1024, File::open(path)?);
    let mut index = SparseIndex::complete();
    let mut buf = Vec::new();
    let mut position = 0;
    loop {
        match frame::read_frame(&mut reader, &mut buf) {
            Ok(Some(f)) => {
                index.observe(f.offset, position);
                position += f.disk_len;
            }
            Ok(None) => return Ok(index),
            Err(frame::FrameError::Io(e)) => return Err(e),
            Err(_) => return Ok(index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_strangers_are_ignored() {
        assert_eq!(file_name(0), "00000000000000000000.log");
        assert_eq!(file_name(42), "00000000000000000042.log");
        assert_eq!(parse_file_name(&file_name(u64::MAX)), Some(u64::MAX));
        for name in [
            "42.log",
            "0000000000000000004x.log",
            "00000000000000000042.idx",
            "99999999999999999999.log",
        ] {
            assert_eq!(parse_file_name(name), None, "{name}");
        }
    }

    #[test]
    fn index_is_sparse_and_floors() {
        let mut index = SparseIndex::complete();
        for i in 0..100u64 {
            index.observe(10 + i, i * 1000);
        }
        assert!(index.entries.len() < 30);
        let hint = index.floor(57).unwrap();
        assert!(hint.offset <= 57 && 57 - hint.offset <= 5);
        assert_eq!(hint.position, (hint.offset - 10) * 1000);
        assert!(index.floor(9).is_none());
        index.forget_from(57);
        assert!(index.floor(1000).unwrap().offset < 57);
        // Observing again after the cut starts from the kept entries.
        let last = index.floor(1000).unwrap();
        index.observe(57, (57 - 10) * 1000);
        assert!(index.floor(57).unwrap().offset >= last.offset);
    }

    #[test]
    fn sealed_segments_index_lazily() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(5));
        let mut bytes = Vec::new();
        for offset in 5..505 {
            frame::encode(&mut bytes, offset, "k", &[1; 100]);
        }
        bytes.extend_from_slice(b"trailing garbage");
        fs::write(&path, &bytes).unwrap();
        let segment = Segment::sealed(5, path);
        let (offset, position) = segment.seek_hint(400).unwrap();
        assert!(offset <= 400 && offset > 300);
        assert_eq!(
            position,
            (offset - 5) * frame::frame_len("k", &[1; 100]) as u64
        );
        assert_eq!(segment.seek_hint(0).unwrap(), (5, 0));
    }
}
