//! Conversation sessions: what the bot remembers about one citizen on one
//! channel between messages.
//!
//! Sessions are versioned and saved with compare-and-swap, so that two
//! workers handling the same conversation never lose each other's update:
//! the loser of a race gets [`SaveOutcome::Conflict`] and redoes its turn on
//! the fresh session. [`MemorySessions`] keeps them in memory; durable
//! stores implement [`SessionStore`] too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::error::Result;
use crate::message::Button;

/// Which conversation a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// The channel (`whatsapp`, `terminal`, …).
    pub channel: String,
    /// The citizen's id on that channel.
    pub user: String,
}

impl SessionKey {
    /// The key of `user` on `channel`.
    #[must_use]
    pub fn new(channel: &str, user: &str) -> Self {
        Self {
            channel: channel.to_owned(),
            user: user.to_owned(),
        }
    }
}

/// What the bot remembers of one conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The options of the last menu shown, so that `2` chooses the second.
    pub menu: Vec<Button>,
    /// The intent of the last answer.
    pub last_intent: Option<String>,
    /// When the citizen last wrote.
    pub last_seen: SystemTime,
    /// The version this copy was loaded at; 0 for a session never saved.
    pub version: u64,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            menu: Vec::new(),
            last_intent: None,
            last_seen: SystemTime::UNIX_EPOCH,
            version: 0,
        }
    }
}

/// The result of a compare-and-swap save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum SaveOutcome {
    /// Saved; the session's new version.
    Saved(u64),
    /// Someone saved a newer version first; load again and redo the turn.
    Conflict,
}

/// Where sessions live. Implementations must be safe to share between tasks.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The session of `key`, or `None` when there is none.
    async fn load(&self, key: &SessionKey) -> Result<Option<Session>>;

    /// Saves `session` if the stored version still equals `session.version`
    /// (0: no session stored yet).
    async fn save(&self, key: &SessionKey, session: &Session) -> Result<SaveOutcome>;
}

/// Sessions in memory: for tests, `layan chat` and single-process use.
#[derive(Debug, Default)]
pub struct MemorySessions {
    map: Mutex<HashMap<SessionKey, Session>>,
}

impl MemorySessions {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl SessionStore for MemorySessions {
    async fn load(&self, key: &SessionKey) -> Result<Option<Session>> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(map.get(key).cloned())
    }

    async fn save(&self, key: &SessionKey, session: &Session) -> Result<SaveOutcome> {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let current = map.get(key).map_or(0, |s| s.version);
        if current != session.version {
            return Ok(SaveOutcome::Conflict);
        }
        let mut stored = session.clone();
        stored.version = current + 1;
        map.insert(key.clone(), stored);
        Ok(SaveOutcome::Saved(current + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn compare_and_swap_rejects_stale_writes() {
        let store = MemorySessions::new();
        let key = SessionKey::new("terminal", "u1");
        let fresh = Session::default();
        assert_eq!(
            store.save(&key, &fresh).await.unwrap(),
            SaveOutcome::Saved(1)
        );
        // A second writer that also started from version 0 loses.
        assert_eq!(
            store.save(&key, &fresh).await.unwrap(),
            SaveOutcome::Conflict
        );
        let loaded = store.load(&key).await.unwrap().unwrap();
        assert_eq!(loaded.version, 1);
        assert_eq!(
            store.save(&key, &loaded).await.unwrap(),
            SaveOutcome::Saved(2)
        );
    }
}
