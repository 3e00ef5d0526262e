//! The journal store: every table in memory, every change appended to a
//! log and made durable (one fdatasync per group of writes) before its
//! caller hears back. On open, the last snapshot and the log after it
//! rebuild the tables; when the log grows past a size, the tables are
//! written to a new snapshot and the log starts again.
//!
//! It is the fastest backend: a message costs one sequential append of its
//! change set instead of copy-on-write pages in several B-trees. The price
//! is memory: everything, the transcript included, stays in RAM, so it
//! suits an office whose history fits in memory (a regency office's few
//! thousand messages a day are tens of megabytes a month).
//!
//! Files in the data folder:
//! - `journal.log`: records `[payload length u32][crc32 u32][sequence u64]
//!   [JSON payload]`, little-endian; the CRC covers sequence and payload.
//!   Sequence numbers only grow (with gaps where a write changed nothing).
//!   A record cut short by a crash (never acknowledged: acknowledgement
//!   waits for the fdatasync) is dropped on open.
//! - `journal.<sequence>.log`: closed segments of the log, each synced
//!   whole, named by the last sequence they may hold; replayed in order
//!   before `journal.log`.
//! - `snapshot.json`: the tables and the sequence of the last record they
//!   include; records up to it are skipped on replay, so a crash between
//!   writing a snapshot and removing the segments it covers replays
//!   nothing twice.
//! - `journal.lock`: held while the store is open (one process at a time).
//!
//! Compaction never stops the writes: once the log passes its size, the
//! writer closes it as a segment, starts a new `journal.log`, and hands an
//! O(1) copy of the tables (persistent collections, see [`Data`]) to a
//! snapshot thread, which writes `snapshot.json` and then deletes the
//! segments it covers, while the writer goes on appending.
//!
//! Changes are applied to the tables when they are logged and become
//! durable at the group's fdatasync. Until then the reads that could act
//! on them do not see them: a provider id is not reported as seen (its
//! retry is handled and then refused by the commit, after the sync), and
//! an outbox message is not handed to the sender.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::log::{self, Record, frame, read_frame, record_of};
use super::memory::Data;
use super::redb::claim_folder;
use super::writer::{Done, GroupWriter, Job, Writer};
use super::{
    Changes, DeadLetter, Delivery, Handoff, InboxItem, OutboxMessage, OutboxUpdate, Store, Ticket,
    TranscriptEntry, dedup_key,
};
use crate::error::{Error, Result};
use crate::session::{SaveOutcome, Session, SessionKey};

const LOG: &str = "journal.log";
const SNAPSHOT: &str = "snapshot.json";
const LOCK: &str = "journal.lock";
/// The snapshot format this code writes and reads.
const FORMAT: u32 = 1;

/// How the journal store behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    /// Write a snapshot and start a new log once the log holds this many
    /// bytes (or, when the last snapshot is bigger, the snapshot's size).
    pub compact_after_bytes: u64,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self {
            compact_after_bytes: 64 << 20,
        }
    }
}

/// The journal store. Cheap to share; dropping the last handle stops the
/// writer thread after it has finished what was queued.
#[derive(Clone)]
pub struct JournalStore {
    live: Arc<RwLock<Live>>,
    writer: Writer,
    dir: PathBuf,
}

impl std::fmt::Debug for JournalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// The tables, and what of them is not durable yet.
struct Live {
    data: Data,
    /// Provider ids accepted in the group being synced.
    unsynced_seen: HashSet<String>,
    /// The highest outbox id that is durable.
    synced_outbox: u64,
}

impl Live {
    /// Whether provider id `key` was accepted durably (an acceptance not
    /// yet synced does not count: see the module's notes).
    fn durably_seen(&self, key: &str) -> bool {
        self.data.is_seen(key) && !self.unsynced_seen.contains(key)
    }
}

fn read(live: &RwLock<Live>) -> RwLockReadGuard<'_, Live> {
    live.read().unwrap_or_else(PoisonError::into_inner)
}

fn write(live: &RwLock<Live>) -> RwLockWriteGuard<'_, Live> {
    live.write().unwrap_or_else(PoisonError::into_inner)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    format: u32,
    seq: u64,
    data: &'a Data,
}

/// What is read first, so that another format is named, not misparsed.
#[derive(Deserialize)]
struct SnapshotFormat {
    format: u32,
}

#[derive(Deserialize)]
struct Snapshot {
    format: u32,
    seq: u64,
    data: Data,
}

/// Applies `job` to the live tables: its result, and whether it changed
/// anything (only then is it logged).
fn apply(live: &mut Live, job: &Job) -> (Done, bool) {
    match job {
        Job::Commit(c) => {
            let changes = &c.changes;
            let outcome = live.data.commit(changes);
            let saved = matches!(outcome, SaveOutcome::Saved(_));
            if saved && let Some((key, _)) = &changes.seen {
                live.unsynced_seen.insert(key.clone());
            }
            (Done::Saved(outcome), saved)
        }
        Job::Next(name) => (Done::Number(live.data.next_number(name)), true),
        Job::Outbox(updates) => {
            live.data.update_outbox(updates);
            (Done::Acked, !updates.is_empty())
        }
        Job::Accept(items) => {
            let ids = live.data.accept(items);
            for (item, id) in items.iter().zip(&ids) {
                if id.is_some() {
                    live.unsynced_seen.insert(item.dedup_key());
                }
            }
            let changed = ids.iter().any(Option::is_some);
            (Done::Accepted(ids), changed)
        }
        Job::Forget(before) => {
            let n = live.data.forget(*before);
            (Done::Number(n), n > 0)
        }
    }
}

/// Applies a record read back from the log. A change set that no longer
/// applies means the log and the snapshot disagree: refused, not guessed.
fn replay(data: &mut Data, seq: u64, record: Record) -> Result<()> {
    match record {
        Record::Commit(changes) => match data.commit(&changes) {
            SaveOutcome::Saved(_) => {}
            other => {
                return Err(Error::Store(format!(
                    "journal record {seq} does not apply ({other:?}): the log does not follow the snapshot"
                )));
            }
        },
        Record::Next(name) => {
            data.next_number(&name);
        }
        Record::Outbox(updates) => data.update_outbox(&updates),
        Record::Accept(items) => {
            data.accept(&items);
        }
        Record::Forget(before) => {
            data.forget(before);
        }
    }
    Ok(())
}

/// Writes the tables `data`, which include every record up to `seq`, as
/// the snapshot, then removes the log segments it covers; returns its size.
///
/// The snapshot is encoded straight into the file, so that writing it
/// needs no second copy of the tables in memory.
fn write_snapshot(dir: &Path, seq: u64, data: &Data) -> Result<u64> {
    let tmp = dir.join(format!("{SNAPSHOT}.tmp"));
    let path = dir.join(SNAPSHOT);
    let file = File::create(&tmp).map_err(io_error(&tmp))?;
    let mut out = BufWriter::with_capacity(1 << 20, SyncedAsWritten::new(file));
    serde_json::to_writer(
        &mut out,
        &SnapshotRef {
            format: FORMAT,
            seq,
            data,
        },
    )
    .map_err(|e| Error::Store(format!("cannot write {}: {e}", tmp.display())))?;
    let file = out
        .into_inner()
        .map_err(|e| io_error(&tmp)(e.into_error()))?
        .file;
    file.sync_all().map_err(io_error(&tmp))?;
    let bytes = file.metadata().map_err(io_error(&tmp))?.len();
    std::fs::rename(&tmp, &path).map_err(io_error(&path))?;
    sync_dir(dir)?;
    // From here the snapshot holds everything up to `seq`: the segments'
    // records are skipped on replay whether or not removing them succeeds.
    for (last_seq, segment) in segments(dir)? {
        if last_seq <= seq {
            std::fs::remove_file(&segment).map_err(io_error(&segment))?;
        }
    }
    Ok(bytes)
}

/// The snapshot's file, flushed to disk every [`SyncedAsWritten::EVERY`]
/// bytes while it is written.
///
/// Written whole and synced once at the end, a snapshot of a large history
/// leaves hundreds of megabytes dirty for that one sync to write; on ext4
/// (ordered data) the log's own fdatasyncs meanwhile wait for the journal
/// commit that carries those blocks, and replies stall for tens of
/// milliseconds. Synced as it goes, each of the log's syncs waits at most
/// for one small piece.
struct SyncedAsWritten {
    file: File,
    unsynced: usize,
}

impl SyncedAsWritten {
    const EVERY: usize = 2 << 20;

    fn new(file: File) -> Self {
        Self { file, unsynced: 0 }
    }
}

impl Write for SyncedAsWritten {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unsynced += n;
        if self.unsynced >= Self::EVERY {
            self.file.sync_data()?;
            self.unsynced = 0;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

/// Takes the folder's lock, waiting a little for a handle of this process
/// that is still finishing its last writes.
fn take_lock(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error(&path))?;
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Store(format!(
                    "{} is in use by another layan process",
                    dir.display()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io_error(&path)(e)),
        }
    }
}

/// What [`recover`] found.
struct Recovered {
    data: Data,
    /// The last sequence number applied.
    seq: u64,
    /// The log's length once a torn record is cut off.
    log_bytes: u64,
    /// The snapshot's length (0: none).
    snapshot_bytes: u64,
}

/// The file name of a closed log segment whose records go up to `last_seq`.
fn segment_name(last_seq: u64) -> String {
    format!("journal.{last_seq:020}.log")
}

/// The folder's closed log segments, oldest first: (last sequence, path).
fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let last_seq = entry.file_name().to_str().and_then(|name| {
            name.strip_prefix("journal.")?
                .strip_suffix(".log")?
                .parse::<u64>()
                .ok()
        });
        if let Some(last_seq) = last_seq {
            found.push((last_seq, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Replays the whole records of `bytes` (the log file `path`) that come
/// after `seq`; returns where the whole records end.
fn replay_log(data: &mut Data, seq: &mut u64, path: &Path, bytes: &[u8]) -> Result<usize> {
    let mut at = 0;
    while let Some((record_seq, payload, next)) = read_frame(bytes, at) {
        if record_seq > *seq {
            replay(data, record_seq, log::decode(path, record_seq, payload)?)?;
            *seq = record_seq;
        }
        at = next;
    }
    Ok(at)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// Reads the snapshot and replays the closed segments and the log after
/// it; cuts a torn last record off the log.
fn recover(dir: &Path) -> Result<Recovered> {
    let snapshot_path = dir.join(SNAPSHOT);
    let mut snapshot_bytes = 0;
    let (mut data, mut seq) = match std::fs::read(&snapshot_path) {
        Ok(bytes) => {
            // Parsed once; only a snapshot that does not parse is read again
            // for its format, so that another format is named, not called
            // damaged.
            let parsed = serde_json::from_slice::<Snapshot>(&bytes);
            let format = match &parsed {
                Ok(s) => s.format,
                Err(_) => {
                    serde_json::from_slice::<SnapshotFormat>(&bytes).map_or(FORMAT, |f| f.format)
                }
            };
            if format != FORMAT {
                return Err(Error::Store(format!(
                    "{} has format {format}, this layan reads {FORMAT}",
                    snapshot_path.display(),
                )));
            }
            let s = parsed.map_err(|e| {
                Error::Store(format!("{} is damaged: {e}", snapshot_path.display()))
            })?;
            snapshot_bytes = bytes.len() as u64;
            (s.data, s.seq)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Data::default(), 0),
        Err(e) => return Err(io_error(&snapshot_path)(e)),
    };
    data.reindex();
    for (last_seq, path) in segments(dir)? {
        if last_seq <= seq {
            // Covered by the snapshot; its removal was cut short.
            continue;
        }
        let bytes = std::fs::read(&path).map_err(io_error(&path))?;
        // A segment was synced whole before it was closed: a record cut
        // short here is damage, not a crash mid-append.
        if replay_log(&mut data, &mut seq, &path, &bytes)? < bytes.len() {
            return Err(Error::Store(format!(
                "{} is damaged: it ends in an incomplete record",
                path.display()
            )));
        }
    }
    let log_path = dir.join(LOG);
    let bytes = match std::fs::read(&log_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io_error(&log_path)(e)),
    };
    let at = replay_log(&mut data, &mut seq, &log_path, &bytes)?;
    if at < bytes.len() {
        tracing::warn!(
            target: "layan_core::store",
            path = %log_path.display(),
            bytes = bytes.len() - at,
            "dropping an incomplete record at the end of the journal (a write cut short, never acknowledged)"
        );
        let log = OpenOptions::new()
            .write(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        log.set_len(at as u64).map_err(io_error(&log_path))?;
        log.sync_all().map_err(io_error(&log_path))?;
    }
    Ok(Recovered {
        data,
        seq,
        log_bytes: at as u64,
        snapshot_bytes,
    })
}

impl JournalStore {
    /// Opens (or creates) the store in folder `dir`.
    ///
    /// # Errors
    /// The folder cannot be created, holds another backend's data, is in
    /// use by another process, or its snapshot or log cannot be read.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, JournalOptions::default())
    }

    /// [`JournalStore::open`] with `options`.
    ///
    /// # Errors
    /// As [`JournalStore::open`].
    pub fn open_with(dir: impl AsRef<Path>, options: JournalOptions) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        claim_folder(&dir, "journal")?;
        let folder_lock = take_lock(&dir)?;
        let Recovered {
            data,
            seq,
            log_bytes,
            snapshot_bytes,
        } = recover(&dir)?;
        let log_path = dir.join(LOG);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        let synced_outbox = data.next_outbox;
        let live = Arc::new(RwLock::new(Live {
            data,
            unsynced_seen: HashSet::new(),
            synced_outbox,
        }));
        let writer = Writer::spawn(
            "layan-journal",
            JournalWriter {
                live: Arc::clone(&live),
                log,
                log_bytes,
                seq,
                dir: dir.clone(),
                options,
                compact_after: options.compact_after_bytes,
                snapshot_bytes,
                snapshot: None,
                failed: None,
                _lock: folder_lock,
            },
        )?;
        Ok(Self { live, writer, dir })
    }

    fn live(&self) -> RwLockReadGuard<'_, Live> {
        read(&self.live)
    }
}

/// The writer thread's side: appends, syncs, compacts.
struct JournalWriter {
    live: Arc<RwLock<Live>>,
    log: File,
    log_bytes: u64,
    seq: u64,
    dir: PathBuf,
    options: JournalOptions,
    /// The configured threshold, or twice the log after a failed attempt.
    compact_after: u64,
    /// The last snapshot's size: the log may grow as large before the next.
    snapshot_bytes: u64,
    /// The snapshot thread, while one runs (one at a time); its result is
    /// the snapshot's size.
    snapshot: Option<JoinHandle<Result<u64>>>,
    /// Set when the log could not be written: the tables are then ahead of
    /// the disk, so every later write is refused until a restart recovers
    /// from what is durable.
    failed: Option<String>,
    /// Released only after a running snapshot has finished (see `Drop`), so
    /// that the folder is not reopened under it.
    _lock: File,
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        self.finish_snapshot(true);
    }
}

impl JournalWriter {
    /// Closes the log as a segment, starts a new one, and starts a thread
    /// that writes a snapshot of the tables as they are now and then
    /// removes the segments it covers. Writes go on meanwhile.
    fn compact(&mut self) -> Result<()> {
        let log_path = self.dir.join(LOG);
        let segment = self.dir.join(segment_name(self.seq));
        std::fs::rename(&log_path, &segment).map_err(io_error(&segment))?;
        // From here the old handle writes into the segment: a new log is
        // needed before anything else is appended.
        let reopened = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_error(&log_path))
            .and_then(|log| sync_dir(&self.dir).map(|()| log));
        match reopened {
            Ok(log) => self.log = log,
            Err(e) => {
                self.failed = Some(format!("{e}; restart layan to recover what is durable"));
                return Err(e);
            }
        }
        self.log_bytes = 0;
        self.compact_after = self.options.compact_after_bytes;
        let data = read(&self.live).data.clone();
        let (seq, dir) = (self.seq, self.dir.clone());
        let thread = std::thread::Builder::new()
            .name("layan-snapshot".to_owned())
            .spawn(move || write_snapshot(&dir, seq, &data))
            .map_err(|e| Error::Store(format!("cannot start the snapshot thread: {e}")))?;
        self.snapshot = Some(thread);
        Ok(())
    }

    /// Collects the snapshot thread's result once it has finished (or, with
    /// `wait`, waits for it); whether none is running any more.
    fn finish_snapshot(&mut self, wait: bool) -> bool {
        let Some(thread) = self.snapshot.take_if(|t| wait || t.is_finished()) else {
            return self.snapshot.is_none();
        };
        match thread.join() {
            Ok(Ok(bytes)) => self.snapshot_bytes = bytes,
            Ok(Err(e)) => tracing::warn!(
                target: "layan_core::store",
                error = %e,
                "cannot write the journal's snapshot; the log segments stay and the next snapshot covers them"
            ),
            Err(_) => {
                tracing::error!(target: "layan_core::store", "the journal's snapshot thread panicked")
            }
        }
        true
    }

    fn refuse(&self, jobs: &[Job]) -> Vec<Result<Done>> {
        let why = self.failed.clone().unwrap_or_default();
        jobs.iter()
            .map(|_| Err(Error::Store(why.clone())))
            .collect()
    }
}

impl GroupWriter for JournalWriter {
    fn write_group(&mut self, jobs: &mut [Job]) -> Vec<Result<Done>> {
        if self.failed.is_some() {
            return self.refuse(jobs);
        }
        // Encoded before the tables are locked, so that readers wait only
        // while the tables change. Each job gets the next sequence number;
        // a job that changes nothing is not written, leaving a gap.
        // All frames go into one buffer, each job's at its span.
        let base = self.seq;
        let mut encoded = Vec::with_capacity(jobs.len() * 1024);
        let spans: Vec<Result<Range<usize>>> = jobs
            .iter()
            .zip(1..)
            .map(|(job, i)| {
                let start = encoded.len();
                frame(&mut encoded, base + i, &record_of(job)).map(|()| start..encoded.len())
            })
            .collect();
        self.seq = base + jobs.len() as u64;
        let mut written = Vec::with_capacity(jobs.len());
        let mut results = Vec::with_capacity(jobs.len());
        {
            let mut live = write(&self.live);
            for (job, span) in jobs.iter().zip(spans) {
                match span {
                    Ok(span) => {
                        let (done, changed) = apply(&mut live, job);
                        if changed {
                            written.push(span);
                        }
                        results.push(Ok(done));
                    }
                    Err(e) => results.push(Err(e)),
                }
            }
        }
        // Usually every job changed something and the buffer goes as it is.
        let buf = if written.iter().map(ExactSizeIterator::len).sum::<usize>() == encoded.len() {
            encoded
        } else {
            written
                .into_iter()
                .flat_map(|span| encoded[span].iter().copied())
                .collect()
        };
        if !buf.is_empty() {
            if let Err(e) = self.log.write_all(&buf).and_then(|()| self.log.sync_data()) {
                self.failed = Some(format!(
                    "cannot write {}: {e}; restart layan to recover what is durable",
                    self.dir.join(LOG).display()
                ));
                tracing::error!(target: "layan_core::store", error = %e, "the journal cannot be written; refusing writes");
                return self.refuse(jobs);
            }
            self.log_bytes += buf.len() as u64;
        }
        {
            let mut live = write(&self.live);
            live.unsynced_seen.clear();
            live.synced_outbox = live.data.next_outbox;
        }
        // The finished snapshot's size first: it is part of the threshold.
        if self.finish_snapshot(false)
            && self.log_bytes > self.compact_after.max(self.snapshot_bytes)
            && let Err(e) = self.compact()
        {
            tracing::warn!(target: "layan_core::store", error = %e, "cannot compact the journal; will try again");
            // Try again after as much log again.
            self.compact_after = self.log_bytes.saturating_mul(2);
        }
        results
    }
}

#[async_trait::async_trait]
impl Store for JournalStore {
    async fn session(&self, key: &SessionKey) -> Result<Option<Session>> {
        Ok(self.live().data.session(key))
    }

    async fn commit(&self, changes: Changes) -> Result<SaveOutcome> {
        self.writer.commit(changes, None).await
    }

    async fn next_number(&self, name: &str) -> Result<u64> {
        self.writer.next_number(name.to_owned()).await
    }

    async fn ticket(&self, id: &str) -> Result<Option<Ticket>> {
        Ok(self.live().data.ticket(id))
    }

    async fn tickets(&self) -> Result<Vec<Ticket>> {
        Ok(self.live().data.tickets())
    }

    async fn handoffs(&self) -> Result<Vec<Handoff>> {
        Ok(self.live().data.handoffs())
    }

    async fn handoff(&self, key: &SessionKey) -> Result<Option<Handoff>> {
        Ok(self.live().data.handoff(key))
    }

    async fn transcript(&self, since_ms: u64) -> Result<Vec<TranscriptEntry>> {
        Ok(self.live().data.transcript(since_ms))
    }

    async fn conversation(
        &self,
        key: &SessionKey,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>> {
        Ok(self.live().data.conversation(key, since_ms, limit))
    }

    async fn counters(&self) -> Result<BTreeMap<String, i64>> {
        Ok(self.live().data.counters())
    }

    async fn outbox(&self) -> Result<Vec<(u64, OutboxMessage)>> {
        let live = self.live();
        Ok(live.data.outbox_between(0, live.synced_outbox))
    }

    async fn outbox_after(&self, after: u64) -> Result<Vec<(u64, OutboxMessage)>> {
        let live = self.live();
        Ok(live.data.outbox_between(after, live.synced_outbox))
    }

    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<()> {
        self.writer.update_outbox(updates).await
    }

    async fn accept(&self, items: Vec<InboxItem>) -> Result<Vec<Option<u64>>> {
        self.writer.accept(items).await
    }

    async fn is_seen(&self, channel: &str, message_id: &str) -> Result<bool> {
        let key = dedup_key(channel, message_id);
        let live = self.live();
        Ok(live.durably_seen(&key))
    }

    async fn session_if_unseen(
        &self,
        key: &SessionKey,
        message_id: &str,
    ) -> Result<Option<Option<Session>>> {
        let seen = dedup_key(&key.channel, message_id);
        let live = self.live();
        if live.durably_seen(&seen) {
            return Ok(None);
        }
        Ok(Some(live.data.session(key)))
    }

    async fn inbox(&self) -> Result<Vec<(u64, InboxItem)>> {
        Ok(self.live().data.inbox())
    }

    async fn forget_seen(&self, before_ms: u64) -> Result<u64> {
        self.writer.forget(before_ms).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        Ok(self.live().data.dead_letters())
    }

    async fn delivery(&self, channel: &str, provider_id: &str) -> Result<Option<Delivery>> {
        Ok(self.live().data.delivery(channel, provider_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Content;
    use crate::store::log::RecordRef;
    use crate::store::{Direction, HandoffState, MemoryStore, TicketStatus};

    fn saved(outcome: SaveOutcome) {
        assert!(matches!(outcome, SaveOutcome::Saved(_)), "{outcome:?}");
    }

    fn key(user: &str) -> SessionKey {
        SessionKey::new("whatsapp", user)
    }

    /// A round of everything a store is asked to do, different per `round`.
    async fn workload(store: &impl Store, round: u64) {
        let user = format!("62812{round}");
        let t = 1_000 * round;
        let session = store
            .session(&key(&user))
            .await
            .unwrap()
            .unwrap_or_default();
        let number = store.next_number("ADU-2026").await.unwrap();
        let mut changes = Changes {
            session: Some((key(&user), session)),
            transcript: vec![TranscriptEntry {
                time_ms: t,
                channel: "whatsapp".into(),
                user: user.clone(),
                direction: Direction::In,
                text: format!("aduan \"{round}\" — timbangan ✓"),
                intent: Some("aduan".into()),
                score: Some(0.75),
                layer: Some("keyword".into()),
                latency_us: None,
                author: None,
            }],
            tickets: vec![Ticket {
                id: format!("ADU-2026-{number:06}"),
                form: "aduan".into(),
                channel: "whatsapp".into(),
                user: user.clone(),
                fields: BTreeMap::from([("nama".into(), "Budi".into())]),
                status: TicketStatus::Baru,
                history: Vec::new(),
                created_ms: t,
                due_ms: t + 10,
            }],
            handoffs: vec![Handoff {
                channel: "whatsapp".into(),
                user: user.clone(),
                question: "halo?".into(),
                requested_ms: t,
                first_answer_ms: None,
                state: HandoffState::Taken("Sari".into()),
                earlier: Vec::new(),
            }],
            outbox: ["balasan", "menu"]
                .map(|text| OutboxMessage {
                    channel: "whatsapp".into(),
                    user: user.clone(),
                    text: format!("{text} {round}"),
                    created_ms: t,
                    ..OutboxMessage::default()
                })
                .to_vec(),
            seen: Some((dedup_key("whatsapp", &format!("wamid.{round}")), t)),
            ..Changes::default()
        };
        changes.count("in", 1);
        changes.count(format!("intent:{round}"), 2);
        assert!(matches!(
            store.commit(changes.clone()).await.unwrap(),
            SaveOutcome::Saved(_)
        ));
        assert_eq!(store.commit(changes).await.unwrap(), SaveOutcome::Duplicate);
        let ids = store
            .accept(vec![InboxItem {
                channel: "whatsapp".into(),
                user: user.clone(),
                message_id: format!("wamid.q{round}"),
                content: Content::Text("lagi".into()),
                time_ms: t,
                received_ms: t,
                profile_name: None,
            }])
            .await
            .unwrap();
        let outbox = store.outbox().await.unwrap();
        let (first, _) = outbox[0];
        let (last, _) = *outbox.last().unwrap();
        store
            .update_outbox(vec![
                OutboxUpdate::Sent {
                    id: first,
                    provider_id: Some(format!("wamid.out{round}")),
                    time_ms: t,
                },
                OutboxUpdate::Retry {
                    id: last,
                    attempts: 1,
                    not_before_ms: t + 5,
                    error: "http_503".into(),
                },
            ])
            .await
            .unwrap();
        let remaining = store.outbox().await.unwrap();
        if round.is_multiple_of(3)
            && let Some((oldest, _)) = remaining.first()
        {
            store
                .update_outbox(vec![OutboxUpdate::Dead {
                    id: *oldest,
                    reason: "outside_24h_window".into(),
                    detail: "131047".into(),
                    time_ms: t,
                }])
                .await
                .unwrap();
        }
        if round.is_multiple_of(2) {
            saved(
                store
                    .commit(Changes {
                        inbox_done: ids.into_iter().flatten().collect(),
                        ..Changes::default()
                    })
                    .await
                    .unwrap(),
            );
        }
        if round == 4 {
            store.forget_seen(2_500).await.unwrap();
        }
    }

    /// Everything a store shows, as text to compare.
    async fn view(store: &impl Store) -> String {
        let mut out = String::new();
        for round in 0..8 {
            let user = format!("62812{round}");
            out += &format!("{:?}\n", store.session(&key(&user)).await.unwrap());
            out += &format!(
                "{:?}\n",
                store.conversation(&key(&user), 0, 10).await.unwrap()
            );
            out += &format!(
                "{:?} {:?}\n",
                store
                    .is_seen("whatsapp", &format!("wamid.{round}"))
                    .await
                    .unwrap(),
                store
                    .delivery("whatsapp", &format!("wamid.out{round}"))
                    .await
                    .unwrap()
            );
        }
        out += &format!("{:?}\n", store.tickets().await.unwrap());
        out += &format!("{:?}\n", store.handoffs().await.unwrap());
        out += &format!("{:?}\n", store.transcript(0).await.unwrap());
        out += &format!("{:?}\n", store.counters().await.unwrap());
        out += &format!("{:?}\n", store.outbox().await.unwrap());
        out += &format!("{:?}\n", store.inbox().await.unwrap());
        out += &format!("{:?}\n", store.dead_letters().await.unwrap());
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reopened_journal_holds_what_the_memory_store_holds() {
        // Table-driven: never compacting, compacting after every group, and
        // compacting now and then.
        for compact_after_bytes in [u64::MAX, 1, 4_000] {
            let dir = tempfile::tempdir().unwrap();
            let options = JournalOptions {
                compact_after_bytes,
            };
            let memory = MemoryStore::new();
            for round in 0..8 {
                workload(&memory, round).await;
                let journal = JournalStore::open_with(dir.path(), options).unwrap();
                workload(&journal, round).await;
            }
            let expected = view(&memory).await;
            let journal = JournalStore::open_with(dir.path(), options).unwrap();
            assert_eq!(
                view(&journal).await,
                expected,
                "compact after {compact_after_bytes}"
            );
            assert_eq!(
                journal.next_number("ADU-2026").await.unwrap(),
                memory.next_number("ADU-2026").await.unwrap()
            );
            assert!(expected.contains("Sari") && expected.contains("outside_24h_window"));
            let snapshot = dir.path().join(SNAPSHOT).exists();
            assert_eq!(snapshot, compact_after_bytes != u64::MAX);
        }
    }

    fn log_len(dir: &Path) -> u64 {
        std::fs::metadata(dir.join(LOG)).unwrap().len()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_record_cut_short_by_a_crash_is_dropped_and_the_log_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = JournalStore::open(dir.path()).unwrap();
        workload(&store, 1).await;
        let before = view(&store).await;
        drop(store);
        let whole = log_len(dir.path());
        // A crash mid-append: the header and part of a record.
        let mut partial = Vec::new();
        frame(&mut partial, 999, &RecordRef::Next("ADU-2026")).unwrap();
        partial.truncate(partial.len() - 3);
        let mut log = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG))
            .unwrap();
        log.write_all(&partial).unwrap();
        drop(log);

        let store = JournalStore::open(dir.path()).unwrap();
        assert_eq!(log_len(dir.path()), whole, "the torn record is cut off");
        assert_eq!(view(&store).await, before);
        workload(&store, 2).await;
        let after = view(&store).await;
        drop(store);
        let store = JournalStore::open(dir.path()).unwrap();
        assert_eq!(view(&store).await, after, "records after the cut replay");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_already_in_the_snapshot_are_not_applied_twice() {
        let dir = tempfile::tempdir().unwrap();
        let never = JournalOptions {
            compact_after_bytes: u64::MAX,
        };
        let store = JournalStore::open_with(dir.path(), never).unwrap();
        let mut one = Changes::default();
        one.count("in", 1);
        saved(store.commit(one.clone()).await.unwrap());
        drop(store);
        let old_log = std::fs::read(dir.path().join(LOG)).unwrap();
        // Compact, then put the old log back: a crash after the snapshot
        // was written and before the log was emptied.
        let store = JournalStore::open_with(
            dir.path(),
            JournalOptions {
                compact_after_bytes: 1,
            },
        )
        .unwrap();
        saved(store.commit(one).await.unwrap());
        drop(store);
        assert_eq!(log_len(dir.path()), 0);
        std::fs::write(dir.path().join(LOG), old_log).unwrap();
        let store = JournalStore::open_with(dir.path(), never).unwrap();
        assert_eq!(store.counters().await.unwrap()["in"], 2);
    }

    /// The last sequence number in the log file at `path`.
    fn last_seq(path: &Path) -> u64 {
        let bytes = std::fs::read(path).unwrap();
        let (mut at, mut last) = (0, 0);
        while let Some((seq, _, next)) = read_frame(&bytes, at) {
            (at, last) = (next, seq);
        }
        last
    }

    /// Closes the folder's log as a segment, as a compaction does.
    fn close_log(dir: &Path) -> PathBuf {
        let segment = dir.join(segment_name(last_seq(&dir.join(LOG))));
        std::fs::rename(dir.join(LOG), &segment).unwrap();
        segment
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closed_segments_left_by_an_unfinished_snapshot_replay_in_order() {
        // A crash while the snapshot thread was writing leaves the closed
        // segments and an older snapshot (here: none).
        let dir = tempfile::tempdir().unwrap();
        let never = JournalOptions {
            compact_after_bytes: u64::MAX,
        };
        let memory = MemoryStore::new();
        for rounds in [0..3, 3..6, 6..8] {
            let journal = JournalStore::open_with(dir.path(), never).unwrap();
            for round in rounds {
                workload(&memory, round).await;
                workload(&journal, round).await;
            }
            drop(journal);
            close_log(dir.path());
        }
        assert_eq!(segments(dir.path()).unwrap().len(), 3);
        let journal = JournalStore::open_with(dir.path(), never).unwrap();
        assert_eq!(view(&journal).await, view(&memory).await);
        drop(journal);

        // A snapshot covers them all and removes them.
        let journal = JournalStore::open_with(
            dir.path(),
            JournalOptions {
                compact_after_bytes: 1,
            },
        )
        .unwrap();
        workload(&memory, 8).await;
        workload(&journal, 8).await;
        drop(journal);
        let journal = JournalStore::open_with(dir.path(), never).unwrap();
        assert!(segments(dir.path()).unwrap().is_empty());
        assert!(dir.path().join(SNAPSHOT).exists());
        assert_eq!(view(&journal).await, view(&memory).await);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_segment_cut_short_is_refused_as_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let store = JournalStore::open(dir.path()).unwrap();
        workload(&store, 1).await;
        drop(store);
        let segment = close_log(dir.path());
        let bytes = std::fs::read(&segment).unwrap();
        std::fs::write(&segment, &bytes[..bytes.len() - 3]).unwrap();
        let e = JournalStore::open(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("is damaged: it ends in an incomplete record"),
            "{e}"
        );
    }

    #[test]
    fn a_folder_in_use_or_damaged_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let store = JournalStore::open(dir.path()).unwrap();
        let e = JournalStore::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("in use by another layan process"), "{e}");
        drop(store);
        std::fs::write(dir.path().join(SNAPSHOT), "{\"format\": 1, \"seq\":").unwrap();
        let e = JournalStore::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("snapshot.json is damaged"), "{e}");
        std::fs::write(
            dir.path().join(SNAPSHOT),
            "{\"format\": 9, \"seq\": 0, \"data\": {}}",
        )
        .unwrap();
        let e = JournalStore::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("has format 9"), "{e}");
    }
}
