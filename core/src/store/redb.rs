//! The embedded default store: one redb file, durable commits.
//!
//! One writer thread owns every write ([`Writer`]): it applies each queued
//! group in one write transaction (each change set with its own
//! compare-and-swap: a set that conflicts is skipped whole) and commits once
//! with immediate durability (fsync). So concurrent messages share one
//! fsync — group commit — while each caller returns only after its own
//! changes are on disk. Reads use redb's MVCC read transactions on the blocking pool, never
//! on the async workers.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::writer::{Done, GroupWriter, Job, Writer};
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
        }
        tx.commit().map_err(db_err)?;
        let db = Arc::new(db);
        let writer = Writer::spawn("layan-redb-writer", RedbWriter(Arc::clone(&db)))?;
        Ok(Self { db, writer, path })
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

/// Creates `dir` if needed and writes (or checks) the marker naming the
/// backend that owns it, so that another backend's data is refused with a
/// clear error instead of being misread.
pub(crate) fn claim_folder(dir: &Path, backend: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })?;
    let marker = dir.join(BACKEND_MARKER);
    match std::fs::read_to_string(&marker) {
        Ok(found) if found.trim() == backend => Ok(()),
        Ok(found) => Err(Error::Store(format!(
            "{} holds data of the `{}` backend, not `{backend}`; open it with that backend or use another --data folder",
            dir.display(),
            found.trim()
        ))),
        Err(_) => std::fs::write(&marker, format!("{backend}\n")).map_err(|source| Error::Io {
            path: marker,
            source,
        }),
    }
}

/// Applies a group in one write transaction and one durable commit.
struct RedbWriter(Arc<Database>);

impl GroupWriter for RedbWriter {
    fn write_group(&mut self, jobs: &[Job]) -> Vec<Result<Done>> {
        let fail = |msg: String| {
            jobs.iter()
                .map(|_| Err(Error::Store(msg.clone())))
                .collect()
        };
        let tx = match self.0.begin_write() {
            Ok(tx) => tx,
            Err(e) => return fail(db_err(e).to_string()),
        };
        let mut done = Vec::with_capacity(jobs.len());
        for job in jobs {
            match apply_job(&tx, job) {
                Ok(d) => done.push(Ok(d)),
                // A half-applied job must not be committed with the others:
                // abort the transaction; every caller sees the error and retries.
                Err(e) => {
                    drop(tx.abort());
                    return fail(e.to_string());
                }
            }
        }
        match tx.commit() {
            Ok(()) => done,
            Err(e) => fail(db_err(e).to_string()),
        }
    }
}

fn apply_job(tx: &redb::WriteTransaction, job: &Job) -> Result<Done> {
    match job {
        Job::Commit(changes) => apply_changes(tx, changes).map(Done::Saved),
        Job::Next(name) => {
            let mut t = tx.open_table(SEQUENCES).map_err(db_err)?;
            let next = t
                .get(name.as_str())
                .map_err(db_err)?
                .map_or(0, |v| v.value())
                + 1;
            t.insert(name.as_str(), next).map_err(db_err)?;
            Ok(Done::Number(next))
        }
        Job::Outbox(updates) => {
            for u in updates {
                apply_outbox_update(tx, u)?;
            }
            Ok(Done::Acked)
        }
        Job::Accept(items) => {
            let mut seen = tx.open_table(SEEN).map_err(db_err)?;
            let mut ids = Vec::with_capacity(items.len());
            let mut fresh = Vec::new();
            for item in items {
                let key = item.dedup_key();
                if seen.get(key.as_str()).map_err(db_err)?.is_some() {
                    ids.push(None);
                    continue;
                }
                seen.insert(key.as_str(), item.received_ms)
                    .map_err(db_err)?;
                fresh.push(ids.len());
                ids.push(Some(0));
            }
            drop(seen);
            let encoded = fresh
                .iter()
                .map(|&i| encode(&items[i]))
                .collect::<Result<Vec<_>>>()?;
            for (slot, id) in fresh.iter().zip(append(tx, INBOX, "inbox", encoded)?) {
                ids[*slot] = Some(id);
            }
            Ok(Done::Accepted(ids))
        }
        Job::Forget(before) => {
            let mut seen = tx.open_table(SEEN).map_err(db_err)?;
            let mut removed = seen
                .extract_if(|_, at| at < *before)
                .map_err(db_err)?
                .count();
            let mut deliveries = tx.open_table(DELIVERIES).map_err(db_err)?;
            let mut old = Vec::new();
            for item in deliveries.iter().map_err(db_err)? {
                let (k, v) = item.map_err(db_err)?;
                if decode::<Delivery>(v.value())?.time_ms < *before {
                    old.push(k.value().to_owned());
                }
            }
            for k in &old {
                deliveries.remove(k.as_str()).map_err(db_err)?;
            }
            removed += old.len();
            Ok(Done::Number(removed as u64))
        }
    }
}

/// Appends `values` under fresh ids of sequence `seq`; returns the ids.
fn append(
    tx: &redb::WriteTransaction,
    def: TableDefinition<u64, &[u8]>,
    seq: &str,
    values: Vec<Vec<u8>>,
) -> Result<Vec<u64>> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let mut seqs = tx.open_table(SEQUENCES).map_err(db_err)?;
    let mut next = seqs.get(seq).map_err(db_err)?.map_or(0, |v| v.value());
    let mut t = tx.open_table(def).map_err(db_err)?;
    let mut ids = Vec::with_capacity(values.len());
    for v in values {
        next += 1;
        t.insert(next, v.as_slice()).map_err(db_err)?;
        ids.push(next);
    }
    seqs.insert(seq, next).map_err(db_err)?;
    Ok(ids)
}

fn apply_outbox_update(tx: &redb::WriteTransaction, u: &OutboxUpdate) -> Result<()> {
    let mut outbox = tx.open_table(OUTBOX).map_err(db_err)?;
    match u {
        OutboxUpdate::Sent { id, .. } => {
            let Some(v) = outbox.remove(id).map_err(db_err)? else {
                return Ok(());
            };
            let m: OutboxMessage = decode(v.value())?;
            if let Some(d) = u.delivery(&m) {
                let mut t = tx.open_table(DELIVERIES).map_err(db_err)?;
                t.insert(
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
            drop(outbox);
            if let Some(dead) = u.dead_letter(message) {
                append(tx, DEAD, "dead_letters", vec![encode(&dead)?])?;
            }
        }
        OutboxUpdate::Status {
            channel,
            provider_id,
            ..
        } => {
            let mut t = tx.open_table(DELIVERIES).map_err(db_err)?;
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

/// Whether the stored session's version is the one `c` was computed from.
fn session_matches(tx: &redb::WriteTransaction, c: &Changes) -> Result<bool> {
    let Some((key, session)) = &c.session else {
        return Ok(true);
    };
    let t = tx.open_table(SESSIONS).map_err(db_err)?;
    let current = match t.get(key_of(key).as_str()).map_err(db_err)? {
        Some(v) => decode::<Session>(v.value())?.version,
        None => 0,
    };
    Ok(current == session.version)
}

/// One change set: checks the session version first, so that a conflict
/// writes nothing at all.
fn apply_changes(tx: &redb::WriteTransaction, c: &Changes) -> Result<SaveOutcome> {
    if let Some((key, at)) = &c.seen {
        let mut seen = tx.open_table(SEEN).map_err(db_err)?;
        if seen.get(key.as_str()).map_err(db_err)?.is_some() {
            return Ok(SaveOutcome::Duplicate);
        }
        // Written now and undone with the rest if the session conflicts.
        if !session_matches(tx, c)? {
            return Ok(SaveOutcome::Conflict);
        }
        seen.insert(key.as_str(), *at).map_err(db_err)?;
    }
    let mut version = 0;
    if let Some((key, session)) = &c.session {
        let mut t = tx.open_table(SESSIONS).map_err(db_err)?;
        let k = key_of(key);
        let current = match t.get(k.as_str()).map_err(db_err)? {
            Some(v) => decode::<Session>(v.value())?.version,
            None => 0,
        };
        if current != session.version {
            return Ok(SaveOutcome::Conflict);
        }
        version = current + 1;
        let mut stored = session.clone();
        stored.version = version;
        t.insert(k.as_str(), encode(&stored)?.as_slice())
            .map_err(db_err)?;
    }
    append(
        tx,
        TRANSCRIPT,
        "transcript",
        c.transcript.iter().map(encode).collect::<Result<_>>()?,
    )?;
    if !c.tickets.is_empty() {
        let mut t = tx.open_table(TICKETS).map_err(db_err)?;
        for ticket in &c.tickets {
            t.insert(ticket.id.as_str(), encode(ticket)?.as_slice())
                .map_err(db_err)?;
        }
    }
    if !c.handoffs.is_empty() {
        let mut t = tx.open_table(HANDOFFS).map_err(db_err)?;
        for h in &c.handoffs {
            t.insert(key_of(&h.key()).as_str(), encode(h)?.as_slice())
                .map_err(db_err)?;
        }
    }
    append(
        tx,
        OUTBOX,
        "outbox",
        c.outbox.iter().map(encode).collect::<Result<_>>()?,
    )?;
    if !c.inbox_done.is_empty() {
        let mut t = tx.open_table(INBOX).map_err(db_err)?;
        for id in &c.inbox_done {
            t.remove(id).map_err(db_err)?;
        }
    }
    if !c.counters.is_empty() {
        let mut t = tx.open_table(COUNTERS).map_err(db_err)?;
        for (k, delta) in &c.counters {
            let v = t.get(k.as_str()).map_err(db_err)?.map_or(0, |v| v.value());
            t.insert(k.as_str(), v + delta).map_err(db_err)?;
        }
    }
    Ok(SaveOutcome::Saved(version))
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
        self.read(move |tx| {
            let t = tx.open_table(SESSIONS).map_err(db_err)?;
            t.get(k.as_str())
                .map_err(db_err)?
                .map(|v| decode(v.value()))
                .transpose()
        })
        .await
    }

    async fn commit(&self, changes: Changes) -> Result<SaveOutcome> {
        self.writer.commit(changes).await
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

    async fn transcript(&self, since_ms: u64) -> Result<Vec<TranscriptEntry>> {
        let lines: Vec<TranscriptEntry> = self.read(|tx| all(tx, TRANSCRIPT)).await?;
        Ok(lines
            .into_iter()
            .filter(|l| l.time_ms >= since_ms)
            .collect())
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
        self.read(|tx| with_ids(tx, OUTBOX)).await
    }

    async fn outbox_after(&self, after: u64) -> Result<Vec<(u64, OutboxMessage)>> {
        self.read(move |tx| {
            let t = tx.open_table(OUTBOX).map_err(db_err)?;
            let mut out = Vec::new();
            for item in t.range(after.saturating_add(1)..).map_err(db_err)? {
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
        self.read(move |tx| {
            let t = tx.open_table(SEEN).map_err(db_err)?;
            Ok(t.get(key.as_str()).map_err(db_err)?.is_some())
        })
        .await
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
