//! Twilio-compatible SMS: a form-encoded webhook signed with
//! `X-Twilio-Signature`, replies through the Messages resource.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use layan_core::channel::{constant_time_eq, read_media};
use layan_core::render::Outgoing;
use layan_core::{Capabilities, Channel, Content, Inbound, Media, Pipeline, SendError, Sent};
use serde_json::Value;
use sha1::Sha1;

use crate::{capabilities, plain_text};

/// The channel's name.
pub const NAME: &str = "twilio";
/// The webhook's path.
pub const PATH: &str = "/webhooks/twilio";
/// Twilio's API unless told otherwise.
pub const DEFAULT_API_BASE: &str = "https://api.twilio.com";
/// An empty TwiML answer: the reply goes out through the API, not here.
const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// `[channels.twilio]` in `layan.toml`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwilioConfig {
    /// The account SID (`AC…`).
    pub account_sid: String,
    /// The auth token: signs webhooks, authenticates sends.
    pub auth_token: String,
    /// The office's number (E.164) or messaging service SID (`MG…`).
    pub from: String,
    /// Where the API is (tests and proxies point elsewhere).
    #[serde(default = "default_api_base")]
    pub api_base: String,
}

fn default_api_base() -> String {
    DEFAULT_API_BASE.to_owned()
}

/// The Twilio channel.
pub struct Twilio {
    config: TwilioConfig,
    /// `[server] public_url`: what Twilio signed, whatever a proxy changed.
    public_url: String,
    segments: usize,
    http: reqwest::Client,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("account_sid", &self.config.account_sid)
            .field("api_base", &self.config.api_base)
            .finish_non_exhaustive()
    }
}

impl Twilio {
    /// The channel; `public_url` is the server's public base URL (the
    /// webhook URL Twilio signs is `public_url` + [`PATH`]); answers are cut
    /// after `segments` SMS segments (the rest on `LANJUT`).
    #[must_use]
    pub fn new(
        config: TwilioConfig,
        public_url: &str,
        segments: usize,
        http: reqwest::Client,
    ) -> Arc<Self> {
        Arc::new(Self {
            config,
            public_url: public_url.trim_end_matches('/').to_owned(),
            segments,
            http,
        })
    }

    /// The signature Twilio sends for a POST to `url` with `params`:
    /// base64 HMAC-SHA1 of the URL followed by every parameter's name and
    /// value, sorted by name (then value, each distinct pair once).
    #[must_use]
    pub fn signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
        // Sorted by name, then value; a repeated name and value counts once
        // (as Twilio's SDKs compute it).
        let sorted: std::collections::BTreeSet<&(String, String)> = params.iter().collect();
        let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes()).expect("any key length");
        mac.update(url.as_bytes());
        for (k, v) in sorted {
            mac.update(k.as_bytes());
            mac.update(v.as_bytes());
        }
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }

    fn verify(
        &self,
        header: Option<&str>,
        query: Option<&str>,
        params: &[(String, String)],
    ) -> bool {
        let Some(header) = header else {
            return false;
        };
        let mut url = format!("{}{PATH}", self.public_url);
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }
        let expected = Self::signature(&self.config.auth_token, &url, params);
        constant_time_eq(expected.as_bytes(), header.trim().as_bytes())
    }
}

#[async_trait::async_trait]
impl Channel for Twilio {
    fn name(&self) -> &str {
        NAME
    }

    fn capabilities(&self) -> Capabilities {
        capabilities(self.segments)
    }

    async fn send(&self, user: &str, message: &Outgoing) -> Result<Sent, SendError> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.config.api_base.trim_end_matches('/'),
            self.config.account_sid
        );
        let body = plain_text(message);
        let from_key = if self.config.from.starts_with("MG") {
            "MessagingServiceSid"
        } else {
            "From"
        };
        let response = self
            .http
            .post(url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .form(&[("To", user), (from_key, &self.config.from), ("Body", &body)])
            .send()
            .await
            .map_err(|e| SendError::transport(&e))?;
        let (status, retry_after, text) = crate::answer(response).await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(Sent {
                provider_id: value["sid"].as_str().map(str::to_owned),
            });
        }
        let code = value["code"].as_i64();
        let detail = format!(
            "http {status}, code {}: {}",
            code.unwrap_or(0),
            value["message"].as_str().unwrap_or(&text)
        );
        Err(match code {
            // Invalid or unreachable 'To' numbers, opted-out recipients.
            Some(21_211 | 21_614 | 21_612 | 21_408 | 21_610) => {
                SendError::fatal("invalid_recipient", detail)
            }
            Some(20_429) => SendError::retry("rate_limited", detail),
            _ => SendError::from_http_status(status, detail),
        }
        .after(retry_after))
    }

    /// A file a citizen sent by MMS, by the reference the webhook stored
    /// for it (`{message sid}/{media sid}`, see [`media_reference`]).
    /// Twilio can require HTTP basic authentication for media (the
    /// console's "Enforce HTTP Auth on Media URLs"), so a browser cannot
    /// open a `MediaUrl` by itself: it is fetched here with the account SID
    /// and auth token, following Twilio's redirect to the file's short-lived
    /// CDN URL (reqwest drops the credentials when the host changes). Only
    /// this account's media on `api_base` can be asked for.
    async fn media(&self, reference: &str) -> Result<Option<Media>, String> {
        let Some((message, media)) = reference
            .split_once('/')
            .filter(|(a, b)| is_sid(a) && is_sid(b))
        else {
            return Err(format!("`{reference}` is not a Twilio media reference"));
        };
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages/{message}/Media/{media}",
            self.config.api_base.trim_end_matches('/'),
            self.config.account_sid
        );
        let response = self
            .http
            .get(url)
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .send()
            .await;
        read_media(response, None).await.map(Some)
    }
}

/// Whether `s` can be a Twilio sid (`MM…`, `ME…`): letters and digits.
fn is_sid(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric())
}

/// What an inbound file is stored as: `{message sid}/{media sid}` when
/// `MediaUrl0` has Twilio's shape (`…/Accounts/AC…/Messages/MM…/Media/ME…`),
/// so that staff see it through [`Channel::media`] with the account's
/// credentials; any other URL (a Twilio-compatible gateway's) as it is.
fn media_reference(media_url: &str) -> String {
    let Ok(url) = reqwest::Url::parse(media_url) else {
        return media_url.to_owned();
    };
    let segments: Vec<&str> = url
        .path_segments()
        .map(Iterator::collect)
        .unwrap_or_default();
    match segments.as_slice() {
        [.., "Accounts", _, "Messages", message, "Media", media]
            if is_sid(message) && is_sid(media) =>
        {
            format!("{message}/{media}")
        }
        _ => media_url.to_owned(),
    }
}

#[derive(Clone)]
struct Hook {
    twilio: Arc<Twilio>,
    pipeline: Pipeline,
}

/// The webhook route, `POST /webhooks/twilio`.
pub fn router(twilio: Arc<Twilio>, pipeline: Pipeline) -> Router {
    Router::new()
        .route(PATH, post(receive))
        .with_state(Hook { twilio, pipeline })
}

async fn receive(
    State(hook): State<Hook>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok());
    if !hook.twilio.verify(signature, query.as_deref(), &params) {
        tracing::warn!(target: "layan_sms", "Twilio webhook with a missing or wrong signature");
        return (StatusCode::UNAUTHORIZED, "invalid signature").into_response();
    }
    let inbound = match parse(&params) {
        Ok(m) => m,
        Err(missing) => {
            return (StatusCode::BAD_REQUEST, format!("missing field {missing}")).into_response();
        }
    };
    if let Err(e) = hook.pipeline.submit(vec![inbound]).await {
        tracing::error!(target: "layan_sms", error = %e, "cannot persist an inbound SMS");
        return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
    }
    ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response()
}

/// One inbound SMS (or MMS) from the webhook's parameters.
///
/// # Errors
/// The name of a required parameter that is missing.
pub fn parse(params: &[(String, String)]) -> Result<Inbound, &'static str> {
    let get = |k: &str| {
        params
            .iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.as_str())
    };
    let from = get("From").filter(|f| !f.is_empty()).ok_or("From")?;
    let sid = get("MessageSid")
        .or_else(|| get("SmsSid"))
        .filter(|s| !s.is_empty())
        .ok_or("MessageSid")?;
    let body = get("Body").unwrap_or_default();
    let media = get("NumMedia")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let content = match (get("Latitude"), get("Longitude")) {
        (Some(lat), Some(lon)) if lat.parse::<f64>().is_ok() && lon.parse::<f64>().is_ok() => {
            Content::Location {
                latitude: lat.parse().unwrap_or_default(),
                longitude: lon.parse().unwrap_or_default(),
            }
        }
        _ if media > 0 => Content::Media {
            kind: get("MediaContentType0")
                .and_then(|t| t.split('/').next())
                .unwrap_or("document")
                .to_owned(),
            reference: media_reference(get("MediaUrl0").unwrap_or_default()),
            caption: Some(body.to_owned()).filter(|b| !b.is_empty()),
        },
        _ => Content::Text(body.to_owned()),
    };
    Ok(Inbound {
        channel: NAME.to_owned(),
        user: from.to_owned(),
        message_id: sid.to_owned(),
        content,
        time: SystemTime::now(),
        profile_name: None,
    })
}

/// How long the channel's HTTP client waits for Twilio.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(15);

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_documented_signature_example_verifies() {
        // Twilio's own example from its security documentation.
        let params = pairs(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ]);
        assert_eq!(
            Twilio::signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &params
            ),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        // Repeated names are sorted by value, each pair once (the SDKs' vector).
        let repeated = pairs(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
            ("Digits", "1234"),
        ]);
        assert_eq!(
            Twilio::signature(
                "12345",
                "https://mycompany.com/myapp.php?foo=1&bar=2",
                &repeated
            ),
            "IK+Dwps556ElfBT0I3Rgjkr1wJU="
        );
    }

    #[test]
    fn parameters_become_an_inbound_message() {
        let p = pairs;
        let m = parse(&p(&[
            ("From", "+6281234567890"),
            ("Body", "sy mau lapor timbangan curang"),
            ("MessageSid", "SM1"),
        ]))
        .unwrap();
        assert_eq!(m.user, "+6281234567890");
        assert_eq!(m.message_id, "SM1");
        assert_eq!(
            m.content,
            Content::Text("sy mau lapor timbangan curang".into())
        );
        let mms = parse(&p(&[
            ("From", "+62812"),
            ("MessageSid", "MM2"),
            ("NumMedia", "1"),
            ("MediaUrl0", "https://api.twilio.com/m/1"),
            ("MediaContentType0", "image/jpeg"),
        ]))
        .unwrap();
        assert!(matches!(mms.content, Content::Media { ref kind, .. } if kind == "image"));
        // Twilio's own media URL is kept as the message and media sids, to
        // be fetched with the account's credentials; any other as it is.
        for (url, reference) in [
            (
                "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM2/Media/ME3",
                "MM2/ME3",
            ),
            ("https://api.twilio.com/m/1", "https://api.twilio.com/m/1"),
            (
                "https://gateway.example/2010-04-01/Accounts/AC1/Messages/MM2/Media/../x",
                "https://gateway.example/2010-04-01/Accounts/AC1/Messages/MM2/Media/../x",
            ),
            ("bukan url", "bukan url"),
        ] {
            assert_eq!(media_reference(url), reference, "{url}");
        }
        assert_eq!(
            parse(&p(&[("Body", "x"), ("MessageSid", "1")])),
            Err("From")
        );
        assert_eq!(parse(&p(&[("From", "+1")])), Err("MessageSid"));
    }
}
