//! Where conversations are remembered: sessions, tickets, the hand-off
//! queue, the transcript, the outbox of notifications and the counters.
//!
//! One [`Store`] trait, several backends, one test suite
//! ([`suite`]) run against each. Everything one message changes is handed
//! to [`Store::commit`] as one [`Changes`] and applied atomically: the
//! session with compare-and-swap on its version, and with it the transcript
//! lines, tickets, hand-offs, outbox messages and counters of that message,
//! or none of them. A backend returns from `commit` only once the changes
//! are durable.

mod journal;
mod log;
mod memory;
mod redb;
#[cfg(feature = "sled")]
mod sled;
pub mod suite;
mod writer;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use self::journal::{JournalOptions, JournalStore};
pub use self::memory::MemoryStore;
pub use self::redb::{BACKEND_MARKER, RedbStore, folder_backend};
#[cfg(feature = "sled")]
pub use self::sled::SledStore;
use crate::error::Result;
use crate::message::{Button, Content, Inbound};
use crate::session::{SaveOutcome, Session, SessionKey};

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Which way a transcript line went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the citizen.
    In,
    /// From the bot or an operator.
    Out,
}

/// One message in the transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptEntry {
    /// When, in Unix milliseconds.
    pub time_ms: u64,
    /// The channel.
    pub channel: String,
    /// The citizen.
    pub user: String,
    /// In or out.
    pub direction: Direction,
    /// The text (for outbound, the reply's text; options follow on new lines).
    pub text: String,
    /// The intent decided (inbound) or answered (outbound).
    pub intent: Option<String>,
    /// The decision's score.
    pub score: Option<f32>,
    /// The deciding layer.
    pub layer: Option<String>,
    /// Handling time of the message, in microseconds (outbound).
    pub latency_us: Option<u64>,
    /// Who sent an outbound message: `bot` or an operator's name.
    pub author: Option<String>,
}

/// Where a ticket is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    /// Just filed.
    Baru,
    /// Being worked on.
    Diproses,
    /// Done.
    Selesai,
    /// Rejected.
    Ditolak,
}

impl TicketStatus {
    /// The status in Bahasa Indonesia, as citizens read it.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Baru => "baru",
            Self::Diproses => "diproses",
            Self::Selesai => "selesai",
            Self::Ditolak => "ditolak",
        }
    }

    /// Whether the ticket is closed.
    #[must_use]
    pub const fn is_closed(self) -> bool {
        matches!(self, Self::Selesai | Self::Ditolak)
    }

    /// Parses `baru`, `diproses`, `selesai`, `ditolak`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_lowercase().as_str() {
            "baru" => Some(Self::Baru),
            "diproses" | "proses" => Some(Self::Diproses),
            "selesai" => Some(Self::Selesai),
            "ditolak" | "tolak" => Some(Self::Ditolak),
            _ => None,
        }
    }
}

/// One step in a ticket's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// When, in Unix milliseconds.
    pub time_ms: u64,
    /// The new status.
    pub status: TicketStatus,
    /// Who changed it (`warga` when filed, an operator's name after).
    pub actor: String,
    /// A note for the citizen and the file.
    pub note: String,
}

/// A complaint or request with a number the citizen can check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// `ADU-2026-000123`.
    pub id: String,
    /// The form that collected it.
    pub form: String,
    /// The channel it came from (notifications go back there).
    pub channel: String,
    /// The citizen who filed it.
    pub user: String,
    /// The collected fields, by slot name.
    pub fields: BTreeMap<String, String>,
    /// Current status.
    pub status: TicketStatus,
    /// Every status change, oldest first.
    pub history: Vec<StatusChange>,
    /// Filed at, Unix milliseconds.
    pub created_ms: u64,
    /// Due by (the form's SLA), Unix milliseconds.
    pub due_ms: u64,
}

impl Ticket {
    /// Whether the ticket is open past its due time at `now_ms`.
    #[must_use]
    pub fn is_overdue(&self, now_ms: u64) -> bool {
        !self.status.is_closed() && now_ms > self.due_ms
    }
}

/// Where a hand-off to a person stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "operator")]
pub enum HandoffState {
    /// In the queue, no operator yet.
    Waiting,
    /// An operator holds the conversation; the bot is silent.
    Taken(String),
    /// Closed by an operator or timed out.
    Closed,
}

/// A conversation handed to a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Handoff {
    /// The conversation.
    pub channel: String,
    /// The citizen.
    pub user: String,
    /// What the citizen asked.
    pub question: String,
    /// Requested at, Unix milliseconds.
    pub requested_ms: u64,
    /// First operator answer, Unix milliseconds.
    pub first_answer_ms: Option<u64>,
    /// The state.
    pub state: HandoffState,
    /// The conversation's earlier hand-offs, oldest first: a conversation
    /// has one current hand-off, and the ones it replaced are kept here
    /// (at most [`Handoff::MAX_EARLIER`]) so that statistics count them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier: Vec<HandoffTimes>,
}

/// When a hand-off was asked for and first answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffTimes {
    /// Requested at, Unix milliseconds.
    pub requested_ms: u64,
    /// First operator answer, Unix milliseconds.
    pub first_answer_ms: Option<u64>,
}

impl Handoff {
    /// Earlier hand-offs kept per conversation; the oldest go beyond this.
    pub const MAX_EARLIER: usize = 1_000;

    /// The conversation's key.
    #[must_use]
    pub fn key(&self) -> SessionKey {
        SessionKey::new(&self.channel, &self.user)
    }

    /// When this hand-off was asked for and first answered.
    #[must_use]
    pub fn times(&self) -> HandoffTimes {
        HandoffTimes {
            requested_ms: self.requested_ms,
            first_answer_ms: self.first_answer_ms,
        }
    }

    /// Every hand-off of the conversation, the earlier ones and this one.
    pub fn all_times(&self) -> impl Iterator<Item = HandoffTimes> + '_ {
        self.earlier.iter().copied().chain([self.times()])
    }
}

/// A message queued for delivery to a citizen: a reply, a ticket status
/// change, an operator's answer. The delivery pipeline sends them in order
/// per citizen and records the outcome with [`Store::update_outbox`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// The channel to deliver through.
    pub channel: String,
    /// The citizen.
    pub user: String,
    /// The text.
    pub text: String,
    /// Options to offer (title, payload).
    pub buttons: Vec<Button>,
    /// Queued at, Unix milliseconds.
    pub created_ms: u64,
    /// The provider id of the inbound message this answers, if it is a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Delivery attempts that failed so far.
    #[serde(default)]
    pub attempts: u32,
    /// Not to be tried again before this time, Unix milliseconds.
    #[serde(default)]
    pub not_before_ms: u64,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// An inbound message accepted from a provider and kept until it is
/// answered: the durable inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxItem {
    /// The channel it came through.
    pub channel: String,
    /// The citizen.
    pub user: String,
    /// The provider's message id, unique per channel: the deduplication key.
    pub message_id: String,
    /// What the citizen sent.
    pub content: Content,
    /// When the provider says it was sent, Unix milliseconds.
    pub time_ms: u64,
    /// When Layan accepted it, Unix milliseconds.
    pub received_ms: u64,
    /// The citizen's profile name, when the provider gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_name: Option<String>,
}

impl InboxItem {
    /// The item of `inbound`, accepted at `received_ms`.
    #[must_use]
    pub fn of(inbound: &Inbound, received_ms: u64) -> Self {
        Self {
            channel: inbound.channel.clone(),
            user: inbound.user.clone(),
            message_id: inbound.message_id.clone(),
            content: inbound.content.clone(),
            time_ms: unix_ms(inbound.time),
            received_ms,
            profile_name: inbound.profile_name.clone(),
        }
    }

    /// The message to hand to the engine.
    #[must_use]
    pub fn inbound(&self) -> Inbound {
        Inbound {
            channel: self.channel.clone(),
            user: self.user.clone(),
            message_id: self.message_id.clone(),
            content: self.content.clone(),
            time: UNIX_EPOCH + std::time::Duration::from_millis(self.time_ms),
            profile_name: self.profile_name.clone(),
        }
    }

    /// The deduplication key: channel and provider id.
    #[must_use]
    pub fn dedup_key(&self) -> String {
        dedup_key(&self.channel, &self.message_id)
    }
}

/// The deduplication key of provider id `message_id` on `channel`.
#[must_use]
pub fn dedup_key(channel: &str, message_id: &str) -> String {
    format!("{channel}\u{1f}{message_id}")
}

impl InboxItem {}

/// What became of one delivery attempt of an outbox message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboxUpdate {
    /// The provider accepted it: removed from the outbox, remembered by the
    /// provider's id so that later delivery statuses find it.
    Sent {
        /// The outbox id.
        id: u64,
        /// The provider's id of the sent message, if it gave one.
        provider_id: Option<String>,
        /// When, Unix milliseconds.
        time_ms: u64,
    },
    /// It failed in a way worth retrying: try again after `not_before_ms`.
    Retry {
        /// The outbox id.
        id: u64,
        /// Failed attempts so far.
        attempts: u32,
        /// Not before this time, Unix milliseconds.
        not_before_ms: u64,
        /// Why it failed.
        error: String,
    },
    /// It cannot be delivered: moved to the dead letters with the reason.
    Dead {
        /// The outbox id.
        id: u64,
        /// A short machine-readable reason (`outside_24h_window`, `attempts_exhausted`, …).
        reason: String,
        /// The provider's words.
        detail: String,
        /// When, Unix milliseconds.
        time_ms: u64,
    },
    /// A delivery status the provider reported later (`delivered`, `read`, `failed`).
    Status {
        /// The channel.
        channel: String,
        /// The provider's id of the sent message.
        provider_id: String,
        /// The status.
        status: String,
        /// The provider's error, for `failed`.
        error: Option<String>,
        /// When, Unix milliseconds.
        time_ms: u64,
    },
}

impl OutboxUpdate {
    /// A retry's new attempt count, time and error, applied to its message.
    pub fn retry(&self, m: &mut OutboxMessage) {
        if let Self::Retry {
            attempts,
            not_before_ms,
            error,
            ..
        } = self
        {
            m.attempts = *attempts;
            m.not_before_ms = *not_before_ms;
            m.last_error = Some(error.clone());
        }
    }

    /// The delivery record of a send the provider accepted with an id.
    #[must_use]
    pub fn delivery(&self, m: &OutboxMessage) -> Option<Delivery> {
        match self {
            Self::Sent {
                provider_id: Some(pid),
                time_ms,
                ..
            } => Some(Delivery {
                channel: m.channel.clone(),
                user: m.user.clone(),
                provider_id: pid.clone(),
                status: "sent".to_owned(),
                error: None,
                time_ms: *time_ms,
            }),
            _ => None,
        }
    }

    /// The dead letter of a message given up on.
    #[must_use]
    pub fn dead_letter(&self, message: OutboxMessage) -> Option<DeadLetter> {
        match self {
            Self::Dead {
                reason,
                detail,
                time_ms,
                ..
            } => Some(DeadLetter {
                message,
                reason: reason.clone(),
                detail: detail.clone(),
                time_ms: *time_ms,
            }),
            _ => None,
        }
    }

    /// A reported status, applied to the delivery record.
    pub fn status(&self, d: &mut Delivery) {
        if let Self::Status {
            status,
            error,
            time_ms,
            ..
        } = self
        {
            d.status.clone_from(status);
            d.error.clone_from(error);
            d.time_ms = *time_ms;
        }
    }
}

/// A message that could not be delivered, kept with the reason for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The message.
    pub message: OutboxMessage,
    /// A short machine-readable reason.
    pub reason: String,
    /// The provider's words.
    pub detail: String,
    /// When it was given up, Unix milliseconds.
    pub time_ms: u64,
}

/// A message the provider accepted, and the latest status it reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The channel.
    pub channel: String,
    /// The citizen.
    pub user: String,
    /// The provider's id of the message.
    pub provider_id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// The provider's error, for `failed`.
    pub error: Option<String>,
    /// When the status was last updated, Unix milliseconds.
    pub time_ms: u64,
}

impl Delivery {
    /// The key a delivery is stored under.
    #[must_use]
    pub fn key(channel: &str, provider_id: &str) -> String {
        format!("{channel}\u{1f}{provider_id}")
    }
}

/// Everything one message (or one operator action) changes, committed at once.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// The session to save, with compare-and-swap on `session.version`.
    pub session: Option<(SessionKey, Session)>,
    /// Transcript lines to append.
    pub transcript: Vec<TranscriptEntry>,
    /// Tickets to insert or replace.
    pub tickets: Vec<Ticket>,
    /// Hand-offs to insert or replace (one per conversation).
    pub handoffs: Vec<Handoff>,
    /// Messages to queue for delivery.
    pub outbox: Vec<OutboxMessage>,
    /// Counters to add to.
    pub counters: Vec<(String, i64)>,
    /// Inbox items this message answered: removed with the rest, so that an
    /// inbound message is answered exactly once even across a crash.
    pub inbox_done: Vec<u64>,
    /// An inbound message accepted and answered in this same change set:
    /// its deduplication key ([`InboxItem::dedup_key`]) and when it was
    /// received. If the key was already accepted, nothing is written and the
    /// result is [`SaveOutcome::Duplicate`].
    pub seen: Option<(String, u64)>,
}

impl Changes {
    /// Adds `delta` to counter `key`.
    pub fn count(&mut self, key: impl Into<String>, delta: i64) {
        self.counters.push((key.into(), delta));
    }
}

/// The storage behind an engine. Implementations must be safe to share
/// between tasks, keep their I/O off the async worker threads, and make
/// [`Store::commit`] atomic and durable.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// The session of a conversation.
    async fn session(&self, key: &SessionKey) -> Result<Option<Session>>;

    /// Applies `changes` atomically. With a session, only if the stored
    /// version still equals `session.version` (0: none stored); otherwise
    /// nothing is written and the result is [`SaveOutcome::Conflict`].
    async fn commit(&self, changes: Changes) -> Result<SaveOutcome>;

    /// The next number of the sequence `name` (e.g. `ADU-2026`), starting at
    /// 1, durable and never handed out twice.
    async fn next_number(&self, name: &str) -> Result<u64>;

    /// A ticket by id.
    async fn ticket(&self, id: &str) -> Result<Option<Ticket>>;

    /// Every ticket, oldest first.
    async fn tickets(&self) -> Result<Vec<Ticket>>;

    /// Every hand-off, by conversation.
    async fn handoffs(&self) -> Result<Vec<Handoff>>;

    /// The hand-off of one conversation (the latest, open or closed).
    /// Backends with a key lookup should not read the others.
    async fn handoff(&self, key: &SessionKey) -> Result<Option<Handoff>> {
        Ok(self.handoffs().await?.into_iter().find(|h| h.key() == *key))
    }

    /// Transcript lines at or after `since_ms`, oldest first.
    async fn transcript(&self, since_ms: u64) -> Result<Vec<TranscriptEntry>>;

    /// The last `limit` transcript lines of one conversation at or after
    /// `since_ms`, oldest first: what an operator's view of a conversation
    /// shows. Backends with an index should not read other conversations.
    async fn conversation(
        &self,
        key: &SessionKey,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<TranscriptEntry>> {
        let mut lines: Vec<TranscriptEntry> = self
            .transcript(since_ms)
            .await?
            .into_iter()
            .filter(|l| l.channel == key.channel && l.user == key.user)
            .collect();
        let skip = lines.len().saturating_sub(limit);
        lines.drain(..skip);
        Ok(lines)
    }

    /// Every counter.
    async fn counters(&self) -> Result<BTreeMap<String, i64>>;

    /// Queued messages not yet acknowledged, with their ids, oldest first.
    async fn outbox(&self) -> Result<Vec<(u64, OutboxMessage)>>;

    /// Queued messages with ids above `after`, oldest first: what was
    /// queued since the caller last looked (ids only grow).
    async fn outbox_after(&self, after: u64) -> Result<Vec<(u64, OutboxMessage)>> {
        Ok(self
            .outbox()
            .await?
            .into_iter()
            .filter(|(id, _)| *id > after)
            .collect())
    }

    /// Removes delivered messages from the outbox.
    async fn ack_outbox(&self, ids: &[u64]) -> Result<()> {
        let now = unix_ms(SystemTime::now());
        self.update_outbox(
            ids.iter()
                .map(|&id| OutboxUpdate::Sent {
                    id,
                    provider_id: None,
                    time_ms: now,
                })
                .collect(),
        )
        .await
    }

    /// Records what became of delivery attempts, durably and in one step.
    async fn update_outbox(&self, updates: Vec<OutboxUpdate>) -> Result<()>;

    /// Accepts inbound messages into the inbox, durably, before the provider
    /// is acknowledged. Each result is the item's inbox id, or `None` when
    /// the channel already accepted a message with that provider id (a
    /// provider's retry): it is dropped.
    async fn accept(&self, items: Vec<InboxItem>) -> Result<Vec<Option<u64>>>;

    /// Whether `channel` already accepted a message with provider id `message_id`.
    async fn is_seen(&self, channel: &str, message_id: &str) -> Result<bool>;

    /// The session of `key`, unless its channel already accepted a message
    /// with provider id `message_id` (then `None`): the two reads answering
    /// a message starts with. Backends that can should read both at once.
    async fn session_if_unseen(
        &self,
        key: &SessionKey,
        message_id: &str,
    ) -> Result<Option<Option<Session>>> {
        if self.is_seen(&key.channel, message_id).await? {
            return Ok(None);
        }
        self.session(key).await.map(Some)
    }

    /// Inbox items not yet answered, with their ids, oldest first.
    async fn inbox(&self) -> Result<Vec<(u64, InboxItem)>>;

    /// Forgets the provider ids of messages accepted before `before_ms`
    /// (they are kept at least as long as providers retry), and the
    /// delivery records last updated before it (statuses arrive within
    /// days); returns how many entries went.
    async fn forget_seen(&self, before_ms: u64) -> Result<u64>;

    /// Messages given up on, oldest first.
    async fn dead_letters(&self) -> Result<Vec<DeadLetter>>;

    /// A sent message by its provider id.
    async fn delivery(&self, channel: &str, provider_id: &str) -> Result<Option<Delivery>>;
}
