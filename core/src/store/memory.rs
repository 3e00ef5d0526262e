//! The in-memory store: for tests, `layan pack test` and throwaway runs.

use std::collections::BTreeMap;
use std::sync::Mutex;

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

#[derive(Debug, Default)]
struct Data {
    sessions: BTreeMap<SessionKey, Session>,
    tickets: BTreeMap<String, Ticket>,
    ticket_order: Vec<String>,
    handoffs: BTreeMap<SessionKey, Handoff>,
    transcript: Vec<TranscriptEntry>,
    counters: BTreeMap<String, i64>,
    sequences: BTreeMap<String, u64>,
    outbox: BTreeMap<u64, OutboxMessage>,
    next_outbox: u64,
    inbox: BTreeMap<u64, InboxItem>,
    next_inbox: u64,
    seen: BTreeMap<String, u64>,
    dead: Vec<DeadLetter>,
    deliveries: BTreeMap<String, Delivery>,
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
        Ok(self.data().sessions.get(key).cloned())
    }

    async fn commit(&self, changes: Changes) -> Result<SaveOutcome> {
        let mut d = self.data();
        if let Some((key, _)) = &changes.seen
            && d.seen.contains_key(key)
        {
            return Ok(SaveOutcome::Duplicate);
        }
        let mut version = 0;
        if let Some((key, mut session)) = changes.session {
            let slot = d.sessions.get_mut(&key);
            let current = slot.as_ref().map_or(0, |s| s.version);
            if current != session.version {
                return Ok(SaveOutcome::Conflict);
            }
            version = current + 1;
            session.version = version;
            match slot {
                Some(stored) => *stored = session,
                None => {
                    d.sessions.insert(key, session);
                }
            }
        }
        d.transcript.extend(changes.transcript);
        for t in changes.tickets {
            if !d.tickets.contains_key(&t.id) {
                d.ticket_order.push(t.id.clone());
            }
            d.tickets.insert(t.id.clone(), t);
        }
        for h in changes.handoffs {
            d.handoffs.insert(h.key(), h);
        }
        for m in changes.outbox {
            d.next_outbox += 1;
            let id = d.next_outbox;
            d.outbox.insert(id, m);
        }
        for (k, delta) in changes.counters {
            *d.counters.entry(k).or_default() += delta;
        }
        for id in changes.inbox_done {
            d.inbox.remove(&id);
        }
        if let Some((key, at)) = changes.seen {
            d.seen.insert(key, at);
        }
        Ok(SaveOutcome::Saved(version))
    }

    async fn next_number(&self, name: &str) -> Result<u64> {
        let mut d = self.data();
        let n = d.sequences.entry(name.to_owned()).or_default();
        *n += 1;
        Ok(*n)
    }

    async fn ticket(&self, id: &str) -> Result<Option<Ticket>> {
        Ok(self.data().tickets.get(id).cloned())
    }

    async fn tickets(&self) -> Result<Vec<Ticket>> {
        let d = self.data();
        Ok(d.ticket_order
            .iter()
            .filter_map(|id| d.tickets.get(id).cloned())
            .collect())
    }

    async fn handoffs(&self) -> Result<Vec<Handoff>> {
        Ok(self.data().handoffs.values().cloned().collect())
    }

    async fn transcript(&self, since_ms: u64) -> Result<Vec<TranscriptEntry>> {
        Ok(self
            .data()
            .transcript
            .iter()
            .filter(|t| t.time_ms >= since_ms)
            .cloned()
            .collect())
    }

    async fn counters(&self) -> Result<BTreeMap<String, i64>> {
        Ok(self.data().counters.clone())
    }

    async fn outbox(&self) -> Result<Vec<(u64, OutboxMessage)>> {
        Ok(self
            .data()
            .outbox
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }

    async fn outbox_after(&self, after: u64) -> Result<Vec<(u64, OutboxMessage)>> {
        Ok(self
            .data()
            .outbox
            .range(after.saturating_add(1)..)
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }

    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<()> {
        let mut d = self.data();
        for u in updates {
            match &u {
                OutboxUpdate::Sent { id, .. } => {
                    if let Some(d2) = d.outbox.remove(id).and_then(|m| u.delivery(&m)) {
                        d.deliveries
                            .insert(Delivery::key(&d2.channel, &d2.provider_id), d2);
                    }
                }
                OutboxUpdate::Retry { id, .. } => {
                    if let Some(m) = d.outbox.get_mut(id) {
                        u.retry(m);
                    }
                }
                OutboxUpdate::Dead { id, .. } => {
                    if let Some(dead) = d.outbox.remove(id).and_then(|m| u.dead_letter(m)) {
                        d.dead.push(dead);
                    }
                }
                OutboxUpdate::Status {
                    channel,
                    provider_id,
                    ..
                } => {
                    if let Some(x) = d.deliveries.get_mut(&Delivery::key(channel, provider_id)) {
                        u.status(x);
                    }
                }
            }
        }
        Ok(())
    }

    async fn accept(&self, items: Vec<InboxItem>) -> Result<Vec<Option<u64>>> {
        let mut d = self.data();
        Ok(items
            .into_iter()
            .map(|item| {
                if d.seen.contains_key(&item.dedup_key()) {
                    return None;
                }
                d.seen.insert(item.dedup_key(), item.received_ms);
                d.next_inbox += 1;
                let id = d.next_inbox;
                d.inbox.insert(id, item);
                Some(id)
            })
            .collect())
    }

    async fn is_seen(&self, channel: &str, message_id: &str) -> Result<bool> {
        Ok(self
            .data()
            .seen
            .contains_key(&super::dedup_key(channel, message_id)))
    }

    async fn inbox(&self) -> Result<Vec<(u64, InboxItem)>> {
        Ok(self
            .data()
            .inbox
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect())
    }

    async fn forget_seen(&self, before_ms: u64) -> Result<u64> {
        let mut d = self.data();
        let before = d.seen.len() + d.deliveries.len();
        d.seen.retain(|_, at| *at >= before_ms);
        d.deliveries.retain(|_, x| x.time_ms >= before_ms);
        Ok((before - d.seen.len() - d.deliveries.len()) as u64)
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        Ok(self.data().dead.clone())
    }

    async fn delivery(&self, channel: &str, provider_id: &str) -> Result<Option<Delivery>> {
        Ok(self
            .data()
            .deliveries
            .get(&Delivery::key(channel, provider_id))
            .cloned())
    }
}
