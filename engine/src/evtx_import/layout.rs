//! Where things are in an EVTX file, read from its bytes: the `evtx` crate reports a record it
//! cannot read by its id only, and a message must say where in the file it is.
//!
//! An EVTX file is a 4 KiB header and 64 KiB chunks. A chunk starts with `ElfChnk\0` and the
//! first and last record ids it holds (bytes 24 and 32, little-endian); its records follow from
//! byte 512, each starting with `**\0\0`, its size (u32, byte 4) and its id (u64, byte 8).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

pub const HEADER_BYTES: u64 = 4096;
pub const CHUNK_BYTES: u64 = 65_536;
const CHUNK_SIGNATURE: &[u8; 8] = b"ElfChnk\0";
const RECORDS_START: usize = 512;
const RECORD_SIGNATURE: &[u8; 4] = b"**\0\0";
const RECORD_HEADER_BYTES: usize = 24;

/// The file offset of chunk `n`.
pub fn chunk_offset(n: u64) -> u64 {
    HEADER_BYTES + n * CHUNK_BYTES
}

/// The number of the last chunk whose first bytes are a chunk's signature.
pub fn last_chunk_with_signature(file: &Path) -> Option<u64> {
    let mut f = std::fs::File::open(file).ok()?;
    let size = f.metadata().ok()?.len();
    let mut last = None;
    let mut n = 0u64;
    while chunk_offset(n) + 8 <= size {
        let mut magic = [0u8; 8];
        f.seek(SeekFrom::Start(chunk_offset(n))).ok()?;
        f.read_exact(&mut magic).ok()?;
        if &magic == CHUNK_SIGNATURE {
            last = Some(n);
        }
        n += 1;
    }
    last
}

/// The file offset of the record with id `record_id`: a chunk whose id range holds it (only
/// the headers are read until one does), then its records walked by their sizes. Some writers
/// get a chunk's range wrong, so a chunk that does not hold the record passes the search on.
/// `None` when the bytes do not lead there.
pub fn record_offset(file: &Path, record_id: u64) -> Option<u64> {
    let mut f = std::fs::File::open(file).ok()?;
    let size = f.metadata().ok()?.len();
    let mut header = [0u8; 40];
    let mut chunk = vec![0u8; CHUNK_BYTES as usize];
    let mut n = 0u64;
    while chunk_offset(n) + CHUNK_BYTES <= size {
        f.seek(SeekFrom::Start(chunk_offset(n))).ok()?;
        f.read_exact(&mut header).ok()?;
        if header.starts_with(CHUNK_SIGNATURE) && (u64_at(&header, 24)..=u64_at(&header, 32)).contains(&record_id) {
            f.seek(SeekFrom::Start(chunk_offset(n))).ok()?;
            f.read_exact(&mut chunk).ok()?;
            if let Some(at) = offset_in_chunk(&chunk, record_id) {
                return Some(chunk_offset(n) + at as u64);
            }
        }
        n += 1;
    }
    None
}

/// The offset of a record within one chunk's bytes.
fn offset_in_chunk(chunk: &[u8], record_id: u64) -> Option<usize> {
    let mut at = RECORDS_START;
    while at + RECORD_HEADER_BYTES <= chunk.len() && chunk[at..].starts_with(RECORD_SIGNATURE) {
        if u64_at(chunk, at + 8) == record_id {
            return Some(at);
        }
        let size = u32_at(chunk, at + 4) as usize;
        if size < RECORD_HEADER_BYTES {
            return None;
        }
        at = at.checked_add(size)?;
    }
    None
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    bytes.get(at..at + 4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk of three records of 100, 200 and 60 bytes with ids 7, 8 and 9.
    fn chunk() -> Vec<u8> {
        let mut c = vec![0u8; CHUNK_BYTES as usize];
        c[..8].copy_from_slice(CHUNK_SIGNATURE);
        c[24..32].copy_from_slice(&7u64.to_le_bytes());
        c[32..40].copy_from_slice(&9u64.to_le_bytes());
        let mut at = RECORDS_START;
        for (id, size) in [(7u64, 100u32), (8, 200), (9, 60)] {
            c[at..at + 4].copy_from_slice(RECORD_SIGNATURE);
            c[at + 4..at + 8].copy_from_slice(&size.to_le_bytes());
            c[at + 8..at + 16].copy_from_slice(&id.to_le_bytes());
            at += size as usize;
        }
        c
    }

    #[test]
    fn records_are_found_by_walking_their_sizes() {
        let c = chunk();
        assert_eq!(offset_in_chunk(&c, 7), Some(512));
        assert_eq!(offset_in_chunk(&c, 8), Some(612));
        assert_eq!(offset_in_chunk(&c, 9), Some(812));
        assert_eq!(offset_in_chunk(&c, 10), None);
    }

    #[test]
    fn a_record_is_found_in_its_chunk_of_the_file() {
        let dir = std::env::temp_dir().join(format!("kql-evtx-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("two-chunks.evtx");
        let mut bytes = vec![0u8; HEADER_BYTES as usize];
        let mut other = chunk();
        other[24..32].copy_from_slice(&1u64.to_le_bytes());
        other[32..40].copy_from_slice(&6u64.to_le_bytes());
        bytes.extend(other);
        bytes.extend(chunk());
        std::fs::write(&file, bytes).expect("write");
        assert_eq!(record_offset(&file, 8), Some(HEADER_BYTES + CHUNK_BYTES + 612));
        assert_eq!(record_offset(&file, 42), None);
        assert_eq!(last_chunk_with_signature(&file), Some(1));
        std::fs::remove_dir_all(&dir).ok();
    }
}
