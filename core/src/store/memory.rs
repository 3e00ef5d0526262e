//! The in-memory store: for tests, `layan pack test` and throwaway runs.
//! Its tables ([`Data`]) are also the journal store's, which keeps them in
//! memory and makes each change durable in its log.

use std::collections::BTreeMap;
use std::sync::Mutex;

use imbl::{OrdMap, Vector};
use serde::{Deserialize, Serialize};

use super::{
    Changes, DeadLetter, Delivery, Handoff, InboxItem, OutboxMessage, OutboxUpdate, Store, Ticket,
    TranscriptEntry,
};
use crate::error::Result;
use crate::session::{SaveOutcome, Session, SessionKey};

/// Everything in memory behind one lock, so a commit is trivially atomic.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

/// The tables of an in-memory store, and the one place their rules live:
/// what a commit, an acceptance or a delivery outcome does to them.
///
/// Every table is a persistent (structurally shared) collection, so a
/// clone costs O(1) and later writes copy only the paths they change: the
/// journal writes its snapshot from such a clone while writes go on.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(super) struct Data {
    #[serde(with = "pairs")]
    sessions: OrdMap<SessionKey, Session>,
    tickets: OrdMap<String, Ticket>,
    ticket_order: Vector<String>,
    #[serde(with = "pairs")]
    handoffs: OrdMap<SessionKey, Handoff>,
    transcript: Vector<TranscriptEntry>,
    counters: OrdMap<String, i64>,
    sequences: OrdMap<String, u64>,
    outbox: OrdMap<u64, OutboxMessage>,
    pub(super) next_outbox: u64,
    inbox: OrdMap<u64, InboxItem>,
    next_inbox: u64,
    seen: OrdMap<String, u64>,
    dead: Vector<DeadLetter>,
    deliveries: OrdMap<String, Delivery>,
    /// Positions in `transcript` of each conversation's lines, oldest first.
    #[serde(skip)]
    by_conversation: imbl::HashMap<SessionKey, Vector<usize>>,
}

/// Maps with structured keys, written as a list of pairs (JSON object keys
/// must be strings).
mod pairs {
    use imbl::OrdMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(super) fn serialize<K, V, S>(map: &OrdMap<K, V>, s: S) -> Result<S::Ok, S::Error>
    where
        K: Serialize + Ord + Clone,
        V: Serialize + Clone,
        S: Serializer,
    {
        s.collect_seq(map.iter())
    }

    pub(super) fn deserialize<'de, K, V, D>(d: D) -> Result<OrdMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord + Clone,
        V: Deserialize<'de> + Clone,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

impl Data {
    /// Rebuilds what is derived rather than stored (after loading a snapshot).
    pub(super) fn reindex(&mut self) {
        self.by_conversation.clear();
        for (i, line) in self.transcript.iter().enumerate() {
            self.by_conversation
                .entry(SessionKey::new(&line.channel, &line.user))
                .or_default()
                .push_back(i);
        }
    }

    /// Applies a change set: nothing when its provider id was seen or its
    /// session version is stale.
    pub(super) fn commit(&mut self, changes: &Changes) -> SaveOutcome {
        if let Some((key, _)) = &changes.seen
            && self.seen.contains_key(key)
        {
            return SaveOutcome::Duplicate;
        }
        let mut version = 0;
        if let Some((key, session)) = &changes.session {
            let current = self.sessions.get(key).map_or(0, |s| s.version);
            if current != session.version {
                return SaveOutcome::Conflict;
            }
            version = current + 1;
            let mut stored = session.clone();
            stored.version = version;
            self.sessions.insert(key.clone(), stored);
        }
        for line in &changes.transcript {
            self.by_conversation
                .entry(SessionKey::new(&line.channel, &line.user))
                .or_default()
                .push_back(self.transcript.len());
            self.transcript.push_back(line.clone());
        }
        for t in &changes.tickets {
            if !self.tickets.contains_key(&t.id) {
                self.ticket_order.push_back(t.id.clone());
            }
            self.tickets.insert(t.id.clone(), t.clone());
        }
        for h in &changes.handoffs {
            self.handoffs.insert(h.key(), h.clone());
        }
        for m in &changes.outbox {
            self.next_outbox += 1;
            self.outbox.insert(self.next_outbox, m.clone());
        }
        for (k, delta) in &changes.counters {
            *self.counters.entry(k.clone()).or_default() += delta;
        }
        for id in &changes.inbox_done {
            self.inbox.remove(id);
        }
        if let Some((key, at)) = &changes.seen {
            self.seen.insert(key.clone(), *at);
        }
        SaveOutcome::Saved(version)
    }

    pub(super) fn next_number(&mut self, name: &str) -> u64 {
        let n = self.sequences.entry(name.to_owned()).or_default();
        *n += 1;
        *n
    }

    pub(super) fn update_outbox(&mut self, updates: &[OutboxUpdate]) {
        for u in updates {
            match u {
                OutboxUpdate::Sent { id, .. } => {
                    if let Some(d) = self.outbox.remove(id).and_then(|m| u.delivery(&m)) {
                        self.deliveries
                            .insert(Delivery::key(&d.channel, &d.provider_id), d);
                    }
                }
                OutboxUpdate::Retry { id, .. } => {
                    if let Some(m) = self.outbox.get_mut(id) {
                        u.retry(m);
                    }
                }
                OutboxUpdate::Dead { id, .. } => {
                    if let Some(dead) = self.outbox.remove(id).and_then(|m| u.dead_letter(m)) {
                        self.dead.push_back(dead);
                    }
                }
                OutboxUpdate::Status {
                    channel,
                    provider_id,
                    ..
                } => {
                    if let Some(x) = self
                        .deliveries
                        .get_mut(&Delivery::key(channel, provider_id))
                    {
                        u.status(x);
                    }
                }
            }
        }
    }

    pub(super) fn accept(&mut self, items: &[InboxItem]) -> Vec<Option<u64>> {
        items
            .iter()
            .map(|item| {
                let key = item.dedup_key();
                if self.seen.contains_key(&key) {
                    return None;
                }
                self.seen.insert(key, item.received_ms);
                self.next_inbox += 1;
                self.inbox.insert(self.next_inbox, item.clone());
                Some(self.next_inbox)
            })
            .collect()
    }

    pub(super) fn forget(&mut self, before_ms: u64) -> u64 {
        let before = self.seen.len() + self.deliveries.len();
        // Hourly: rebuilding the two maps is cheap enough.
        self.seen = std::mem::take(&mut self.seen)
            .into_iter()
            .filter(|(_, at)| *at >= before_ms)
            .collect();
        self.deliveries = std::mem::take(&mut self.deliveries)
            .into_iter()
            .filter(|(_, x)| x.time_ms >= before_ms)
            .collect();
        (before - self.seen.len() - self.deliveries.len()) as u64
    }

    pub(super) fn session(&self, key: &SessionKey) -> Option<Session> {
        self.sessions.get(key).cloned()
    }

    pub(super) fn ticket(&self, id: &str) -> Option<Ticket> {
        self.tickets.get(id).cloned()
    }

    pub(super) fn tickets(&self) -> Vec<Ticket> {
        self.ticket_order
            .iter()
            .filter_map(|id| self.tickets.get(id).cloned())
            .collect()
    }

    pub(super) fn handoff(&self, key: &SessionKey) -> Option<Handoff> {
        self.handoffs.get(key).cloned()
    }

    pub(super) fn handoffs(&self) -> Vec<Handoff> {
        self.handoffs.values().cloned().collect()
    }

    pub(super) fn transcript(&self, since_ms: u64) -> Vec<TranscriptEntry> {
        self.transcript
            .iter()
            .filter(|t| t.time_ms >= since_ms)
            .cloned()
            .collect()
    }

    pub(super) fn conversation(
        &self,
        key: &SessionKey,
        since_ms: u64,
        limit: usize,
    ) -> Vec<TranscriptEntry> {
        let Some(positions) = self.by_conversation.get(key) else {
            return Vec::new();
        };
        let mut lines: Vec<TranscriptEntry> = positions
            .iter()
            .rev()
            .map(|&i| &self.transcript[i])
            .filter(|l| l.time_ms >= since_ms)
            .take(limit)
            .cloned()
            .collect();
        lines.reverse();
        lines
    }

    pub(super) fn counters(&self) -> BTreeMap<String, i64> {
        self.counters.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Queued messages with ids in `after + 1 ..= upto`, oldest first.
    pub(super) fn outbox_between(&self, after: u64, upto: u64) -> Vec<(u64, OutboxMessage)> {
        if after >= upto {
            return Vec::new();
        }
        self.outbox
            .range(after + 1..=upto)
            .map(|(k, v)| (*k, v.clone()))
            .collect()
    }

    pub(super) fn inbox(&self) -> Vec<(u64, InboxItem)> {
        self.inbox.iter().map(|(k, v)| (*k, v.clone())).collect()
    }

    pub(super) fn is_seen(&self, key: &str) -> bool {
        self.seen.contains_key(key)
    }

    pub(super) fn dead_letters(&self) -> Vec<DeadLetter> {
        self.dead.iter().cloned().collect()
    }

    pub(super) fn delivery(&self, channel: &str, provider_id: &str) -> Option<Delivery> {
        self.deliveries
            .get(&Delivery::key(channel, provider_id))
            .cloned()
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> std::sync::MutexGuard<'_, Data> {
        self.data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn session(&self, key: &SessionKey) -> Result<Option<Session>> {
        Ok(self.data().session(key))
    }

    async fn commit(&self, changes: Changes) -> Result<SaveOutcome> {
        Ok(self.data().commit(&changes))
    }

    async fn next_number(&self, name: &str) -> Result<u64> {
        Ok(self.data().next_number(name))
    }

    async fn ticket(&self, id: &str) -> Result<Option<Ticket>> {
        Ok(self.data().ticket(id))
    }

    async fn tickets(&self) -> Result<Vec<Ticket>> {
        Ok(self.data().tickets())
    }

    async fn handoffs(&self) -> Result<Vec<Handoff>> {
        Ok(self.data().handoffs())
    }

    async fn handoff(&self, key: &SessionKey) -> Result<Option<Handoff>> {
        Ok(self.data().handoff(key))
    }

    async fn transcript(&self, since_ms: u64) -> Result<Vec<TranscriptEntry>> {
        Ok(self.data().transcript(since_ms))
    }

    async fn conversation(
        &self,
        key: &SessionKey,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>> {
        Ok(self.data().conversation(key, since_ms, limit))
    }

    async fn counters(&self) -> Result<BTreeMap<String, i64>> {
        Ok(self.data().counters())
    }

    async fn outbox(&self) -> Result<Vec<(u64, OutboxMessage)>> {
        Ok(self.data().outbox_between(0, u64::MAX))
    }

    async fn outbox_after(&self, after: u64) -> Result<Vec<(u64, OutboxMessage)>> {
        Ok(self.data().outbox_between(after, u64::MAX))
    }

    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<()> {
        self.data().update_outbox(&updates);
        Ok(())
    }

    async fn accept(&self, items: Vec<InboxItem>) -> Result<Vec<Option<u64>>> {
        Ok(self.data().accept(&items))
    }

    async fn is_seen(&self, channel: &str, message_id: &str) -> Result<bool> {
        Ok(self.data().is_seen(&super::dedup_key(channel, message_id)))
    }

    async fn inbox(&self) -> Result<Vec<(u64, InboxItem)>> {
        Ok(self.data().inbox())
    }

    async fn forget_seen(&self, before_ms: u64) -> Result<u64> {
        Ok(self.data().forget(before_ms))
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        Ok(self.data().dead_letters())
    }

    async fn delivery(&self, channel: &str, provider_id: &str) -> Result<Option<Delivery>> {
        Ok(self.data().delivery(channel, provider_id))
    }
}
