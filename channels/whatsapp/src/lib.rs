//! Layan's WhatsApp channel, on Meta's WhatsApp Business Cloud API.
//!
//! - [`router`] serves `GET /webhooks/whatsapp` (the verification
//!   handshake) and `POST /webhooks/whatsapp` (messages and statuses, each
//!   POST verified by `X-Hub-Signature-256` over the raw body bytes).
//! - [`WhatsApp`] implements [`Channel`]: text (≤ 4096 characters), reply
//!   buttons (≤ 3, titles ≤ 20), lists (≤ 10 rows, title ≤ 24, description
//!   ≤ 72), media and locations, through `POST {api_base}/{phone_number_id}/messages`.
//!
//! Citizens are identified by their phone number (`from`, `wa_id`) when the
//! webhook carries one, else by their business-scoped user id (`user_id`,
//! since 2026); replies go to the same id.

mod parse;
mod send;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hmac::{Hmac, KeyInit, Mac};
use layan_core::channel::{Media, constant_time_eq, read_media};
use layan_core::http::Http;
use layan_core::render::Outgoing;
use layan_core::{Capabilities, Channel, Pipeline, SendError, Sent};
use serde_json::Value;
use sha2::Sha256;

pub use parse::{Parsed, parse};

/// The channel's name in conversations, config and metrics.
pub const NAME: &str = "whatsapp";
/// The Graph API the channel talks to unless told otherwise.
pub const DEFAULT_API_BASE: &str = "https://graph.facebook.com/v23.0";

/// `[channels.whatsapp]` in `layan.toml`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhatsAppConfig {
    /// The business phone number's id in the Graph API.
    pub phone_number_id: String,
    /// A system user's access token.
    pub access_token: String,
    /// The Meta app's secret: webhook signatures are made with it.
    pub app_secret: String,
    /// The token the verification handshake must present.
    pub verify_token: String,
    /// Where the Graph API is (tests and proxies point elsewhere).
    #[serde(default = "default_api_base")]
    pub api_base: String,
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.to_owned()
}

/// The WhatsApp channel.
pub struct WhatsApp {
    config: WhatsAppConfig,
    http: Http,
    /// `{api_base}/{phone_number_id}/messages`, parsed once: `None` when
    /// `api_base` is not a URL (every send then fails with that reason).
    endpoint: Option<Uri>,
    /// `Bearer {access_token}`, made once.
    authorization: Option<HeaderValue>,
}

impl std::fmt::Debug for WhatsApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhatsApp")
            .field("phone_number_id", &self.config.phone_number_id)
            .field("api_base", &self.config.api_base)
            .finish_non_exhaustive()
    }
}

impl WhatsApp {
    /// The channel with `config`, sending with `http` (timeouts are the client's).
    #[must_use]
    pub fn new(config: WhatsAppConfig, http: Http) -> Arc<Self> {
        let endpoint = format!(
            "{}/{}/messages",
            config.api_base.trim_end_matches('/'),
            config.phone_number_id
        );
        // Only an absolute http(s) URL is somewhere to send to.
        let endpoint = endpoint
            .parse::<Uri>()
            .ok()
            .filter(|u| matches!(u.scheme_str(), Some("http" | "https")) && u.host().is_some());
        let authorization = HeaderValue::from_str(&format!("Bearer {}", config.access_token))
            .ok()
            .map(|mut v| {
                v.set_sensitive(true);
                v
            });
        Arc::new(Self {
            config,
            http,
            endpoint,
            authorization,
        })
    }

    /// The `X-Hub-Signature-256` value Meta sends for `body`: `sha256=`
    /// and the hex HMAC-SHA256 of the raw bytes with the app secret.
    #[must_use]
    pub fn signature(app_secret: &str, body: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()).expect("any key length");
        mac.update(body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    }

    /// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` with
    /// the app secret; compared in constant time.
    #[must_use]
    pub fn verify_signature(&self, header: Option<&str>, body: &[u8]) -> bool {
        let Some(hex_sig) = header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
            return false;
        };
        let Ok(sig) = hex::decode(hex_sig) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.config.app_secret.as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    }

    async fn post(&self, body: &send::Body<'_>) -> Result<Sent, SendError> {
        let Some(endpoint) = &self.endpoint else {
            return Err(SendError::fatal(
                "bad_api_base",
                format!("api_base `{}` is not a URL", self.config.api_base),
            ));
        };
        let Some(authorization) = &self.authorization else {
            return Err(SendError::fatal(
                "unauthorized",
                "the access token holds characters an HTTP header cannot carry",
            ));
        };
        let json = serde_json::to_vec(body)
            .map_err(|e| SendError::fatal("rejected", format!("cannot write the request: {e}")))?;
        let mut headers = HeaderMap::with_capacity(2);
        headers.insert(header::AUTHORIZATION, authorization.clone());
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let answer = self.http.post(endpoint, headers, json.into()).await?;
        if (200..300).contains(&answer.status) {
            // Accepted: the id is a courtesy (statuses refer to it), so an
            // answer without one is still a sent message.
            let accepted: send::Accepted = serde_json::from_slice(&answer.body).unwrap_or_default();
            return Ok(Sent {
                provider_id: accepted.into_id(),
            });
        }
        let text = String::from_utf8_lossy(&answer.body);
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        Err(classify(answer.status, &value, &text))
    }
}

/// Reads a Graph API error: the codes that matter first, then the HTTP status.
fn classify(status: u16, value: &Value, raw: &str) -> SendError {
    let error = &value["error"];
    let code = error["code"].as_i64();
    let detail = match (code, error["message"].as_str()) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        _ => format!("http {status}: {}", truncate(raw, 300)),
    };
    match code {
        // Re-engagement: the customer service window (24 h) has closed.
        Some(131_047) => SendError::fatal("outside_24h_window", detail),
        // Cloud API throughput, pair rate limit, spam rate limit, app limits.
        Some(130_429 | 131_056 | 131_048 | 4 | 80_007) => SendError::retry("rate_limited", detail),
        // Temporary service errors.
        Some(1 | 2 | 131_000 | 131_016) => SendError::retry("server_error", detail),
        Some(190) => SendError::fatal("unauthorized", detail),
        Some(131_026 | 131_030) => SendError::fatal("invalid_recipient", detail),
        _ => SendError::from_http_status(status, detail),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[async_trait::async_trait]
impl Channel for WhatsApp {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::whatsapp()
    }

    /// `GET {api_base}/{media-id}` gives a download URL (valid for minutes)
    /// and the type; the file itself needs the same access token.
    async fn media(&self, reference: &str) -> Result<Option<Media>, String> {
        if reference.is_empty()
            || !reference
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(format!("`{reference}` is not a WhatsApp media id"));
        }
        let url = format!("{}/{reference}", self.config.api_base.trim_end_matches('/'));
        let info = self
            .http
            .reqwest()
            .get(url)
            .bearer_auth(&self.config.access_token)
            .send()
            .await
            .map_err(|e| format!("cannot ask WhatsApp for the file: {e}"))?;
        if !info.status().is_success() {
            return Err(format!(
                "WhatsApp answered {} for media {reference}",
                info.status()
            ));
        }
        let info: Value = info
            .json()
            .await
            .map_err(|e| format!("WhatsApp's media answer is not JSON: {e}"))?;
        let Some(download) = info["url"].as_str() else {
            return Err(format!("WhatsApp's media answer has no url: {info}"));
        };
        let response = self
            .http
            .reqwest()
            .get(download)
            .bearer_auth(&self.config.access_token)
            .send()
            .await;
        read_media(response, info["mime_type"].as_str().map(str::to_owned))
            .await
            .map(Some)
    }

    async fn send(&self, user: &str, message: &Outgoing) -> Result<Sent, SendError> {
        let mut last = Sent::default();
        for body in send::bodies(user, message) {
            last = self.post(&body).await?;
        }
        Ok(last)
    }
}

#[derive(Clone)]
struct Hook {
    wa: Arc<WhatsApp>,
    pipeline: Pipeline,
}

/// The webhook routes, `GET|POST /webhooks/whatsapp`, for `wa` feeding
/// `pipeline`. The caller sets the body limit (axum's `DefaultBodyLimit`;
/// WhatsApp POSTs can reach 3 MB).
pub fn router(wa: Arc<WhatsApp>, pipeline: Pipeline) -> Router {
    Router::new()
        .route("/webhooks/whatsapp", get(verify).post(receive))
        .with_state(Hook { wa, pipeline })
}

#[derive(serde::Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

/// The verification handshake: the challenge back when the token matches.
async fn verify(State(hook): State<Hook>, Query(q): Query<Handshake>) -> Response {
    let expected = hook.wa.config.verify_token.as_bytes();
    let token_ok = q
        .token
        .as_deref()
        .is_some_and(|t| constant_time_eq(t.as_bytes(), expected));
    match (q.mode.as_deref(), token_ok, q.challenge) {
        (Some("subscribe"), true, Some(challenge)) => (StatusCode::OK, challenge).into_response(),
        _ => StatusCode::FORBIDDEN.into_response(),
    }
}

/// Messages and statuses: verified, parsed, persisted, then 200.
async fn receive(State(hook): State<Hook>, headers: HeaderMap, body: Bytes) -> Response {
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok());
    if !hook.wa.verify_signature(signature, &body) {
        tracing::warn!(target: "layan_whatsapp", "webhook with a missing or wrong signature");
        return (StatusCode::UNAUTHORIZED, "invalid signature").into_response();
    }
    let parsed = match parse(&body) {
        Ok(parsed) => parsed,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("malformed JSON: {e}")).into_response(),
    };
    for kind in &parsed.ignored {
        hook.pipeline.count_ignored(NAME, kind);
    }
    if let Err(e) = hook.pipeline.submit(parsed.messages).await {
        tracing::error!(target: "layan_whatsapp", error = %e, "cannot persist inbound messages");
        // Not acknowledged: Meta retries.
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    if !parsed.statuses.is_empty()
        && let Err(e) = hook.pipeline.record_statuses(parsed.statuses).await
    {
        tracing::warn!(target: "layan_whatsapp", error = %e, "cannot record delivery statuses");
    }
    StatusCode::OK.into_response()
}

/// How long the channel's HTTP client waits for the Graph API.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wa() -> Arc<WhatsApp> {
        WhatsApp::new(
            WhatsAppConfig {
                phone_number_id: "1234".into(),
                access_token: "t".into(),
                app_secret: "rahasia".into(),
                verify_token: "v".into(),
                api_base: DEFAULT_API_BASE.into(),
            },
            Http::new(layan_core::http::HttpSettings::default()).unwrap(),
        )
    }

    #[tokio::test]
    async fn a_config_that_cannot_send_fails_every_send_for_good() {
        // (what is wrong, the reason, a word the detail must show)
        let cases = [
            (
                WhatsAppConfig {
                    api_base: "graph.facebook.com/v23.0".into(),
                    ..wa().config.clone()
                },
                "bad_api_base",
                "graph.facebook.com/v23.0",
            ),
            (
                // A secret read from the environment with its line break kept.
                WhatsAppConfig {
                    access_token: "EAAG-token\n".into(),
                    ..wa().config.clone()
                },
                "unauthorized",
                "access token",
            ),
        ];
        for (config, reason, shown) in cases {
            let wa = WhatsApp::new(
                config,
                Http::new(layan_core::http::HttpSettings::default()).unwrap(),
            );
            let e = wa
                .send("6281311112222", &Outgoing::Text("halo".into()))
                .await
                .unwrap_err();
            assert!(matches!(e, SendError::Final { .. }), "{e}");
            assert_eq!(e.reason(), reason);
            assert!(e.to_string().contains(shown), "{e}");
        }
    }

    #[test]
    fn signatures_verify_only_over_the_exact_bytes() {
        let body = br#"{"a":"\u00e9"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"rahasia").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let wa = wa();
        assert!(wa.verify_signature(Some(&good), body));
        assert!(!wa.verify_signature(Some(&good), r#"{"a":"é"}"#.as_bytes()));
        assert!(!wa.verify_signature(None, body));
        assert!(!wa.verify_signature(Some("sha256=zz"), body));
        assert!(!wa.verify_signature(Some(&good.replace("sha256=", "sha1=")), body));
    }

    #[test]
    fn error_codes_decide_retry_or_not() {
        let e = |code: i64, status: u16| {
            classify(
                status,
                &json!({"error": {"code": code, "message": "m"}}),
                "",
            )
        };
        assert_eq!(e(131_047, 400).reason(), "outside_24h_window");
        assert!(matches!(e(131_047, 400), SendError::Final { .. }));
        assert!(matches!(e(130_429, 400), SendError::Retry { .. }));
        assert!(matches!(e(131_056, 400), SendError::Retry { .. }));
        assert!(matches!(e(190, 401), SendError::Final { .. }));
        assert!(matches!(
            classify(502, &Value::Null, "bad gateway"),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            classify(400, &Value::Null, "?"),
            SendError::Final { .. }
        ));
    }
}
