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

mod memory;
mod redb;
#[cfg(feature = "sled")]
mod sled;
pub mod suite;
mod writer;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

pub use self::memory::MemoryStore;
pub use self::redb::{BACKEND_MARKER, RedbStore};
#[cfg(feature = "sled")]
pub use self::sled::SledStore;
use crate::error::Result;
use crate::message::Button;
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
}

impl Handoff {
    /// The conversation's key.
    #[must_use]
    pub fn key(&self) -> SessionKey {
        SessionKey::new(&self.channel, &self.user)
    }
}

/// A message queued for delivery to a citizen outside a reply (a ticket
/// status change, an operator's answer). Channels deliver and acknowledge them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// Everything one message (or one operator action) changes, committed at once.
#[derive(Debug, Clone, Default, PartialEq)]
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

    /// Transcript lines at or after `since_ms`, oldest first.
    async fn transcript(&self, since_ms: u64) -> Result<Vec<TranscriptEntry>>;

    /// Every counter.
    async fn counters(&self) -> Result<BTreeMap<String, i64>>;

    /// Queued messages not yet acknowledged, with their ids, oldest first.
    async fn outbox(&self) -> Result<Vec<(u64, OutboxMessage)>>;

    /// Removes delivered messages from the outbox.
    async fn ack_outbox(&self, ids: &[u64]) -> Result<()>;
}
