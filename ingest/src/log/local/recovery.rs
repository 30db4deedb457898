//! Opening a partition after any kind of stop, clean or not.
//!
//! ```text
//!  tail segment:  [frame 0][frame 1] … [frame n-1][frame n, half written]
//!                 └──────── kept (valid) ────────┘└─ cut: set_len + fsync ─┘
//! ```
//!
//! Only the tail can be torn: before the writer starts a new segment it has
//! fsynced the previous one, so sealed segments were complete when sealed.
//! The tail is scanned frame by frame (length bounds, checksum, offsets
//! counting up from the base) and cut at the first frame that fails. A
//! record is acknowledged only after an fsync that covers it and everything
//! before it, so every acknowledged record lies before the cut.
//!
//! An empty tail (a crash right after a roll, or a tail that was all
//! garbage) is removed and its predecessor becomes the tail again, so the
//! next offset is always derived from records, never from a file name alone.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use super::error::OpenError;
use super::frame::{self, FrameError};
use super::segment::{self, Segment, SparseIndex};

/// A partition ready for its writer.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) segments: Vec<Arc<Segment>>,
    /// Open for writing, positioned at its end.
    pub(crate) tail_file: File,
    pub(crate) tail_len: u64,
    pub(crate) next_offset: u64,
}

pub(crate) fn recover_partition(dir: &Path) -> Result<Recovered, OpenError> {
    if !dir.is_dir() {
        fs::create_dir_all(dir).map_err(OpenError::io("creating partition directory", dir))?;
        segment::sync_parent(dir).map_err(OpenError::io("syncing the parent of", dir))?;
    }
    let mut bases = segment::list(dir).map_err(OpenError::io("listing segments in", dir))?;
    loop {
        let Some(&base) = bases.last() else {
            return create_first(dir);
        };
        let path = dir.join(segment::file_name(base));
        let (tail_file, tail_len, next_offset, index) = recover_tail(&path, base)?;
        if tail_len == 0 && bases.len() > 1 {
            drop(tail_file);
            fs::remove_file(&path).map_err(OpenError::io("removing empty tail segment", &path))?;
            segment::sync_dir(dir).map_err(OpenError::io("syncing", dir))?;
            tracing::info!(segment = %path.display(), "removed empty tail segment");
            bases.pop();
            continue;
        }
        let mut segments: Vec<Arc<Segment>> = bases[..bases.len() - 1]
            .iter()
            .map(|&b| Arc::new(Segment::sealed(b, dir.join(segment::file_name(b)))))
            .collect();
        segments.push(Arc::new(Segment::new(base, path, index)));
        return Ok(Recovered {
            segments,
            tail_file,
            tail_len,
            next_offset,
        });
    }
}

fn create_first(dir: &Path) -> Result<Recovered, OpenError> {
    let path = dir.join(segment::file_name(0));
    let tail_file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(OpenError::io("creating segment", &path))?;
    segment::sync_dir(dir).map_err(OpenError::io("syncing", dir))?;
    let segments = vec![Arc::new(Segment::new(0, path, SparseIndex::complete()))];
    Ok(Recovered {
        segments,
        tail_file,
        tail_len: 0,
        next_offset: 0,
    })
}

/// Validates the tail segment at `path`, cutting it after its last good frame.
fn recover_tail(path: &Path, base: u64) -> Result<(File, u64, u64, SparseIndex), OpenError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(OpenError::io("opening segment", path))?;
    let file_len = file
        .metadata()
        .map_err(OpenError::io("inspecting segment", path))?
        .len();
    let mut index = SparseIndex::complete();
    let mut valid_len = 0u64;
    let mut next_offset = base;
    let mut bad: Option<String> = None;
    {
        let mut reader = BufReader::with_capacity(256 * 1024, &file);
        let mut buf = Vec::new();
        loop {
            match frame::read_frame(&mut reader, &mut buf) {
                Ok(None) => break,
                Ok(Some(f)) if f.offset != next_offset => {
                    bad = Some(format!(
                        "offset {} where {next_offset} was expected",
                        f.offset
                    ));
                    break;
                }
                Ok(Some(f)) => {
                    index.observe(f.offset, valid_len);
                    valid_len += f.disk_len;
                    next_offset += 1;
                }
                // A read error says nothing about the bytes: cutting here
                // could destroy acknowledged records. Refuse to open instead.
                Err(FrameError::Io(e)) => return Err(OpenError::io("reading segment", path)(e)),
                Err(e) => {
                    bad = Some(e.to_string());
                    break;
                }
            }
        }
    }
    if valid_len < file_len {
        let cut = file_len - valid_len;
        let reason = bad.unwrap_or_else(|| "trailing bytes".into());
        tracing::warn!(
            segment = %path.display(),
            position = valid_len,
            bytes_cut = cut,
            next_offset,
            %reason,
            "local log: truncating torn or corrupt tail of segment ({cut} bytes cut)"
        );
        file.set_len(valid_len)
            .map_err(OpenError::io("truncating segment", path))?;
        file.sync_all()
            .map_err(OpenError::io("syncing segment", path))?;
    }
    file.seek(SeekFrom::Start(valid_len))
        .map_err(OpenError::io("seeking in segment", path))?;
    Ok((file, valid_len, next_offset, index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_frames(path: &Path, offsets: std::ops::Range<u64>) -> Vec<u8> {
        let mut bytes = Vec::new();
        for offset in offsets {
            frame::encode(
                &mut bytes,
                offset,
                "acme",
                format!("record {offset}").as_bytes(),
            );
        }
        fs::write(path, &bytes).unwrap();
        bytes
    }

    #[test]
    fn missing_directory_starts_at_zero() {
        let root = tempfile::tempdir().unwrap();
        let recovered = recover_partition(&root.path().join("p-00000")).unwrap();
        assert_eq!(
            (
                recovered.tail_len,
                recovered.next_offset,
                recovered.segments.len()
            ),
            (0, 0, 1)
        );
    }

    #[test]
    fn a_frame_with_the_wrong_offset_ends_the_valid_prefix() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join(segment::file_name(10));
        let mut bytes = write_frames(&path, 10..13);
        let good = bytes.len() as u64;
        frame::encode(&mut bytes, 99, "acme", b"stale");
        fs::write(&path, &bytes).unwrap();
        let recovered = recover_partition(root.path()).unwrap();
        assert_eq!((recovered.tail_len, recovered.next_offset), (good, 13));
        assert_eq!(fs::metadata(&path).unwrap().len(), good);
    }

    #[test]
    fn an_empty_or_garbage_tail_falls_back_to_its_predecessor() {
        let root = tempfile::tempdir().unwrap();
        let first = write_frames(&root.path().join(segment::file_name(0)), 0..5);
        fs::write(root.path().join(segment::file_name(5)), b"\x07garbage").unwrap();
        fs::write(root.path().join(segment::file_name(9)), b"").unwrap();
        let recovered = recover_partition(root.path()).unwrap();
        assert_eq!(recovered.segments.len(), 1);
        assert_eq!(
            (recovered.tail_len, recovered.next_offset),
            (first.len() as u64, 5)
        );
        assert_eq!(segment::list(root.path()).unwrap(), vec![0]);
    }
}
