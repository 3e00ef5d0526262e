//! The web chat at `/chat`: how anyone tries Layan without a provider
//! account. A plain HTML + JS page talks to the same pipeline as every
//! other channel: `POST /chat/api/messages` puts a message in the inbox,
//! `GET /chat/api/messages?user=…&after=…` long-polls for the answers,
//! which the pipeline delivers to this channel's in-memory mailboxes.
//!
//! Mailboxes live in memory: answers not fetched before a restart are lost
//! (the conversation itself, its tickets and transcript are in the store).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use layan_core::render::Outgoing;
use layan_core::{Button, Capabilities, Channel, Content, Inbound, Pipeline, SendError, Sent};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// The channel's name.
pub const NAME: &str = "web";
/// Messages kept per visitor.
const KEEP: usize = 50;
/// Visitors kept; the longest idle are dropped beyond this.
const MAX_VISITORS: usize = 10_000;
/// The longest a poll waits for an answer.
const MAX_WAIT: Duration = Duration::from_secs(25);
/// The longest message a visitor may send, in characters.
const MAX_TEXT: usize = 2_000;

const PAGE: &str = include_str!("chat.html");

/// One message shown to the visitor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WebMessage {
    /// Increasing per visitor; the page asks for what came after the last it has.
    pub seq: u64,
    /// The text.
    pub text: String,
    /// Buttons under it.
    pub buttons: Vec<Button>,
}

struct Mailbox {
    messages: VecDeque<WebMessage>,
    next_seq: u64,
    notify: Arc<Notify>,
    touched: Instant,
}

impl Mailbox {
    fn new() -> Self {
        Self {
            messages: VecDeque::new(),
            next_seq: 1,
            notify: Arc::new(Notify::new()),
            touched: Instant::now(),
        }
    }
}

/// The web chat channel.
#[derive(Default)]
pub struct WebChat {
    boxes: Mutex<HashMap<String, Mailbox>>,
    closing: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for WebChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebChat").finish_non_exhaustive()
    }
}

impl WebChat {
    /// An empty web chat.
    #[must_use]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    fn with_box<T>(&self, user: &str, f: impl FnOnce(&mut Mailbox) -> T) -> T {
        let mut boxes = self
            .boxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !boxes.contains_key(user) && boxes.len() >= MAX_VISITORS {
            let idle = boxes
                .iter()
                .min_by_key(|(_, b)| b.touched)
                .map(|(k, _)| k.clone());
            if let Some(k) = idle {
                boxes.remove(&k);
            }
        }
        let mailbox = boxes.entry(user.to_owned()).or_insert_with(Mailbox::new);
        mailbox.touched = Instant::now();
        f(mailbox)
    }

    /// Ends every waiting poll now and every later one at once: the server
    /// is stopping, and open pages must not hold it up.
    pub fn close(&self) {
        self.closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let boxes = self
            .boxes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for b in boxes.values() {
            b.notify.notify_waiters();
        }
    }

    /// Messages for `user` after `after`, waiting up to `wait` for one.
    pub async fn fetch(&self, user: &str, after: u64, wait: Duration) -> Vec<WebMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let (found, notify) = self.with_box(user, |b| {
                let found: Vec<WebMessage> = b
                    .messages
                    .iter()
                    .filter(|m| m.seq > after)
                    .cloned()
                    .collect();
                (found, Arc::clone(&b.notify))
            });
            if !found.is_empty() {
                return found;
            }
            // Created before the check, so a close() in between still wakes it.
            let notified = notify.notified();
            if self.closing.load(std::sync::atomic::Ordering::SeqCst) {
                return Vec::new();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Vec::new();
            }
        }
    }
}

#[async_trait::async_trait]
impl Channel for WebChat {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rich: true,
            max_buttons: 10,
            max_button_title: 40,
            max_list_rows: 0,
            max_text: 4096,
            budget: None,
            reply_window_ms: None,
        }
    }

    async fn send(&self, user: &str, message: &Outgoing) -> Result<Sent, SendError> {
        let (text, buttons) = match message {
            Outgoing::Buttons { text, buttons } => (text.clone(), buttons.clone()),
            Outgoing::List { text, rows, .. } => (
                text.clone(),
                rows.iter()
                    .map(|r| Button::new(r.title.clone(), r.payload.clone()))
                    .collect(),
            ),
            Outgoing::Media { url, caption, .. } => (
                caption
                    .as_ref()
                    .map_or_else(|| url.clone(), |c| format!("{c}\n{url}")),
                Vec::new(),
            ),
            other => (other.text().to_owned(), Vec::new()),
        };
        let seq = self.with_box(user, |b| {
            let seq = b.next_seq;
            b.next_seq += 1;
            b.messages.push_back(WebMessage { seq, text, buttons });
            while b.messages.len() > KEEP {
                b.messages.pop_front();
            }
            b.notify.notify_waiters();
            seq
        });
        Ok(Sent {
            provider_id: Some(format!("{user}:{seq}")),
        })
    }
}

#[derive(Clone)]
struct Hook {
    web: Arc<WebChat>,
    pipeline: Pipeline,
}

/// `GET /chat` and its API.
pub fn router(web: Arc<WebChat>, pipeline: Pipeline) -> Router {
    Router::new()
        .route("/chat", get(page))
        .route("/chat/api/messages", get(poll).post(post_message))
        .with_state(Hook { web, pipeline })
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(PAGE),
    )
        .into_response()
}

fn valid_user(user: &str) -> bool {
    (8..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[derive(Deserialize)]
struct PollQuery {
    user: String,
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait: Option<u64>,
}

async fn poll(State(hook): State<Hook>, Query(q): Query<PollQuery>) -> Response {
    if !valid_user(&q.user) {
        return (StatusCode::BAD_REQUEST, "invalid user id").into_response();
    }
    let wait = q.wait.map_or(MAX_WAIT, Duration::from_secs).min(MAX_WAIT);
    let messages = hook.web.fetch(&q.user, q.after, wait).await;
    Json(serde_json::json!({ "messages": messages })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostBody {
    user: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

async fn post_message(State(hook): State<Hook>, body: axum::body::Bytes) -> Response {
    let body: PostBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")).into_response(),
    };
    if !valid_user(&body.user) {
        return (StatusCode::BAD_REQUEST, "invalid user id").into_response();
    }
    let content = match (body.text, body.payload) {
        (Some(t), None) if t.chars().count() <= MAX_TEXT => Content::Text(t),
        (None, Some(p)) if p.len() <= 256 => Content::Payload(p),
        (Some(_), None) => {
            return (StatusCode::PAYLOAD_TOO_LARGE, "message too long").into_response();
        }
        _ => {
            return (StatusCode::BAD_REQUEST, "send either text or payload").into_response();
        }
    };
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let inbound = Inbound {
        channel: NAME.to_owned(),
        user: body.user.clone(),
        message_id: format!("{}-{nanos:x}-{:x}", body.user, fastrand::u64(..)),
        content,
        time: SystemTime::now(),
        profile_name: None,
    };
    match hook.pipeline.submit(vec![inbound]).await {
        Ok(_) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "accepted": true })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(target: "layan::serve", error = %e, "web chat message not persisted");
            (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
        }
    }
}
