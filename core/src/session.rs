//! Conversation sessions: what the bot remembers about one citizen on one
//! channel between messages.
//!
//! Sessions are versioned and saved with compare-and-swap (see
//! [`Store::commit`](crate::store::Store::commit)), so that two workers
//! handling the same conversation never lose each other's update: the loser
//! of a race gets [`SaveOutcome::Conflict`] and redoes its turn on the
//! fresh session.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::message::Button;

/// Which conversation a session belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// The options of the last menu shown, so that `2` chooses the second.
    pub menu: Vec<Button>,
    /// The intent of the last answer.
    pub last_intent: Option<String>,
    /// When the citizen last wrote, Unix milliseconds (0: never).
    pub last_seen_ms: u64,
    /// The version this copy was loaded at; 0 for a session never saved.
    pub version: u64,
    /// The form being filled, if any.
    pub form: Option<FormState>,
    /// Whether a person has been asked for, or holds the conversation.
    pub handoff: Option<HandoffMode>,
    /// A satisfaction rating the bot is waiting for, and what it rates.
    pub rating_for: Option<String>,
    /// The rest of an answer cut at the channel's budget, sent on `LANJUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<String>,
    /// The citizen's profile name, as the provider last gave it (for staff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
    /// The tickets opened in this conversation, newest last (at most
    /// [`REMEMBERED_TICKETS`]), so that `#status` alone can answer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tickets: Vec<String>,
    /// Whether `tickets` lists this conversation's tickets: true for a
    /// session begun by a version that lists them, false for one saved
    /// before then (the field is missing), whose tickets `#status` looks
    /// up once.
    #[serde(default)]
    pub tickets_listed: bool,
}

impl Session {
    /// A new conversation's session.
    #[must_use]
    pub fn new() -> Self {
        Self {
            tickets_listed: true,
            ..Self::default()
        }
    }
}

/// How many of a conversation's tickets `#status` without a number shows.
pub const REMEMBERED_TICKETS: usize = 3;

/// The hand-off state a session mirrors, so that the engine knows without
/// another read whether to stay silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HandoffMode {
    /// The bot asked for the question and waits for it.
    AwaitingQuestion,
    /// Queued for an operator, since this time (Unix ms); the bot still answers what it can.
    Waiting(u64),
    /// An operator holds the conversation, since this time (Unix ms); the bot is silent.
    Held(u64),
}

/// Progress through a form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FormState {
    /// The form's id.
    pub form: String,
    /// Index of the slot being asked.
    pub slot: usize,
    /// Values collected so far, by slot name.
    pub values: BTreeMap<String, String>,
    /// Invalid answers to the current slot so far.
    pub retries: u32,
    /// Showing the summary and waiting for yes / fix.
    pub confirming: bool,
    /// Asked which field to fix.
    pub choosing_fix: bool,
    /// Fixing one field: after it, back to the summary.
    pub fixing: bool,
}

/// The result of a compare-and-swap save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum SaveOutcome {
    /// Saved; the session's new version (0 when no session was saved).
    Saved(u64),
    /// Someone saved a newer version first; load again and redo the turn.
    Conflict,
    /// The change set accepted an inbound message whose provider id was
    /// already accepted: nothing was written.
    Duplicate,
}
