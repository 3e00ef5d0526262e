//! The embedded default store: one redb file and its write-ahead log.
//!
//! One writer thread owns every write ([`Writer`]): it applies each queued
//! group in one write transaction (each change set with its own
//! compare-and-swap: a set that conflicts is skipped whole) and commits it.
//! The group becomes durable through the log ([`wal`]): its records are
//! appended to `layan.wal` and synced on a thread of their own, while the
//! writer goes on with the next group; every second or so a commit is made
//! durable in the database itself and the log starts again. So concurrent
//! messages share one sync — group commit — while each caller returns only
//! after its own changes are on disk. Reads use redb's MVCC read
//! transactions on the blocking pool, never on the async workers; the two
//! every message starts with are answered from memory instead ([`Hot`]):
//! whether its provider id was seen, and its conversation's session.
//!
//! The writer thread is the one thing every message waits for, so it does
//! as little as it can: callers encode their records before they queue them
//! ([`Encoded`]), the checks a commit makes (provider id seen, session
//! version) are answered from the same memory, and the rows every message
//! touches — the sequences and the counters — are written once per group.

mod wal;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use self::wal::{Logged, ToLog, Wal};
use super::log::{self, RecordRef};
use super::writer::{Commit, Done, Encoded, GroupWriter, Job, Reply, Writer, answer};
use super::{
    Changes, DeadLetter, Delivery, Handoff, InboxItem, OutboxMessage, OutboxUpdate, Store, Ticket,
    TranscriptEntry,
};
use crate::error::{Error, Result};
use crate::session::{SaveOutcome, Session, SessionKey};

const SESSIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("sessions");
const TICKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("tickets");
const HANDOFFS: TableDefinition<&str, &[u8]> = TableDefinition::new("handoffs");
const TRANSCRIPT: TableDefinition<u64, &[u8]> = TableDefinition::new("transcript");
const COUNTERS: TableDefinition<&str, i64> = TableDefinition::new("counters");
const SEQUENCES: TableDefinition<&str, u64> = TableDefinition::new("sequences");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
const INBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("inbox");
const SEEN: TableDefinition<&str, u64> = TableDefinition::new("seen");
const DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("dead_letters");
const DELIVERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("deliveries");
/// Transcript ids by conversation: `channel␟user␟<id, 20 digits>` → id.
/// The newest lines of a conversation that has a session are not here yet:
/// their ids ride in the session row (see [`SessionRow`]) and move here
/// [`PENDING_LINES`] at a time.
const TRANSCRIPT_INDEX: TableDefinition<&str, u64> = TableDefinition::new("transcript_index");
/// The data folder's layout, by name → version.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// [`META`]'s key for the transcript index's layout; version 2 keeps the
/// newest ids in the session rows.
const INDEX_LAYOUT: &str = "transcript_index";
/// [`META`]'s key for the sequence of the last log record the database
/// holds (see [`wal`]).
const WAL_SEQ: &str = "wal";
/// Past this much log since the last checkpoint, the next group is
/// committed durably to the database and the log starts again …
const CHECKPOINT_BYTES: u64 = 64 << 20;
/// … and past this much time (or after as long without a write).
///
/// A checkpoint's sync writes the pages of every commit since the last
/// one, and the writer waits for it: under the load run's full load
/// (15,000 messages/s) that is 100–300 ms once a second, which each of
/// the citizens writing then waits once. Rarer checkpoints wait longer
/// each time and leave more log to apply after a crash; a thread syncing
/// the file ahead of them (tried) made every sync of the log wait behind
/// it instead.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// How many transcript ids a session row carries before they move to
/// [`TRANSCRIPT_INDEX`]. Every message rewrites its session row anyway, so
/// carrying the ids there costs bytes, not B-tree inserts: the index's
/// inserts, scattered over a large table, cost a commit more pages than
/// anything else a message writes. Moved together, a conversation's ids are
/// adjacent keys and share a page.
const PENDING_LINES: usize = 32;

/// How many sessions [`Hot`] keeps; past it, the eighth committed longest
/// ago is dropped (and read from the file when its citizen writes again).
const HOT_SESSIONS: usize = 10_000;

/// What every message's first read needs, kept in memory by the writer so
/// that the read costs no trip to the blocking pool. `seen` mirrors the
/// whole seen table (loaded on open; ids live for the dedup retention, a
/// few days of messages), so "not seen" can be answered from it; `sessions`
/// holds the sessions committed since the store opened, as committed. Both
/// change only after the commit that wrote them, which may not be durable
/// yet (its log records are on their way: see [`wal`]); a seen id is
/// reported outside only once it is, and a session read early only feeds
/// a later commit, which the log keeps after it. They may lag the commit
/// for an instant, which the commit itself covers (it checks the seen id
/// and the session version again, from this same memory: the writer
/// changes it between groups, so when a group starts it is exactly what is
/// committed).
struct Hot {
    seen: HashMap<String, u64>,
    /// Of `seen`, the ids whose log records are not synced yet: not
    /// reported as seen outside the writer (see [`wal`]).
    unsynced_seen: HashSet<String>,
    /// The newest outbox id that is durable: those after it are not handed
    /// to the sender yet.
    durable_outbox: u64,
    sessions: HashMap<String, HotSession>,
    /// How many sessions it keeps ([`HOT_SESSIONS`]).
    capacity: usize,
    /// Sessions committed so far: orders them by when.
    commits: u64,
}

/// A committed session, with the transcript ids its row carries.
struct HotSession {
    session: Session,
    pending: Vec<u64>,
    /// When it was committed, as [`Hot::commits`] counted then.
    at: u64,
}

/// What one group changed of what [`Hot`] mirrors, kept while the group is
/// applied (its own checks read it) and taken by [`Hot`] once the group is
/// committed.
#[derive(Default)]
struct GroupHot {
    /// Provider ids accepted, with when (already pruned by a `forget` later
    /// in the group, as the table is).
    seen: HashMap<String, u64>,
    /// The newest `forget` of the group, if any.
    forget: Option<u64>,
    /// Sessions written, as written.
    sessions: HashMap<String, HotSession>,
}

impl Hot {
    fn committed(&mut self, group: GroupHot) {
        if let Some(before) = group.forget {
            self.seen.retain(|_, at| *at >= before);
        }
        self.seen.extend(group.seen);
        for (key, session) in group.sessions {
            self.session(key, session);
        }
    }

    fn new(capacity: usize) -> Self {
        Self {
            seen: HashMap::new(),
            unsynced_seen: HashSet::new(),
            durable_outbox: 0,
            sessions: HashMap::new(),
            capacity,
            commits: 0,
        }
    }

    fn session(&mut self, key: String, mut session: HotSession) {
        self.commits += 1;
        session.at = self.commits;
        if self.sessions.len() >= self.capacity && !self.sessions.contains_key(&key) {
            // The eighth committed longest ago goes, in one pass: the
            // citizens writing now stay in memory.
            let mut ats: Vec<u64> = self.sessions.values().map(|s| s.at).collect();
            let cut = ats.len() / 8;
            let oldest_kept = *ats.select_nth_unstable(cut).1;
            self.sessions.retain(|_, s| s.at >= oldest_kept);
        }
        self.sessions.insert(key, session);
    }
}

/// The file name inside the data folder.
pub const FILE_NAME: &str = "layan.redb";
/// The marker naming the backend that owns a data folder.
pub const BACKEND_MARKER: &str = "BACKEND";

fn db_err(e: impl Into<redb::Error>) -> Error {
    Error::Store(format!("redb: {}", e.into()))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Store(format!("encode: {e}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Store(format!("corrupt record: {e}")))
}

/// Session and hand-off keys: channel and user joined by a separator that
/// neither contains.
fn key_of(k: &SessionKey) -> String {
    format!("{}\u{1f}{}", k.channel, k.user)
}

/// The redb store. Cheap to share (`Arc` inside); dropping the last handle
/// stops the writer thread after it has finished what was queued.
#[derive(Clone)]
pub struct RedbStore {
    db: Arc<Database>,
    writer: Writer,
    hot: Arc<Mutex<Hot>>,
    path: PathBuf,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens (or creates) the store in folder `dir`.
    ///
    /// # Errors
    /// The folder cannot be created, holds another backend's data, or the
    /// database cannot be opened.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        claim_folder(dir, "redb")?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path).map_err(db_err)?;
        let tx = db.begin_write().map_err(db_err)?;
        {
            tx.open_table(SESSIONS).map_err(db_err)?;
            tx.open_table(TICKETS).map_err(db_err)?;
            tx.open_table(HANDOFFS).map_err(db_err)?;
            tx.open_table(TRANSCRIPT).map_err(db_err)?;
            tx.open_table(COUNTERS).map_err(db_err)?;
            tx.open_table(SEQUENCES).map_err(db_err)?;
            tx.open_table(OUTBOX).map_err(db_err)?;
            tx.open_table(INBOX).map_err(db_err)?;
            tx.open_table(SEEN).map_err(db_err)?;
            tx.open_table(DEAD).map_err(db_err)?;
            tx.open_table(DELIVERIES).map_err(db_err)?;
            index_transcript(&tx)?;
        }
        tx.commit().map_err(db_err)?;
        let mut hot = Hot::new(HOT_SESSIONS);
        let tx = db.begin_read().map_err(db_err)?;
        for item in tx
            .open_table(SEEN)
            .map_err(db_err)?
            .iter()
            .map_err(db_err)?
        {
            let (key, at) = item.map_err(db_err)?;
            hot.seen.insert(key.value().to_owned(), at.value());
        }
        drop(tx);
        let hot = Arc::new(Mutex::new(hot));
        let wal_path = dir.join(wal::FILE_NAME);
        let seq = wal::replay(&db, &hot, &wal_path)?;
        hot.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .durable_outbox = wal::last_outbox(&db)?;
        let db = Arc::new(db);
        let writer = Writer::spawn(
            "layan-redb-writer",
            RedbWriter::new(Arc::clone(&db), Arc::clone(&hot), wal_path, seq)?,
        )?;
        Ok(Self {
            db,
            writer,
            hot,
            path,
        })
    }

    /// The state kept in memory. A panic elsewhere while holding it cannot
    /// leave it half-updated (each update is one map operation), so a
    /// poisoned lock is taken as it is.
    fn hot(&self) -> MutexGuard<'_, Hot> {
        self.hot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let tx = db.begin_read().map_err(db_err)?;
            f(&tx)
        })
        .await
        .map_err(|e| Error::Store(format!("read task: {e}")))?
    }
}

/// The backend named by the marker in data folder `dir`, if it has one.
#[must_use]
pub fn folder_backend(dir: &Path) -> Option<String> {
    let found = std::fs::read_to_string(dir.join(BACKEND_MARKER)).ok()?;
    Some(found.trim().to_owned())
}

/// Creates `dir` if needed and writes (or checks) the marker naming the
/// backend that owns it, so that another backend's data is refused with a
/// clear error instead of being misread.
pub(crate) fn claim_folder(dir: &Path, backend: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    match folder_backend(dir) {
        Some(found) if found == backend => Ok(()),
        Some(found) => Err(Error::Store(format!(
            "{} holds data of the `{found}` backend, not `{backend}`; open it with that backend or use another --data folder",
            dir.display(),
        ))),
        None => {
            let marker = dir.join(BACKEND_MARKER);
            std::fs::write(&marker, format!("{backend}\n")).map_err(|source| Error::Io {
                path: marker,
                source,
            })
        }
    }
}

/// The index key of transcript line `id` of conversation `channel`/`user`.
fn index_key(channel: &str, user: &str, id: u64) -> String {
    format!("{channel}\u{1f}{user}\u{1f}{id:020}")
}

/// Builds the per-conversation transcript index, once, when the transcript
/// has lines and the index has none: a data folder written before the index
/// existed gets it on its first open. Once the layout is recorded, an empty
/// index is normal (the newest ids are in the session rows) and must not be
/// rebuilt, or those lines would be listed twice.
fn index_transcript(tx: &redb::WriteTransaction) -> Result<()> {
    let mut meta = tx.open_table(META).map_err(db_err)?;
    if meta.get(INDEX_LAYOUT).map_err(db_err)?.is_some() {
        return Ok(());
    }
    meta.insert(INDEX_LAYOUT, 2).map_err(db_err)?;
    let mut index = tx.open_table(TRANSCRIPT_INDEX).map_err(db_err)?;
    if !index.is_empty().map_err(db_err)? {
        return Ok(());
    }
    let transcript = tx.open_table(TRANSCRIPT).map_err(db_err)?;
    for item in transcript.iter().map_err(db_err)? {
        let (id, v) = item.map_err(db_err)?;
        let line: TranscriptEntry = decode(v.value())?;
        index
            .insert(
                index_key(&line.channel, &line.user, id.value()).as_str(),
                id.value(),
            )
            .map_err(db_err)?;
    }
    Ok(())
}

/// A stored session row: the session's JSON, after the ids of its
/// conversation's newest transcript lines, oldest first, that are not in
/// [`TRANSCRIPT_INDEX`] yet. With ids the row is `0x00`, their count (one
/// byte), each id (8 bytes, little-endian), then the JSON; without, it is
/// the JSON alone, as rows were before the ids moved here (JSON never
/// starts with `0x00`).
struct SessionRow<'a> {
    pending: Vec<u64>,
    json: &'a [u8],
}

impl<'a> SessionRow<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self> {
        let corrupt =
            || Error::Store("corrupt record: a session row's line ids are cut short".into());
        let Some((&0, rest)) = bytes.split_first() else {
            return Ok(Self {
                pending: Vec::new(),
                json: bytes,
            });
        };
        let (&count, rest) = rest.split_first().ok_or_else(corrupt)?;
        let (ids, json) = rest
            .split_at_checked(usize::from(count) * 8)
            .ok_or_else(corrupt)?;
        let pending = ids
            .chunks_exact(8)
            .map(|id| u64::from_le_bytes(id.try_into().expect("chunks of 8 bytes")))
            .collect();
        Ok(Self { pending, json })
    }

    /// The row for `json` with ids `pending` (at most 255).
    fn encode(pending: &[u64], json: &[u8]) -> Vec<u8> {
        if pending.is_empty() {
            return json.to_vec();
        }
        let count = u8::try_from(pending.len()).expect("at most PENDING_LINES ids");
        let mut row = Vec::with_capacity(2 + pending.len() * 8 + json.len());
        row.extend_from_slice(&[0, count]);
        for id in pending {
            row.extend_from_slice(&id.to_le_bytes());
        }
        row.extend_from_slice(json);
        row
    }
}

/// Applies each group in one write transaction, records in [`Hot`] what it
/// wrote, and hands its log records to the log thread ([`wal`]), which
/// answers the group's callers once they are synced.
struct RedbWriter {
    db: Arc<Database>,
    hot: Arc<Mutex<Hot>>,
    wal: Wal,
    /// The sequence number of the last log record.
    seq: u64,
    /// Log bytes since the last checkpoint.
    log_bytes: u64,
    /// When the last checkpoint was.
    checkpointed: Instant,
    /// Whether a group was committed since the last checkpoint without
    /// being durable in the database.
    unchecked: bool,
}

/// A group applied and committed to the database.
struct Applied {
    results: Vec<Result<Done>>,
    /// The framed log records of the jobs that changed something.
    frames: Vec<u8>,
    seen: Vec<String>,
    outbox_last: Option<u64>,
}

/// What one transaction committed: each job's result, the provider ids it
/// accepted, and the last outbox id it handed out.
struct Transacted {
    results: Vec<Done>,
    seen: Vec<String>,
    outbox_last: Option<u64>,
}

/// Applies `jobs` in one write transaction of `db` and commits it, durably
/// or for the process only, then records in `hot` what it committed (a
/// group not durable yet with its provider ids as unsynced, in the same
/// step). Before the commit `last_record` is shown the results: it returns
/// the sequence of the transaction's last log record, noted in [`META`],
/// or an error, which commits nothing. A job that fails fails them all.
fn transact(
    db: &Database,
    hot: &Mutex<Hot>,
    jobs: &mut [Job],
    durable: bool,
    last_record: impl FnOnce(&[Job], &[Done]) -> Result<Option<u64>>,
) -> Result<Transacted> {
    let mut tx = db.begin_write().map_err(db_err)?;
    if !durable {
        tx.set_durability(redb::Durability::None)
            .map_err(|e| Error::Store(format!("redb: {e}")))?;
    }
    let mut tables = Tables::new(&tx, hot);
    let results = jobs
        .iter_mut()
        .map(|job| tables.apply(job))
        .collect::<Result<Vec<_>>>()?;
    tables.wal_seq = last_record(jobs, &results)?;
    tables.flush()?;
    let outbox_last = tables.numbers.get("outbox").copied();
    let group = std::mem::take(&mut tables.group);
    // Tables borrow the transaction: closed before it commits.
    drop(tables);
    tx.commit().map_err(db_err)?;
    let seen: Vec<String> = group.seen.keys().cloned().collect();
    let mut hot = hot.lock().unwrap_or_else(PoisonError::into_inner);
    hot.committed(group);
    if !durable {
        hot.unsynced_seen.extend(seen.iter().cloned());
    }
    Ok(Transacted {
        results,
        seen,
        outbox_last,
    })
}

/// Whether `job`, which ended in `done`, changed anything: only then is it
/// logged (a duplicate or a conflict wrote nothing).
fn changed(job: &Job, done: &Done) -> bool {
    match (job, done) {
        (Job::Commit(_), Done::Saved(outcome)) => matches!(outcome, SaveOutcome::Saved(_)),
        (Job::Outbox(updates), _) => !updates.is_empty(),
        (Job::Accept(_), Done::Accepted(ids)) => ids.iter().any(Option::is_some),
        (Job::Forget(_), Done::Number(n)) => *n > 0,
        _ => true,
    }
}

impl RedbWriter {
    /// The writer of `db`, logging to `wal_path` after record `seq`.
    fn new(db: Arc<Database>, hot: Arc<Mutex<Hot>>, wal_path: PathBuf, seq: u64) -> Result<Self> {
        let log = wal::open(&wal_path)?;
        Ok(Self {
            wal: Wal::start(log, wal_path, Arc::clone(&hot))?,
            db,
            hot,
            seq,
            log_bytes: 0,
            checkpointed: Instant::now(),
            unchecked: false,
        })
    }

    /// Applies a group in one write transaction and commits it: durably
    /// when `checkpoint`, else for the process only (its log records make
    /// it durable). A job that fails fails the whole group.
    fn apply(&mut self, jobs: &mut [Job], checkpoint: bool) -> Result<Applied> {
        if let Some(why) = self.wal.failed.get() {
            return Err(Error::Store(why.clone()));
        }
        // The records are taken before the jobs are applied: applying
        // moves a commit's session into memory.
        let payloads = jobs
            .iter_mut()
            .map(|job| match job {
                Job::Commit(c) => match c.encoded.as_mut() {
                    Some(e) if !e.record.is_empty() => Ok(std::mem::take(&mut e.record)),
                    _ => log::encode(&RecordRef::Commit(&c.changes)),
                },
                other => log::encode(&log::record_of(other)),
            })
            .collect::<Result<Vec<_>>>()?;
        let mut frames = Vec::new();
        let mut seq = self.seq;
        let done = transact(&self.db, &self.hot, jobs, checkpoint, |jobs, results| {
            for ((job, done), payload) in jobs.iter().zip(results).zip(&payloads) {
                if changed(job, done) {
                    seq += 1;
                    log::frame_payload(&mut frames, seq, payload)?;
                }
            }
            Ok((seq > self.seq).then_some(seq))
        })?;
        self.seq = seq;
        Ok(Applied {
            results: done.results.into_iter().map(Ok).collect(),
            frames,
            seen: done.seen,
            outbox_last: done.outbox_last,
        })
    }

    /// Whether the next group should be a checkpoint.
    fn checkpoint_due(&self) -> bool {
        self.log_bytes >= CHECKPOINT_BYTES || self.checkpointed.elapsed() >= CHECKPOINT_EVERY
    }

    /// After a durable commit: the log may start again.
    fn checkpointed(&mut self) {
        self.wal.send(ToLog::Checkpoint);
        self.log_bytes = 0;
        self.checkpointed = Instant::now();
        self.unchecked = false;
    }

    /// Makes every group durable in the database (an empty durable commit)
    /// and starts the log again; nothing to do when none is waiting, or
    /// when the log failed (what it refused must not become durable now).
    fn checkpoint(&mut self) {
        if !self.unchecked || self.wal.failed.get().is_some() {
            return;
        }
        let committed = self
            .db
            .begin_write()
            .map_err(redb::Error::from)
            .and_then(|tx| tx.commit().map_err(redb::Error::from))
            .map_err(db_err);
        match committed {
            Ok(()) => self.checkpointed(),
            Err(e) => {
                tracing::warn!(target: "layan_core::store", error = %e, "cannot checkpoint the redb store; its log keeps everything meanwhile");
            }
        }
    }
}

/// Error `e` for each of `jobs`, as it was (a store error keeps its
/// message, not prefixed again).
fn failed_all(jobs: &[Job], e: &Error) -> Vec<Result<Done>> {
    let why = match e {
        Error::Store(why) => why.clone(),
        other => other.to_string(),
    };
    jobs.iter()
        .map(|_| Err(Error::Store(why.clone())))
        .collect()
}

impl GroupWriter for RedbWriter {
    /// A group committed durably, answered at once (a checkpoint).
    fn write_group(&mut self, jobs: &mut [Job]) -> Vec<Result<Done>> {
        match self.apply(jobs, true) {
            Ok(applied) => {
                self.checkpointed();
                applied.results
            }
            Err(e) => failed_all(jobs, &e),
        }
    }

    fn write_and_answer(&mut self, jobs: &mut [Job], replies: Vec<Reply>) {
        let checkpoint = self.checkpoint_due();
        match self.apply(jobs, checkpoint) {
            Ok(applied) => {
                // A group committed durably needs no log records.
                let frames = if checkpoint {
                    Vec::new()
                } else {
                    applied.frames
                };
                self.log_bytes += frames.len() as u64;
                self.unchecked |= !checkpoint;
                self.wal.send(ToLog::Group(Logged {
                    frames,
                    replies,
                    results: applied.results,
                    seen: applied.seen,
                    outbox_last: applied.outbox_last,
                }));
                if checkpoint {
                    self.checkpointed();
                }
            }
            // Nothing of the group was committed: every caller sees the
            // error and may retry.
            Err(e) => answer(replies, failed_all(jobs, &e)),
        }
    }

    fn idle(&mut self) {
        self.checkpoint();
    }

    fn finish(&mut self) {
        self.checkpoint();
        self.wal.stop();
    }
}

type Table<'tx, K, V> = redb::Table<'tx, K, V>;
type Records<'tx> = Table<'tx, u64, &'static [u8]>;
type Named<'tx> = Table<'tx, &'static str, &'static [u8]>;

/// The tables of one group's transaction, each opened on first use and kept
/// open until the group commits: opening and closing a redb table for every
/// job cost more than most jobs' own inserts.
struct Tables<'tx> {
    tx: &'tx redb::WriteTransaction,
    /// What is committed, as far as the checks need it: the seen ids and
    /// the sessions (see [`Hot`]).
    committed: &'tx Mutex<Hot>,
    /// What this group has changed of that so far.
    group: GroupHot,
    sessions: Option<Named<'tx>>,
    tickets: Option<Named<'tx>>,
    handoffs: Option<Named<'tx>>,
    deliveries: Option<Named<'tx>>,
    transcript: Option<Records<'tx>>,
    transcript_index: Option<Table<'tx, &'static str, u64>>,
    outbox: Option<Records<'tx>>,
    inbox: Option<Records<'tx>>,
    dead: Option<Records<'tx>>,
    counters: Option<Table<'tx, &'static str, i64>>,
    sequences: Option<Table<'tx, &'static str, u64>>,
    seen: Option<Table<'tx, &'static str, u64>>,
    meta: Option<Table<'tx, &'static str, u64>>,
    /// The sequence of the group's last log record, written to [`META`] by
    /// [`Tables::flush`] (`None`: the group logged nothing).
    wal_seq: Option<u64>,
    /// The group's sequences, by name: the last number handed out. Read
    /// from [`SEQUENCES`] on first use and written back once, by
    /// [`Tables::flush`]: a group of a hundred messages would otherwise
    /// rewrite the same rows a hundred times.
    numbers: HashMap<String, u64>,
    /// The group's counter changes, by name, added to [`COUNTERS`] once by
    /// [`Tables::flush`], for the same reason: every message counts the
    /// same few names.
    counts: HashMap<String, i64>,
}

/// The table in `slot`, opened from `tx` the first time.
fn open<'s, 'tx, K: redb::Key + 'static, V: redb::Value + 'static>(
    tx: &'tx redb::WriteTransaction,
    slot: &'s mut Option<Table<'tx, K, V>>,
    def: TableDefinition<K, V>,
) -> Result<&'s mut Table<'tx, K, V>> {
    let table = match slot.take() {
        Some(t) => t,
        None => tx.open_table(def).map_err(db_err)?,
    };
    Ok(slot.insert(table))
}

/// Inserts `values` into `table` under the ids that follow `last` (the
/// numbers [`Tables::take`] handed out); returns the ids.
fn append(table: &mut Records<'_>, last: u64, values: Vec<Vec<u8>>) -> Result<Vec<u64>> {
    let first = last + 1 - values.len() as u64;
    let mut ids = Vec::with_capacity(values.len());
    for (id, v) in (first..).zip(values) {
        table.insert(id, v.as_slice()).map_err(db_err)?;
        ids.push(id);
    }
    Ok(ids)
}

/// Only the version of a stored session: what compare-and-swap needs,
/// without decoding the rest.
#[derive(serde::Deserialize)]
struct Versioned {
    #[serde(default)]
    version: u64,
}

impl<'tx> Tables<'tx> {
    fn new(tx: &'tx redb::WriteTransaction, committed: &'tx Mutex<Hot>) -> Self {
        Self {
            tx,
            committed,
            group: GroupHot::default(),
            sessions: None,
            tickets: None,
            handoffs: None,
            deliveries: None,
            transcript: None,
            transcript_index: None,
            outbox: None,
            inbox: None,
            dead: None,
            counters: None,
            sequences: None,
            seen: None,
            meta: None,
            wal_seq: None,
            numbers: HashMap::new(),
            counts: HashMap::new(),
        }
    }

    fn committed(&self) -> MutexGuard<'tx, Hot> {
        self.committed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether provider id `key` is accepted already: committed, or earlier
    /// in this group. Memory mirrors the whole seen table, so no B-tree
    /// lookup is needed. (An id forgotten earlier in the same group still
    /// counts as seen until the group commits: kept a moment longer than
    /// the retention, never shorter.)
    fn is_seen(&self, key: &str) -> bool {
        self.group.seen.contains_key(key) || self.committed().seen.contains_key(key)
    }

    /// Records provider id `key`, accepted at `at`.
    fn see(&mut self, key: String, at: u64) -> Result<()> {
        open(self.tx, &mut self.seen, SEEN)?
            .insert(key.as_str(), at)
            .map_err(db_err)?;
        self.group.seen.insert(key, at);
        Ok(())
    }

    /// The version of the session row under `k` and the transcript ids it
    /// carries, as this group sees them: written earlier in the group,
    /// committed and kept in memory, or else read from the file.
    fn stored_session(&mut self, k: &str) -> Result<(u64, Vec<u64>)> {
        if let Some(hot) = self.group.sessions.get(k) {
            return Ok((hot.session.version, hot.pending.clone()));
        }
        if let Some(hot) = self.committed().sessions.get(k) {
            return Ok((hot.session.version, hot.pending.clone()));
        }
        let t = open(self.tx, &mut self.sessions, SESSIONS)?;
        Ok(match t.get(k).map_err(db_err)? {
            Some(v) => {
                let row = SessionRow::parse(v.value())?;
                (decode::<Versioned>(row.json)?.version, row.pending)
            }
            None => (0, Vec::new()),
        })
    }

    /// Hands out the next `count` numbers of sequence `name`; returns the
    /// last of them (the first is `last + 1 - count`).
    fn take(&mut self, name: &str, count: usize) -> Result<u64> {
        let last = match self.numbers.get_mut(name) {
            Some(last) => last,
            None => {
                let stored = open(self.tx, &mut self.sequences, SEQUENCES)?
                    .get(name)
                    .map_err(db_err)?
                    .map_or(0, |v| v.value());
                self.numbers.entry(name.to_owned()).or_insert(stored)
            }
        };
        *last += count as u64;
        Ok(*last)
    }

    /// Adds `delta` to counter `name`, when the group is flushed.
    fn count(&mut self, name: &str, delta: i64) {
        match self.counts.get_mut(name) {
            Some(total) => *total += delta,
            None => {
                self.counts.insert(name.to_owned(), delta);
            }
        }
    }

    /// Writes what the group kept aside: its sequences, counters and last
    /// log record.
    fn flush(&mut self) -> Result<()> {
        if let Some(seq) = self.wal_seq {
            open(self.tx, &mut self.meta, META)?
                .insert(WAL_SEQ, seq)
                .map_err(db_err)?;
        }
        if !self.numbers.is_empty() {
            let t = open(self.tx, &mut self.sequences, SEQUENCES)?;
            for (name, last) in &self.numbers {
                t.insert(name.as_str(), *last).map_err(db_err)?;
            }
        }
        if !self.counts.is_empty() {
            let t = open(self.tx, &mut self.counters, COUNTERS)?;
            for (name, delta) in &self.counts {
                let v = t
                    .get(name.as_str())
                    .map_err(db_err)?
                    .map_or(0, |v| v.value());
                t.insert(name.as_str(), v + delta).map_err(db_err)?;
            }
        }
        Ok(())
    }

    fn apply(&mut self, job: &mut Job) -> Result<Done> {
        match job {
            Job::Commit(commit) => self.changes(commit).map(Done::Saved),
            Job::Next(name) => self.take(name, 1).map(Done::Number),
            Job::Outbox(updates) => {
                for u in updates {
                    self.outbox_update(u)?;
                }
                Ok(Done::Acked)
            }
            Job::Accept(items) => self.accept(items),
            Job::Forget(before) => self.forget(*before),
        }
    }

    fn accept(&mut self, items: &[InboxItem]) -> Result<Done> {
        let mut ids = Vec::with_capacity(items.len());
        let mut fresh = Vec::new();
        for item in items {
            let key = item.dedup_key();
            if self.is_seen(&key) {
                ids.push(None);
                continue;
            }
            self.see(key, item.received_ms)?;
            fresh.push(ids.len());
            ids.push(Some(0));
        }
        if fresh.is_empty() {
            return Ok(Done::Accepted(ids));
        }
        let encoded = fresh
            .iter()
            .map(|&i| encode(&items[i]))
            .collect::<Result<Vec<_>>>()?;
        let last = self.take("inbox", encoded.len())?;
        let inbox = open(self.tx, &mut self.inbox, INBOX)?;
        for (slot, id) in fresh.iter().zip(append(inbox, last, encoded)?) {
            ids[*slot] = Some(id);
        }
        Ok(Done::Accepted(ids))
    }

    fn forget(&mut self, before: u64) -> Result<Done> {
        let seen = open(self.tx, &mut self.seen, SEEN)?;
        let mut removed = seen
            .extract_if(|_, at| at < before)
            .map_err(db_err)?
            .count();
        let deliveries = open(self.tx, &mut self.deliveries, DELIVERIES)?;
        let mut old = Vec::new();
        for item in deliveries.iter().map_err(db_err)? {
            let (k, v) = item.map_err(db_err)?;
            if decode::<Delivery>(v.value())?.time_ms < before {
                old.push(k.value().to_owned());
            }
        }
        for k in &old {
            deliveries.remove(k.as_str()).map_err(db_err)?;
        }
        removed += old.len();
        self.group.seen.retain(|_, at| *at >= before);
        self.group.forget = Some(self.group.forget.map_or(before, |f| f.max(before)));
        Ok(Done::Number(removed as u64))
    }

    fn outbox_update(&mut self, u: &OutboxUpdate) -> Result<()> {
        let outbox = open(self.tx, &mut self.outbox, OUTBOX)?;
        match u {
            OutboxUpdate::Sent { id, .. } => {
                let Some(v) = outbox.remove(id).map_err(db_err)? else {
                    return Ok(());
                };
                let m: OutboxMessage = decode(v.value())?;
                drop(v);
                if let Some(d) = u.delivery(&m) {
                    open(self.tx, &mut self.deliveries, DELIVERIES)?
                        .insert(
                            Delivery::key(&d.channel, &d.provider_id).as_str(),
                            encode(&d)?.as_slice(),
                        )
                        .map_err(db_err)?;
                }
            }
            OutboxUpdate::Retry { id, .. } => {
                let Some(v) = outbox.get(id).map_err(db_err)? else {
                    return Ok(());
                };
                let mut m: OutboxMessage = decode(v.value())?;
                drop(v);
                u.retry(&mut m);
                outbox.insert(id, encode(&m)?.as_slice()).map_err(db_err)?;
            }
            OutboxUpdate::Dead { id, .. } => {
                let Some(v) = outbox.remove(id).map_err(db_err)? else {
                    return Ok(());
                };
                let message: OutboxMessage = decode(v.value())?;
                drop(v);
                if let Some(dead) = u.dead_letter(message) {
                    let last = self.take("dead_letters", 1)?;
                    let table = open(self.tx, &mut self.dead, DEAD)?;
                    append(table, last, vec![encode(&dead)?])?;
                }
            }
            OutboxUpdate::Status {
                channel,
                provider_id,
                ..
            } => {
                let t = open(self.tx, &mut self.deliveries, DELIVERIES)?;
                let key = Delivery::key(channel, provider_id);
                let Some(v) = t.get(key.as_str()).map_err(db_err)? else {
                    return Ok(());
                };
                let mut d: Delivery = decode(v.value())?;
                drop(v);
                u.status(&mut d);
                t.insert(key.as_str(), encode(&d)?.as_slice())
                    .map_err(db_err)?;
            }
        }
        Ok(())
    }

    /// One change set: checks for a duplicate and the session version
    /// first, so that a duplicate or a conflict writes nothing at all.
    fn changes(&mut self, commit: &mut Commit) -> Result<SaveOutcome> {
        let Commit {
            changes: c,
            encoded,
        } = commit;
        // Encoded by the caller (RedbStore::commit); a job built otherwise
        // (the writer's own tests) is encoded here.
        let mut encoded = match encoded.take() {
            Some(e) => e,
            None => encode_changes(c)?,
        };
        if let Some((key, _)) = &c.seen
            && self.is_seen(key)
        {
            return Ok(SaveOutcome::Duplicate);
        }
        // The stored session's version and the ids its row carries.
        let mut current = None;
        if let Some((key, session)) = &c.session {
            let k = key_of(key);
            let (version, pending) = self.stored_session(&k)?;
            if version != session.version {
                return Ok(SaveOutcome::Conflict);
            }
            current = Some((k, version, pending));
        }
        if let Some((key, at)) = &c.seen {
            self.see(key.clone(), *at)?;
        }
        let ids = if c.transcript.is_empty() {
            Vec::new()
        } else {
            let lines = std::mem::take(&mut encoded.transcript);
            let last = self.take("transcript", lines.len())?;
            let table = open(self.tx, &mut self.transcript, TRANSCRIPT)?;
            append(table, last, lines)?
        };
        // Lines of the session's own conversation join the ids its row
        // carries; the others (and a full row's) go to the index now.
        let mut to_index: Vec<(&str, &str, u64)> = Vec::new();
        let mut version = 0;
        if let (Some((key, session)), Some((k, stored, mut pending))) =
            (c.session.as_mut(), current)
        {
            for (line, id) in c.transcript.iter().zip(&ids) {
                if line.channel == key.channel && line.user == key.user {
                    pending.push(*id);
                } else {
                    to_index.push((&line.channel, &line.user, *id));
                }
            }
            if pending.len() >= PENDING_LINES {
                let (channel, user) = (key.channel.as_str(), key.user.as_str());
                to_index.extend(pending.drain(..).map(|id| (channel, user, id)));
            }
            version = stored + 1;
            let mut row = std::mem::take(session);
            row.version = version;
            let json = encoded.session.take().map_or_else(|| encode(&row), Ok)?;
            let bytes = SessionRow::encode(&pending, &json);
            open(self.tx, &mut self.sessions, SESSIONS)?
                .insert(k.as_str(), bytes.as_slice())
                .map_err(db_err)?;
            self.group.sessions.insert(
                k,
                HotSession {
                    session: row,
                    pending,
                    at: 0,
                },
            );
        } else {
            let lines = c.transcript.iter().zip(ids);
            to_index.extend(lines.map(|(l, id)| (l.channel.as_str(), l.user.as_str(), id)));
        }
        if !to_index.is_empty() {
            let index = open(self.tx, &mut self.transcript_index, TRANSCRIPT_INDEX)?;
            for (channel, user, id) in to_index {
                index
                    .insert(index_key(channel, user, id).as_str(), id)
                    .map_err(db_err)?;
            }
        }
        if !c.tickets.is_empty() {
            let t = open(self.tx, &mut self.tickets, TICKETS)?;
            for ticket in &c.tickets {
                t.insert(ticket.id.as_str(), encode(ticket)?.as_slice())
                    .map_err(db_err)?;
            }
        }
        if !c.handoffs.is_empty() {
            let t = open(self.tx, &mut self.handoffs, HANDOFFS)?;
            for h in &c.handoffs {
                t.insert(key_of(&h.key()).as_str(), encode(h)?.as_slice())
                    .map_err(db_err)?;
            }
        }
        if !c.outbox.is_empty() {
            let messages = std::mem::take(&mut encoded.outbox);
            let last = self.take("outbox", messages.len())?;
            let table = open(self.tx, &mut self.outbox, OUTBOX)?;
            append(table, last, messages)?;
        }
        if !c.inbox_done.is_empty() {
            let t = open(self.tx, &mut self.inbox, INBOX)?;
            for id in &c.inbox_done {
                t.remove(id).map_err(db_err)?;
            }
        }
        for (k, delta) in &c.counters {
            self.count(k, *delta);
        }
        Ok(SaveOutcome::Saved(version))
    }
}

/// The records of change set `c` as the writer stores them. The session is
/// encoded as it is saved: at the version after the one it was read at
/// (the only version a commit that is not refused can save).
fn encode_changes(c: &mut Changes) -> Result<Encoded> {
    let session = match c.session.as_mut() {
        Some((_, session)) => {
            session.version += 1;
            let json = encode(session);
            session.version -= 1;
            Some(json?)
        }
        None => None,
    };
    Ok(Encoded {
        record: Vec::new(),
        transcript: c.transcript.iter().map(encode).collect::<Result<_>>()?,
        outbox: c.outbox.iter().map(encode).collect::<Result<_>>()?,
        session,
    })
}

/// The session stored under row key `k`.
fn stored_session(tx: &redb::ReadTransaction, k: &str) -> Result<Option<Session>> {
    let t = tx.open_table(SESSIONS).map_err(db_err)?;
    let Some(v) = t.get(k).map_err(db_err)? else {
        return Ok(None);
    };
    decode(SessionRow::parse(v.value())?.json).map(Some)
}

fn all<K: redb::Key + 'static, T: DeserializeOwned>(
    tx: &redb::ReadTransaction,
    def: TableDefinition<K, &[u8]>,
) -> Result<Vec<T>> {
    let t = tx.open_table(def).map_err(db_err)?;
    let mut out = Vec::new();
    for item in t.iter().map_err(db_err)? {
        let (_, v) = item.map_err(db_err)?;
        out.push(decode(v.value())?);
    }
    Ok(out)
}

fn with_ids<T: DeserializeOwned>(
    tx: &redb::ReadTransaction,
    def: TableDefinition<u64, &[u8]>,
) -> Result<Vec<(u64, T)>> {
    let t = tx.open_table(def).map_err(db_err)?;
    let mut out = Vec::new();
    for item in t.iter().map_err(db_err)? {
        let (k, v) = item.map_err(db_err)?;
        out.push((k.value(), decode(v.value())?));
    }
    Ok(out)
}

#[async_trait::async_trait]
impl Store for RedbStore {
    async fn session(&self, key: &SessionKey) -> Result<Option<Session>> {
        let k = key_of(key);
        if let Some(hot) = self.hot().sessions.get(&k) {
            return Ok(Some(hot.session.clone()));
        }
        self.read(move |tx| stored_session(tx, &k)).await
    }

    async fn commit(&self, mut changes: Changes) -> Result<SaveOutcome> {
        // Encoded here, on the caller's task, in parallel with other
        // callers, rather than on the one writer thread.
        let record = log::encode(&RecordRef::Commit(&changes))?;
        let mut encoded = encode_changes(&mut changes)?;
        encoded.record = record;
        self.writer.commit(changes, Some(encoded)).await
    }

    async fn next_number(&self, name: &str) -> Result<u64> {
        self.writer.next_number(format!("seq:{name}")).await
    }

    async fn ticket(&self, id: &str) -> Result<Option<Ticket>> {
        let id = id.to_owned();
        self.read(move |tx| {
            let t = tx.open_table(TICKETS).map_err(db_err)?;
            t.get(id.as_str())
                .map_err(db_err)?
                .map(|v| decode(v.value()))
                .transpose()
        })
        .await
    }

    async fn tickets(&self) -> Result<Vec<Ticket>> {
        let mut all: Vec<Ticket> = self.read(|tx| all(tx, TICKETS)).await?;
        all.sort_by(|a, b| {
            a.created_ms
                .cmp(&b.created_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(all)
    }

    async fn handoffs(&self) -> Result<Vec<Handoff>> {
        self.read(|tx| all(tx, HANDOFFS)).await
    }

    async fn handoff(&self, key: &SessionKey) -> Result<Option<Handoff>> {
        let k = key_of(key);
        self.read(move |tx| {
            let t = tx.open_table(HANDOFFS).map_err(db_err)?;
            t.get(k.as_str())
                .map_err(db_err)?
                .map(|v| decode(v.value()))
                .transpose()
        })
        .await
    }

    async fn transcript(&self, since_ms: u64) -> Result<Vec<TranscriptEntry>> {
        let lines: Vec<TranscriptEntry> = self.read(|tx| all(tx, TRANSCRIPT)).await?;
        Ok(lines
            .into_iter()
            .filter(|l| l.time_ms >= since_ms)
            .collect())
    }

    async fn conversation(
        &self,
        key: &SessionKey,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>> {
        let from = index_key(&key.channel, &key.user, 0);
        let to = index_key(&key.channel, &key.user, u64::MAX);
        let row = key_of(key);
        self.read(move |tx| {
            // The newest ids ride in the session row; the index has the
            // rest, and whatever was written without the session.
            let mut pending = match tx
                .open_table(SESSIONS)
                .map_err(db_err)?
                .get(row.as_str())
                .map_err(db_err)?
            {
                Some(v) => SessionRow::parse(v.value())?.pending,
                None => Vec::new(),
            };
            let index = tx.open_table(TRANSCRIPT_INDEX).map_err(db_err)?;
            let mut indexed = index
                .range(from.as_str()..=to.as_str())
                .map_err(db_err)?
                .rev()
                .map(|item| item.map(|(_, id)| id.value()).map_err(db_err))
                .peekable();
            let transcript = tx.open_table(TRANSCRIPT).map_err(db_err)?;
            let mut lines = Vec::new();
            // Newest first (both lists are in id order), until `limit`
            // lines of the period are found.
            while lines.len() < limit {
                let newest = match (pending.last(), indexed.peek()) {
                    (Some(p), Some(Ok(i))) if p > i => pending.pop(),
                    (Some(_), None) => pending.pop(),
                    (_, Some(_)) => indexed.next().transpose()?,
                    (None, None) => None,
                };
                let Some(id) = newest else {
                    break;
                };
                let Some(v) = transcript.get(id).map_err(db_err)? else {
                    continue;
                };
                let line: TranscriptEntry = decode(v.value())?;
                if line.time_ms >= since_ms {
                    lines.push(line);
                }
            }
            lines.reverse();
            Ok(lines)
        })
        .await
    }

    async fn counters(&self) -> Result<BTreeMap<String, i64>> {
        self.read(|tx| {
            let t = tx.open_table(COUNTERS).map_err(db_err)?;
            let mut out = BTreeMap::new();
            for item in t.iter().map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                out.insert(k.value().to_owned(), v.value());
            }
            Ok(out)
        })
        .await
    }

    async fn outbox(&self) -> Result<Vec<(u64, OutboxMessage)>> {
        self.outbox_after(0).await
    }

    /// Only durable messages: see [`wal`].
    async fn outbox_after(&self, after: u64) -> Result<Vec<(u64, OutboxMessage)>> {
        let durable = self.hot().durable_outbox;
        if durable <= after {
            return Ok(Vec::new());
        }
        self.read(move |tx| {
            let t = tx.open_table(OUTBOX).map_err(db_err)?;
            let mut out = Vec::new();
            for item in t.range(after.saturating_add(1)..=durable).map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                out.push((k.value(), decode(v.value())?));
            }
            Ok(out)
        })
        .await
    }

    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<()> {
        self.writer.update_outbox(updates).await
    }

    async fn accept(&self, items: Vec<InboxItem>) -> Result<Vec<Option<u64>>> {
        self.writer.accept(items).await
    }

    async fn is_seen(&self, channel: &str, message_id: &str) -> Result<bool> {
        let key = super::dedup_key(channel, message_id);
        let hot = self.hot();
        Ok(hot.seen.contains_key(&key) && !hot.unsynced_seen.contains(&key))
    }

    async fn inbox(&self) -> Result<Vec<(u64, InboxItem)>> {
        self.read(|tx| with_ids(tx, INBOX)).await
    }

    async fn forget_seen(&self, before_ms: u64) -> Result<u64> {
        self.writer.forget(before_ms).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        self.read(|tx| all(tx, DEAD)).await
    }

    async fn delivery(&self, channel: &str, provider_id: &str) -> Result<Option<Delivery>> {
        let key = Delivery::key(channel, provider_id);
        self.read(move |tx| {
            let t = tx.open_table(DELIVERIES).map_err(db_err)?;
            t.get(key.as_str())
                .map_err(db_err)?
                .map(|v| decode(v.value()))
                .transpose()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Direction;

    /// Past its capacity, memory drops the sessions committed longest ago:
    /// a citizen writing all along stays, one silent since the start goes.
    #[test]
    fn memory_keeps_the_sessions_committed_most_recently() {
        let mut hot = Hot::new(16);
        let commit = |hot: &mut Hot, key: &str| {
            hot.session(
                key.to_owned(),
                HotSession {
                    session: Session::default(),
                    pending: Vec::new(),
                    at: 0,
                },
            );
        };
        commit(&mut hot, "silent");
        for n in 0..14 {
            commit(&mut hot, &format!("warga-{n}"));
            commit(&mut hot, "active");
        }
        assert_eq!(hot.sessions.len(), 16);
        commit(&mut hot, "new");
        // The two committed longest ago went: an eighth of sixteen.
        assert_eq!(hot.sessions.len(), 15);
        for key in ["active", "new", "warga-1", "warga-13"] {
            assert!(hot.sessions.contains_key(key), "{key}");
        }
        assert!(!hot.sessions.contains_key("silent"));
        assert!(!hot.sessions.contains_key("warga-0"));
    }

    /// A data folder written before the per-conversation index existed
    /// gets the index on its first open.
    #[tokio::test]
    async fn an_older_data_folder_gets_the_conversation_index() {
        let dir = tempfile::tempdir().unwrap();
        claim_folder(dir.path(), "redb").unwrap();
        {
            let db = Database::create(dir.path().join(FILE_NAME)).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut t = tx.open_table(TRANSCRIPT).unwrap();
                for (id, user) in [(1, "a"), (2, "b"), (3, "a")] {
                    let line = TranscriptEntry {
                        time_ms: id * 10,
                        channel: "whatsapp".into(),
                        user: user.into(),
                        direction: Direction::In,
                        text: format!("baris {id}"),
                        intent: None,
                        score: None,
                        layer: None,
                        latency_us: None,
                        author: None,
                    };
                    t.insert(id, encode(&line).unwrap().as_slice()).unwrap();
                }
            }
            tx.commit().unwrap();
        }
        let store = RedbStore::open(dir.path()).unwrap();
        let lines = store
            .conversation(&SessionKey::new("whatsapp", "a"), 0, 10)
            .await
            .unwrap();
        assert_eq!(texts(lines), ["baris 1", "baris 3"]);
    }

    fn texts(lines: Vec<TranscriptEntry>) -> Vec<String> {
        lines.into_iter().map(|l| l.text).collect()
    }

    fn said(user: &str, text: &str, time_ms: u64) -> TranscriptEntry {
        TranscriptEntry {
            time_ms,
            channel: "whatsapp".into(),
            user: user.into(),
            direction: Direction::In,
            text: text.into(),
            intent: None,
            score: None,
            layer: None,
            latency_us: None,
            author: None,
        }
    }

    /// Lines whose ids are still carried by the session row are listed once
    /// after the store is opened again: an index that is empty because of
    /// them is not rebuilt from the transcript.
    #[tokio::test]
    async fn a_reopened_store_lists_each_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let key = SessionKey::new("whatsapp", "a");
        {
            let store = RedbStore::open(dir.path()).unwrap();
            let mut session = Session::default();
            for t in 0..3 {
                let c = Changes {
                    session: Some((key.clone(), session.clone())),
                    transcript: vec![said("a", &format!("m{t}"), t)],
                    ..Changes::default()
                };
                let SaveOutcome::Saved(v) = store.commit(c).await.unwrap() else {
                    panic!("not saved");
                };
                session.version = v;
            }
        }
        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(
            texts(store.conversation(&key, 0, 10).await.unwrap()),
            ["m0", "m1", "m2"]
        );
    }

    /// One group holding two writes of one session at the same version, and
    /// two messages with one provider id: the second of each is refused,
    /// as if they had come in separate groups.
    #[test]
    fn a_group_checks_each_change_against_the_ones_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join(FILE_NAME)).unwrap());
        let hot = Arc::new(Mutex::new(Hot::new(HOT_SESSIONS)));
        let mut writer = RedbWriter::new(db, hot, dir.path().join(wal::FILE_NAME), 0).unwrap();
        let key = SessionKey::new("whatsapp", "a");
        let write = |session_version: u64, seen: Option<&str>| {
            Job::Commit(Box::new(Commit {
                encoded: None,
                changes: Changes {
                    seen: seen.map(|id| (super::super::dedup_key("whatsapp", id), 1)),
                    session: Some((
                        key.clone(),
                        Session {
                            version: session_version,
                            ..Session::default()
                        },
                    )),
                    ..Changes::default()
                },
            }))
        };
        let mut group = |mut jobs: Vec<Job>| -> Vec<SaveOutcome> {
            writer
                .write_group(&mut jobs)
                .into_iter()
                .map(|r| match r.unwrap() {
                    Done::Saved(o) => o,
                    _ => panic!("not a commit's outcome"),
                })
                .collect()
        };
        assert_eq!(
            group(vec![
                write(0, Some("wamid.1")),
                write(0, None),
                write(1, Some("wamid.1")),
                write(1, Some("wamid.2")),
            ]),
            [
                SaveOutcome::Saved(1),
                SaveOutcome::Conflict,
                SaveOutcome::Duplicate,
                SaveOutcome::Saved(2),
            ]
        );
        // The next group sees what this one committed (now also in memory),
        // and again each change what the ones before it in the group wrote.
        assert_eq!(
            group(vec![
                write(1, None),
                write(2, None),
                write(2, None),
                write(3, Some("wamid.2")),
            ]),
            [
                SaveOutcome::Conflict,
                SaveOutcome::Saved(3),
                SaveOutcome::Conflict,
                SaveOutcome::Duplicate,
            ]
        );
    }

    /// A group writes its sequences and counters once, at its end: what it
    /// handed out and counted is on disk after the store is opened again,
    /// and numbering goes on where it stopped.
    #[tokio::test]
    async fn sequences_and_counters_outlive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Arc::new(RedbStore::open(dir.path()).unwrap());
            let mut tasks = Vec::new();
            for i in 0..50 {
                let store = Arc::clone(&store);
                tasks.push(tokio::spawn(async move {
                    let mut c = Changes {
                        transcript: vec![said("a", &format!("m{i}"), i)],
                        outbox: vec![OutboxMessage {
                            channel: "whatsapp".into(),
                            user: "a".into(),
                            text: format!("jawaban {i}"),
                            ..OutboxMessage::default()
                        }],
                        ..Changes::default()
                    };
                    c.count("in:2026-11-28:whatsapp", 1);
                    assert_eq!(store.commit(c).await.unwrap(), SaveOutcome::Saved(0));
                    store.next_number("ADU-2026").await.unwrap()
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(store.next_number("ADU-2026").await.unwrap(), 51);
        assert_eq!(
            store.counters().await.unwrap()["in:2026-11-28:whatsapp"],
            50
        );
        let mut c = Changes {
            transcript: vec![said("a", "m50", 50)],
            outbox: vec![OutboxMessage {
                channel: "whatsapp".into(),
                user: "a".into(),
                text: "jawaban 50".into(),
                ..OutboxMessage::default()
            }],
            ..Changes::default()
        };
        c.count("in:2026-11-28:whatsapp", 1);
        assert_eq!(store.commit(c).await.unwrap(), SaveOutcome::Saved(0));
        let outbox = store.outbox().await.unwrap();
        assert_eq!(outbox.len(), 51, "no outbox id was handed out twice");
        assert_eq!(outbox.last().unwrap().0, 51);
        assert_eq!(store.transcript(0).await.unwrap().len(), 51);
        assert_eq!(
            store.counters().await.unwrap()["in:2026-11-28:whatsapp"],
            51
        );
    }

    /// What the store answers from memory is what the file holds after it
    /// is opened again: provider ids seen (and forgotten) before, and the
    /// sessions, read from the file until they are written again.
    #[tokio::test]
    async fn seen_ids_and_sessions_outlive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = SessionKey::new("whatsapp", "a");
        {
            let store = RedbStore::open(dir.path()).unwrap();
            for (id, at) in [("wamid.lama", 10), ("wamid.baru", 30)] {
                let c = Changes {
                    seen: Some((super::super::dedup_key("whatsapp", id), at)),
                    session: Some((
                        key.clone(),
                        store.session(&key).await.unwrap().unwrap_or_default(),
                    )),
                    ..Changes::default()
                };
                assert!(matches!(
                    store.commit(c).await.unwrap(),
                    SaveOutcome::Saved(_)
                ));
            }
            assert_eq!(store.forget_seen(20).await.unwrap(), 1);
        }
        let store = RedbStore::open(dir.path()).unwrap();
        assert!(store.is_seen("whatsapp", "wamid.baru").await.unwrap());
        assert!(!store.is_seen("whatsapp", "wamid.lama").await.unwrap());
        assert_eq!(
            store.session_if_unseen(&key, "wamid.baru").await.unwrap(),
            None
        );
        let session = store
            .session_if_unseen(&key, "wamid.lain")
            .await
            .unwrap()
            .flatten()
            .expect("the session from the file");
        assert_eq!(session.version, 2);
        let c = Changes {
            session: Some((key.clone(), session)),
            ..Changes::default()
        };
        assert_eq!(store.commit(c).await.unwrap(), SaveOutcome::Saved(3));
        assert_eq!(store.session(&key).await.unwrap().unwrap().version, 3);
    }

    /// A folder whose session rows are JSON alone, as they were before the
    /// rows carried line ids, and whose index has every line: sessions read
    /// and save as before, and old and new lines make one conversation.
    #[tokio::test]
    async fn session_rows_of_an_older_folder_read_and_save() {
        let dir = tempfile::tempdir().unwrap();
        claim_folder(dir.path(), "redb").unwrap();
        let key = SessionKey::new("whatsapp", "a");
        let old = Session {
            version: 4,
            last_intent: Some("menu".into()),
            ..Session::default()
        };
        {
            let db = Database::create(dir.path().join(FILE_NAME)).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut sessions = tx.open_table(SESSIONS).unwrap();
                sessions
                    .insert(key_of(&key).as_str(), encode(&old).unwrap().as_slice())
                    .unwrap();
                let mut transcript = tx.open_table(TRANSCRIPT).unwrap();
                let mut index = tx.open_table(TRANSCRIPT_INDEX).unwrap();
                for id in 1..=2 {
                    let line = said("a", &format!("lama {id}"), id);
                    transcript
                        .insert(id, encode(&line).unwrap().as_slice())
                        .unwrap();
                    index
                        .insert(index_key("whatsapp", "a", id).as_str(), id)
                        .unwrap();
                }
                tx.open_table(SEQUENCES)
                    .unwrap()
                    .insert("transcript", 2)
                    .unwrap();
            }
            tx.commit().unwrap();
        }
        let store = RedbStore::open(dir.path()).unwrap();
        let loaded = store.session(&key).await.unwrap().expect("old session");
        assert_eq!(loaded, old);
        let c = Changes {
            session: Some((key.clone(), loaded)),
            transcript: vec![said("a", "baru", 3)],
            ..Changes::default()
        };
        assert_eq!(store.commit(c).await.unwrap(), SaveOutcome::Saved(5));
        assert_eq!(
            texts(store.conversation(&key, 0, 10).await.unwrap()),
            ["lama 1", "lama 2", "baru"]
        );
        assert_eq!(store.session(&key).await.unwrap().unwrap().version, 5);
    }

    /// The log's framed records of `records`, numbered from `first`.
    fn log_of(first: u64, records: &[RecordRef<'_>]) -> Vec<u8> {
        let mut buf = Vec::new();
        for (seq, record) in (first..).zip(records) {
            log::frame(&mut buf, seq, record).unwrap();
        }
        buf
    }

    fn answer_to(user: &str, text: &str) -> OutboxMessage {
        OutboxMessage {
            channel: "whatsapp".into(),
            user: user.into(),
            text: text.into(),
            ..OutboxMessage::default()
        }
    }

    /// What a crash leaves: groups whose records reached the log after the
    /// database's last durable commit. On open they are applied again, once;
    /// a record the database already holds is skipped, a record cut short
    /// is dropped, and the log starts again.
    #[tokio::test]
    async fn records_after_the_last_checkpoint_are_applied_again_on_open() {
        let dir = tempfile::tempdir().unwrap();
        let key = SessionKey::new("whatsapp", "a");
        let first = Changes {
            session: Some((key.clone(), Session::default())),
            transcript: vec![said("a", "halo", 1)],
            ..Changes::default()
        };
        {
            let store = RedbStore::open(dir.path()).unwrap();
            assert_eq!(
                store.commit(first.clone()).await.unwrap(),
                SaveOutcome::Saved(1)
            );
        }
        // Closed cleanly: checkpointed, the log empty.
        let wal = dir.path().join(wal::FILE_NAME);
        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        drop(store);
        let durable =
            wal::durable_seq(&Database::create(dir.path().join(FILE_NAME)).unwrap()).unwrap();
        let session = Session {
            version: 1,
            last_intent: Some("izin_usaha".into()),
            ..Session::default()
        };
        let second = Changes {
            seen: Some((super::super::dedup_key("whatsapp", "wamid.2"), 5)),
            session: Some((key.clone(), session)),
            transcript: vec![said("a", "nama saya budi", 2)],
            outbox: vec![answer_to("a", "Terima kasih, Budi.")],
            ..Changes::default()
        };
        let item = InboxItem {
            channel: "whatsapp".into(),
            user: "b".into(),
            message_id: "wamid.3".into(),
            content: crate::message::Content::Text("halo".into()),
            time_ms: 6,
            received_ms: 6,
            profile_name: None,
        };
        let items = [item];
        // The first commit again (the database holds it: were it applied,
        // its version would conflict and the open fail), then the lost
        // groups, then half a record.
        let mut bytes = log_of(durable, &[RecordRef::Commit(&first)]);
        bytes.extend(log_of(
            durable + 1,
            &[
                RecordRef::Commit(&second),
                RecordRef::Next("seq:ADU-2026"),
                RecordRef::Accept(&items),
            ],
        ));
        let torn = log_of(durable + 4, &[RecordRef::Next("seq:ADU-2026")]);
        bytes.extend_from_slice(&torn[..torn.len() / 2]);
        std::fs::write(&wal, &bytes).unwrap();

        let store = RedbStore::open(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0);
        {
            let session = store.session(&key).await.unwrap().unwrap();
            assert_eq!(
                (session.version, session.last_intent.as_deref()),
                (2, Some("izin_usaha"))
            );
            assert_eq!(
                texts(store.conversation(&key, 0, 10).await.unwrap()),
                ["halo", "nama saya budi"]
            );
            let outbox = store.outbox().await.unwrap();
            assert_eq!(outbox.len(), 1);
            assert_eq!(outbox[0].1.text, "Terima kasih, Budi.");
            assert!(store.is_seen("whatsapp", "wamid.2").await.unwrap());
            assert_eq!(store.inbox().await.unwrap().len(), 1);
            assert!(store.is_seen("whatsapp", "wamid.3").await.unwrap());
            // The torn number was never handed out.
            assert_eq!(store.next_number("ADU-2026").await.unwrap(), 2);
        }
        drop(store);
        // Not applied twice: the next open finds what this one left.
        let store = RedbStore::open(dir.path()).unwrap();
        let session = store.session(&key).await.unwrap().unwrap();
        assert_eq!(session.version, 2);
        assert_eq!(store.next_number("ADU-2026").await.unwrap(), 3);
        assert_eq!(store.outbox().await.unwrap().len(), 1);
    }

    /// A record after the last checkpoint that does not apply means the log
    /// and the database disagree: the store refuses to open and says so.
    #[tokio::test]
    async fn a_log_that_does_not_follow_the_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = SessionKey::new("whatsapp", "a");
        {
            let store = RedbStore::open(dir.path()).unwrap();
            let c = Changes {
                session: Some((key.clone(), Session::default())),
                ..Changes::default()
            };
            assert_eq!(store.commit(c).await.unwrap(), SaveOutcome::Saved(1));
        }
        drop(RedbStore::open(dir.path()).unwrap());
        // A write of the session at the version it had before.
        let stale = Changes {
            session: Some((key, Session::default())),
            ..Changes::default()
        };
        let wal = dir.path().join(wal::FILE_NAME);
        std::fs::write(&wal, log_of(1_000, &[RecordRef::Commit(&stale)])).unwrap();
        let err = RedbStore::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("layan.wal record 1000"), "{err}");
        assert!(err.contains("does not follow the database"), "{err}");
    }

    /// What the log has not synced yet acts on nothing: a provider id is
    /// not reported as seen and an outbox message is not handed out.
    #[tokio::test]
    async fn what_is_not_synced_is_neither_seen_nor_sent() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let c = Changes {
            seen: Some((super::super::dedup_key("whatsapp", "wamid.1"), 5)),
            outbox: vec![answer_to("a", "satu"), answer_to("a", "dua")],
            ..Changes::default()
        };
        assert_eq!(store.commit(c).await.unwrap(), SaveOutcome::Saved(0));
        assert!(store.is_seen("whatsapp", "wamid.1").await.unwrap());
        assert_eq!(store.outbox().await.unwrap().len(), 2);
        {
            // As the writer leaves them while the group's records are on
            // their way to the log.
            let mut hot = store.hot();
            hot.unsynced_seen
                .insert(super::super::dedup_key("whatsapp", "wamid.1"));
            hot.durable_outbox = 1;
        }
        assert!(!store.is_seen("whatsapp", "wamid.1").await.unwrap());
        let outbox = store.outbox().await.unwrap();
        assert_eq!(outbox.len(), 1);
        assert_eq!(outbox[0].1.text, "satu");
        assert!(store.outbox_after(1).await.unwrap().is_empty());
    }

    /// A log that cannot be written: the group's callers hear why, every
    /// later write is refused with the same reason (the process then holds
    /// changes that are not durable), and no checkpoint makes them durable
    /// behind the callers' backs.
    #[test]
    fn a_log_that_cannot_be_written_fails_its_group_and_refuses_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join(FILE_NAME)).unwrap());
        let hot = Arc::new(Mutex::new(Hot::new(HOT_SESSIONS)));
        let path = dir.path().join(wal::FILE_NAME);
        let mut writer =
            RedbWriter::new(Arc::clone(&db), Arc::clone(&hot), path.clone(), 0).unwrap();
        // The log thread gets a file it cannot write to.
        let read_only = std::fs::File::open(&path).unwrap();
        writer.wal = Wal::start(read_only, path, Arc::clone(&hot)).unwrap();
        let key = SessionKey::new("whatsapp", "a");
        let mut send = |version: u64| {
            let mut jobs = vec![Job::Commit(Box::new(Commit {
                encoded: None,
                changes: Changes {
                    session: Some((
                        key.clone(),
                        Session {
                            version,
                            ..Session::default()
                        },
                    )),
                    ..Changes::default()
                },
            }))];
            let (tx, rx) = tokio::sync::oneshot::channel();
            writer.write_and_answer(&mut jobs, vec![tx]);
            match rx.blocking_recv().unwrap() {
                Ok(_) => panic!("a write whose log failed was reported done"),
                Err(e) => e.to_string(),
            }
        };
        let first = send(0);
        assert!(
            first.contains("cannot write") && first.contains("layan.wal"),
            "{first}"
        );
        assert!(first.contains("restart layan"), "{first}");
        // Refused before it is applied: the session is still at version 1
        // in memory, and this write at version 1 is not even tried.
        assert_eq!(send(1), first);
        let version =
            |hot: &Mutex<Hot>| hot.lock().unwrap().sessions[&key_of(&key)].session.version;
        assert_eq!(version(&hot), 1, "the refused write was applied");
        writer.checkpoint();
        assert!(writer.unchecked, "no checkpoint after a failed log");
    }
}
