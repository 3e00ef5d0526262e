//! Log records: the writes of the writer thread ([`Job`]s) as the journal
//! store and the redb store's write-ahead log keep them on disk.
//!
//! A record is framed as `[payload length u32][crc32 u32][sequence u64]
//! [JSON payload]`, little-endian; the CRC covers sequence and payload, so
//! that a record cut short by a crash, or bytes left over from an older
//! record, are told from a whole one.

use serde::{Deserialize, Serialize};

use super::writer::Job;
use super::{Changes, InboxItem, OutboxUpdate};
use crate::error::{Error, Result};

/// Payload length, CRC, sequence.
pub(super) const HEADER: usize = 4 + 4 + 8;

/// A record as written (borrowing the job) …
#[derive(Serialize)]
pub(super) enum RecordRef<'a> {
    Commit(&'a Changes),
    Next(&'a str),
    Outbox(&'a [OutboxUpdate]),
    Accept(&'a [InboxItem]),
    Forget(u64),
}

/// … and as read back.
#[derive(Deserialize)]
pub(super) enum Record {
    Commit(Box<Changes>),
    Next(String),
    Outbox(Vec<OutboxUpdate>),
    Accept(Vec<InboxItem>),
    Forget(u64),
}

fn cannot_encode(e: &serde_json::Error) -> Error {
    Error::Store(format!("cannot encode a log record: {e}"))
}

/// The record of `job`.
pub(super) fn record_of(job: &Job) -> RecordRef<'_> {
    match job {
        Job::Commit(c) => RecordRef::Commit(&c.changes),
        Job::Next(name) => RecordRef::Next(name),
        Job::Outbox(u) => RecordRef::Outbox(u),
        Job::Accept(items) => RecordRef::Accept(items),
        Job::Forget(before) => RecordRef::Forget(*before),
    }
}

/// The payload of `record`, to be framed later ([`frame_payload`]).
pub(super) fn encode(record: &RecordRef<'_>) -> Result<Vec<u8>> {
    serde_json::to_vec(record).map_err(|e| cannot_encode(&e))
}

/// Fills in the header of the frame at `start` of `buf`, whose payload
/// follows the header's room.
fn seal(buf: &mut [u8], start: usize, seq: u64) -> Result<()> {
    let len = u32::try_from(buf.len() - start - HEADER)
        .map_err(|_| Error::Store("a log record over 4 GiB".to_owned()))?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&seq.to_le_bytes());
    crc.update(&buf[start + HEADER..]);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.finalize().to_le_bytes());
    buf[start + 8..start + HEADER].copy_from_slice(&seq.to_le_bytes());
    Ok(())
}

/// Appends one framed record to `buf`; on an error `buf` is as it was.
pub(super) fn frame(buf: &mut Vec<u8>, seq: u64, record: &RecordRef<'_>) -> Result<()> {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    let sealed = serde_json::to_writer(&mut *buf, record)
        .map_err(|e| cannot_encode(&e))
        .and_then(|()| seal(buf, start, seq));
    if sealed.is_err() {
        buf.truncate(start);
    }
    sealed
}

/// Appends one framed record to `buf` whose payload was encoded before
/// ([`encode`]).
pub(super) fn frame_payload(buf: &mut Vec<u8>, seq: u64, payload: &[u8]) -> Result<()> {
    let start = buf.len();
    buf.extend_from_slice(&[0; HEADER]);
    buf.extend_from_slice(payload);
    let sealed = seal(buf, start, seq);
    if sealed.is_err() {
        buf.truncate(start);
    }
    sealed
}

/// The record starting at `at`: its sequence, payload and the next
/// record's offset; `None` when the bytes there are not a whole, intact
/// record.
pub(super) fn read_frame(bytes: &[u8], at: usize) -> Option<(u64, &[u8], usize)> {
    let header = bytes.get(at..at.checked_add(HEADER)?)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let seq = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let payload = bytes.get(at + HEADER..(at + HEADER).checked_add(len)?)?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    (hasher.finalize() == crc).then_some((seq, payload, at + HEADER + len))
}

/// Reads a record's payload back; `path` and `seq` name it in the error.
pub(super) fn decode(path: &std::path::Path, seq: u64, payload: &[u8]) -> Result<Record> {
    serde_json::from_slice(payload).map_err(|e| {
        Error::Store(format!(
            "{} record {seq} cannot be read: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_and_damage_is_told_apart() {
        let mut buf = Vec::new();
        frame(&mut buf, 7, &RecordRef::Next("tiket")).unwrap();
        let payload = encode(&RecordRef::Forget(42)).unwrap();
        frame_payload(&mut buf, 9, &payload).unwrap();
        let (seq, first, next) = read_frame(&buf, 0).unwrap();
        assert_eq!(seq, 7);
        assert!(
            matches!(decode(std::path::Path::new("x"), seq, first).unwrap(), Record::Next(n) if n == "tiket")
        );
        let (seq, second, end) = read_frame(&buf, next).unwrap();
        assert_eq!((seq, end), (9, buf.len()));
        assert!(matches!(
            decode(std::path::Path::new("x"), seq, second).unwrap(),
            Record::Forget(42)
        ));
        // Cut short, or one byte changed: not a record.
        assert!(read_frame(&buf[..buf.len() - 1], next).is_none());
        let mut damaged = buf.clone();
        damaged[next + HEADER] ^= 1;
        assert!(read_frame(&damaged, next).is_none());
    }
}
