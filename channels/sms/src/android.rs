//! SMS Gateway for Android (an Android phone with the office's SIM): the
//! `sms:received` webhook, signed with `X-Signature` over the raw body and
//! `X-Timestamp`, and sending through the app's HTTP API (local server on
//! the phone, or the vendor's cloud relay).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use layan_core::render::Outgoing;
use layan_core::{Capabilities, Channel, Content, Inbound, Pipeline, SendError, Sent};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{capabilities, plain_text};

/// The channel's name.
pub const NAME: &str = "android_sms";
/// The webhook's path.
pub const PATH: &str = "/webhooks/android-sms";
/// The vendor's cloud API unless told otherwise (a local server on the
/// phone is `http://PHONE-IP:8080`).
pub const DEFAULT_URL: &str = "https://api.sms-gate.app/3rdparty/v1";
/// Webhooks older or newer than this are refused (replays).
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// `[channels.android_sms]` in `layan.toml`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidSmsConfig {
    /// The gateway's API.
    #[serde(default = "default_url")]
    pub url: String,
    /// The API's user name.
    pub username: String,
    /// The API's password.
    pub password: String,
    /// The key webhooks are signed with.
    pub signing_key: String,
}

fn default_url() -> String {
    DEFAULT_URL.to_owned()
}

/// The Android gateway channel.
pub struct AndroidSms {
    config: AndroidSmsConfig,
    segments: usize,
    http: reqwest::Client,
}

impl std::fmt::Debug for AndroidSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AndroidSms")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl AndroidSms {
    /// The channel; answers are cut after `segments` SMS segments.
    #[must_use]
    pub fn new(config: AndroidSmsConfig, segments: usize, http: reqwest::Client) -> Arc<Self> {
        Arc::new(Self {
            config,
            segments,
            http,
        })
    }

    /// The signature of a webhook: hex HMAC-SHA256 of the body followed by
    /// the timestamp header.
    #[must_use]
    pub fn signature(key: &str, body: &[u8], timestamp: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
        mac.update(body);
        mac.update(timestamp.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether the signature verifies and the timestamp is fresh at `now`.
    fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), &'static str> {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(signature), Some(timestamp)) = (get("x-signature"), get("x-timestamp")) else {
            return Err("missing signature");
        };
        let Ok(sig) = hex::decode(signature.trim()) else {
            return Err("invalid signature");
        };
        let mut mac = Hmac::<Sha256>::new_from_slice(self.config.signing_key.as_bytes())
            .expect("any key length");
        mac.update(body);
        mac.update(timestamp.as_bytes());
        if mac.verify_slice(&sig).is_err() {
            return Err("invalid signature");
        }
        let sent = timestamp
            .trim()
            .parse::<u64>()
            .map_err(|_| "invalid timestamp")?;
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if now.abs_diff(sent) > MAX_SKEW.as_secs() {
            return Err("stale timestamp");
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Channel for AndroidSms {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        capabilities(self.segments)
    }

    async fn send(&self, user: &str, message: &Outgoing) -> Result<Sent, SendError> {
        let url = format!("{}/message", self.config.url.trim_end_matches('/'));
        let body = json!({
            "textMessage": { "text": plain_text(message) },
            "phoneNumbers": [user],
        });
        let response = self
            .http
            .post(url)
            .basic_auth(&self.config.username, Some(&self.config.password))
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::transport(&e))?;
        let (status, retry_after, text) = crate::answer(response).await?;
        if (200..300).contains(&status) {
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
            return Ok(Sent {
                provider_id: value["id"].as_str().map(str::to_owned),
            });
        }
        Err(
            SendError::from_http_status(status, format!("http {status}: {}", crate::short(&text)))
                .after(retry_after),
        )
    }
}

#[derive(Clone)]
struct Hook {
    sms: Arc<AndroidSms>,
    pipeline: Pipeline,
}

/// The webhook route, `POST /webhooks/android-sms`.
pub fn router(sms: Arc<AndroidSms>, pipeline: Pipeline) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .with_state(Hook { sms, pipeline })
}

async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(why) = hook.sms.verify(&headers, &body, SystemTime::now()) {
        tracing::warn!(target: "layan_sms", why, "Android gateway webhook refused");
        return (StatusCode::UNAUTHORIZED, why).into_response();
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")).into_response(),
    };
    let inbound = match parse(&value) {
        Ok(Some(m)) => m,
        Ok(None) => {
            let event = value["event"].as_str().unwrap_or("?");
            hook.pipeline.count_ignored(NAME, &format!("event:{event}"));
            return StatusCode::OK.into_response();
        }
        Err(missing) => {
            return (StatusCode::BAD_REQUEST, format!("missing field {missing}")).into_response();
        }
    };
    if let Err(e) = hook.pipeline.submit(vec![inbound]).await {
        tracing::error!(target: "layan_sms", error = %e, "cannot persist an inbound SMS");
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    StatusCode::OK.into_response()
}

/// The inbound SMS of an `sms:received` event; `None` for other events.
///
/// The gateway derives `messageId` from the content, so two identical
/// texts share it: the deduplication id also takes the sender and the time
/// the phone received it, which a retry of the same webhook repeats and a
/// second identical SMS does not.
///
/// # Errors
/// The name of a required field that is missing.
pub fn parse(value: &Value) -> Result<Option<Inbound>, &'static str> {
    if value["event"].as_str() != Some("sms:received") {
        return Ok(None);
    }
    let payload = value.get("payload").ok_or("payload")?;
    let text = payload["message"].as_str().ok_or("payload.message")?;
    let phone = payload["phoneNumber"]
        .as_str()
        .filter(|p| !p.is_empty())
        .ok_or("payload.phoneNumber")?;
    let received = payload["receivedAt"].as_str().unwrap_or_default();
    let id = payload["messageId"]
        .as_str()
        .or_else(|| value["id"].as_str())
        .ok_or("payload.messageId")?;
    Ok(Some(Inbound {
        channel: NAME.to_owned(),
        user: phone.to_owned(),
        message_id: format!("{id}|{phone}|{received}"),
        content: Content::Text(text.to_owned()),
        time: SystemTime::now(),
        profile_name: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms() -> Arc<AndroidSms> {
        AndroidSms::new(
            AndroidSmsConfig {
                url: DEFAULT_URL.into(),
                username: "u".into(),
                password: "p".into(),
                signing_key: "kunci".into(),
            },
            3,
            reqwest::Client::new(),
        )
    }

    #[test]
    fn signatures_and_timestamps_are_checked() {
        let body = br#"{"event":"sms:received"}"#;
        let now = UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let headers = |sig: &str, ts: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-signature", sig.parse().unwrap());
            h.insert("x-timestamp", ts.parse().unwrap());
            h
        };
        let good = AndroidSms::signature("kunci", body, "1764000000");
        let s = sms();
        assert_eq!(s.verify(&headers(&good, "1764000000"), body, now), Ok(()));
        assert_eq!(
            s.verify(&headers(&good, "1764000001"), body, now),
            Err("invalid signature"),
            "the timestamp is signed"
        );
        let old = AndroidSms::signature("kunci", body, "1763999000");
        assert_eq!(
            s.verify(&headers(&old, "1763999000"), body, now),
            Err("stale timestamp")
        );
        assert_eq!(
            s.verify(&HeaderMap::new(), body, now),
            Err("missing signature")
        );
    }

    #[test]
    fn identical_texts_get_different_ids_and_retries_the_same() {
        let event = |received: &str| {
            json!({
                "deviceId": "dev1", "event": "sms:received", "id": "evt",
                "payload": { "messageId": "abc", "message": "info", "phoneNumber": "+6281234567890",
                             "simNumber": 1, "receivedAt": received },
                "webhookId": "wh"
            })
        };
        let a = parse(&event("2026-11-26T10:00:00.000+07:00"))
            .unwrap()
            .unwrap();
        let retry = parse(&event("2026-11-26T10:00:00.000+07:00"))
            .unwrap()
            .unwrap();
        let b = parse(&event("2026-11-26T10:05:00.000+07:00"))
            .unwrap()
            .unwrap();
        assert_eq!(a.message_id, retry.message_id);
        assert_ne!(a.message_id, b.message_id);
        assert_eq!(a.content, Content::Text("info".into()));
        assert_eq!(parse(&json!({"event": "sms:sent"})), Ok(None));
        assert_eq!(
            parse(&json!({"event": "sms:received", "payload": {"message": "x"}})),
            Err("payload.phoneNumber")
        );
    }
}
