//! The message model shared by every channel: what comes in, what goes out,
//! and what a channel can show.

use std::time::SystemTime;

/// A message from a citizen, in the same shape whatever the channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The channel it came through (`"whatsapp"`, `"telegram"`, `"terminal"`, …).
    pub channel: String,
    /// The citizen's id on that channel (phone number, chat id, …).
    pub user: String,
    /// The provider's message id; the key for deduplication.
    pub message_id: String,
    /// What the citizen sent.
    pub content: Content,
    /// When the provider says it was sent.
    pub time: SystemTime,
    /// The citizen's profile name, when the provider gives one (WhatsApp, Telegram).
    pub profile_name: Option<String>,
}

impl Inbound {
    /// A text message, stamped now, with a generated message id.
    #[must_use]
    pub fn text(channel: &str, user: &str, text: &str) -> Self {
        Self::new(channel, user, Content::Text(text.to_owned()))
    }

    /// A button press carrying `payload`, stamped now.
    #[must_use]
    pub fn payload(channel: &str, user: &str, payload: &str) -> Self {
        Self::new(channel, user, Content::Payload(payload.to_owned()))
    }

    fn new(channel: &str, user: &str, content: Content) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(1);
        let time = SystemTime::now();
        let nanos = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        Self {
            channel: channel.to_owned(),
            user: user.to_owned(),
            message_id: format!("local-{nanos:x}-{}", SEQ.fetch_add(1, Ordering::Relaxed)),
            content,
            time,
            profile_name: None,
        }
    }
}

/// The body of an inbound message.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "value")]
#[non_exhaustive]
pub enum Content {
    /// Free text typed by the citizen.
    Text(String),
    /// The payload of a button or list row the citizen pressed.
    Payload(String),
    /// A shared location.
    Location {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
    },
    /// A photo, document or voice note, by the provider's media reference.
    Media {
        /// `image`, `document`, `audio`, …
        kind: String,
        /// The provider's media id or URL.
        reference: String,
        /// The caption, if any.
        caption: Option<String>,
    },
}

/// A button: what the citizen sees and what comes back when pressed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Button {
    /// The label shown.
    pub title: String,
    /// What the channel sends back when it is pressed (an intent id).
    pub payload: String,
}

impl Button {
    /// A button with `title` that leads to `payload`.
    #[must_use]
    pub fn new(title: impl Into<String>, payload: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            payload: payload.into(),
        }
    }
}

/// One row of a list reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// The row's label.
    pub title: String,
    /// A longer description under the label.
    pub description: Option<String>,
    /// What comes back when the row is chosen.
    pub payload: String,
}

/// What the bot answers; channels render it for what they can show.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Reply {
    /// Plain text.
    Text(String),
    /// Text with buttons under it.
    Buttons {
        /// The text above the buttons.
        text: String,
        /// The buttons, in order.
        buttons: Vec<Button>,
    },
    /// Text with a list of options (for more options than buttons allow).
    List {
        /// The text above the list.
        text: String,
        /// The label of the button that opens the list.
        button: String,
        /// The rows.
        rows: Vec<ListRow>,
    },
    /// A picture or file by URL, with an optional caption.
    Media {
        /// `image`, `document`, …
        kind: String,
        /// Where the file is.
        url: String,
        /// The caption.
        caption: Option<String>,
    },
    /// A place on the map.
    Location {
        /// Latitude in degrees.
        latitude: f64,
        /// Longitude in degrees.
        longitude: f64,
        /// The place's name.
        name: Option<String>,
    },
}

impl Reply {
    /// The reply's main text (caption or name for media and locations).
    #[must_use]
    pub fn text(&self) -> &str {
        match self {
            Self::Text(t) | Self::Buttons { text: t, .. } | Self::List { text: t, .. } => t,
            Self::Media { caption, .. } => caption.as_deref().unwrap_or(""),
            Self::Location { name, .. } => name.as_deref().unwrap_or(""),
        }
    }

    /// The options the citizen can choose from, as buttons, in order.
    #[must_use]
    pub fn options(&self) -> Vec<Button> {
        match self {
            Self::Buttons { buttons, .. } => buttons.clone(),
            Self::List { rows, .. } => rows
                .iter()
                .map(|r| Button::new(r.title.clone(), r.payload.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// What a channel can show; the renderer degrades everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    /// Whether the channel shows native buttons and lists at all.
    pub rich: bool,
    /// The most reply buttons in one message (WhatsApp: 3).
    pub max_buttons: usize,
    /// The longest button title, in characters (WhatsApp: 20).
    pub max_button_title: usize,
    /// The most rows in one list (WhatsApp: 10).
    pub max_list_rows: usize,
    /// The longest text of one message, in characters (WhatsApp, Telegram: 4096).
    pub max_text: usize,
    /// The most characters of one answer to send at once (SMS: a few
    /// segments); the rest waits until the citizen replies `LANJUT`.
    pub budget: Option<usize>,
    /// How long after the citizen's last message the provider still takes a
    /// free-form reply (WhatsApp: 24 hours); `None`: any time. Operators'
    /// replies outside it are refused with the reason instead of failing at
    /// the provider.
    pub reply_window_ms: Option<u64>,
}

impl Capabilities {
    /// A plain-text channel (terminal, SMS): numbered menus, `max_text` per message.
    #[must_use]
    pub const fn plain(max_text: usize) -> Self {
        Self {
            rich: false,
            max_buttons: 0,
            max_button_title: 0,
            max_list_rows: 0,
            max_text,
            budget: None,
            reply_window_ms: None,
        }
    }

    /// The terminal of `layan chat`: plain text without a length limit worth splitting at.
    #[must_use]
    pub const fn terminal() -> Self {
        Self::plain(100_000)
    }

    /// WhatsApp Business Cloud API limits.
    #[must_use]
    pub const fn whatsapp() -> Self {
        Self {
            rich: true,
            max_buttons: 3,
            max_button_title: 20,
            max_list_rows: 10,
            max_text: 4096,
            budget: None,
            // The customer-service window: outside it only templates go out.
            reply_window_ms: Some(24 * 3_600_000),
        }
    }

    /// Telegram Bot API limits (inline keyboards).
    #[must_use]
    pub const fn telegram() -> Self {
        Self {
            rich: true,
            max_buttons: 8,
            max_button_title: 64,
            max_list_rows: 0,
            max_text: 4096,
            budget: None,
            reply_window_ms: None,
        }
    }
}
