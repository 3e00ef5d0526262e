//! The sled store (cargo feature `sled`), for those who want it.
//!
//! Same shape as the redb store: one writer thread takes whatever change
//! sets have queued, applies each in its own sled transaction across all
//! trees (so a change set is atomic, and a conflicting one writes nothing),
//! then flushes once for the group and only then answers the callers. The
//! writer is the only thread that flushes: concurrent `flush_async` calls
//! can deadlock (sled issue #1308). Known upstream limits apply: sled's
//! flush on Linux uses `sync_file_range`, which is not power-loss safe, and
//! it uses about three times the disk of redb. redb remains the default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::redb::claim_folder;
use super::writer::{Done, GroupWriter, Job, Writer};
use super::{
    Changes, DeadLetter, Delivery, Handoff, InboxItem, OutboxMessage, OutboxUpdate, Store, Ticket,
    TranscriptEntry,
};
use crate::error::{Error, Result};
use crate::session::{SaveOutcome, Session, SessionKey};

const TREES: [&str; 11] = [
    "sessions",
    "tickets",
    "handoffs",
    "transcript",
    "counters",
    "sequences",
    "outbox",
    "inbox",
    "seen",
    "dead_letters",
    "deliveries",
];
const SESSIONS: usize = 0;
const TICKETS: usize = 1;
const HANDOFFS: usize = 2;
const TRANSCRIPT: usize = 3;
const COUNTERS: usize = 4;
const SEQUENCES: usize = 5;
const OUTBOX: usize = 6;
const INBOX: usize = 7;
const SEEN: usize = 8;
const DEAD: usize = 9;
const DELIVERIES: usize = 10;

fn db_err(e: impl std::fmt::Display) -> Error {
    Error::Store(format!("sled: {e}"))
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::Store(format!("encode: {e}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| Error::Store(format!("corrupt record: {e}")))
}

fn key_of(k: &SessionKey) -> String {
    format!("{}\u{1f}{}", k.channel, k.user)
}

fn u64_of(bytes: Option<sled::IVec>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
}

/// The sled store.
#[derive(Clone)]
pub struct SledStore {
    trees: Vec<sled::Tree>,
    writer: Writer,
    path: PathBuf,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Opens (or creates) the store in folder `dir`.
    ///
    /// # Errors
    /// The folder cannot be created, holds another backend's data, or sled fails.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        claim_folder(dir, "sled")?;
        let path = dir.join("sled");
        let db = sled::open(&path).map_err(db_err)?;
        let trees = TREES
            .iter()
            .map(|name| db.open_tree(name).map_err(db_err))
            .collect::<Result<Vec<_>>>()?;
        let writer = Writer::spawn(
            "layan-sled-writer",
            SledWriter {
                db,
                trees: trees.clone(),
            },
        )?;
        Ok(Self {
            trees,
            writer,
            path,
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&[sled::Tree]) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let trees = self.trees.clone();
        tokio::task::spawn_blocking(move || f(&trees))
            .await
            .map_err(|e| Error::Store(format!("read task: {e}")))?
    }
}

/// Applies each job of a group in its own transaction, then flushes once.
/// This thread is the only one that flushes.
struct SledWriter {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

impl GroupWriter for SledWriter {
    fn write_group(&mut self, jobs: &mut [Job]) -> Vec<Result<Done>> {
        let results: Vec<Result<Done>> = jobs.iter().map(|job| apply(&self.trees, job)).collect();
        match self.db.flush() {
            Ok(_) => results,
            Err(e) => jobs.iter().map(|_| Err(db_err(&e))).collect(),
        }
    }
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<String>>;

fn abort<E: std::fmt::Display>(e: E) -> ConflictableTransactionError<String> {
    ConflictableTransactionError::Abort(e.to_string())
}

/// Applies one job in one transaction; a conflicting commit writes nothing.
fn apply(trees: &[sled::Tree], job: &Job) -> Result<Done> {
    if let Job::Forget(before) = job {
        // Not transactional: forgetting is idempotent and may stop half-way.
        let mut removed = 0;
        for item in trees[SEEN].iter() {
            let (k, v) = item.map_err(db_err)?;
            if u64_of(Some(v)) < *before {
                trees[SEEN].remove(k).map_err(db_err)?;
                removed += 1;
            }
        }
        for item in trees[DELIVERIES].iter() {
            let (k, v) = item.map_err(db_err)?;
            if decode::<Delivery>(&v)?.time_ms < *before {
                trees[DELIVERIES].remove(k).map_err(db_err)?;
                removed += 1;
            }
        }
        return Ok(Done::Number(removed));
    }
    let accepted = std::cell::RefCell::new(Vec::new());
    let outcome = trees.transaction(|t: &Vec<TransactionalTree>| -> TxResult<u64> {
        match job {
            Job::Commit(c) => apply_changes(t, &c.changes),
            Job::Next(name) => {
                let next = u64_of(t[SEQUENCES].get(name.as_bytes())?) + 1;
                t[SEQUENCES].insert(name.as_bytes(), &next.to_be_bytes())?;
                Ok(next)
            }
            Job::Outbox(updates) => {
                for u in updates {
                    apply_outbox_update(t, u)?;
                }
                Ok(0)
            }
            Job::Accept(items) => {
                let mut accepted = accepted.borrow_mut();
                accepted.clear();
                let mut next = u64_of(t[SEQUENCES].get(b"inbox")?);
                for item in items {
                    let key = item.dedup_key();
                    if t[SEEN].get(key.as_bytes())?.is_some() {
                        accepted.push(None);
                        continue;
                    }
                    t[SEEN].insert(key.as_bytes(), &item.received_ms.to_be_bytes())?;
                    next += 1;
                    t[INBOX].insert(&next.to_be_bytes(), encode(item).map_err(abort)?)?;
                    accepted.push(Some(next));
                }
                t[SEQUENCES].insert(b"inbox", &next.to_be_bytes())?;
                Ok(0)
            }
            Job::Forget(_) => Ok(0),
        }
    });
    let done = |v: u64| match job {
        Job::Commit(_) => Done::Saved(SaveOutcome::Saved(v)),
        Job::Next(_) | Job::Forget(_) => Done::Number(v),
        Job::Outbox(_) => Done::Acked,
        Job::Accept(_) => Done::Accepted(accepted.borrow().clone()),
    };
    match outcome {
        Ok(v) => Ok(done(v)),
        Err(TransactionError::Abort(e)) if e == "conflict" => {
            Ok(Done::Saved(SaveOutcome::Conflict))
        }
        Err(TransactionError::Abort(e)) if e == "duplicate" => {
            Ok(Done::Saved(SaveOutcome::Duplicate))
        }
        Err(TransactionError::Abort(e)) => Err(Error::Store(e)),
        Err(TransactionError::Storage(e)) => Err(db_err(e)),
    }
}

fn apply_changes(t: &[TransactionalTree], c: &Changes) -> TxResult<u64> {
    if let Some((key, at)) = &c.seen {
        if t[SEEN].get(key.as_bytes())?.is_some() {
            return Err(ConflictableTransactionError::Abort("duplicate".to_owned()));
        }
        t[SEEN].insert(key.as_bytes(), &at.to_be_bytes())?;
    }
    let mut version = 0;
    if let Some((key, session)) = &c.session {
        let k = key_of(key);
        let current = match t[SESSIONS].get(k.as_bytes())? {
            Some(v) => decode::<Session>(&v).map_err(abort)?.version,
            None => 0,
        };
        if current != session.version {
            return Err(ConflictableTransactionError::Abort("conflict".to_owned()));
        }
        version = current + 1;
        let mut stored = session.clone();
        stored.version = version;
        t[SESSIONS].insert(k.as_bytes(), encode(&stored).map_err(abort)?)?;
    }
    let append = |tree: usize, seq: &str, values: Vec<Vec<u8>>| -> TxResult<()> {
        if values.is_empty() {
            return Ok(());
        }
        let mut next = u64_of(t[SEQUENCES].get(seq.as_bytes())?);
        for v in values {
            next += 1;
            t[tree].insert(&next.to_be_bytes(), v)?;
        }
        t[SEQUENCES].insert(seq.as_bytes(), &next.to_be_bytes())?;
        Ok(())
    };
    append(
        TRANSCRIPT,
        "transcript",
        c.transcript
            .iter()
            .map(encode)
            .collect::<Result<_>>()
            .map_err(abort)?,
    )?;
    append(
        OUTBOX,
        "outbox",
        c.outbox
            .iter()
            .map(encode)
            .collect::<Result<_>>()
            .map_err(abort)?,
    )?;
    for ticket in &c.tickets {
        t[TICKETS].insert(ticket.id.as_bytes(), encode(ticket).map_err(abort)?)?;
    }
    for h in &c.handoffs {
        t[HANDOFFS].insert(key_of(&h.key()).as_bytes(), encode(h).map_err(abort)?)?;
    }
    for id in &c.inbox_done {
        t[INBOX].remove(&id.to_be_bytes())?;
    }
    for (k, delta) in &c.counters {
        let v = t[COUNTERS]
            .get(k.as_bytes())?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map_or(0, i64::from_be_bytes);
        t[COUNTERS].insert(k.as_bytes(), &(v + delta).to_be_bytes())?;
    }
    Ok(version)
}

fn apply_outbox_update(t: &[TransactionalTree], u: &OutboxUpdate) -> TxResult<()> {
    match u {
        OutboxUpdate::Sent { id, .. } => {
            if let Some(v) = t[OUTBOX].remove(&id.to_be_bytes())? {
                let m: OutboxMessage = decode(&v).map_err(abort)?;
                if let Some(d) = u.delivery(&m) {
                    t[DELIVERIES].insert(
                        Delivery::key(&d.channel, &d.provider_id).as_bytes(),
                        encode(&d).map_err(abort)?,
                    )?;
                }
            }
        }
        OutboxUpdate::Retry { id, .. } => {
            if let Some(v) = t[OUTBOX].get(id.to_be_bytes())? {
                let mut m: OutboxMessage = decode(&v).map_err(abort)?;
                u.retry(&mut m);
                t[OUTBOX].insert(&id.to_be_bytes(), encode(&m).map_err(abort)?)?;
            }
        }
        OutboxUpdate::Dead { id, .. } => {
            if let Some(v) = t[OUTBOX].remove(&id.to_be_bytes())? {
                let message: OutboxMessage = decode(&v).map_err(abort)?;
                if let Some(dead) = u.dead_letter(message) {
                    let next = u64_of(t[SEQUENCES].get(b"dead_letters")?) + 1;
                    t[DEAD].insert(&next.to_be_bytes(), encode(&dead).map_err(abort)?)?;
                    t[SEQUENCES].insert(b"dead_letters", &next.to_be_bytes())?;
                }
            }
        }
        OutboxUpdate::Status {
            channel,
            provider_id,
            ..
        } => {
            let key = Delivery::key(channel, provider_id);
            if let Some(v) = t[DELIVERIES].get(key.as_bytes())? {
                let mut d: Delivery = decode(&v).map_err(abort)?;
                u.status(&mut d);
                t[DELIVERIES].insert(key.as_bytes(), encode(&d).map_err(abort)?)?;
            }
        }
    }
    Ok(())
}

fn all<T: DeserializeOwned>(tree: &sled::Tree) -> Result<Vec<T>> {
    tree.iter()
        .map(|item| item.map_err(db_err).and_then(|(_, v)| decode(&v)))
        .collect()
}

fn with_ids<T: DeserializeOwned>(tree: &sled::Tree) -> Result<Vec<(u64, T)>> {
    tree.iter()
        .map(|item| {
            let (k, v) = item.map_err(db_err)?;
            Ok((u64_of(Some(k)), decode(&v)?))
        })
        .collect()
}

#[async_trait::async_trait]
impl Store for SledStore {
    async fn session(&self, key: &SessionKey) -> Result<Option<Session>> {
        let k = key_of(key);
        self.read(move |t| {
            t[SESSIONS]
                .get(k.as_bytes())
                .map_err(db_err)?
                .map(|v| decode(&v))
                .transpose()
        })
        .await
    }

    async fn commit(&self, changes: Changes) -> Result<SaveOutcome> {
        self.writer.commit(changes, None).await
    }

    async fn next_number(&self, name: &str) -> Result<u64> {
        self.writer.next_number(format!("seq:{name}")).await
    }

    async fn ticket(&self, id: &str) -> Result<Option<Ticket>> {
        let id = id.to_owned();
        self.read(move |t| {
            t[TICKETS]
                .get(id.as_bytes())
                .map_err(db_err)?
                .map(|v| decode(&v))
                .transpose()
        })
        .await
    }

    async fn tickets(&self) -> Result<Vec<Ticket>> {
        let mut all: Vec<Ticket> = self.read(|t| all(&t[TICKETS])).await?;
        all.sort_by(|a, b| {
            a.created_ms
                .cmp(&b.created_ms)
                .then_with(|| a.id.cmp(&b.id))
        });
        Ok(all)
    }

    async fn handoffs(&self) -> Result<Vec<Handoff>> {
        self.read(|t| all(&t[HANDOFFS])).await
    }

    async fn handoff(&self, key: &SessionKey) -> Result<Option<Handoff>> {
        let k = key_of(key);
        self.read(move |t| {
            t[HANDOFFS]
                .get(k.as_bytes())
                .map_err(db_err)?
                .map(|v| decode(&v))
                .transpose()
        })
        .await
    }

    async fn transcript(&self, since_ms: u64) -> Result<Vec<TranscriptEntry>> {
        let lines: Vec<TranscriptEntry> = self.read(|t| all(&t[TRANSCRIPT])).await?;
        Ok(lines
            .into_iter()
            .filter(|l| l.time_ms >= since_ms)
            .collect())
    }

    async fn counters(&self) -> Result<BTreeMap<String, i64>> {
        self.read(|t| {
            t[COUNTERS]
                .iter()
                .map(|item| {
                    let (k, v) = item.map_err(db_err)?;
                    let n = <[u8; 8]>::try_from(v.as_ref()).map_or(0, i64::from_be_bytes);
                    Ok((String::from_utf8_lossy(&k).into_owned(), n))
                })
                .collect()
        })
        .await
    }

    async fn outbox(&self) -> Result<Vec<(u64, OutboxMessage)>> {
        self.read(|t| with_ids(&t[OUTBOX])).await
    }

    async fn outbox_after(&self, after: u64) -> Result<Vec<(u64, OutboxMessage)>> {
        self.read(move |t| {
            t[OUTBOX]
                .range(after.saturating_add(1).to_be_bytes()..)
                .map(|item| {
                    let (k, v) = item.map_err(db_err)?;
                    Ok((u64_of(Some(k)), decode(&v)?))
                })
                .collect()
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
        self.read(move |t| Ok(t[SEEN].get(key.as_bytes()).map_err(db_err)?.is_some()))
            .await
    }

    async fn inbox(&self) -> Result<Vec<(u64, InboxItem)>> {
        self.read(|t| with_ids(&t[INBOX])).await
    }

    async fn forget_seen(&self, before_ms: u64) -> Result<u64> {
        self.writer.forget(before_ms).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        self.read(|t| all(&t[DEAD])).await
    }

    async fn delivery(&self, channel: &str, provider_id: &str) -> Result<Option<Delivery>> {
        let key = Delivery::key(channel, provider_id);
        self.read(move |t| {
            t[DELIVERIES]
                .get(key.as_bytes())
                .map_err(db_err)?
                .map(|v| decode(&v))
                .transpose()
        })
        .await
    }
}
