//! Layan's SMS channels.
//!
//! - [`twilio`]: any Twilio-compatible provider (form-encoded webhook
//!   signed with `X-Twilio-Signature`, replies through the Messages API).
//! - [`android`]: SMS Gateway for Android, an Android phone with a local
//!   SIM — the cheap option for a regency office.
//!
//! SMS shows no buttons: menus arrive numbered and a reply of `2` chooses
//! the second option. Text is folded to GSM-7 where it can be ([`gsm`]) so
//! that a segment carries 160 characters rather than 70, and an answer
//! longer than the pack's segment budget (`[settings] sms_segments`) is cut;
//! the citizen replies `LANJUT` for the rest.

pub mod android;
pub mod gsm;
pub mod twilio;

use axum::http::HeaderMap;
use layan_core::Capabilities;
use layan_core::render::Outgoing;
use std::time::Duration;

/// Characters of one concatenated GSM-7 segment.
const SEGMENT_CHARS: usize = 153;
/// The longest SMS body providers take (Twilio: 1,600 characters).
pub const MAX_BODY: usize = 1_600;

/// What an SMS channel shows, with answers cut after `segments` segments.
#[must_use]
pub fn capabilities(segments: usize) -> Capabilities {
    Capabilities {
        budget: Some((segments.max(1) * SEGMENT_CHARS).min(MAX_BODY)),
        ..Capabilities::plain(MAX_BODY)
    }
}

/// The text of a rendered message as one SMS body, folded to GSM-7.
#[must_use]
pub fn plain_text(message: &Outgoing) -> String {
    let text = match message {
        Outgoing::Media { url, caption, .. } => match caption {
            Some(c) => format!("{c}\n{url}"),
            None => url.clone(),
        },
        Outgoing::Location {
            latitude,
            longitude,
            name,
        } => {
            let link = format!("https://maps.google.com/?q={latitude},{longitude}");
            match name {
                Some(n) => format!("{n}\n{link}"),
                None => link,
            }
        }
        other => other.text().to_owned(),
    };
    gsm::fold(&text)
}

/// A provider's answer to a send: its status, the `Retry-After` it asked
/// for, and its body.
pub(crate) async fn answer(
    response: reqwest::Response,
) -> Result<(u16, Option<Duration>, String), layan_core::SendError> {
    let status = response.status().as_u16();
    let after = retry_after(response.headers());
    let text = response
        .text()
        .await
        .map_err(|e| layan_core::SendError::transport(&e))?;
    Ok((status, after, text))
}

/// A `Retry-After` header in seconds, if the provider sent one.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The start of a provider's error body, for logs and dead letters.
pub(crate) fn short(s: &str) -> &str {
    match s.char_indices().nth(300) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
