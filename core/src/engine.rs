//! The engine: one call per inbound message, replies out, and everything
//! the message changed committed to the store at once.

mod context;
mod dialog;
mod operator;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Instant, SystemTime};

pub use operator::{CsatStats, Stats, TicketStats};

use crate::error::{Error, Result};
use crate::matcher::{Decision, Layer, Match, Matcher};
use crate::message::{Button, Content, Inbound, Reply};
use crate::pack::{Action, FALLBACK, Pack};
use crate::render::{choice_number, resolve_choice};
use crate::session::{SaveOutcome, Session, SessionKey};
use crate::store::{Changes, Direction, MemoryStore, Store, TranscriptEntry, unix_ms};

/// How often a turn is redone when another worker saved the session first.
const MAX_CAS_RETRIES: usize = 16;
/// Runners-up below this score are not offered as suggestions.
const MIN_SUGGESTION_SCORE: f32 = 0.12;

/// What a custom action receives.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionContext {
    /// The channel of the conversation.
    pub channel: String,
    /// The citizen.
    pub user: String,
    /// The intent that ran the action, if any.
    pub intent: Option<String>,
    /// The form that completed, if any.
    pub form: Option<String>,
    /// The form's values, or the intent's captures (`args` for a command's argument).
    pub values: BTreeMap<String, String>,
    /// What the citizen wrote last.
    pub text: String,
}

/// What a custom action gives back: variables for the reply template, as
/// `{action.NAME}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionOutput {
    /// Variables, by name (without the `action.` prefix).
    pub vars: BTreeMap<String, String>,
}

/// Why a custom action failed; the citizen gets an honest apology and the
/// reason is logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionError(pub String);

/// A boxed future of an action.
pub type ActionFuture =
    Pin<Box<dyn Future<Output = std::result::Result<ActionOutput, ActionError>> + Send>>;

/// A Rust action an office registers on the builder, named in packs as
/// `action = "NAME"` (intents) or `on_complete = "NAME"` (forms).
pub trait CustomAction: Send + Sync + 'static {
    /// Runs the action.
    fn run(&self, ctx: ActionContext) -> ActionFuture;
}

impl<F, Fut> CustomAction for F
where
    F: Fn(ActionContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<ActionOutput, ActionError>> + Send + 'static,
{
    fn run(&self, ctx: ActionContext) -> ActionFuture {
        Box::pin(self(ctx))
    }
}

/// Layan's engine: matches each message to an intent of the pack, runs
/// forms and actions, and remembers the conversation in its [`Store`].
///
/// Cheap to clone (an `Arc` inside), `Send + Sync`. Messages of one
/// conversation are handled one at a time, in arrival order; different
/// conversations run in parallel. [`Engine::reload`] swaps the pack
/// atomically; a pack that fails to build never replaces a working one.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

struct Inner {
    active: RwLock<Arc<Active>>,
    store: Arc<dyn Store>,
    actions: HashMap<String, Arc<dyn CustomAction>>,
    locks: Mutex<HashMap<SessionKey, Weak<tokio::sync::Mutex<()>>>>,
    clock: Clock,
    http: reqwest::Client,
}

/// A pack with everything derived from it at load time.
struct Active {
    pack: Arc<Pack>,
    matcher: Matcher,
    variables: BTreeMap<String, String>,
}

impl Active {
    fn new(pack: Pack, actions: &HashMap<String, Arc<dyn CustomAction>>) -> Result<Self> {
        let missing: Vec<String> = pack
            .intents
            .iter()
            .filter_map(|i| i.action.clone())
            .chain(pack.forms.iter().map(|f| f.on_complete.clone()))
            .filter_map(|a| match a {
                Action::Custom(name) if !actions.contains_key(&name) => Some(name),
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            return Err(Error::Config(format!(
                "the pack uses actions no code registered: {} (register them with Engine::builder().action(…))",
                missing.join(", ")
            )));
        }
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
    store: Option<Arc<dyn Store>>,
    actions: HashMap<String, Arc<dyn CustomAction>>,
    clock: Option<Clock>,
}

impl EngineBuilder {
    /// The pack to answer from (required).
    #[must_use]
    pub fn pack(mut self, pack: Pack) -> Self {
        self.pack = Some(pack);
        self
    }

    /// Where conversations are kept; in memory when not set.
    #[must_use]
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// A store already shared with other parts of the program.
    #[must_use]
    pub fn shared_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Registers a custom action under `name`.
    #[must_use]
    pub fn action(mut self, name: &str, action: impl CustomAction) -> Self {
        self.actions.insert(name.to_owned(), Arc::new(action));
        self
    }

    /// The clock for operator actions (tests fix it); messages carry their own time.
    #[must_use]
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Builds the engine, compiling the pack's matcher.
    ///
    /// # Errors
    /// [`Error::Config`] without a pack or with actions nobody registered;
    /// [`Error::Matcher`] when the matcher cannot be built.
    pub fn build(self) -> Result<Engine> {
        let pack = self
            .pack
            .ok_or_else(|| Error::Config("the engine needs a pack: call .pack(…)".to_owned()))?;
        let active = Active::new(pack, &self.actions)?;
        Ok(Engine {
            inner: Arc::new(Inner {
                active: RwLock::new(Arc::new(active)),
                store: self.store.unwrap_or_else(|| Arc::new(MemoryStore::new())),
                actions: self.actions,
                locks: Mutex::new(HashMap::new()),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
                http: reqwest::Client::builder()
                    .user_agent(concat!("layan/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| Error::Config(format!("http client: {e}")))?,
            }),
        })
    }
}

/// What the engine did with one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The replies, in order (none while an operator holds the conversation).
    pub replies: Vec<Reply>,
    /// The intent answered: an intent id, `fallback`, or a dialog step
    /// (`form:aduan`, `pilihan`, `batal`, `petugas`, `penilaian`).
    pub intent: String,
    /// The score of that intent.
    pub score: f32,
    /// The layer that decided.
    pub layer: Layer,
    /// A ticket opened by this message.
    pub ticket: Option<String>,
    /// Whether this message put the conversation in the operator queue.
    pub handed_off: bool,
    /// Whether this message cancelled a form (by `#batal`, expiry or retries).
    pub form_cancelled: bool,
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

    /// The store behind the engine.
    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    fn active(&self) -> Arc<Active> {
        let guard = self
            .inner
            .active
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Arc::clone(&guard)
    }

    fn now(&self) -> SystemTime {
        (self.inner.clock)()
    }

    /// Replaces the pack. The new matcher is built first; on error the old
    /// pack stays in use.
    ///
    /// # Errors
    /// When the new pack's matcher cannot be built or it names unregistered actions.
    pub fn reload(&self, pack: Pack) -> Result<()> {
        let active = Arc::new(Active::new(pack, &self.inner.actions)?);
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

    /// The lock that keeps one conversation's messages in order.
    fn conversation_lock(&self, key: &SessionKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self
            .inner
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(lock) = locks.get(key).and_then(Weak::upgrade) {
            return lock;
        }
        if locks.len() > 10_000 {
            locks.retain(|_, w| w.strong_count() > 0);
        }
        let lock = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(key.clone(), Arc::downgrade(&lock));
        lock
    }

    /// Handles one inbound message and returns the replies.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn handle(&self, inbound: Inbound) -> Result<Vec<Reply>> {
        Ok(self.handle_outcome(inbound).await?.replies)
    }

    /// Handles one inbound message and says what was decided. Returns only
    /// after everything the message changed is committed.
    ///
    /// # Errors
    /// When the store fails, or the session kept changing under us.
    pub async fn handle_outcome(&self, inbound: Inbound) -> Result<Outcome> {
        self.handle_with(inbound, None).await?.ok_or_else(|| {
            Error::Store("internal: a direct message read as a duplicate".to_owned())
        })
    }

    /// Handles a message from the durable inbox (entry `inbox_id`) for a
    /// channel with `caps`: the replies go to the store's outbox, addressed
    /// to the citizen, in the same atomic commit that removes the inbox
    /// entry, so that a message is answered exactly once even when the
    /// process dies at any point. Answers longer than `caps.budget` are
    /// cut; the citizen gets the rest by replying `LANJUT`.
    ///
    /// # Errors
    /// When the store fails, or the session kept changing under us.
    pub async fn handle_queued(
        &self,
        inbox_id: u64,
        inbound: Inbound,
        caps: &crate::message::Capabilities,
    ) -> Result<Outcome> {
        let delivery = Delivery {
            budget: caps.budget,
            accept: Accept::Inbox(inbox_id),
        };
        match self.handle_with(inbound, Some(delivery)).await? {
            Some(outcome) => Ok(outcome),
            None => Err(Error::Store(
                "internal: an inbox message read as a duplicate".to_owned(),
            )),
        }
    }

    /// Accepts and answers a message straight from a provider, in one
    /// atomic, durable commit: its provider id (for deduplication), the
    /// session, the transcript and the replies queued in the outbox. `None`
    /// when the channel already accepted this provider id (a retry): nothing
    /// is done. Acknowledge the provider only after this returns `Ok`.
    ///
    /// # Errors
    /// When the store fails, or the session kept changing under us.
    pub async fn handle_accepting(
        &self,
        inbound: Inbound,
        caps: &crate::message::Capabilities,
    ) -> Result<Option<Outcome>> {
        let delivery = Delivery {
            budget: caps.budget,
            accept: Accept::Now(unix_ms(SystemTime::now())),
        };
        self.handle_with(inbound, Some(delivery)).await
    }

    async fn handle_with(
        &self,
        inbound: Inbound,
        delivery: Option<Delivery>,
    ) -> Result<Option<Outcome>> {
        let key = SessionKey::new(&inbound.channel, &inbound.user);
        let lock = self.conversation_lock(&key);
        let _in_order = lock.lock().await;
        let started = Instant::now();
        let active = self.active();
        // A message straight from a provider may be its retry: checked in the
        // same read as the session, under the conversation lock.
        let from_provider = matches!(
            delivery,
            Some(Delivery {
                accept: Accept::Now(_),
                ..
            })
        );
        for attempt in 0..MAX_CAS_RETRIES {
            let store = &self.inner.store;
            let session = if from_provider && attempt == 0 {
                let Some(session) = store.session_if_unseen(&key, &inbound.message_id).await?
                else {
                    return Ok(None);
                };
                session
            } else {
                store.session(&key).await?
            }
            .unwrap_or_else(Session::new);
            let mut turn = Turn::new(self, &active, key.clone(), session, &inbound);
            turn.budget = delivery.as_ref().and_then(|d| d.budget);
            turn.run().await?;
            let (mut changes, outcome) = turn.finish(started);
            if let Some(d) = &delivery {
                match d.accept {
                    Accept::Inbox(id) => changes.inbox_done.push(id),
                    Accept::Now(at) => {
                        changes.seen = Some((
                            crate::store::dedup_key(&inbound.channel, &inbound.message_id),
                            at,
                        ));
                    }
                }
                let now = unix_ms(SystemTime::now());
                changes.outbox.extend(outcome.replies.iter().map(|r| {
                    crate::store::OutboxMessage {
                        channel: inbound.channel.clone(),
                        user: inbound.user.clone(),
                        text: r.text().to_owned(),
                        buttons: r.options(),
                        created_ms: now,
                        reply_to: Some(inbound.message_id.clone()),
                        ..crate::store::OutboxMessage::default()
                    }
                }));
            }
            match self.inner.store.commit(changes).await? {
                SaveOutcome::Saved(_) => {
                    if outcome.intent == FALLBACK {
                        tracing::info!(
                            target: "layan_core::unanswered",
                            channel = %inbound.channel,
                            score = outcome.score,
                            "no confident intent"
                        );
                    }
                    return Ok(Some(outcome));
                }
                SaveOutcome::Conflict => continue,
                SaveOutcome::Duplicate => return Ok(None),
            }
        }
        Err(Error::Store(format!(
            "session {}/{} changed {MAX_CAS_RETRIES} times while handling one message",
            key.channel, key.user
        )))
    }
}

/// How a message from a channel is handled: its replies go to the outbox.
struct Delivery {
    budget: Option<usize>,
    accept: Accept,
}

/// How the message is marked as answered in the same commit.
enum Accept {
    /// It waits in the inbox under this id: removed.
    Inbox(u64),
    /// It comes straight from the provider, received at this time: its
    /// provider id is recorded for deduplication.
    Now(u64),
}

/// What the citizen writes to get the rest of a cut answer.
const MORE_WORDS: &[&str] = &["lanjut", "lanjutkan", "lanjutan", "next", "selanjutnya"];
/// The line under a cut answer.
const MORE_HINT: &str = "(Balas LANJUT untuk membaca selanjutnya.)";

/// One message being handled: the session as loaded, and what the message
/// changes, gathered before one commit.
struct Turn<'a> {
    budget: Option<usize>,
    engine: &'a Engine,
    active: &'a Active,
    key: SessionKey,
    session: Session,
    inbound: &'a Inbound,
    now_ms: u64,
    replies: Vec<Reply>,
    changes: Changes,
    intent: String,
    score: f32,
    layer: Layer,
    ticket: Option<String>,
    handed_off: bool,
    form_cancelled: bool,
}

impl<'a> Turn<'a> {
    fn new(
        engine: &'a Engine,
        active: &'a Active,
        key: SessionKey,
        session: Session,
        inbound: &'a Inbound,
    ) -> Self {
        Self {
            budget: None,
            engine,
            active,
            key,
            session,
            inbound,
            now_ms: unix_ms(inbound.time),
            replies: Vec::new(),
            changes: Changes::default(),
            intent: String::new(),
            score: 1.0,
            layer: Layer::Choice,
            ticket: None,
            handed_off: false,
            form_cancelled: false,
        }
    }

    fn pack(&self) -> &Pack {
        &self.active.pack
    }

    fn text(&self) -> &str {
        match &self.inbound.content {
            Content::Text(t) | Content::Payload(t) => t,
            Content::Media { caption, .. } => caption.as_deref().unwrap_or(""),
            Content::Location { .. } => "",
        }
    }

    /// The inbound message as one line of text: the text itself (cut at
    /// 4,000 characters), or a description of a location or attachment.
    fn describe_inbound(&self) -> String {
        match &self.inbound.content {
            Content::Text(t) | Content::Payload(t) => {
                crate::matcher::truncate_chars(t, 4_000).to_owned()
            }
            Content::Location {
                latitude,
                longitude,
            } => format!("[lokasi {latitude:.5},{longitude:.5}]"),
            Content::Media { kind, caption, .. } => {
                format!("[{kind}] {}", caption.as_deref().unwrap_or(""))
                    .trim_end()
                    .to_owned()
            }
        }
    }

    fn set(&mut self, intent: &str, layer: Layer, score: f32) {
        intent.clone_into(&mut self.intent);
        self.layer = layer;
        self.score = score;
    }

    /// Adds a reply; its buttons become the menu that number answers refer to.
    /// Text over the channel's budget is cut; the rest waits for `LANJUT`.
    fn say(&mut self, text: impl Into<String>, buttons: Vec<Button>) {
        let mut text = text.into();
        if let Some(budget) = self.budget
            && text.chars().count() > budget
        {
            let room = budget.saturating_sub(MORE_HINT.chars().count() + 1).max(1);
            let first = crate::render::split_text(&text, room)
                .into_iter()
                .next()
                .unwrap_or_default();
            let rest = text
                .trim()
                .strip_prefix(first.as_str())
                .unwrap_or_default()
                .trim()
                .to_owned();
            self.session.more = Some(match self.session.more.take() {
                Some(earlier) => format!("{rest}\n\n{earlier}"),
                None => rest,
            });
            text = format!("{first}\n{MORE_HINT}");
        }
        self.session.menu.clone_from(&buttons);
        self.replies.push(if buttons.is_empty() {
            Reply::Text(text)
        } else {
            Reply::Buttons { text, buttons }
        });
    }

    fn menu_button(&self) -> Vec<Button> {
        let pack = self.pack();
        pack.intent("menu")
            .map(|_| Button::new(pack.intent_title("menu"), "menu"))
            .into_iter()
            .collect()
    }

    async fn run(&mut self) -> Result<()> {
        self.expire();
        // A released hand-off is announced; the message is then answered as usual.
        self.release_stale_handoff().await?;
        if matches!(
            self.session.handoff,
            Some(crate::session::HandoffMode::Held(_))
        ) {
            // An operator holds the conversation: the bot stays silent.
            self.set("petugas", Layer::Choice, 1.0);
            return Ok(());
        }
        if self.session.rating_for.is_some() && self.rating() {
            return Ok(());
        }
        let text = self.text().to_owned();
        if let Some(more) = self.session.more.take()
            && MORE_WORDS.contains(&text.trim().to_lowercase().as_str())
        {
            self.set("lanjut", Layer::Choice, 1.0);
            let menu = self.session.menu.clone();
            self.say(more, menu);
            return Ok(());
        }
        if let Some(from) = text
            .strip_prefix(crate::render::MORE_PAYLOAD)
            .and_then(|n| n.parse::<usize>().ok())
            && matches!(self.inbound.content, Content::Payload(_))
        {
            self.set("pilihan", Layer::Choice, 1.0);
            let rest = self.session.menu.get(from..).unwrap_or_default().to_vec();
            if rest.is_empty() {
                self.builtin("pilihan", builtin::NO_MENU);
            } else {
                self.say("Pilihan lainnya:", rest);
            }
            return Ok(());
        }
        if dialog::is_cancel(&text) {
            return self.cancel();
        }
        if let Some(form_id) = self.session.form.as_ref().map(|f| f.form.clone()) {
            return self.form_step(&form_id).await;
        }
        if self.session.handoff == Some(crate::session::HandoffMode::AwaitingQuestion) {
            // A button pressed instead of writing the question: it is a button.
            let pressed = matches!(&self.inbound.content, Content::Payload(p) if self.pack().intent(p).is_some());
            if pressed {
                self.session.handoff = None;
            } else {
                let question = self.describe_inbound();
                return self.enqueue_handoff(&question).await;
            }
        }
        let decided = match &self.inbound.content {
            Content::Payload(p) if self.pack().intent(p).is_some() || p == FALLBACK => chosen(p),
            Content::Payload(p) | Content::Text(p) => {
                if p.trim().is_empty() {
                    self.builtin("kosong", builtin::EMPTY);
                    return Ok(());
                }
                if self.active.matcher.command(p).is_none()
                    && let Some(m) = self.menu_choice(p)
                {
                    match m {
                        Some(m) => m,
                        None => return Ok(()),
                    }
                } else {
                    let decision = self.active.matcher.decide(p);
                    if let Some(m) = self.follow_up(p, &decision) {
                        m
                    } else if decision.is_fallback() {
                        self.fallback(&decision);
                        return Ok(());
                    } else {
                        decision.best
                    }
                }
            }
            Content::Location { .. } | Content::Media { .. } => {
                self.builtin("lampiran", builtin::ATTACHMENT);
                return Ok(());
            }
        };
        self.answer(decided).await
    }

    /// A session silent for longer than the pack's timeout starts afresh;
    /// an abandoned form is reported as cancelled.
    fn expire(&mut self) {
        let timeout_ms = self.pack().settings.session_timeout_minutes * 60_000;
        let last = self.session.last_seen_ms;
        if last == 0 || self.now_ms <= last + timeout_ms {
            return;
        }
        // A question after a long silence is not a follow-up of the last answer.
        self.session.last_intent = None;
        if let Some(form) = self.session.form.take() {
            let title = self
                .pack()
                .form(&form.form)
                .map_or(form.form.clone(), |f| f.title.clone());
            let minutes = self.pack().settings.session_timeout_minutes;
            self.replies.push(Reply::Text(format!(
                "Formulir {title} Anda sebelumnya dibatalkan karena tidak ada balasan selama {minutes} menit. Silakan mulai lagi bila masih diperlukan."
            )));
            self.form_cancelled = true;
            self.changes.count("form_expired", 1);
        }
        if self.session.handoff == Some(crate::session::HandoffMode::AwaitingQuestion) {
            self.session.handoff = None;
        }
        self.session.menu.clear();
        self.session.rating_for = None;
    }

    /// Reads a 1–5 rating; `false` when the message is something else
    /// (the question is then dropped and the message handled normally).
    fn rating(&mut self) -> bool {
        let about = self.session.rating_for.take().unwrap_or_default();
        let Some(n) = choice_number(self.text()).filter(|n| (1..=5).contains(n)) else {
            return false;
        };
        self.changes.count(format!("csat:{n}"), 1);
        self.changes.count(
            format!(
                "csat_for:{}",
                if about.starts_with("ticket:") {
                    "ticket"
                } else {
                    "handoff"
                }
            ),
            1,
        );
        self.set("penilaian", Layer::Choice, 1.0);
        let menu = self.menu_button();
        self.say(format!("Terima kasih atas penilaian Anda ({n}/5). Masukan Anda membantu kami memperbaiki layanan. 🙏"), menu);
        true
    }

    fn cancel(&mut self) -> Result<()> {
        let menu = self.menu_button();
        self.set("batal", Layer::Command, 1.0);
        if let Some(form) = self.session.form.take() {
            let title = self
                .pack()
                .form(&form.form)
                .map_or(form.form.clone(), |f| f.title.clone());
            self.form_cancelled = true;
            self.changes.count("form_cancelled", 1);
            self.say(
                format!("Baik, formulir {title} dibatalkan. Data yang sudah diisi tidak disimpan."),
                menu,
            );
        } else if self.session.handoff == Some(crate::session::HandoffMode::AwaitingQuestion) {
            self.session.handoff = None;
            self.say("Baik, permintaan bicara dengan petugas dibatalkan.", menu);
        } else {
            self.say(
                "Tidak ada formulir yang sedang berjalan. Ada yang bisa kami bantu?",
                menu,
            );
        }
        Ok(())
    }

    /// Reads `text` as an answer to the last menu: `Some(Some(m))` the chosen
    /// intent, `Some(None)` answered here (a number not on the menu), `None`
    /// when `text` is not a menu answer.
    fn menu_choice(&mut self, text: &str) -> Option<Option<Match>> {
        if let Some(i) = resolve_choice(text, &self.session.menu) {
            return Some(Some(chosen(&self.session.menu[i].payload)));
        }
        let n = choice_number(text)?;
        if self.session.menu.is_empty() {
            self.builtin("pilihan", builtin::NO_MENU);
            return Some(None);
        }
        let text = format!(
            "Pilihan {n} tidak ada. Balas dengan nomor 1 sampai {}.",
            self.session.menu.len()
        );
        let menu = self.session.menu.clone();
        self.set("pilihan", Layer::Choice, 1.0);
        self.say(text, menu);
        Some(None)
    }

    /// A built-in answer, with the pack's menu as a button when it has one.
    fn builtin(&mut self, intent: &str, text: &str) {
        let menu = self.menu_button();
        self.set(intent, Layer::Fallback, 1.0);
        self.session.last_intent = None;
        self.say(text, menu);
    }

    fn render(&self, template: &crate::pack::Template, vars: &BTreeMap<String, String>) -> String {
        template.render_with(|name| {
            vars.get(name)
                .or_else(|| self.active.variables.get(name))
                .map(String::as_str)
        })
    }

    async fn answer(&mut self, m: Match) -> Result<()> {
        let pack = Arc::clone(&self.active.pack);
        // A pack's own fallback without a reply of its own answers as the
        // built-in one does.
        let Some(intent) = pack
            .intent(&m.intent)
            .filter(|i| i.id != FALLBACK || i.has_reply())
        else {
            // A stale payload (the pack changed): treat as not understood.
            let decision = Decision {
                normalised: String::new(),
                corrected: String::new(),
                best: m,
                runners_up: Vec::new(),
                unknown: Vec::new(),
            };
            self.fallback(&decision);
            return Ok(());
        };
        self.set(&m.intent, m.layer, m.score);
        self.session.last_intent = Some(intent.id.clone());
        let mut vars = m.captures.clone();
        let buttons: Vec<Button> = intent
            .buttons
            .iter()
            .map(|b| Button::new(b.title.clone(), b.intent.clone()))
            .collect();
        match &intent.action {
            Some(Action::Handoff) => {
                let question = vars.get("args").cloned().unwrap_or_default();
                if question.trim().is_empty() {
                    self.session.handoff = Some(crate::session::HandoffMode::AwaitingQuestion);
                    let text = self.render(&intent.reply, &vars);
                    self.say(text, buttons);
                } else {
                    self.enqueue_handoff(&question).await?;
                }
                return Ok(());
            }
            Some(Action::TicketStatus) => {
                let number = vars.get("nomor").or_else(|| vars.get("args")).cloned();
                if let Some(number) = number.filter(|n| !n.trim().is_empty()) {
                    self.ticket_status(&number, buttons).await?;
                    return Ok(());
                }
                if self.own_tickets_status(buttons.clone()).await? {
                    return Ok(());
                }
            }
            Some(external @ (Action::Custom(_) | Action::Http(_))) => {
                let ctx = self.action_context(Some(&intent.id), None, vars.clone());
                match self.run_external(external, ctx).await {
                    Ok(fields) => vars.extend(fields),
                    Err(()) => {
                        self.say(builtin::ACTION_FAILED, buttons);
                        return Ok(());
                    }
                }
            }
            Some(Action::Reply | Action::TicketCreate) | None => {}
        }
        let text = self.render(&intent.reply, &vars);
        if let Some(form) = &intent.form {
            if !text.trim().is_empty() {
                self.replies.push(Reply::Text(text));
            }
            self.start_form(form);
            return Ok(());
        }
        self.say(text, buttons);
        Ok(())
    }

    fn action_context(
        &self,
        intent: Option<&str>,
        form: Option<&str>,
        values: BTreeMap<String, String>,
    ) -> ActionContext {
        ActionContext {
            channel: self.key.channel.clone(),
            user: self.key.user.clone(),
            intent: intent.map(str::to_owned),
            form: form.map(str::to_owned),
            values,
            text: self.text().to_owned(),
        }
    }

    async fn run_action(
        &mut self,
        name: &str,
        ctx: ActionContext,
    ) -> std::result::Result<ActionOutput, ()> {
        let Some(action) = self.engine.inner.actions.get(name).cloned() else {
            return Err(());
        };
        match action.run(ctx).await {
            Ok(out) => Ok(out),
            Err(ActionError(reason)) => {
                tracing::warn!(target: "layan_core::action", action = name, %reason, "custom action failed");
                self.changes.count(format!("action_failed:{name}"), 1);
                Err(())
            }
        }
    }

    /// Runs a custom (`action.*` variables) or http (`http.*`) action.
    async fn run_external(
        &mut self,
        action: &Action,
        ctx: ActionContext,
    ) -> std::result::Result<BTreeMap<String, String>, ()> {
        match action {
            Action::Custom(name) => self.run_action(name, ctx).await.map(|out| {
                out.vars
                    .into_iter()
                    .map(|(k, v)| (format!("action.{k}"), v))
                    .collect()
            }),
            Action::Http(spec) => self.run_http(spec, ctx).await,
            _ => Ok(BTreeMap::new()),
        }
    }

    /// POSTs the context as JSON to `spec.url`, retrying connection errors,
    /// timeouts and 5xx with backoff; the answer's top-level fields become
    /// `http.FIELD` variables.
    async fn run_http(
        &mut self,
        spec: &crate::pack::HttpAction,
        ctx: ActionContext,
    ) -> std::result::Result<BTreeMap<String, String>, ()> {
        let body = serde_json::json!({
            "pack": self.pack().meta.id,
            "intent": ctx.intent,
            "form": ctx.form,
            "channel": ctx.channel,
            "user": ctx.user,
            "values": ctx.values,
            "text": ctx.text,
        });
        let client = &self.engine.inner.http;
        let timeout = std::time::Duration::from_secs(spec.timeout_seconds);
        let mut last_error = String::new();
        for attempt in 0..=spec.retries {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(200 << attempt.min(5))).await;
            }
            let sent = client
                .post(&spec.url)
                .timeout(timeout)
                .json(&body)
                .send()
                .await;
            let response = match sent {
                Ok(r) => r,
                Err(e) => {
                    last_error = format!("request failed: {e}");
                    continue;
                }
            };
            let status = response.status();
            if status.is_server_error() {
                last_error = format!("server answered {status}");
                continue;
            }
            if !status.is_success() {
                last_error = format!("server answered {status}");
                break;
            }
            match response.json::<serde_json::Value>().await {
                Ok(serde_json::Value::Object(map)) => {
                    return Ok(map
                        .into_iter()
                        .filter_map(|(k, v)| {
                            let v = match v {
                                serde_json::Value::String(s) => s,
                                serde_json::Value::Number(n) => n.to_string(),
                                serde_json::Value::Bool(b) => b.to_string(),
                                _ => return None,
                            };
                            Some((format!("http.{k}"), v))
                        })
                        .collect());
                }
                Ok(_) => {
                    last_error = "the answer is not a JSON object".to_owned();
                    break;
                }
                Err(e) => {
                    last_error = format!("the answer is not JSON: {e}");
                    break;
                }
            }
        }
        tracing::warn!(target: "layan_core::action", url = %spec.url, error = %last_error, "http action failed");
        self.changes.count("action_failed:http", 1);
        Err(())
    }

    fn fallback(&mut self, decision: &Decision) {
        let pack = Arc::clone(&self.active.pack);
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
        let waiting = matches!(
            self.session.handoff,
            Some(crate::session::HandoffMode::Waiting(_))
        );
        let text = match pack.intent(FALLBACK) {
            _ if waiting => builtin::FORWARDED.to_owned(),
            Some(own) if own.has_reply() => self.render(&own.reply, &BTreeMap::new()),
            _ if buttons.is_empty() => builtin::FALLBACK_BARE.to_owned(),
            _ => builtin::FALLBACK.to_owned(),
        };
        if let Some(own) = pack.intent(FALLBACK) {
            for b in &own.buttons {
                if !buttons.iter().any(|x| x.payload == b.intent) {
                    buttons.push(Button::new(b.title.clone(), b.intent.clone()));
                }
            }
        }
        self.set(FALLBACK, Layer::Fallback, decision.best.score);
        self.session.last_intent = Some(FALLBACK.to_owned());
        self.say(text, buttons);
    }

    /// The transcript lines, counters and session of this turn, ready to commit.
    fn finish(mut self, started: Instant) -> (Changes, Outcome) {
        let now = self.now_ms;
        let day = crate::clock::Local::at(now, self.pack().office.utc_offset).iso_date();
        let channel = self.key.channel.clone();
        let inbound_text = self.describe_inbound();
        let entry = |direction, text: String, intent: Option<String>| TranscriptEntry {
            time_ms: now,
            channel: channel.clone(),
            user: self.key.user.clone(),
            direction,
            text,
            intent,
            score: None,
            layer: None,
            latency_us: None,
            author: None,
        };
        let mut lines = vec![TranscriptEntry {
            score: Some(self.score),
            layer: Some(self.layer.name().to_owned()),
            ..entry(Direction::In, inbound_text, Some(self.intent.clone()))
        }];
        let latency = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        for r in &self.replies {
            let mut text = r.text().to_owned();
            if let Reply::Buttons { buttons, .. } = r {
                for (i, b) in buttons.iter().enumerate() {
                    let _ = write!(text, "\n[{}] {}", i + 1, b.title);
                }
            }
            lines.push(TranscriptEntry {
                latency_us: Some(latency),
                author: Some("bot".to_owned()),
                ..entry(Direction::Out, text, Some(self.intent.clone()))
            });
        }
        self.changes.transcript.extend(lines);
        self.changes.count(format!("in:{day}:{channel}"), 1);
        if !self.replies.is_empty() {
            self.changes
                .count(format!("out:{day}:{channel}"), self.replies.len() as i64);
        }
        self.changes.count(format!("intent:{}", self.intent), 1);
        self.session.last_seen_ms = now.max(self.session.last_seen_ms);
        if let Some(name) = &self.inbound.profile_name {
            self.session.profile_name = Some(crate::matcher::truncate_chars(name, 100).to_owned());
        }
        self.changes.session = Some((self.key.clone(), self.session));
        let outcome = Outcome {
            replies: self.replies,
            intent: self.intent,
            score: self.score,
            layer: self.layer,
            ticket: self.ticket,
            handed_off: self.handed_off,
            form_cancelled: self.form_cancelled,
        };
        (self.changes, outcome)
    }
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

/// The engine's own messages to citizens, used when a pack does not say otherwise.
mod builtin {
    pub(super) const FALLBACK: &str = "Maaf, saya belum memahami pesan Anda. 🙏\n\
        Mungkin maksud Anda salah satu pilihan di bawah ini. Anda juga bisa menulis ulang \
        pertanyaan dengan kata lain.";
    pub(super) const FALLBACK_BARE: &str =
        "Maaf, saya belum memahami pesan Anda. 🙏 Silakan tulis ulang pertanyaan dengan kata lain.";
    pub(super) const FORWARDED: &str = "Pesan Anda sudah kami teruskan ke petugas bersama pertanyaan \
        Anda sebelumnya. Petugas akan membalas di percakapan ini.";
    pub(super) const EMPTY: &str =
        "Pesan Anda kosong. Silakan tulis pertanyaan Anda, atau pilih menu di bawah ini.";
    pub(super) const NO_MENU: &str = "Belum ada pilihan bernomor yang sedang ditampilkan. \
        Silakan tulis pertanyaan Anda, atau buka menu untuk melihat layanan kami.";
    pub(super) const ATTACHMENT: &str = "Terima kasih, kiriman Anda sudah kami terima. Saat ini \
        saya hanya dapat membaca pesan teks. Silakan tuliskan pertanyaan Anda, atau buka menu.";
    pub(super) const ACTION_FAILED: &str = "Maaf, layanan yang dibutuhkan untuk menjawab sedang \
        bermasalah. Silakan coba lagi beberapa saat lagi, atau ketik #tanya untuk bicara dengan petugas.";
}
