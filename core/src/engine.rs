//! The engine: one call per inbound message, replies out.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::matcher::{Decision, Layer, Match, Matcher};
use crate::message::{Button, Content, Inbound, Reply};
use crate::pack::{FALLBACK, Pack};
use crate::render::{choice_number, resolve_choice};
use crate::session::{MemorySessions, SaveOutcome, Session, SessionKey, SessionStore};

/// How often a turn is redone when another worker saved the session first.
const MAX_CAS_RETRIES: usize = 8;
/// Runners-up below this score are not offered as suggestions.
const MIN_SUGGESTION_SCORE: f32 = 0.12;

/// Layan's engine: matches each message to an intent of the pack, answers,
/// and remembers the conversation.
///
/// Cheap to clone (an `Arc` inside), `Send + Sync`. [`Engine::reload`] swaps
/// the pack atomically; a pack that fails to build never replaces a working one.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    active: RwLock<Arc<Active>>,
    sessions: Arc<dyn SessionStore>,
}

/// A pack with everything derived from it at load time.
struct Active {
    pack: Arc<Pack>,
    matcher: Matcher,
    variables: BTreeMap<String, String>,
}

impl Active {
    fn new(pack: Pack) -> Result<Self> {
        let matcher = Matcher::new(&pack)?;
        let variables = pack.variables();
        Ok(Self {
            pack: Arc::new(pack),
            matcher,
            variables,
        })
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pack = self.pack();
        f.debug_struct("Engine")
            .field("pack", &pack.meta.id)
            .field("version", &pack.meta.version)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Engine`].
#[derive(Default)]
pub struct EngineBuilder {
    pack: Option<Pack>,
    sessions: Option<Arc<dyn SessionStore>>,
}

impl EngineBuilder {
    /// The pack to answer from (required).
    #[must_use]
    pub fn pack(mut self, pack: Pack) -> Self {
        self.pack = Some(pack);
        self
    }

    /// Where sessions live; in memory when not set.
    #[must_use]
    pub fn sessions(mut self, store: impl SessionStore) -> Self {
        self.sessions = Some(Arc::new(store));
        self
    }

    /// Builds the engine, compiling the pack's matcher.
    ///
    /// # Errors
    /// [`Error::Config`] without a pack; [`Error::Matcher`] when it cannot be built.
    pub fn build(self) -> Result<Engine> {
        let pack = self
            .pack
            .ok_or_else(|| Error::Config("the engine needs a pack: call .pack(…)".to_owned()))?;
        let sessions = self
            .sessions
            .unwrap_or_else(|| Arc::new(MemorySessions::new()));
        Ok(Engine {
            inner: Arc::new(Inner {
                active: RwLock::new(Arc::new(Active::new(pack)?)),
                sessions,
            }),
        })
    }
}

/// What the engine did with one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The replies, in order.
    pub replies: Vec<Reply>,
    /// The intent answered (`fallback` when none was confident enough).
    pub intent: String,
    /// The score of that intent.
    pub score: f32,
    /// The layer that decided.
    pub layer: Layer,
}

impl Engine {
    /// A builder: `Engine::builder().pack(pack).build()?`.
    #[must_use]
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The pack in use.
    #[must_use]
    pub fn pack(&self) -> Arc<Pack> {
        Arc::clone(&self.active().pack)
    }

    fn active(&self) -> Arc<Active> {
        let guard = self
            .inner
            .active
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&guard)
    }

    /// Replaces the pack. The new matcher is built first; on error the old
    /// pack stays in use.
    ///
    /// # Errors
    /// When the new pack's matcher cannot be built.
    pub fn reload(&self, pack: Pack) -> Result<()> {
        let active = Arc::new(Active::new(pack)?);
        let mut guard = self
            .inner
            .active
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = active;
        tracing::info!(target: "layan_core::engine", "pack reloaded");
        Ok(())
    }

    /// Which intent `text` asks for, without touching any session.
    #[must_use]
    pub fn decide(&self, text: &str) -> Decision {
        self.active().matcher.decide(text)
    }

    /// Handles one inbound message and returns the replies.
    ///
    /// # Errors
    /// When the session store fails.
    pub async fn handle(&self, inbound: Inbound) -> Result<Vec<Reply>> {
        Ok(self.handle_outcome(inbound).await?.replies)
    }

    /// Handles one inbound message and says what was decided.
    ///
    /// # Errors
    /// When the session store fails, or the session kept changing under us.
    pub async fn handle_outcome(&self, inbound: Inbound) -> Result<Outcome> {
        let key = SessionKey::new(&inbound.channel, &inbound.user);
        let active = self.active();
        for _ in 0..MAX_CAS_RETRIES {
            let mut session = self.inner.sessions.load(&key).await?.unwrap_or_default();
            let timeout = Duration::from_secs(active.pack.settings.session_timeout_minutes * 60);
            let expired = session
                .last_seen
                .checked_add(timeout)
                .is_some_and(|t| t < inbound.time);
            if expired {
                session.menu.clear();
                session.last_intent = None;
            }
            let outcome = turn(&active, &mut session, &inbound);
            session.last_seen = inbound.time.max(session.last_seen);
            match self.inner.sessions.save(&key, &session).await? {
                SaveOutcome::Saved(_) => {
                    if outcome.intent == FALLBACK {
                        tracing::info!(
                            target: "layan_core::unanswered",
                            channel = %inbound.channel,
                            score = outcome.score,
                            "no confident intent"
                        );
                    }
                    return Ok(outcome);
                }
                SaveOutcome::Conflict => continue,
            }
        }
        Err(Error::Store(format!(
            "session {}/{} changed {MAX_CAS_RETRIES} times while handling one message",
            key.channel, key.user
        )))
    }
}

/// One conversational turn on an in-memory session: decide, answer, update.
fn turn(active: &Active, session: &mut Session, inbound: &Inbound) -> Outcome {
    let pack = &active.pack;
    let decided: Match = match &inbound.content {
        Content::Payload(p) if pack.intent(p).is_some() || p == FALLBACK => chosen(p),
        Content::Payload(p) | Content::Text(p) => {
            let text = p.as_str();
            if text.trim().is_empty() {
                return answer_text(session, pack, "kosong", builtin::EMPTY);
            }
            if active.matcher.command(text).is_none()
                && let Some(outcome) = menu_choice(session, pack, text)
            {
                match outcome {
                    Ok(m) => m,
                    Err(outcome) => return outcome,
                }
            } else {
                let decision = active.matcher.decide(text);
                if decision.is_fallback() {
                    return fallback(active, session, &decision);
                }
                decision.best
            }
        }
        Content::Location { .. } | Content::Media { .. } => {
            return answer_text(session, pack, "lampiran", builtin::ATTACHMENT);
        }
    };
    answer(active, session, decided)
}

fn chosen(intent: &str) -> Match {
    Match {
        intent: intent.to_owned(),
        score: 1.0,
        layer: Layer::Choice,
        layers: BTreeMap::from([(Layer::Choice, 1.0)]),
        captures: BTreeMap::new(),
    }
}

/// Reads `text` as an answer to the last menu: `Some(Ok)` the chosen
/// intent, `Some(Err)` a reply about a number that is not on the menu,
/// `None` when `text` is not a menu answer.
fn menu_choice(session: &mut Session, pack: &Pack, text: &str) -> Option<Result<Match, Outcome>> {
    if let Some(i) = resolve_choice(text, &session.menu) {
        return Some(Ok(chosen(&session.menu[i].payload)));
    }
    let n = choice_number(text)?;
    if session.menu.is_empty() {
        return Some(Err(answer_text(session, pack, "pilihan", builtin::NO_MENU)));
    }
    let text = format!(
        "Pilihan {n} tidak ada. Balas dengan nomor 1 sampai {}.",
        session.menu.len()
    );
    let buttons = session.menu.clone();
    Some(Err(Outcome {
        replies: vec![Reply::Buttons { text, buttons }],
        intent: "pilihan".to_owned(),
        score: 1.0,
        layer: Layer::Choice,
    }))
}

/// A built-in answer, with the pack's menu as a button when it has one.
fn answer_text(session: &mut Session, pack: &Pack, intent: &str, text: &str) -> Outcome {
    let buttons: Vec<Button> = pack
        .intent("menu")
        .map(|_| Button::new(pack.intent_title("menu"), "menu"))
        .into_iter()
        .collect();
    session.menu = buttons.clone();
    session.last_intent = None;
    let reply = if buttons.is_empty() {
        Reply::Text(text.to_owned())
    } else {
        Reply::Buttons {
            text: text.to_owned(),
            buttons,
        }
    };
    Outcome {
        replies: vec![reply],
        intent: intent.to_owned(),
        score: 1.0,
        layer: Layer::Fallback,
    }
}

fn answer(active: &Active, session: &mut Session, m: Match) -> Outcome {
    let pack = &active.pack;
    let Some(intent) = pack.intent(&m.intent) else {
        // A stale payload (the pack changed): treat as not understood.
        let decision = Decision {
            normalised: String::new(),
            corrected: String::new(),
            best: m,
            runners_up: Vec::new(),
        };
        return fallback(active, session, &decision);
    };
    let text = intent.reply.render_with(|name| {
        m.captures
            .get(name)
            .or_else(|| active.variables.get(name))
            .map(String::as_str)
    });
    let buttons: Vec<Button> = intent
        .buttons
        .iter()
        .map(|b| Button::new(b.title.clone(), b.intent.clone()))
        .collect();
    session.menu = buttons.clone();
    session.last_intent = Some(intent.id.clone());
    let reply = if buttons.is_empty() {
        Reply::Text(text)
    } else {
        Reply::Buttons { text, buttons }
    };
    Outcome {
        replies: vec![reply],
        intent: m.intent,
        score: m.score,
        layer: m.layer,
    }
}

fn fallback(active: &Active, session: &mut Session, decision: &Decision) -> Outcome {
    let pack = &active.pack;
    let limit = pack.settings.fallback_suggestions;
    let mut buttons: Vec<Button> = decision
        .runners_up
        .iter()
        .filter(|m| m.score >= MIN_SUGGESTION_SCORE && m.intent != FALLBACK)
        .take(limit)
        .map(|m| Button::new(pack.intent_title(&m.intent), m.intent.clone()))
        .collect();
    // Always offer a person and the menu when the pack has them.
    let human = pack
        .intents
        .iter()
        .find(|i| i.commands.iter().any(|c| c == "#tanya"));
    for id in [
        human.map(|i| i.id.as_str()),
        pack.intent("menu").map(|i| i.id.as_str()),
    ]
    .into_iter()
    .flatten()
    {
        if !buttons.iter().any(|b| b.payload == id) {
            buttons.push(Button::new(pack.intent_title(id), id));
        }
    }
    let text = match pack.intent(FALLBACK) {
        Some(own) => own.reply.render(&active.variables),
        None if buttons.is_empty() => builtin::FALLBACK_BARE.to_owned(),
        None => builtin::FALLBACK.to_owned(),
    };
    let mut own_buttons: Vec<Button> = pack
        .intent(FALLBACK)
        .map(|i| {
            i.buttons
                .iter()
                .map(|b| Button::new(b.title.clone(), b.intent.clone()))
                .collect()
        })
        .unwrap_or_default();
    own_buttons.retain(|b| !buttons.iter().any(|x| x.payload == b.payload));
    buttons.extend(own_buttons);
    session.menu = buttons.clone();
    session.last_intent = Some(FALLBACK.to_owned());
    let reply = if buttons.is_empty() {
        Reply::Text(text)
    } else {
        Reply::Buttons { text, buttons }
    };
    Outcome {
        replies: vec![reply],
        intent: FALLBACK.to_owned(),
        score: decision.best.score,
        layer: Layer::Fallback,
    }
}

/// The engine's own messages to citizens, used when a pack does not say otherwise.
mod builtin {
    pub(super) const FALLBACK: &str = "Maaf, saya belum memahami pesan Anda. 🙏\n\
        Mungkin maksud Anda salah satu pilihan di bawah ini. Anda juga bisa menulis ulang \
        pertanyaan dengan kata lain.";
    pub(super) const FALLBACK_BARE: &str =
        "Maaf, saya belum memahami pesan Anda. 🙏 Silakan tulis ulang pertanyaan dengan kata lain.";
    pub(super) const EMPTY: &str =
        "Pesan Anda kosong. Silakan tulis pertanyaan Anda, atau pilih menu di bawah ini.";
    pub(super) const NO_MENU: &str = "Belum ada pilihan bernomor yang sedang ditampilkan. \
        Silakan tulis pertanyaan Anda, atau buka menu untuk melihat layanan kami.";
    pub(super) const ATTACHMENT: &str = "Terima kasih, kiriman Anda sudah kami terima. Saat ini \
        saya hanya dapat membaca pesan teks. Silakan tuliskan pertanyaan Anda, atau buka menu.";
}
