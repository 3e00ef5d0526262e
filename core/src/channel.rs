//! The contract between Layan and a messenger or gateway.
//!
//! A channel has two halves. **Inbound**, the provider calls a webhook (or
//! is polled); that half is the channel crate's own (an axum `Router` in
//! Layan's crates), and all it must do is *verify* the request and turn it
//! into [`Inbound`] messages handed to
//! [`Pipeline::submit`](crate::pipeline::Pipeline::submit), answering the
//! provider with success only after `submit` returned `Ok` (the messages
//! are then durable). **Outbound** is this trait: the delivery pipeline
//! calls [`Channel::send`] for each message of its outbox, one at a time
//! per citizen, and retries or gives up according to the [`SendError`].
//!
//! # What an implementation must guarantee
//! - **Ids for deduplication.** Every [`Inbound::message_id`] is the
//!   provider's id of that message, the same on every retry of the same
//!   delivery and different for different messages of the channel. If the
//!   provider's ids are not unique (some SMS gateways derive them from the
//!   text), build the id from more than it (sender, time received, the id).
//!   The pipeline drops a message whose id the channel already delivered
//!   (kept at least seven days).
//! - **Verification.** Reject requests whose signature or secret does not
//!   verify, with 401, before parsing; compare secrets in constant time;
//!   verify the bytes as received, never a re-serialised body.
//! - **Capabilities.** [`Channel::capabilities`] tells the truth about what
//!   the provider shows (buttons, lists, text length); the pipeline renders
//!   every message within them before calling `send`, so `send` never has
//!   to cut or drop anything.
//! - **Retryable versus final errors.** Return [`SendError::Retry`] only
//!   when the same request may succeed later (rate limits, 5xx, timeouts,
//!   connection errors) — with the provider's `retry_after` when it gives
//!   one; return [`SendError::Final`] when it never will (an invalid
//!   recipient, a closed messaging window, a rejected token). A final error
//!   moves the message to the dead letters, visible to operators.
//! - **No duplicates of its own.** `send` makes one request; it does not
//!   retry internally (the pipeline does, with backoff and jitter).

use std::time::Duration;

use crate::message::Capabilities;
use crate::render::Outgoing;

/// What the provider said when it accepted a message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// The provider's id of the sent message, if it gives one; later
    /// delivery statuses refer to it.
    pub provider_id: Option<String>,
}

/// Why a message was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// It may succeed later: retried with backoff.
    #[error("{reason} (will retry): {detail}")]
    Retry {
        /// A short label for metrics (`rate_limited`, `server_error`, `timeout`, `network`).
        reason: String,
        /// The provider's words.
        detail: String,
        /// How long the provider asked to wait, if it said.
        after: Option<Duration>,
    },
    /// It never will: the message becomes a dead letter.
    #[error("{reason}: {detail}")]
    Final {
        /// A short label for metrics and operators (`outside_24h_window`,
        /// `invalid_recipient`, `unauthorized`, `rejected`).
        reason: String,
        /// The provider's words.
        detail: String,
    },
}

impl SendError {
    /// A retryable error.
    #[must_use]
    pub fn retry(reason: &str, detail: impl Into<String>) -> Self {
        Self::Retry {
            reason: reason.to_owned(),
            detail: detail.into(),
            after: None,
        }
    }

    /// A final error.
    #[must_use]
    pub fn fatal(reason: &str, detail: impl Into<String>) -> Self {
        Self::Final {
            reason: reason.to_owned(),
            detail: detail.into(),
        }
    }

    /// The short label.
    #[must_use]
    pub fn reason(&self) -> &str {
        match self {
            Self::Retry { reason, .. } | Self::Final { reason, .. } => reason,
        }
    }

    /// A transport failure (timeout, refused connection, broken body):
    /// always worth retrying.
    #[must_use]
    pub fn transport(e: &reqwest::Error) -> Self {
        let reason = if e.is_timeout() { "timeout" } else { "network" };
        Self::retry(reason, e.to_string())
    }

    /// The same error, waiting at least `after` when it is retried.
    #[must_use]
    pub fn after(self, after: Option<Duration>) -> Self {
        match self {
            Self::Retry { reason, detail, .. } => Self::Retry {
                reason,
                detail,
                after,
            },
            e => e,
        }
    }

    /// The usual reading of an HTTP status without a more specific code:
    /// 429, 408 and 5xx retry; anything else is final.
    #[must_use]
    pub fn from_http_status(status: u16, detail: impl Into<String>) -> Self {
        match status {
            429 => Self::retry("rate_limited", detail),
            408 => Self::retry("timeout", detail),
            500..=599 => Self::retry("server_error", detail),
            401 | 403 => Self::fatal("unauthorized", detail),
            _ => Self::fatal("rejected", detail),
        }
    }
}

/// A messenger or gateway Layan delivers through. See the module docs for
/// what an implementation must guarantee.
#[async_trait::async_trait]
pub trait Channel: Send + Sync + 'static {
    /// The channel's name, as in [`Inbound::channel`](crate::Inbound) and
    /// the config (`whatsapp`, `telegram`, `twilio`, `android_sms`, `web`).
    fn name(&self) -> &str;

    /// What the channel shows; messages are rendered within it.
    fn capabilities(&self) -> Capabilities;

    /// Sends one rendered message to `user` (the id the channel's inbound
    /// messages carry). One request, no internal retries.
    ///
    /// # Errors
    /// [`SendError::Retry`] or [`SendError::Final`], as the module docs say.
    async fn send(&self, user: &str, message: &Outgoing) -> Result<Sent, SendError>;

    /// Fetches a file a citizen sent (a complaint's photo), by the
    /// reference the channel put in [`Content::Media`](crate::Content), so
    /// that staff can see it. `Ok(None)` when the channel cannot fetch
    /// media, the default.
    ///
    /// # Errors
    /// The provider refused or failed, in words for staff.
    async fn media(&self, reference: &str) -> Result<Option<Media>, String> {
        let _ = reference;
        Ok(None)
    }
}

/// A file fetched from a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Its content type (`image/jpeg`).
    pub content_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// The largest media file fetched for staff (WhatsApp documents reach 100 MB; photos 5 MB).
pub const MAX_MEDIA_BYTES: usize = 20 * 1024 * 1024;

/// Reads a provider's media download, refusing more than [`MAX_MEDIA_BYTES`].
///
/// # Errors
/// A failed request, an error status, or a file too large.
pub async fn read_media(
    response: reqwest::Result<reqwest::Response>,
    content_type: Option<String>,
) -> Result<Media, String> {
    let mut response = response.map_err(|e| format!("cannot fetch the file: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("the provider answered {}", response.status()));
    }
    let content_type = content_type
        .or_else(|| {
            response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "application/octet-stream".to_owned());
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("cannot fetch the file: {e}"))?
    {
        if bytes.len() + chunk.len() > MAX_MEDIA_BYTES {
            return Err(format!(
                "the file is larger than {} MB",
                MAX_MEDIA_BYTES / 1024 / 1024
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Media {
        content_type,
        bytes,
    })
}

/// Whether two secrets are equal, in time that does not depend on where
/// they differ (only on their lengths): for webhook tokens and signatures.
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_comparison_is_equality() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn http_statuses_read_as_retry_or_final() {
        for (status, retry) in [
            (429, true),
            (500, true),
            (503, true),
            (408, true),
            (400, false),
            (401, false),
            (404, false),
        ] {
            let e = SendError::from_http_status(status, "x");
            assert_eq!(matches!(e, SendError::Retry { .. }), retry, "{status}");
        }
    }
}
