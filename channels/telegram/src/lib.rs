//! Layan's Telegram channel, on the Bot API through teloxide (rustls).
//!
//! - Long polling (the default: nothing to expose to the internet) with
//!   [`Telegram::poll`], or webhook mode with [`router`], which checks
//!   `X-Telegram-Bot-Api-Secret-Token` in constant time.
//! - Text messages, commands (`/start` opens the menu; `/status X` is read
//!   as the pack's `#status X`), and inline-keyboard presses (callback
//!   queries, answered with `answerCallbackQuery` so the button stops
//!   spinning). Photos, documents, voice notes and locations are passed on.
//! - **Edited messages are not answered again**: the bot already answered
//!   the original, and re-running a form step on an edit would surprise the
//!   citizen. They are counted as ignored (`edited_message`).
//! - Sending: text (≤ 4096 characters, split by the renderer) with inline
//!   keyboards, one button per row; `callback_data` is the option's short
//!   id (an intent id), or its number when the id exceeds 64 bytes.
//!   Requests go through teloxide's throttle (30 messages/s overall, 1/s per
//!   chat); a 429's `retry_after` is handed to the pipeline's retry.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use layan_core::channel::{MAX_MEDIA_BYTES, Media, constant_time_eq, read_media};
use layan_core::render::Outgoing;
use layan_core::{Capabilities, Channel, Content, Inbound, Pipeline, SendError, Sent};
use teloxide_core::adaptors::Throttle;
use teloxide_core::adaptors::throttle::Settings;
use teloxide_core::payloads::{GetUpdatesSetters, SendMessageSetters};
use teloxide_core::requests::Requester;
use teloxide_core::types::{
    ChatId, FileId, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, UpdateKind,
};
use teloxide_core::{ApiError, Bot, RequestError};

/// The channel's name.
pub const NAME: &str = "telegram";
/// The webhook's path.
pub const PATH: &str = "/webhooks/telegram";
/// The Bot API unless told otherwise.
pub const DEFAULT_API_URL: &str = "https://api.telegram.org";
/// The most bytes of `callback_data`.
const MAX_CALLBACK_DATA: usize = 64;

/// How updates arrive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// `getUpdates` long polling (default).
    #[default]
    Polling,
    /// Telegram posts to `/webhooks/telegram`.
    Webhook,
}

/// `[channels.telegram]` in `layan.toml`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The bot token from @BotFather.
    pub token: String,
    /// Polling or webhook.
    #[serde(default)]
    pub mode: Mode,
    /// The secret Telegram sends with each webhook (set with `setWebhook`).
    #[serde(default)]
    pub secret_token: Option<String>,
    /// Where the Bot API is (tests and proxies point elsewhere).
    #[serde(default = "default_api_url")]
    pub api_url: String,
}

fn default_api_url() -> String {
    DEFAULT_API_URL.to_owned()
}

/// The Telegram channel.
pub struct Telegram {
    config: TelegramConfig,
    /// For updates and callback answers.
    bot: Bot,
    /// For file downloads.
    http: reqwest::Client,
    /// For messages: throttled to Telegram's limits.
    sender: Throttle<Bot>,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("mode", &self.config.mode)
            .field("api_url", &self.config.api_url)
            .finish_non_exhaustive()
    }
}

impl Telegram {
    /// The channel. Must be called inside a tokio runtime (the throttle
    /// runs a task).
    ///
    /// # Errors
    /// When `api_url` is not a URL, or webhook mode lacks a `secret_token`.
    pub fn new(config: TelegramConfig, http: reqwest::Client) -> Result<Arc<Self>, String> {
        let url = reqwest::Url::parse(&config.api_url)
            .map_err(|e| format!("[channels.telegram] api_url `{}`: {e}", config.api_url))?;
        if config.mode == Mode::Webhook && config.secret_token.as_deref().is_none_or(str::is_empty)
        {
            return Err(
                "[channels.telegram] mode = \"webhook\" needs a secret_token (the one given to setWebhook)"
                    .to_owned(),
            );
        }
        let bot = Bot::with_client(&config.token, http.clone()).set_api_url(url);
        let sender = Throttle::spawn_with_settings(bot.clone(), Settings::default().no_retry());
        Ok(Arc::new(Self {
            config,
            bot,
            http,
            sender,
        }))
    }

    /// The configured mode.
    #[must_use]
    pub fn mode(&self) -> Mode {
        self.config.mode
    }

    /// Long polling: fetches updates and hands them to `pipeline` until
    /// `stop` resolves. An update is confirmed to Telegram (by the next
    /// offset) only after the pipeline has persisted it.
    pub async fn poll(self: Arc<Self>, pipeline: Pipeline, stop: impl Future<Output = ()>) {
        let mut offset: i32 = 0;
        let mut stop = std::pin::pin!(stop);
        let mut delay = Duration::from_secs(1);
        loop {
            let request = self.bot.get_updates().offset(offset).timeout(25);
            let updates = tokio::select! {
                () = &mut stop => return,
                r = request => r,
            };
            match updates {
                Ok(updates) => {
                    delay = Duration::from_secs(1);
                    let Some(last) = updates.last().map(|u| u.id.0) else {
                        continue;
                    };
                    if self.accept(&pipeline, updates).await {
                        offset = i32::try_from(last).unwrap_or(i32::MAX).saturating_add(1);
                    } else {
                        tokio::time::sleep(delay).await;
                    }
                }
                Err(e) => {
                    let wait = match &e {
                        RequestError::RetryAfter(s) => s.duration(),
                        _ => delay,
                    };
                    tracing::warn!(target: "layan_telegram", error = %e, "getUpdates failed");
                    tokio::select! {
                        () = &mut stop => return,
                        () = tokio::time::sleep(wait) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(60));
                }
            }
        }
    }

    /// Parses `updates` and submits them; `false` when they could not be
    /// persisted (to be fetched again).
    async fn accept(&self, pipeline: &Pipeline, updates: Vec<Update>) -> bool {
        let mut messages = Vec::new();
        let mut callbacks = Vec::new();
        for update in updates {
            match parse(update) {
                Parsed::Message(m) => messages.push(m),
                Parsed::Callback(m, id) => {
                    messages.push(m);
                    callbacks.push(id);
                }
                Parsed::Ignored(kind) => pipeline.count_ignored(NAME, kind),
            }
        }
        if let Err(e) = pipeline.submit(messages).await {
            tracing::error!(target: "layan_telegram", error = %e, "cannot persist updates");
            return false;
        }
        for id in callbacks {
            // Best effort: stops the button's spinner.
            let bot = self.bot.clone();
            tokio::spawn(async move {
                if let Err(e) = bot
                    .answer_callback_query(teloxide_core::types::CallbackQueryId(id))
                    .await
                {
                    tracing::debug!(target: "layan_telegram", error = %e, "answerCallbackQuery failed");
                }
            });
        }
        true
    }
}

/// What one update is to Layan.
#[derive(Debug)]
pub enum Parsed {
    /// A citizen's message.
    Message(Inbound),
    /// A button press, and the callback query's id to answer.
    Callback(Inbound, String),
    /// Something Layan does not answer, by kind.
    Ignored(&'static str),
}

/// Reads one update. The update id is the deduplication id: Telegram
/// repeats it when it delivers the same update again.
#[must_use]
pub fn parse(update: Update) -> Parsed {
    let id = update.id.0.to_string();
    match update.kind {
        UpdateKind::Message(m) => match message(&m, id) {
            Some(inbound) => Parsed::Message(inbound),
            None => Parsed::Ignored("message_kind"),
        },
        UpdateKind::EditedMessage(_) => Parsed::Ignored("edited_message"),
        UpdateKind::CallbackQuery(q) => {
            let Some(data) = q.data.filter(|d| !d.is_empty()) else {
                return Parsed::Ignored("callback_without_data");
            };
            let chat = q
                .message
                .as_ref()
                .map_or(q.from.id.0.to_string(), |m| m.chat().id.0.to_string());
            let content = if data.parse::<usize>().is_ok() {
                // A long option id was replaced by its number.
                Content::Text(data)
            } else {
                Content::Payload(data)
            };
            Parsed::Callback(
                Inbound {
                    channel: NAME.to_owned(),
                    user: chat,
                    message_id: id,
                    content,
                    time: SystemTime::now(),
                    profile_name: Some(full_name(&q.from.first_name, q.from.last_name.as_deref())),
                },
                q.id.0,
            )
        }
        _ => Parsed::Ignored("update_kind"),
    }
}

fn full_name(first: &str, last: Option<&str>) -> String {
    match last {
        Some(l) if !l.is_empty() => format!("{first} {l}"),
        _ => first.to_owned(),
    }
}

fn message(m: &Message, id: String) -> Option<Inbound> {
    let content = if let Some(text) = m.text() {
        command(text)
    } else if let Some(loc) = m.location() {
        Content::Location {
            latitude: loc.latitude,
            longitude: loc.longitude,
        }
    } else if let Some(photo) = m.photo().and_then(<[_]>::last) {
        media("image", &photo.file.id.0, m.caption())
    } else if let Some(doc) = m.document() {
        media("document", &doc.file.id.0, m.caption())
    } else if let Some(voice) = m.voice() {
        media("audio", &voice.file.id.0, None)
    } else {
        return None;
    };
    let time = UNIX_EPOCH + Duration::from_secs(u64::try_from(m.date.timestamp()).unwrap_or(0));
    Some(Inbound {
        channel: NAME.to_owned(),
        user: m.chat.id.0.to_string(),
        message_id: id,
        content,
        time,
        profile_name: m
            .from
            .as_ref()
            .map(|u| full_name(&u.first_name, u.last_name.as_deref())),
    })
}

fn media(kind: &str, id: &str, caption: Option<&str>) -> Content {
    Content::Media {
        kind: kind.to_owned(),
        reference: id.to_owned(),
        caption: caption.map(str::to_owned),
    }
}

/// A Telegram command as the pack reads it: `/start` opens the menu,
/// `/NAME args` becomes `#NAME args` (a bot's `@name` suffix dropped).
fn command(text: &str) -> Content {
    let Some(rest) = text.strip_prefix('/') else {
        return Content::Text(text.to_owned());
    };
    let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let name = name.split('@').next().unwrap_or(name).to_lowercase();
    if name == "start" || name == "menu" {
        return Content::Payload("menu".to_owned());
    }
    let args = args.trim();
    Content::Text(if args.is_empty() {
        format!("#{name}")
    } else {
        format!("#{name} {args}")
    })
}

/// The inline keyboard of a message's options: one button per row.
fn keyboard(buttons: &[layan_core::Button]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new(buttons.iter().enumerate().map(|(i, b)| {
        let data = if b.payload.len() <= MAX_CALLBACK_DATA {
            b.payload.clone()
        } else {
            (i + 1).to_string()
        };
        vec![InlineKeyboardButton::callback(b.title.clone(), data)]
    }))
}

fn classify(e: &RequestError) -> SendError {
    match e {
        RequestError::RetryAfter(s) => {
            SendError::retry("rate_limited", e.to_string()).after(Some(s.duration()))
        }
        RequestError::Network(inner) => SendError::transport(inner),
        RequestError::Io(_) => SendError::retry("network", e.to_string()),
        RequestError::InvalidJson { .. } => SendError::retry("server_error", e.to_string()),
        RequestError::Api(
            ApiError::BotBlocked
            | ApiError::ChatNotFound
            | ApiError::UserDeactivated
            | ApiError::BotKicked
            | ApiError::BotKickedFromSupergroup,
        ) => SendError::fatal("invalid_recipient", e.to_string()),
        RequestError::Api(ApiError::InvalidToken) => {
            SendError::fatal("unauthorized", e.to_string())
        }
        RequestError::Api(ApiError::Unknown(msg)) if msg.contains("Too Many Requests") => {
            SendError::retry("rate_limited", e.to_string())
        }
        _ => SendError::fatal("rejected", e.to_string()),
    }
}

#[async_trait::async_trait]
impl Channel for Telegram {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::telegram()
    }

    /// `getFile` gives the file's path; the file comes from the bot's file URL.
    async fn media(&self, reference: &str) -> Result<Option<Media>, String> {
        let file = self
            .bot
            .get_file(FileId(reference.to_owned()))
            .await
            .map_err(|e| format!("Telegram refused getFile: {e}"))?;
        if file.size as usize > MAX_MEDIA_BYTES {
            return Err(format!(
                "the file is larger than {} MB",
                MAX_MEDIA_BYTES / 1024 / 1024
            ));
        }
        // https://api.telegram.org/file/bot<token>/<file_path>, the path as Telegram gave it.
        let download = format!(
            "{}/file/bot{}/{}",
            self.config.api_url.trim_end_matches('/'),
            self.config.token,
            file.path
        );
        let fetched = read_media(self.http.get(download).send().await, None).await?;
        let ext = file
            .path
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_lowercase();
        let content_type = match ext.as_str() {
            "jpg" | "jpeg" => "image/jpeg",
            "png" => "image/png",
            "webp" => "image/webp",
            "pdf" => "application/pdf",
            "ogg" | "oga" => "audio/ogg",
            "mp4" => "video/mp4",
            _ => "application/octet-stream",
        };
        Ok(Some(Media {
            content_type: content_type.to_owned(),
            bytes: fetched.bytes,
        }))
    }

    async fn send(&self, user: &str, message: &Outgoing) -> Result<Sent, SendError> {
        let chat = ChatId(
            user.parse::<i64>()
                .map_err(|_| SendError::fatal("invalid_recipient", format!("chat id `{user}`")))?,
        );
        let (text, markup) = match message {
            Outgoing::Buttons { text, buttons } => (text.clone(), Some(keyboard(buttons))),
            Outgoing::List { text, rows, .. } => {
                let buttons: Vec<layan_core::Button> = rows
                    .iter()
                    .map(|r| layan_core::Button::new(r.title.clone(), r.payload.clone()))
                    .collect();
                (text.clone(), Some(keyboard(&buttons)))
            }
            Outgoing::Media { url, caption, .. } => (
                caption
                    .as_ref()
                    .map_or_else(|| url.clone(), |c| format!("{c}\n{url}")),
                None,
            ),
            Outgoing::Location {
                latitude,
                longitude,
                name,
            } => (
                format!(
                    "{}https://maps.google.com/?q={latitude},{longitude}",
                    name.as_ref().map(|n| format!("{n}\n")).unwrap_or_default()
                ),
                None,
            ),
            other => (other.text().to_owned(), None),
        };
        let text = if text.trim().is_empty() {
            "…".to_owned()
        } else {
            text
        };
        let request = self.sender.send_message(chat, text);
        let result = match markup {
            Some(m) => request.reply_markup(m).await,
            None => request.await,
        };
        match result {
            Ok(sent) => Ok(Sent {
                provider_id: Some(format!("{}:{}", sent.chat.id.0, sent.id.0)),
            }),
            Err(e) => Err(classify(&e)),
        }
    }
}

#[derive(Clone)]
struct Hook {
    telegram: Arc<Telegram>,
    pipeline: Pipeline,
}

/// The webhook route, `POST /webhooks/telegram` (webhook mode).
pub fn router(telegram: Arc<Telegram>, pipeline: Pipeline) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .with_state(Hook { telegram, pipeline })
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> Response {
    let expected = hook
        .telegram
        .config
        .secret_token
        .as_deref()
        .unwrap_or_default();
    let given = headers
        .get("x-telegram-bot-api-secret-token")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(given, expected.as_bytes()) {
        tracing::warn!(target: "layan_telegram", "webhook with a missing or wrong secret token");
        return (StatusCode::UNAUTHORIZED, "invalid secret token").into_response();
    }
    let update: Update = match serde_json::from_slice(&body) {
        Ok(u) => u,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("malformed update: {e}")).into_response();
        }
    };
    if hook.telegram.accept(&hook.pipeline, vec![update]).await {
        StatusCode::OK.into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(json: serde_json::Value) -> Update {
        // From text, as webhooks and getUpdates deliver it (teloxide's
        // update parser borrows its keys).
        serde_json::from_str(&json.to_string()).expect("a valid update")
    }

    fn chat_message(update_id: u32, extra: serde_json::Value) -> serde_json::Value {
        let mut message = serde_json::json!({
            "message_id": 7,
            "from": { "id": 42, "is_bot": false, "first_name": "Budi", "last_name": "Santoso" },
            "chat": { "id": 42, "type": "private", "first_name": "Budi" },
            "date": 1_764_000_000
        });
        for (k, v) in extra.as_object().unwrap() {
            message[k] = v.clone();
        }
        serde_json::json!({ "update_id": update_id, "message": message })
    }

    #[test]
    fn updates_become_messages() {
        let cases = [
            (
                serde_json::json!({"text": "ada bantuan alat utk IKM?"}),
                Content::Text("ada bantuan alat utk IKM?".into()),
            ),
            (
                serde_json::json!({"text": "/start", "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}),
                Content::Payload("menu".into()),
            ),
            (
                serde_json::json!({"text": "/status@layan_bot ADU-2026-000001"}),
                Content::Text("#status ADU-2026-000001".into()),
            ),
            (
                serde_json::json!({"location": {"latitude": -3.78, "longitude": 102.26}}),
                Content::Location {
                    latitude: -3.78,
                    longitude: 102.26,
                },
            ),
        ];
        for (i, (extra, want)) in cases.into_iter().enumerate() {
            let Parsed::Message(m) = parse(update(chat_message(100 + i as u32, extra))) else {
                panic!("a message");
            };
            assert_eq!(m.content, want);
            assert_eq!(m.user, "42");
            assert_eq!(m.message_id, (100 + i).to_string());
            assert_eq!(m.profile_name.as_deref(), Some("Budi Santoso"));
        }
    }

    #[test]
    fn callbacks_edits_and_others() {
        let press = update(serde_json::json!({
            "update_id": 200,
            "callback_query": {
                "id": "cb1", "chat_instance": "x",
                "from": { "id": 42, "is_bot": false, "first_name": "Budi" },
                "message": { "message_id": 8, "date": 1_764_000_000, "chat": { "id": 42, "type": "private", "first_name": "Budi" }, "text": "Pilih layanan:" },
                "data": "izin_usaha"
            }
        }));
        let Parsed::Callback(m, id) = parse(press) else {
            panic!("a callback");
        };
        assert_eq!(
            (m.content, id.as_str()),
            (Content::Payload("izin_usaha".into()), "cb1")
        );
        let mut edited = chat_message(
            201,
            serde_json::json!({"text": "koreksi", "edit_date": 1_764_000_100}),
        );
        edited["edited_message"] = edited["message"].take();
        edited.as_object_mut().unwrap().remove("message");
        assert!(matches!(
            parse(update(edited)),
            Parsed::Ignored("edited_message")
        ));
    }

    #[test]
    fn long_option_ids_become_numbers() {
        let buttons = vec![
            layan_core::Button::new("Izin", "izin_usaha"),
            layan_core::Button::new("Panjang", "x".repeat(65)),
        ];
        let markup = serde_json::to_value(keyboard(&buttons)).unwrap();
        assert_eq!(
            markup["inline_keyboard"][0][0]["callback_data"],
            "izin_usaha"
        );
        assert_eq!(markup["inline_keyboard"][1][0]["callback_data"], "2");
    }
}
