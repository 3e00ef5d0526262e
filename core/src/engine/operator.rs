//! What office staff do through the engine: the hand-off queue, ticket
//! status changes (each notifying the citizen through the outbox), and
//! statistics.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Engine;
use crate::clock;
use crate::error::{Error, Result};
use crate::message::Button;
use crate::session::{HandoffMode, SaveOutcome, Session, SessionKey};
use crate::store::{
    Changes, Direction, Handoff, HandoffState, OutboxMessage, StatusChange, Ticket, TicketStatus,
    TranscriptEntry, unix_ms,
};

const RATING_QUESTION: &str =
    "Bagaimana penilaian Anda atas layanan kami? Balas angka 1 (buruk) sampai 5 (sangat baik).";

fn rating_buttons() -> Vec<Button> {
    (1..=5)
        .map(|n| Button::new(n.to_string(), n.to_string()))
        .collect()
}

/// Counts for `layan stats` and the dashboard.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Messages from citizens.
    pub messages_in: i64,
    /// Messages to citizens (bot replies).
    pub messages_out: i64,
    /// Messages in and out per day (`YYYY-MM-DD`) and channel.
    pub per_day: BTreeMap<String, BTreeMap<String, (i64, i64)>>,
    /// Inbound messages per decided intent.
    pub per_intent: BTreeMap<String, i64>,
    /// Inbound messages per day (`YYYY-MM-DD`, office time) and intent.
    pub per_day_intent: BTreeMap<String, BTreeMap<String, i64>>,
    /// Share of inbound messages the fallback answered.
    pub fallback_rate: f64,
    /// Conversations handed to a person.
    pub handoffs: i64,
    /// Tickets.
    pub tickets: TicketStats,
    /// Satisfaction ratings.
    pub csat: CsatStats,
}

/// Ticket counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TicketStats {
    /// All tickets.
    pub total: usize,
    /// By status (`baru`, `diproses`, `selesai`, `ditolak`).
    pub by_status: BTreeMap<String, usize>,
    /// Open past their SLA.
    pub overdue: usize,
}

/// Satisfaction ratings (1–5).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CsatStats {
    /// How many ratings.
    pub responses: i64,
    /// Their mean, 0 when none.
    pub average: f64,
    /// Count per score.
    pub distribution: BTreeMap<u8, i64>,
}

impl Engine {
    /// Applies `f` to the session of `key` and commits it with `changes`,
    /// redoing it when a message changed the session meanwhile.
    async fn with_session(
        &self,
        key: &SessionKey,
        f: impl FnMut(&mut Session, &mut Changes) -> Result<()>,
    ) -> Result<()> {
        let lock = self.conversation_lock(key);
        let _in_order = lock.lock().await;
        self.save_session(key, f).await
    }

    /// [`Self::with_session`] for a caller that holds the conversation lock.
    async fn save_session(
        &self,
        key: &SessionKey,
        mut f: impl FnMut(&mut Session, &mut Changes) -> Result<()>,
    ) -> Result<()> {
        for _ in 0..super::MAX_CAS_RETRIES {
            let mut session = self
                .inner
                .store
                .session(key)
                .await?
                .unwrap_or_else(Session::new);
            let mut changes = Changes::default();
            f(&mut session, &mut changes)?;
            changes.session = Some((key.clone(), session));
            if let SaveOutcome::Saved(_) = self.inner.store.commit(changes).await? {
                return Ok(());
            }
        }
        Err(Error::Store(format!(
            "session {}/{} kept changing",
            key.channel, key.user
        )))
    }

    fn outbound(&self, key: &SessionKey, author: &str, text: &str, now: u64) -> TranscriptEntry {
        TranscriptEntry {
            time_ms: now,
            channel: key.channel.clone(),
            user: key.user.clone(),
            direction: Direction::Out,
            text: text.to_owned(),
            intent: None,
            score: None,
            layer: None,
            latency_us: None,
            author: Some(author.to_owned()),
        }
    }

    /// Hand-offs not yet closed, oldest first.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn handoff_queue(&self) -> Result<Vec<Handoff>> {
        let mut open: Vec<Handoff> = self
            .inner
            .store
            .handoffs()
            .await?
            .into_iter()
            .filter(|h| h.state != HandoffState::Closed)
            .collect();
        open.sort_by_key(|h| h.requested_ms);
        Ok(open)
    }

    async fn open_handoff(&self, key: &SessionKey) -> Result<Handoff> {
        self.inner
            .store
            .handoff(key)
            .await?
            .filter(|h| h.state != HandoffState::Closed)
            .ok_or_else(|| Error::NotHandedOff {
                channel: key.channel.clone(),
                user: key.user.clone(),
            })
    }

    /// `operator` takes the conversation: the bot goes silent in it.
    ///
    /// # Errors
    /// No open hand-off for `key`, or the store fails.
    pub async fn take_handoff(&self, key: &SessionKey, operator: &str) -> Result<()> {
        let lock = self.conversation_lock(key);
        let _in_order = lock.lock().await;
        let mut handoff = self.open_handoff(key).await?;
        handoff.state = HandoffState::Taken(operator.to_owned());
        let now = unix_ms(self.now());
        self.save_session(key, |s, c| {
            s.handoff = Some(HandoffMode::Held(now));
            c.handoffs.push(handoff.clone());
            Ok(())
        })
        .await
    }

    /// The open hand-off of `key` if `operator` holds it: the rule
    /// [`Self::operator_reply`] and [`Self::close_handoff`] apply (again,
    /// under the conversation lock) before they act.
    ///
    /// # Errors
    /// [`Error::NotHandedOff`], [`Error::NotHolder`], or the store fails.
    pub async fn held_handoff(&self, key: &SessionKey, operator: &str) -> Result<Handoff> {
        let handoff = self.open_handoff(key).await?;
        match &handoff.state {
            HandoffState::Taken(op) if op == operator => Ok(handoff),
            HandoffState::Taken(op) => Err(Error::NotHolder {
                holder: Some(op.clone()),
            }),
            _ => Err(Error::NotHolder { holder: None }),
        }
    }

    /// `operator`, who holds the conversation, answers the citizen: queued
    /// in the outbox for the channel.
    ///
    /// # Errors
    /// [`Error::NotHandedOff`], [`Error::NotHolder`] when `operator` has
    /// not taken it (or another has since), or the store fails.
    pub async fn operator_reply(&self, key: &SessionKey, operator: &str, text: &str) -> Result<()> {
        let lock = self.conversation_lock(key);
        let _in_order = lock.lock().await;
        let mut handoff = self.held_handoff(key, operator).await?;
        let now = unix_ms(self.now());
        handoff.first_answer_ms.get_or_insert(now);
        let mut changes = Changes {
            handoffs: vec![handoff],
            transcript: vec![self.outbound(key, operator, text, now)],
            outbox: vec![OutboxMessage {
                channel: key.channel.clone(),
                user: key.user.clone(),
                text: text.to_owned(),
                buttons: Vec::new(),
                created_ms: now,
                ..OutboxMessage::default()
            }],
            ..Changes::default()
        };
        let day = clock::Local::at(now, self.pack().office.utc_offset).iso_date();
        changes.count(format!("out:{day}:{}", key.channel), 1);
        changes.count("operator_replies", 1);
        self.inner.store.commit(changes).await.map(|_| ())
    }

    /// `operator`, who holds the conversation, closes the hand-off: the bot
    /// resumes and asks for a rating.
    ///
    /// # Errors
    /// [`Error::NotHandedOff`], [`Error::NotHolder`] when `operator` has
    /// not taken it (or another has since), or the store fails.
    pub async fn close_handoff(&self, key: &SessionKey, operator: &str) -> Result<()> {
        let lock = self.conversation_lock(key);
        let _in_order = lock.lock().await;
        let mut handoff = self.held_handoff(key, operator).await?;
        handoff.state = HandoffState::Closed;
        let now = unix_ms(self.now());
        let text =
            format!("Percakapan dengan petugas telah selesai. Terima kasih.\n\n{RATING_QUESTION}");
        let line = self.outbound(key, operator, &text, now);
        self.save_session(key, |s, c| {
            s.handoff = None;
            s.rating_for = Some("handoff".to_owned());
            s.menu = rating_buttons();
            c.handoffs.push(handoff.clone());
            c.transcript.push(line.clone());
            c.outbox.push(OutboxMessage {
                channel: key.channel.clone(),
                user: key.user.clone(),
                text: text.clone(),
                buttons: rating_buttons(),
                created_ms: now,
                ..OutboxMessage::default()
            });
            c.count("handoff_closed", 1);
            Ok(())
        })
        .await
    }

    /// Every ticket, oldest first.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn tickets(&self) -> Result<Vec<Ticket>> {
        self.inner.store.tickets().await
    }

    /// Changes a ticket's status with a note, and queues a notification to
    /// the citizen on the ticket's channel (with a rating question when the
    /// ticket is closed).
    ///
    /// # Errors
    /// An unknown ticket, or the store fails.
    pub async fn set_ticket_status(
        &self,
        id: &str,
        status: TicketStatus,
        actor: &str,
        note: &str,
    ) -> Result<Ticket> {
        let mut ticket = self
            .inner
            .store
            .ticket(&id.to_uppercase())
            .await?
            .ok_or_else(|| Error::Config(format!("no ticket {id}")))?;
        let now = unix_ms(self.now());
        ticket.status = status;
        ticket.history.push(StatusChange {
            time_ms: now,
            status,
            actor: actor.to_owned(),
            note: note.to_owned(),
        });
        let mut text = format!("Status tiket *{}* kini *{}*.", ticket.id, status.label());
        if !note.trim().is_empty() {
            text.push_str(&format!("\nCatatan petugas: {}", note.trim()));
        }
        let closed = status.is_closed();
        if closed {
            text.push_str(&format!("\n\n{RATING_QUESTION}"));
        }
        let key = SessionKey::new(&ticket.channel, &ticket.user);
        let line = self.outbound(&key, actor, &text, now);
        let saved = ticket.clone();
        self.with_session(&key, |s, c| {
            if closed {
                s.rating_for = Some(format!("ticket:{}", saved.id));
                s.menu = rating_buttons();
            }
            c.tickets.push(saved.clone());
            c.transcript.push(line.clone());
            c.outbox.push(OutboxMessage {
                channel: key.channel.clone(),
                user: key.user.clone(),
                text: text.clone(),
                buttons: if closed { rating_buttons() } else { Vec::new() },
                created_ms: now,
                ..OutboxMessage::default()
            });
            c.count(format!("ticket_{}", status.label()), 1);
            Ok(())
        })
        .await?;
        Ok(ticket)
    }

    /// Statistics from the counters and tickets.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn stats(&self) -> Result<Stats> {
        let counters = self.inner.store.counters().await?;
        let tickets = self.inner.store.tickets().await?;
        let now = unix_ms(self.now());
        let mut s = Stats::default();
        for (key, &v) in &counters {
            let parts: Vec<&str> = key.splitn(3, ':').collect();
            match parts.as_slice() {
                ["in", day, channel] => {
                    s.messages_in += v;
                    s.per_day
                        .entry((*day).to_owned())
                        .or_default()
                        .entry((*channel).to_owned())
                        .or_default()
                        .0 += v;
                }
                ["out", day, channel] => {
                    s.messages_out += v;
                    s.per_day
                        .entry((*day).to_owned())
                        .or_default()
                        .entry((*channel).to_owned())
                        .or_default()
                        .1 += v;
                }
                ["intent", intent] => {
                    s.per_intent.insert((*intent).to_owned(), v);
                }
                ["handoff"] => s.handoffs = v,
                ["csat", n] => {
                    if let Ok(n) = n.parse::<u8>() {
                        s.csat.distribution.insert(n, v);
                    }
                }
                _ => {}
            }
        }
        // Per day and intent, from the transcript: no counter on the hot path.
        let offset = self.pack().office.utc_offset;
        for line in self.inner.store.transcript(0).await? {
            if line.direction != Direction::In {
                continue;
            }
            let day = clock::Local::at(line.time_ms, offset).iso_date();
            let intent = line.intent.unwrap_or_default();
            *s.per_day_intent
                .entry(day)
                .or_default()
                .entry(intent)
                .or_default() += 1;
        }
        let fallbacks = s
            .per_intent
            .get(crate::pack::FALLBACK)
            .copied()
            .unwrap_or(0);
        s.fallback_rate = if s.messages_in > 0 {
            fallbacks as f64 / s.messages_in as f64
        } else {
            0.0
        };
        s.csat.responses = s.csat.distribution.values().sum();
        if s.csat.responses > 0 {
            let sum: i64 = s
                .csat
                .distribution
                .iter()
                .map(|(k, v)| i64::from(*k) * v)
                .sum();
            s.csat.average = sum as f64 / s.csat.responses as f64;
        }
        s.tickets.total = tickets.len();
        for t in &tickets {
            *s.tickets
                .by_status
                .entry(t.status.label().to_owned())
                .or_default() += 1;
            if t.is_overdue(now) {
                s.tickets.overdue += 1;
            }
        }
        Ok(s)
    }
}
