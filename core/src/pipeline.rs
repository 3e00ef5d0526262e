//! The delivery pipeline: provider → store → dispatcher → engine → durable
//! outbox → channels, losing nothing across crashes.
//!
//! 1. A channel's webhook hands its messages to [`Pipeline::submit`], which
//!    returns only once each message is durable, then the provider gets its
//!    200. A message for a conversation with nothing pending is accepted and
//!    answered in **one** atomic, durable commit (its provider id for
//!    deduplication, the session, the transcript, the replies in the
//!    outbox); a message for a busy conversation is written to the durable
//!    inbox (deduplicated by provider id) and waits its turn.
//! 2. The dispatcher keeps one worker per conversation: messages of one
//!    citizen are handled strictly in order, different citizens in
//!    parallel. A message for a conversation without a worker is handled
//!    by the webhook's own task, which holds the conversation meanwhile
//!    and hands what arrived for it in that time to a new worker. A worker
//!    lingers for the *burst window* (default 1.5 s) after its last
//!    message, so that a burst of messages from one citizen is handled by
//!    the same worker, in order, without interleaving.
//! 3. [`Engine::handle_queued`] commits the answer to the outbox and removes
//!    the inbox entry in one transaction: each message is answered once.
//! 4. The outbox sender delivers one message at a time per citizen, in
//!    order, through the citizen's channel; retryable failures are retried
//!    with exponential backoff and jitter (honouring the provider's
//!    `retry_after`), and a message is dead-lettered with its reason after
//!    a final error or `max_attempts` failures.
//!
//! On start, pending inbox and outbox entries resume. Delivery to the
//! provider is at-least-once: a process killed after the provider accepted
//! a message but before its outcome was recorded sends it again on restart
//! (at most `max_concurrent_sends` messages can be in that window).
//!
//! Messages of one citizen are answered in the order their webhooks were
//! acknowledged; two webhooks for the same citizen in flight at the same
//! moment have no order to keep.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

use crate::channel::{Channel, SendError, Sent};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::message::{Capabilities, Inbound, Reply};
use crate::render::render;
use crate::session::SessionKey;
use crate::store::{InboxItem, OutboxMessage, OutboxUpdate, unix_ms};

/// Providers retry unacknowledged webhooks for up to seven days (WhatsApp);
/// provider ids are remembered at least that long.
pub const MIN_DEDUP_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How the pipeline behaves.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// How long a conversation's worker waits for the next message of a burst.
    pub burst_window: Duration,
    /// Failed attempts after which a message is dead-lettered.
    pub max_attempts: u32,
    /// The first retry delay; doubled on each failure, with ±20 % jitter.
    pub backoff_base: Duration,
    /// The longest retry delay.
    pub backoff_max: Duration,
    /// Messages being sent at once, across all citizens.
    pub max_concurrent_sends: usize,
    /// How long provider ids are remembered (at least [`MIN_DEDUP_RETENTION`]).
    pub dedup_retention: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            burst_window: Duration::from_millis(1_500),
            max_attempts: 8,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            max_concurrent_sends: 64,
            dedup_retention: MIN_DEDUP_RETENTION,
        }
    }
}

/// What [`Pipeline::submit`] did with a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Submitted {
    /// New messages, now durable and queued.
    pub accepted: usize,
    /// Messages the channel had already delivered: dropped.
    pub duplicates: usize,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ChannelLabel {
    channel: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabel {
    channel: String,
    reason: String,
}

/// The pipeline's metrics, in Prometheus form.
struct Metrics {
    registry: Registry,
    messages_in: Family<ChannelLabel, Counter>,
    duplicates: Family<ChannelLabel, Counter>,
    messages_out: Family<ChannelLabel, Counter>,
    send_failures: Family<FailureLabel, Counter>,
    dead_letters: Family<FailureLabel, Counter>,
    ignored: Family<FailureLabel, Counter>,
    handle_seconds: Histogram,
    inbox_depth: Gauge,
    outbox_depth: Gauge,
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("layan");
        let m = Self {
            messages_in: Family::default(),
            duplicates: Family::default(),
            messages_out: Family::default(),
            send_failures: Family::default(),
            dead_letters: Family::default(),
            ignored: Family::default(),
            handle_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            inbox_depth: Gauge::default(),
            outbox_depth: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "messages_in",
            "Inbound messages accepted, by channel",
            m.messages_in.clone(),
        );
        registry.register(
            "duplicates",
            "Inbound messages dropped as provider retries, by channel",
            m.duplicates.clone(),
        );
        registry.register(
            "messages_out",
            "Messages the provider accepted, by channel",
            m.messages_out.clone(),
        );
        registry.register(
            "send_failures",
            "Failed delivery attempts, by channel and reason",
            m.send_failures.clone(),
        );
        registry.register(
            "dead_letters",
            "Messages given up on, by channel and reason",
            m.dead_letters.clone(),
        );
        registry.register(
            "ignored",
            "Webhook items not understood (unknown types and fields), by channel and kind",
            m.ignored.clone(),
        );
        registry.register(
            "handle_seconds",
            "Time the engine took to handle one message",
            m.handle_seconds.clone(),
        );
        registry.register(
            "inbox_depth",
            "Inbound messages accepted and not yet answered",
            m.inbox_depth.clone(),
        );
        registry.register(
            "outbox_depth",
            "Messages waiting for delivery",
            m.outbox_depth.clone(),
        );
        Self { registry, ..m }
    }
}

/// The running pipeline. Cheap to clone.
#[derive(Clone)]
pub struct Pipeline {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("channels", &self.inner.channels.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A message for a conversation's worker.
enum Job {
    /// Waiting in the durable inbox under this id.
    Queued(u64, InboxItem),
    /// Straight from a provider: accepted and answered in one commit; the
    /// submitter waits for it (`true`: new, `false`: a duplicate).
    Direct(Inbound, oneshot::Sender<Result<bool>>),
}

/// A conversation's worker: its queue and how many jobs it has not finished.
struct Conversation {
    tx: mpsc::UnboundedSender<Job>,
    pending: usize,
}

/// A conversation held by a webhook's task while it handles a message: the
/// conversation's queue (its sender is in the workers' map) and the job
/// counted as pending for that message. Dropped, also when the webhook's
/// task is cancelled midway (its client went away), it lets the
/// conversation go, so that nothing sent to it meanwhile is stranded.
struct Held {
    pipeline: Pipeline,
    key: SessionKey,
    rx: Option<mpsc::UnboundedReceiver<Job>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(rx) = self.rx.take() {
            let key = self.key.clone();
            self.pipeline.release(key, rx);
        }
    }
}

/// The outbox as the sender knows it: each queued message is read from the
/// store once (then kept here, updated with each outcome), and every
/// citizen's messages wait in their own queue, so that a wake-up costs
/// what it starts, never a walk over the whole outbox.
///
/// A citizen with messages is in exactly one place: `runnable` (its oldest
/// message may be sent now), `delayed` (its oldest waits for a retry time),
/// or busy (a send to them is in flight).
#[derive(Default)]
struct Queue {
    /// Queued messages by outbox id.
    pending: HashMap<u64, OutboxMessage>,
    /// Each citizen's messages, oldest first.
    citizens: HashMap<SessionKey, VecDeque<u64>>,
    /// Citizens whose oldest message can be sent now.
    runnable: VecDeque<SessionKey>,
    /// Citizens whose oldest message waits: by (not before, outbox id).
    delayed: BTreeMap<(u64, u64), SessionKey>,
    /// The highest outbox id read so far.
    max_seen: u64,
}

impl Queue {
    /// Adds a message read from the store.
    fn add(&mut self, id: u64, m: OutboxMessage) {
        self.max_seen = self.max_seen.max(id);
        let key = SessionKey::new(&m.channel, &m.user);
        let not_before = m.not_before_ms;
        self.pending.insert(id, m);
        let queue = self.citizens.entry(key.clone()).or_default();
        queue.push_back(id);
        if queue.len() == 1 {
            // The citizen was idle: schedule their (new) oldest message.
            self.schedule(key, id, not_before);
        }
    }

    fn schedule(&mut self, key: SessionKey, id: u64, not_before: u64) {
        if not_before == 0 {
            self.runnable.push_back(key);
        } else {
            self.delayed.insert((not_before, id), key);
        }
    }

    /// Records the outcome of a send to `key` of message `id`, and schedules
    /// the citizen's next message.
    fn finish(&mut self, key: SessionKey, id: u64, update: &OutboxUpdate) {
        if let OutboxUpdate::Retry { not_before_ms, .. } = update {
            if let Some(m) = self.pending.get_mut(&id) {
                update.retry(m);
            }
            self.delayed.insert((*not_before_ms, id), key);
            return;
        }
        self.pending.remove(&id);
        let next = match self.citizens.get_mut(&key) {
            Some(queue) => {
                queue.pop_front();
                queue.front().copied()
            }
            None => None,
        };
        match next {
            Some(next) => {
                let not_before = self.pending.get(&next).map_or(0, |m| m.not_before_ms);
                self.schedule(key, next, not_before);
            }
            None => {
                self.citizens.remove(&key);
            }
        }
    }
}

struct Inner {
    engine: Engine,
    channels: HashMap<String, Arc<dyn Channel>>,
    config: PipelineConfig,
    workers: Mutex<HashMap<SessionKey, Conversation>>,
    /// Messages being handled (by a worker or a webhook's task), which a
    /// shutdown lets finish.
    handling: AtomicUsize,
    outbox_wake: Notify,
    queue: Mutex<Queue>,
    sends: Arc<Semaphore>,
    stopping: AtomicBool,
    stopped: Notify,
    metrics: Metrics,
}

impl Pipeline {
    /// Starts the pipeline around `engine` with `channels`, resuming what
    /// the store holds: pending inbox messages are handled, the outbox is
    /// delivered. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn start(
        engine: Engine,
        channels: Vec<Arc<dyn Channel>>,
        config: PipelineConfig,
    ) -> Result<Self> {
        let sends = Arc::new(Semaphore::new(config.max_concurrent_sends.max(1)));
        let pipeline = Self {
            inner: Arc::new(Inner {
                engine,
                channels: channels
                    .into_iter()
                    .map(|c| (c.name().to_owned(), c))
                    .collect(),
                config,
                workers: Mutex::new(HashMap::new()),
                handling: AtomicUsize::new(0),
                outbox_wake: Notify::new(),
                queue: Mutex::new(Queue::default()),
                sends,
                stopping: AtomicBool::new(false),
                stopped: Notify::new(),
                metrics: Metrics::new(),
            }),
        };
        let pending = pipeline.inner.engine.store().inbox().await?;
        if !pending.is_empty() {
            tracing::info!(
                target: "layan_core::pipeline",
                count = pending.len(),
                "resuming unanswered inbound messages"
            );
        }
        pipeline
            .inner
            .metrics
            .inbox_depth
            .set(to_i64(pending.len()));
        for job in pending {
            pipeline.dispatch(Job::Queued(job.0, job.1));
        }
        tokio::spawn(pipeline.clone().deliver_loop());
        tokio::spawn(pipeline.clone().forget_loop());
        Ok(pipeline)
    }

    /// The engine behind the pipeline.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// A configured channel by name.
    #[must_use]
    pub fn channel(&self, name: &str) -> Option<&Arc<dyn Channel>> {
        self.inner.channels.get(name)
    }

    /// Accepts inbound messages: durable in the inbox when this returns
    /// `Ok`, then handled in the background. Acknowledge the provider only
    /// after `Ok`; on `Err` answer it with a 5xx so that it retries.
    ///
    /// # Errors
    /// When the store cannot persist them, or the pipeline is stopping.
    pub async fn submit(&self, messages: Vec<Inbound>) -> Result<Submitted> {
        if self.inner.stopping.load(Ordering::Acquire) {
            return Err(Error::Store("the server is shutting down".to_owned()));
        }
        // A message for an idle conversation is accepted and answered in one
        // commit (the common case, one durable write); one for a busy
        // conversation waits its turn in the durable inbox. A conversation
        // without a worker is held by this task while it handles the
        // message (again the common case: no hand-over to a worker).
        let mut held = Vec::new();
        let mut direct = Vec::new();
        let mut queued = Vec::new();
        {
            let mut workers = self.workers();
            for m in messages {
                let key = SessionKey::new(&m.channel, &m.user);
                match workers.get(&key) {
                    None => held.push((self.hold(&mut workers, key), m)),
                    Some(c) if c.pending == 0 => {
                        let (tx, rx) = oneshot::channel();
                        let channel = m.channel.clone();
                        self.dispatch_locked(&mut workers, key, Job::Direct(m, tx));
                        direct.push((channel, rx));
                    }
                    Some(_) => queued.push(m),
                }
            }
        }
        // The held conversations (several when a provider batches citizens)
        // are handled on this task, side by side; each is let go as soon as
        // its message is done.
        let held = futures_util::future::join_all(held.into_iter().map(|(hold, m)| async move {
            let channel = m.channel.clone();
            let outcome = self.handle_direct(m).await;
            drop(hold);
            (channel, outcome)
        }));
        let mut result = Submitted::default();
        let mut failure = None;
        for (channel, outcome) in held.await {
            match outcome {
                Ok(new) => self.count_in(&channel, new, &mut result),
                Err(e) => failure = Some(e),
            }
        }
        if !queued.is_empty() {
            let now = unix_ms(SystemTime::now());
            let items: Vec<InboxItem> = queued.iter().map(|m| InboxItem::of(m, now)).collect();
            match self.inner.engine.store().accept(items.clone()).await {
                Ok(ids) => {
                    for (item, id) in items.into_iter().zip(ids) {
                        let new = id.is_some();
                        self.count_in(&item.channel, new, &mut result);
                        if let Some(id) = id {
                            self.inner.metrics.inbox_depth.inc();
                            self.dispatch(Job::Queued(id, item));
                        }
                    }
                }
                Err(e) => failure = Some(e),
            }
        }
        for (channel, rx) in direct {
            match rx.await {
                Ok(Ok(new)) => self.count_in(&channel, new, &mut result),
                Ok(Err(e)) => failure = Some(e),
                Err(_) => {
                    failure = Some(Error::Store("the conversation worker stopped".to_owned()))
                }
            }
        }
        match failure {
            // Not acknowledged: the provider delivers again, and what was
            // stored meanwhile is recognised as a duplicate.
            Some(e) => Err(e),
            None => Ok(result),
        }
    }

    fn count_in(&self, channel: &str, new: bool, result: &mut Submitted) {
        let label = ChannelLabel {
            channel: channel.to_owned(),
        };
        if new {
            result.accepted += 1;
            self.inner.metrics.messages_in.get_or_create(&label).inc();
        } else {
            result.duplicates += 1;
            self.inner.metrics.duplicates.get_or_create(&label).inc();
        }
    }

    /// Records delivery statuses a provider reported (`delivered`, `read`,
    /// `failed`) against the messages it accepted.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn record_statuses(&self, updates: Vec<OutboxUpdate>) -> Result<()> {
        for u in &updates {
            if let OutboxUpdate::Status {
                channel,
                status,
                error,
                ..
            } = u
                && status == "failed"
            {
                let label = FailureLabel {
                    channel: channel.clone(),
                    reason: error.clone().unwrap_or_else(|| "failed".to_owned()),
                };
                self.inner.metrics.send_failures.get_or_create(&label).inc();
            }
        }
        self.inner.engine.store().update_outbox(updates).await
    }

    /// Counts a webhook item the channel did not understand and ignored
    /// (an unknown message type, an edited message): visible in the metrics.
    pub fn count_ignored(&self, channel: &str, kind: &str) {
        tracing::debug!(target: "layan_core::pipeline", channel, kind, "ignored a webhook item");
        self.inner
            .metrics
            .ignored
            .get_or_create(&FailureLabel {
                channel: channel.to_owned(),
                reason: kind.to_owned(),
            })
            .inc();
    }

    /// Tells the sender that messages were queued outside a message's
    /// handling (an operator's answer, a ticket status change).
    pub fn wake(&self) {
        self.inner.outbox_wake.notify_one();
    }

    /// The metrics in the Prometheus text format.
    #[must_use]
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.inner.metrics.registry)
            .is_err()
        {
            out.clear();
        }
        out
    }

    /// Stops taking messages, lets the workers finish the message they are
    /// handling and the sends in flight complete, for at most `grace`.
    /// Whatever is left stays in the store and resumes on the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stopping.store(true, Ordering::Release);
        self.inner.outbox_wake.notify_one();
        let deadline = Instant::now() + grace;
        let max = self.inner.config.max_concurrent_sends.max(1);
        loop {
            let idle = self.inner.handling.load(Ordering::Acquire) == 0
                && self.inner.sends.available_permits() == max;
            if idle || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.inner.stopped.notify_waiters();
    }

    /// What `channel` can show and take (a plain-text default for a
    /// channel that is not configured).
    #[must_use]
    pub fn capabilities(&self, channel: &str) -> Capabilities {
        self.inner
            .channels
            .get(channel)
            .map_or_else(|| Capabilities::plain(1_600), |c| c.capabilities())
    }

    fn workers(&self) -> std::sync::MutexGuard<'_, HashMap<SessionKey, Conversation>> {
        self.inner
            .workers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Hands a job to its conversation's worker, starting one if needed.
    fn dispatch(&self, job: Job) {
        let key = match &job {
            Job::Queued(_, item) => SessionKey::new(&item.channel, &item.user),
            Job::Direct(m, _) => SessionKey::new(&m.channel, &m.user),
        };
        let mut workers = self.workers();
        self.dispatch_locked(&mut workers, key, job);
    }

    fn dispatch_locked(
        &self,
        workers: &mut HashMap<SessionKey, Conversation>,
        key: SessionKey,
        job: Job,
    ) {
        let job = match workers.get_mut(&key) {
            Some(c) => match c.tx.send(job) {
                Ok(()) => {
                    c.pending += 1;
                    return;
                }
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // Cannot fail: the receiver is alive.
        let _ = tx.send(job);
        workers.insert(key.clone(), Conversation { tx, pending: 1 });
        tokio::spawn(self.clone().conversation(key, rx));
    }

    /// One conversation's worker: its messages, one at a time, in order.
    async fn conversation(self, key: SessionKey, mut rx: mpsc::UnboundedReceiver<Job>) {
        loop {
            if self.inner.stopping.load(Ordering::Acquire) {
                // What is still queued here stays in the inbox (or goes back
                // to its provider unacknowledged) for the next start.
                self.workers().remove(&key);
                break;
            }
            let next = tokio::select! {
                next = tokio::time::timeout(self.inner.config.burst_window, rx.recv()) => next,
                () = self.inner.stopped.notified() => continue,
            };
            let job = match next {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(_) => {
                    // Leave only when nothing is pending: checked under the
                    // lock `dispatch` sends under, so nothing is stranded.
                    let mut workers = self.workers();
                    if workers.get(&key).is_some_and(|c| c.pending > 0) {
                        continue;
                    }
                    workers.remove(&key);
                    break;
                }
            };
            self.inner.handling.fetch_add(1, Ordering::AcqRel);
            match job {
                Job::Queued(id, item) => {
                    if !self.inner.stopping.load(Ordering::Acquire) {
                        self.handle_queued(id, item).await;
                    }
                    // When stopping, it stays in the inbox for the next start.
                }
                Job::Direct(m, reply) => {
                    let result = if self.inner.stopping.load(Ordering::Acquire) {
                        Err(Error::Store("the server is shutting down".to_owned()))
                    } else {
                        self.handle_direct(m).await
                    };
                    let _ = reply.send(result);
                }
            }
            if let Some(c) = self.workers().get_mut(&key) {
                c.pending = c.pending.saturating_sub(1);
            }
            self.inner.handling.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Holds the conversation `key`, which has no worker, for one message.
    fn hold(&self, workers: &mut HashMap<SessionKey, Conversation>, key: SessionKey) -> Held {
        let (tx, rx) = mpsc::unbounded_channel();
        workers.insert(key.clone(), Conversation { tx, pending: 1 });
        self.inner.handling.fetch_add(1, Ordering::AcqRel);
        Held {
            pipeline: self.clone(),
            key,
            rx: Some(rx),
        }
    }

    /// Lets a held conversation go: forgotten when nothing came for it
    /// meanwhile, otherwise a worker takes over what did.
    fn release(&self, key: SessionKey, rx: mpsc::UnboundedReceiver<Job>) {
        self.inner.handling.fetch_sub(1, Ordering::AcqRel);
        {
            let mut workers = self.workers();
            if let Some(c) = workers.get_mut(&key) {
                c.pending = c.pending.saturating_sub(1);
                if c.pending == 0 {
                    workers.remove(&key);
                    return;
                }
            }
        }
        // Without a runtime (the process is ending) what waited stays in
        // the durable inbox and resumes on the next start.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(self.clone().conversation(key, rx));
        }
    }

    /// Accepts and answers a message straight from a provider.
    async fn handle_direct(&self, m: Inbound) -> Result<bool> {
        let caps = self.capabilities(&m.channel);
        let started = Instant::now();
        let outcome = self.inner.engine.handle_accepting(m, &caps).await?;
        if outcome.is_some() {
            self.inner
                .metrics
                .handle_seconds
                .observe(started.elapsed().as_secs_f64());
            self.inner.outbox_wake.notify_one();
        }
        Ok(outcome.is_some())
    }

    /// Handles one inbox message, retrying while the store fails: a message
    /// is never dropped.
    async fn handle_queued(&self, id: u64, item: InboxItem) {
        let caps = self.capabilities(&item.channel);
        let mut delay = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            match self
                .inner
                .engine
                .handle_queued(id, item.inbound(), &caps)
                .await
            {
                Ok(_) => {
                    self.inner
                        .metrics
                        .handle_seconds
                        .observe(started.elapsed().as_secs_f64());
                    self.inner.metrics.inbox_depth.dec();
                    self.inner.outbox_wake.notify_one();
                    return;
                }
                Err(e) => {
                    tracing::error!(
                        target: "layan_core::pipeline",
                        error = %e,
                        channel = %item.channel,
                        message_id = %item.message_id,
                        "handling failed; retrying"
                    );
                    if self.inner.stopping.load(Ordering::Acquire) {
                        return;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
            }
        }
    }

    /// Forgets provider ids past the retention, hourly.
    async fn forget_loop(self) {
        let retention = self.inner.config.dedup_retention.max(MIN_DEDUP_RETENTION);
        loop {
            let before = SystemTime::now().checked_sub(retention).map_or(0, unix_ms);
            if let Err(e) = self.inner.engine.store().forget_seen(before).await {
                tracing::warn!(target: "layan_core::pipeline", error = %e, "cannot prune provider ids");
            }
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(3600)) => {}
                () = self.inner.stopped.notified() => return,
            }
        }
    }

    /// Delivers the outbox: the oldest message of each citizen, one at a
    /// time per citizen, when its backoff has passed.
    async fn deliver_loop(self) {
        loop {
            if self.inner.stopping.load(Ordering::Acquire) {
                return;
            }
            let wait = match self.deliver_ready().await {
                Ok(wait) => wait,
                Err(e) => {
                    tracing::error!(target: "layan_core::pipeline", error = %e, "cannot read the outbox");
                    Duration::from_secs(1)
                }
            };
            tokio::select! {
                () = self.inner.outbox_wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Starts the sends that are due; returns how long until the next is.
    async fn deliver_ready(&self) -> Result<Duration> {
        let after = self.queue().max_seen;
        // Only what was queued since the last look: ids only grow.
        let fresh = self.inner.engine.store().outbox_after(after).await?;
        let now = unix_ms(SystemTime::now());
        let mut starting = Vec::new();
        let next_due = {
            let mut q = self.queue();
            for (id, m) in fresh {
                if id > q.max_seen {
                    q.add(id, m);
                }
            }
            self.inner.metrics.outbox_depth.set(to_i64(q.pending.len()));
            // Retry times that have come.
            while let Some(entry) = q.delayed.first_entry() {
                if entry.key().0 > now {
                    break;
                }
                let key = entry.remove();
                q.runnable.push_back(key);
            }
            while !q.runnable.is_empty() {
                let Ok(permit) = Arc::clone(&self.inner.sends).try_acquire_owned() else {
                    // Every sender is busy; a finishing send wakes us.
                    break;
                };
                let Some(key) = q.runnable.pop_front() else {
                    break;
                };
                let head = q.citizens.get(&key).and_then(|c| c.front().copied());
                let Some((id, m)) = head.and_then(|id| q.pending.get(&id).map(|m| (id, m.clone())))
                else {
                    continue;
                };
                starting.push((id, m, key, permit));
            }
            q.delayed.first_key_value().map(|((at, _), _)| *at)
        };
        for (id, m, key, permit) in starting {
            let this = self.clone();
            tokio::spawn(async move {
                let update = this.deliver(id, m).await;
                this.queue().finish(key, id, &update);
                drop(permit);
                this.inner.outbox_wake.notify_one();
            });
        }
        Ok(match next_due {
            None => Duration::from_secs(5),
            Some(at) => Duration::from_millis(at.saturating_sub(now).max(1)),
        })
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.inner
            .queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends one outbox message (every part of it) and records the outcome
    /// durably; returns it.
    async fn deliver(&self, id: u64, m: OutboxMessage) -> OutboxUpdate {
        let outcome = match self.inner.channels.get(&m.channel) {
            Some(channel) => send_all(channel.as_ref(), &m).await,
            None => Err(SendError::fatal(
                "channel_not_configured",
                format!("no channel `{}` is configured", m.channel),
            )),
        };
        let now = unix_ms(SystemTime::now());
        let update = match outcome {
            Ok(sent) => {
                self.inner
                    .metrics
                    .messages_out
                    .get_or_create(&ChannelLabel {
                        channel: m.channel.clone(),
                    })
                    .inc();
                OutboxUpdate::Sent {
                    id,
                    provider_id: sent.provider_id,
                    time_ms: now,
                }
            }
            Err(e) => {
                let label = FailureLabel {
                    channel: m.channel.clone(),
                    reason: e.reason().to_owned(),
                };
                self.inner.metrics.send_failures.get_or_create(&label).inc();
                let attempts = m.attempts + 1;
                match e {
                    SendError::Retry { detail, after, .. }
                        if attempts < self.inner.config.max_attempts =>
                    {
                        let delay = after.unwrap_or_else(|| self.backoff(attempts));
                        tracing::warn!(
                            target: "layan_core::pipeline",
                            channel = %m.channel,
                            attempts,
                            delay_ms = delay.as_millis() as u64,
                            reason = %label.reason,
                            "delivery failed; will retry"
                        );
                        OutboxUpdate::Retry {
                            id,
                            attempts,
                            not_before_ms: now + u64::try_from(delay.as_millis()).unwrap_or(0),
                            error: format!("{}: {detail}", label.reason),
                        }
                    }
                    e => {
                        let reason = if matches!(e, SendError::Retry { .. }) {
                            "attempts_exhausted".to_owned()
                        } else {
                            label.reason.clone()
                        };
                        tracing::warn!(
                            target: "layan_core::pipeline",
                            channel = %m.channel,
                            reason = %reason,
                            error = %e,
                            "delivery given up; kept as a dead letter"
                        );
                        self.inner
                            .metrics
                            .dead_letters
                            .get_or_create(&FailureLabel {
                                channel: m.channel.clone(),
                                reason: reason.clone(),
                            })
                            .inc();
                        OutboxUpdate::Dead {
                            id,
                            reason,
                            detail: e.to_string(),
                            time_ms: now,
                        }
                    }
                }
            }
        };
        // The outcome must be recorded: retry until the store takes it.
        let mut delay = Duration::from_millis(50);
        while let Err(e) = self
            .inner
            .engine
            .store()
            .update_outbox(vec![update.clone()])
            .await
        {
            tracing::error!(target: "layan_core::pipeline", error = %e, "cannot record a delivery");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        update
    }

    /// The delay before attempt `attempts + 1`: base × 2^(attempts−1), capped, ±20 %.
    fn backoff(&self, attempts: u32) -> Duration {
        let c = &self.inner.config;
        let exp = c
            .backoff_base
            .saturating_mul(1 << attempts.saturating_sub(1).min(20))
            .min(c.backoff_max);
        exp.mul_f64(0.8 + 0.4 * fastrand::f64())
    }
}

/// Renders `m` for the channel and sends every part; the receipt of the last.
async fn send_all(
    channel: &dyn Channel,
    m: &OutboxMessage,
) -> std::result::Result<Sent, SendError> {
    let reply = if m.buttons.is_empty() {
        Reply::Text(m.text.clone())
    } else {
        Reply::Buttons {
            text: m.text.clone(),
            buttons: m.buttons.clone(),
        }
    };
    let mut last = Sent::default();
    for part in render(&[reply], &channel.capabilities()) {
        last = channel.send(&m.user, &part).await?;
    }
    Ok(last)
}

fn to_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::Outgoing;
    use crate::store::{MemoryStore, Store};

    /// A channel that keeps what it is asked to send.
    #[derive(Default)]
    struct Kept(Mutex<Vec<String>>);

    #[async_trait::async_trait]
    impl Channel for Kept {
        fn name(&self) -> &str {
            "uji"
        }

        fn capabilities(&self) -> Capabilities {
            Capabilities::whatsapp()
        }

        async fn send(
            &self,
            _user: &str,
            message: &Outgoing,
        ) -> std::result::Result<Sent, SendError> {
            self.0.lock().unwrap().push(message.text().to_owned());
            Ok(Sent::default())
        }
    }

    fn message(id: &str, text: &str) -> Inbound {
        let mut m = Inbound::text("uji", "628120001", text);
        m.message_id = id.to_owned();
        m
    }

    /// A webhook's task that is cancelled while it holds a conversation
    /// (its client went away mid-answer) strands nothing: what arrived for
    /// the conversation meanwhile is answered, and the next message too.
    #[tokio::test]
    async fn a_cancelled_webhook_lets_its_conversation_go() {
        let pack = crate::pack::Pack::load(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/echo"
        ))
        .unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let engine = Engine::builder()
            .pack(pack)
            .shared_store(store.clone())
            .build()
            .unwrap();
        let kept = Arc::new(Kept::default());
        let pipeline = Pipeline::start(
            engine,
            vec![kept.clone() as Arc<dyn Channel>],
            PipelineConfig {
                burst_window: Duration::from_millis(50),
                ..PipelineConfig::default()
            },
        )
        .await
        .unwrap();
        let key = SessionKey::new("uji", "628120001");
        // A webhook holds the conversation, as if answering a message.
        let held = pipeline.hold(&mut pipeline.workers(), key);
        // Another webhook for the same citizen meanwhile: it waits its turn
        // in the durable inbox.
        let second = pipeline
            .submit(vec![message("m2", "pesan 2")])
            .await
            .unwrap();
        assert_eq!(second.accepted, 1);
        assert_eq!(store.inbox().await.unwrap().len(), 1);
        // The first webhook's task is cancelled before it answered.
        drop(held);
        let third = pipeline
            .submit(vec![message("m3", "pesan 3")])
            .await
            .unwrap();
        assert_eq!(third.accepted, 1);
        for _ in 0..200 {
            if kept.0.lock().unwrap().len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(*kept.0.lock().unwrap(), ["terima 2", "terima 3"]);
        assert!(store.inbox().await.unwrap().is_empty());
        assert_eq!(pipeline.inner.handling.load(Ordering::Acquire), 0);
        // The worker that took over leaves after the burst window.
        for _ in 0..200 {
            if pipeline.workers().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(pipeline.workers().is_empty());
    }
}
