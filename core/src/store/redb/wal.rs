//! The redb store's write-ahead log: what makes a group durable.
//!
//! redb makes a commit durable by writing its pages and syncing the whole
//! file, which is most of what a group costs, and the writer thread could
//! do nothing else meanwhile. So the writer commits each group to redb
//! without that sync (visible to the process, not durable) and hands the
//! group's log records to the log thread, which appends them to
//! `layan.wal`, syncs once for everything that queued up, and only then
//! answers the group's callers. The writer meanwhile applies the next
//! group: the two overlap. At most one group waits for the log thread;
//! past it the writer waits too, and the jobs that queue up meanwhile
//! make its next group bigger, so redb is committed less often.
//!
//! Now and then (a second, or a few megabytes of log, or when idle) the
//! writer commits a group durably to redb: a checkpoint. Everything before
//! it is then in the database file, and the log starts again. Each
//! group's transaction records in redb the sequence of its last record, so
//! that on open the records after the database's last durable commit, and
//! only those, are applied again (`replay`).
//!
//! Until its records are synced, what a group wrote is visible in the
//! process but must not act on the world: a provider id it accepted is not
//! reported as seen (the retry is handled and then refused by the commit),
//! and an outbox message it queued is not handed to the sender. [`Hot`]
//! keeps the ids (`unsynced_seen`) and the newest durable outbox id.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, TableDefinition};

use super::{Hot, META, SEQUENCES, WAL_SEQ, db_err, transact};
use crate::error::{Error, Result};
use crate::session::SaveOutcome;
use crate::store::log::{self, Record};
use crate::store::writer::{Commit, Done, Job, Reply, answer};

/// The log's file name inside the data folder.
pub const FILE_NAME: &str = "layan.wal";

/// A group on its way to the log thread.
pub(super) struct Logged {
    /// The group's framed records (none when the group changed nothing or
    /// was committed durably).
    pub(super) frames: Vec<u8>,
    pub(super) replies: Vec<Reply>,
    pub(super) results: Vec<Result<Done>>,
    /// Provider ids the group accepted.
    pub(super) seen: Vec<String>,
    /// The last outbox id the group handed out, if any.
    pub(super) outbox_last: Option<u64>,
}

/// What the log thread is sent, in the writer's order.
pub(super) enum ToLog {
    Group(Logged),
    /// Every group before this one is durable in the database: the log may
    /// start again.
    Checkpoint,
}

/// The writer's handle on the log thread.
pub(super) struct Wal {
    tx: Option<mpsc::SyncSender<ToLog>>,
    thread: Option<JoinHandle<()>>,
    /// Why the log cannot be written, once it could not: the process then
    /// holds changes that are not durable and were reported failed, so
    /// every later write is refused until a restart recovers what is, and
    /// no checkpoint is taken. (redb itself commits what it holds when the
    /// store is closed cleanly: a group reported failed may then be kept.
    /// Its callers retry, and a message kept is answered as a duplicate
    /// and handled from the inbox: at least once, never lost.)
    pub(super) failed: Arc<OnceLock<String>>,
}

impl Wal {
    /// Starts the log thread appending to `log` (the file at `path`).
    pub(super) fn start(log: File, path: PathBuf, hot: Arc<Mutex<Hot>>) -> Result<Self> {
        // One message waits while the log thread syncs; the writer then
        // waits too, and the jobs queueing meanwhile make its next group
        // bigger: fewer commits to redb for the same messages.
        let (tx, rx) = mpsc::sync_channel(1);
        let failed = Arc::new(OnceLock::new());
        let mut syncer = Syncer {
            log,
            path,
            hot,
            failed: Arc::clone(&failed),
        };
        let thread = std::thread::Builder::new()
            .name("layan-redb-log".to_owned())
            .spawn(move || syncer.run(&rx))
            .map_err(|e| Error::Store(format!("cannot start the log thread: {e}")))?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
            failed,
        })
    }

    /// Hands `message` to the log thread. If it has stopped (it only stops
    /// when told to), a group's callers hear so.
    pub(super) fn send(&self, message: ToLog) {
        let Some(tx) = &self.tx else {
            return refuse(message, "the log thread has stopped");
        };
        if let Err(mpsc::SendError(message)) = tx.send(message) {
            refuse(message, "the log thread has stopped");
        }
    }

    /// Stops the log thread after it has written and answered everything.
    pub(super) fn stop(&mut self) {
        self.tx = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(target: "layan_core::store", "the redb log thread panicked");
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        self.stop();
    }
}

fn refuse(message: ToLog, why: &str) {
    if let ToLog::Group(group) = message {
        let errors = group
            .results
            .iter()
            .map(|_| Err(Error::Store(why.to_owned())))
            .collect();
        answer(group.replies, errors);
    }
}

/// The log thread.
struct Syncer {
    log: File,
    path: PathBuf,
    hot: Arc<Mutex<Hot>>,
    failed: Arc<OnceLock<String>>,
}

impl Syncer {
    fn run(&mut self, rx: &mpsc::Receiver<ToLog>) {
        while let Ok(first) = rx.recv() {
            // Everything queued meanwhile shares one append and one sync.
            let mut waiting = Vec::new();
            let mut durable = Vec::new();
            let mut buf = Vec::new();
            for message in std::iter::once(first).chain(rx.try_iter()) {
                match message {
                    ToLog::Group(group) => {
                        buf.extend_from_slice(&group.frames);
                        waiting.push(group);
                    }
                    ToLog::Checkpoint => {
                        // The groups so far are in the database: their
                        // records, written or not, are not needed.
                        buf.clear();
                        durable.append(&mut waiting);
                        self.cut();
                    }
                }
            }
            if let Some(why) = self.failed.get() {
                // Groups a checkpoint made durable before the failure are
                // still answered with their results below.
                for group in waiting.drain(..) {
                    refuse(ToLog::Group(group), why);
                }
            } else if !buf.is_empty()
                && let Err(e) = self.log.write_all(&buf).and_then(|()| self.log.sync_data())
            {
                let why = format!(
                    "cannot write {}: {e}; restart layan to recover what is durable",
                    self.path.display()
                );
                tracing::error!(target: "layan_core::store", error = %e, "the redb log cannot be written; refusing writes");
                // Set before anyone hears of it: a write sent after that is
                // refused by the writer, not applied.
                let why = self.failed.get_or_init(|| why);
                for group in waiting {
                    refuse(ToLog::Group(group), why);
                }
            } else {
                durable.append(&mut waiting);
            }
            {
                let mut hot = self.hot.lock().unwrap_or_else(PoisonError::into_inner);
                for group in &durable {
                    for key in &group.seen {
                        hot.unsynced_seen.remove(key);
                    }
                    if let Some(last) = group.outbox_last {
                        hot.durable_outbox = hot.durable_outbox.max(last);
                    }
                }
            }
            for group in durable {
                answer(group.replies, group.results);
            }
        }
    }

    /// Starts the log again. Should cutting fail, the records stay: those
    /// the database holds are skipped on replay.
    fn cut(&mut self) {
        if let Err(e) = self.log.set_len(0) {
            tracing::warn!(target: "layan_core::store", path = %self.path.display(), error = %e, "cannot cut the redb log after a checkpoint; it keeps growing until the next");
        }
    }
}

/// Opens the log at `path` for appending, creating it.
pub(super) fn open(path: &Path) -> Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
}

/// Applies again the log's records that the database's last durable
/// commit does not hold (written since, then the process stopped before a
/// checkpoint), commits them durably and empties the log. Returns the last
/// sequence number used.
pub(super) fn replay(db: &Database, hot: &Mutex<Hot>, path: &Path) -> Result<u64> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let durable = durable_seq(db)?;
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(durable),
        Err(e) => return Err(io(e)),
    };
    let mut at = 0;
    let mut last = durable;
    let (mut seqs, mut jobs) = (Vec::new(), Vec::new());
    while let Some((seq, payload, next)) = log::read_frame(&bytes, at) {
        if seq > last {
            jobs.push(job_of(log::decode(path, seq, payload)?));
            seqs.push(seq);
            last = seq;
        }
        at = next;
    }
    if at < bytes.len() {
        tracing::warn!(
            target: "layan_core::store",
            path = %path.display(),
            bytes = bytes.len() - at,
            "dropping an incomplete record at the end of the redb log (a write cut short, never acknowledged)"
        );
    }
    if !jobs.is_empty() {
        tracing::info!(target: "layan_core::store", records = jobs.len(), "applying the redb log's records written after the last checkpoint");
        transact(db, hot, &mut jobs, true, |_, results| {
            for (seq, done) in seqs.iter().zip(results) {
                if let Done::Saved(outcome @ (SaveOutcome::Conflict | SaveOutcome::Duplicate)) =
                    done
                {
                    return Err(Error::Store(format!(
                        "{} record {seq} does not apply ({outcome:?}): the log does not follow the database",
                        path.display()
                    )));
                }
            }
            Ok(Some(last))
        })?;
    }
    let log = OpenOptions::new().write(true).open(path).map_err(io)?;
    log.set_len(0).and_then(|()| log.sync_all()).map_err(io)?;
    Ok(last)
}

/// The sequence of the last log record the database holds durably.
pub(super) fn durable_seq(db: &Database) -> Result<u64> {
    stored_number(db, META, WAL_SEQ)
}

/// The newest outbox id handed out: all of them are durable on open.
pub(super) fn last_outbox(db: &Database) -> Result<u64> {
    stored_number(db, SEQUENCES, "outbox")
}

/// The number under `key` in table `def` (0 when there is none).
fn stored_number(db: &Database, def: TableDefinition<&str, u64>, key: &str) -> Result<u64> {
    Ok(db
        .begin_read()
        .map_err(db_err)?
        .open_table(def)
        .map_err(db_err)?
        .get(key)
        .map_err(db_err)?
        .map_or(0, |v| v.value()))
}

fn job_of(record: Record) -> Job {
    match record {
        Record::Commit(changes) => Job::Commit(Box::new(Commit {
            changes: *changes,
            encoded: None,
        })),
        Record::Next(name) => Job::Next(name),
        Record::Outbox(updates) => Job::Outbox(updates),
        Record::Accept(items) => Job::Accept(items),
        Record::Forget(before) => Job::Forget(before),
    }
}
