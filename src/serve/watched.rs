//! A store that tells when it changed, so that the dashboard's live pages
//! render again only then (and not on a timer for every open tab).

use std::collections::BTreeMap;
use std::sync::Arc;

use layan_core::store::{
    Changes, DeadLetter, Delivery, Handoff, InboxItem, OutboxMessage, OutboxUpdate, Store, Ticket,
    TranscriptEntry,
};
use layan_core::{Result, SaveOutcome, Session, SessionKey};
use tokio::sync::watch;

/// Wraps a store; every write that others could see bumps a counter.
pub struct Watched {
    inner: Arc<dyn Store>,
    changes: watch::Sender<u64>,
}

impl Watched {
    /// `inner`, watched.
    #[must_use]
    pub fn new(inner: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Self {
            inner,
            changes: watch::channel(0).0,
        })
    }

    /// A receiver that sees every change from now on.
    #[must_use]
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn bump(&self) {
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }
}

#[async_trait::async_trait]
impl Store for Watched {
    async fn session(&self, key: &SessionKey) -> Result<Option<Session>> {
        self.inner.session(key).await
    }

    async fn commit(&self, changes: Changes) -> Result<SaveOutcome> {
        let outcome = self.inner.commit(changes).await?;
        if let SaveOutcome::Saved(_) = outcome {
            self.bump();
        }
        Ok(outcome)
    }

    async fn next_number(&self, name: &str) -> Result<u64> {
        self.inner.next_number(name).await
    }

    async fn ticket(&self, id: &str) -> Result<Option<Ticket>> {
        self.inner.ticket(id).await
    }

    async fn tickets(&self) -> Result<Vec<Ticket>> {
        self.inner.tickets().await
    }

    async fn handoffs(&self) -> Result<Vec<Handoff>> {
        self.inner.handoffs().await
    }

    async fn handoff(&self, key: &SessionKey) -> Result<Option<Handoff>> {
        self.inner.handoff(key).await
    }

    async fn transcript(&self, since_ms: u64) -> Result<Vec<TranscriptEntry>> {
        self.inner.transcript(since_ms).await
    }

    async fn counters(&self) -> Result<BTreeMap<String, i64>> {
        self.inner.counters().await
    }

    async fn outbox(&self) -> Result<Vec<(u64, OutboxMessage)>> {
        self.inner.outbox().await
    }

    async fn outbox_after(&self, after: u64) -> Result<Vec<(u64, OutboxMessage)>> {
        self.inner.outbox_after(after).await
    }

    async fn ack_outbox(&self, ids: &[u64]) -> Result<()> {
        self.inner.ack_outbox(ids).await?;
        self.bump();
        Ok(())
    }

    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<()> {
        self.inner.update_outbox(updates).await?;
        self.bump();
        Ok(())
    }

    async fn accept(&self, items: Vec<InboxItem>) -> Result<Vec<Option<u64>>> {
        let ids = self.inner.accept(items).await?;
        self.bump();
        Ok(ids)
    }

    async fn is_seen(&self, channel: &str, message_id: &str) -> Result<bool> {
        self.inner.is_seen(channel, message_id).await
    }

    async fn session_if_unseen(
        &self,
        key: &SessionKey,
        message_id: &str,
    ) -> Result<Option<Option<Session>>> {
        self.inner.session_if_unseen(key, message_id).await
    }

    async fn conversation(
        &self,
        key: &SessionKey,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>> {
        self.inner.conversation(key, since_ms, limit).await
    }

    async fn inbox(&self) -> Result<Vec<(u64, InboxItem)>> {
        self.inner.inbox().await
    }

    async fn forget_seen(&self, before_ms: u64) -> Result<u64> {
        self.inner.forget_seen(before_ms).await
    }

    async fn dead_letters(&self) -> Result<Vec<DeadLetter>> {
        self.inner.dead_letters().await
    }

    async fn delivery(&self, channel: &str, provider_id: &str) -> Result<Option<Delivery>> {
        self.inner.delivery(channel, provider_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn writes_are_seen_reads_are_not() {
        let store = Watched::new(Arc::new(layan_core::MemoryStore::new()));
        let changes = store.subscribe();
        store.tickets().await.unwrap();
        assert!(!changes.has_changed().unwrap());
        let saved = store
            .commit(Changes {
                counters: vec![("x".into(), 1)],
                ..Changes::default()
            })
            .await
            .unwrap();
        assert!(matches!(saved, SaveOutcome::Saved(_)));
        assert!(changes.has_changed().unwrap());
    }
}
