//! `layan serve` end to end over HTTP: signed webhooks in, mock provider
//! APIs on loopback out, asserting exactly what each provider receives.
//! Payloads follow each provider's documented examples.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::StatusCode;
use layan::serve::{App, Config};
use serde_json::{Value, json};

use crate::mock::Mock;
use crate::util::until;

const ECHO_PACK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/echo");
const APP_SECRET: &str = "rahasia-aplikasi";
const PNID: &str = "106540352242922";

/// A running server on loopback with its own data folder.
pub struct Server {
    pub url: String,
    pub app: App,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts `layan serve` with `channels` (TOML) on the echo pack.
    pub async fn start(channels: &str) -> Self {
        Self::start_with(ECHO_PACK, "", channels).await
    }

    /// Starts `layan serve` on `pack`, with `server` added to its `[server]`
    /// section and `sections` (channels, dashboard users) after the rest;
    /// clients' addresses reach the server as in `layan serve`.
    pub async fn start_with(pack: &str, server: &str, sections: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            r#"
            [server]
            listen = "127.0.0.1:0"
            public_url = "{url}"
            max_body_bytes = 65536
            {server}
            [store]
            path = "{store}"
            [pack]
            path = "{pack}"
            [delivery]
            burst_window_ms = 200
            backoff_base_ms = 20
            backoff_max_ms = 200
            max_attempts = 30
            send_timeout_ms = 2000
            {sections}
            "#,
            store = dir.path().join("data").display(),
        );
        let config = Config::parse(&text, &|_| None).unwrap();
        let app = layan::serve::build(&config).await.unwrap();
        let router = app.router.clone();
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            .unwrap();
        });
        Self {
            url,
            app,
            http: reqwest::Client::new(),
            dir,
        }
    }

    pub async fn post(
        &self,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let mut r = self.http.post(format!("{}{path}", self.url)).body(body);
        for (k, v) in headers {
            r = r.header(*k, v);
        }
        let response = r.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    pub fn store(&self) -> &std::sync::Arc<dyn layan::Store> {
        self.app.pipeline.engine().store()
    }

    pub fn metrics(&self) -> String {
        self.app.pipeline.metrics_text()
    }
}

pub fn whatsapp_section(api: &str) -> String {
    format!(
        r#"
        [channels.whatsapp]
        phone_number_id = "{PNID}"
        access_token = "EAAG-token"
        app_secret = "{APP_SECRET}"
        verify_token = "token-verifikasi"
        api_base = "{api}/v23.0"
        "#
    )
}

/// A webhook body with one text message, as Meta documents it.
pub fn wa_text(from: &str, id: &str, text: &str) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "102290129340398",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550783881", "phone_number_id": PNID },
                    "contacts": [{ "profile": { "name": "Budi" }, "wa_id": from }],
                    "messages": [{ "from": from, "id": id, "timestamp": "1764150000", "type": "text", "text": { "body": text } }]
                }
            }]
        }]
    })
    .to_string()
    .into_bytes()
}

pub fn wa_signed(body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".to_owned()),
        (
            "x-hub-signature-256",
            layan_whatsapp::WhatsApp::signature(APP_SECRET, body),
        ),
    ]
}

/// The Graph API's answer to a send.
pub fn graph_ok(n: usize) -> (StatusCode, String) {
    (
        StatusCode::OK,
        json!({
            "messaging_product": "whatsapp",
            "contacts": [{ "input": "x", "wa_id": "x" }],
            "messages": [{ "id": format!("wamid.OUT{n}") }]
        })
        .to_string(),
    )
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(400)).await;
}

#[tokio::test]
async fn whatsapp_handshake_signatures_and_limits() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let s = Server::start(&whatsapp_section(&graph.url)).await;
    let get = |q: &str| {
        let url = format!("{}/webhooks/whatsapp?{q}", s.url);
        let http = s.http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        get("hub.mode=subscribe&hub.verify_token=token-verifikasi&hub.challenge=1158201444").await,
        (200, "1158201444".to_owned())
    );
    assert_eq!(
        get("hub.mode=subscribe&hub.verify_token=salah&hub.challenge=1")
            .await
            .0,
        403
    );
    assert_eq!(
        get("hub.mode=unsubscribe&hub.verify_token=token-verifikasi&hub.challenge=1")
            .await
            .0,
        403
    );

    let body = wa_text("6281234567890", "wamid.A1", "pesan 1");
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, Vec<u8>, u16);
    let cases: Vec<Case> = vec![
        ("no signature", vec![], body.clone(), 401),
        (
            "wrong secret",
            vec![(
                "x-hub-signature-256",
                layan_whatsapp::WhatsApp::signature("lain", &body),
            )],
            body.clone(),
            401,
        ),
        (
            "not hex",
            vec![("x-hub-signature-256", "sha256=xyz".to_owned())],
            body.clone(),
            401,
        ),
        (
            "malformed JSON, signed",
            wa_signed(b"{not json"),
            b"{not json".to_vec(),
            400,
        ),
        (
            "over max_body_bytes",
            wa_signed(&vec![b' '; 70_000]),
            vec![b' '; 70_000],
            413,
        ),
    ];
    for (what, headers, body, want) in cases {
        assert_eq!(
            s.post("/webhooks/whatsapp", &headers, body).await.0,
            want,
            "{what}"
        );
    }
    // Meta escapes non-ASCII; the signature is over those exact bytes.
    let escaped = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"from":"628111","id":"wamid.E","timestamp":"1764150000","type":"text","text":{"body":"caf\u00e9 pesan 5"}}]}}]}]}"#;
    assert_eq!(
        s.post("/webhooks/whatsapp", &wa_signed(escaped), escaped.to_vec())
            .await
            .0,
        200
    );
    // Unknown kinds are ignored and counted, never a 500.
    let reaction = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messages": [{"from": "628111", "id": "wamid.R", "timestamp": "1764150000", "type": "reaction", "reaction": {"message_id": "wamid.OUT1", "emoji": "👍"}}]}}]}]})
        .to_string()
        .into_bytes();
    assert_eq!(
        s.post("/webhooks/whatsapp", &wa_signed(&reaction), reaction)
            .await
            .0,
        200
    );
    settle().await;
    assert!(
        s.metrics()
            .contains(r#"layan_ignored_total{channel="whatsapp",reason="type:reaction"} 1"#),
        "{}",
        s.metrics()
    );
    assert!(
        graph.requests().len() <= 1,
        "only the escaped message was answered"
    );
}

#[tokio::test]
async fn whatsapp_replies_reach_the_graph_api_exactly_once() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let s = Server::start(&whatsapp_section(&graph.url)).await;
    let body = wa_text("6281234567890", "wamid.HBgM1", "pesan 1");
    for _ in 0..3 {
        // Meta retries a delivery it thinks failed: answered once.
        assert_eq!(
            s.post("/webhooks/whatsapp", &wa_signed(&body), body.clone())
                .await
                .0,
            200
        );
    }
    let sent = graph.wait_for(1).await;
    assert_eq!(sent[0].path, format!("/v23.0/{PNID}/messages"));
    assert_eq!(
        sent[0].header("authorization").as_deref(),
        Some("Bearer EAAG-token")
    );
    assert_eq!(
        sent[0].header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        sent[0].header("user-agent"),
        Some(layan_core::http::USER_AGENT.to_owned())
    );
    assert_eq!(
        sent[0].json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "6281234567890",
            "type": "text",
            "text": { "preview_url": false, "body": "terima 1" }
        })
    );
    // Four options are more than three buttons: a list.
    let menu = wa_text("6281234567890", "wamid.HBgM2", "menu");
    assert_eq!(
        s.post("/webhooks/whatsapp", &wa_signed(&menu), menu)
            .await
            .0,
        200
    );
    let sent = graph.wait_for(2).await;
    assert_eq!(
        sent[1].json(),
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "6281234567890",
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": { "text": "Pilih layanan:" },
                "action": {
                    "button": "Pilih",
                    "sections": [{ "title": "Pilihan", "rows": [
                        { "id": "gema", "title": "Gema" },
                        { "id": "satu", "title": "Satu" },
                        { "id": "dua", "title": "Dua" },
                        { "id": "tiga", "title": "Tiga" }
                    ]}]
                }
            }
        })
    );
    // The citizen picks a row: a list_reply comes back.
    let pick = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "contacts": [{"profile": {"name": "Budi"}, "wa_id": "6281234567890"}],
        "messages": [{"from": "6281234567890", "id": "wamid.HBgM3", "timestamp": "1764150001", "type": "interactive",
            "interactive": {"type": "list_reply", "list_reply": {"id": "dua", "title": "Dua"}}}]}}]}]})
    .to_string()
    .into_bytes();
    assert_eq!(
        s.post("/webhooks/whatsapp", &wa_signed(&pick), pick)
            .await
            .0,
        200
    );
    let sent = graph.wait_for(3).await;
    assert_eq!(sent[2].json()["text"]["body"], "Anda memilih dua.");
    // Delivery statuses are recorded against what was sent.
    let status = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "statuses": [{"id": "wamid.OUT0", "status": "read", "timestamp": "1764150100", "recipient_id": "6281234567890"}]}}]}]})
    .to_string()
    .into_bytes();
    assert_eq!(
        s.post("/webhooks/whatsapp", &wa_signed(&status), status)
            .await
            .0,
        200
    );
    let d = s
        .store()
        .delivery("whatsapp", "wamid.OUT0")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.status.as_str(), d.user.as_str()),
        ("read", "6281234567890")
    );
    settle().await;
    assert_eq!(graph.requests().len(), 3, "nothing twice");
    let transcript = s.store().transcript(0).await.unwrap();
    assert_eq!(transcript.iter().filter(|l| l.text == "pesan 1").count(), 1);
}

/// An office behind a proxy (`HTTPS_PROXY` and the like) still reaches
/// the Graph API: a send a proxy applies to goes through the proxy, as a
/// request for the Graph API's own URL.
#[tokio::test]
async fn whatsapp_sends_through_a_proxy_when_one_applies() {
    let proxy = Mock::start(|_, n| graph_ok(n)).await;
    let http =
        layan_core::http::Http::with_proxy(layan_core::http::HttpSettings::default(), &proxy.url)
            .unwrap();
    let config: layan_whatsapp::WhatsAppConfig = toml::from_str(&format!(
        r#"
        phone_number_id = "{PNID}"
        access_token = "EAAG-token"
        app_secret = "{APP_SECRET}"
        verify_token = "v"
        api_base = "http://graph.facebook.test/v23.0"
        "#
    ))
    .unwrap();
    let wa = layan_whatsapp::WhatsApp::new(config, http);
    let sent = layan_core::Channel::send(
        wa.as_ref(),
        "6281234567890",
        &layan_core::render::Outgoing::Text("halo".into()),
    )
    .await
    .unwrap();
    assert_eq!(sent.provider_id.as_deref(), Some("wamid.OUT0"));
    let got = proxy.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].target,
        format!("http://graph.facebook.test/v23.0/{PNID}/messages")
    );
    assert_eq!(
        got[0].header("host").as_deref(),
        Some("graph.facebook.test")
    );
    assert_eq!(
        got[0].header("authorization").as_deref(),
        Some("Bearer EAAG-token")
    );
    assert_eq!(got[0].json()["text"]["body"], "halo");
}

#[tokio::test]
async fn whatsapp_outside_the_24_hour_window_is_dead_lettered_not_retried() {
    let graph = Mock::start(|_, _| {
        (
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException", "code": 131047,
                "error_data": {"messaging_product": "whatsapp", "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                "fbtrace_id": "A1"}})
            .to_string(),
        )
    })
    .await;
    let s = Server::start(&whatsapp_section(&graph.url)).await;
    let body = wa_text("6281234567890", "wamid.OLD", "pesan 9");
    assert_eq!(
        s.post("/webhooks/whatsapp", &wa_signed(&body), body)
            .await
            .0,
        200
    );
    graph.wait_for(1).await;
    settle().await;
    assert_eq!(graph.requests().len(), 1, "a final error is not retried");
    let dead = s.store().dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].reason, "outside_24h_window");
    assert_eq!(dead[0].message.text, "terima 9");
    assert!(s.store().outbox().await.unwrap().is_empty());
    assert!(
        s.metrics().contains(
            r#"layan_dead_letters_total{channel="whatsapp",reason="outside_24h_window"} 1"#
        )
    );
}

#[tokio::test]
async fn a_provider_storm_delivers_everything_once_in_order() {
    // 429s, then 500s, then a timeout-free recovery.
    let graph = Mock::start(|_, n| match n {
        0..=9 => (
            StatusCode::BAD_REQUEST,
            json!({"error": {"message": "Rate limit hit", "code": 130429}}).to_string(),
        ),
        10..=19 => (StatusCode::INTERNAL_SERVER_ERROR, "{}".to_owned()),
        _ => graph_ok(n),
    })
    .await;
    let s = Server::start(&whatsapp_section(&graph.url)).await;
    let citizens: Vec<String> = (0..5).map(|c| format!("62812{c:07}")).collect();
    for i in 0..4 {
        for c in &citizens {
            let body = wa_text(c, &format!("wamid.{c}.{i}"), &format!("pesan {i}"));
            assert_eq!(
                s.post("/webhooks/whatsapp", &wa_signed(&body), body)
                    .await
                    .0,
                200
            );
        }
    }
    let ok = |r: &crate::mock::Request, n: usize| n >= 20 && r.path.ends_with("/messages");
    until("every reply delivered after the storm", || {
        let requests = graph.requests();
        requests
            .iter()
            .enumerate()
            .filter(|(n, r)| ok(r, *n))
            .count()
            >= 20
    })
    .await;
    settle().await;
    let requests = graph.requests();
    for c in &citizens {
        let got: Vec<String> = requests
            .iter()
            .enumerate()
            .filter(|(n, r)| ok(r, *n) && r.json()["to"] == c.as_str())
            .map(|(_, r)| r.json()["text"]["body"].as_str().unwrap().to_owned())
            .collect();
        let want: Vec<String> = (0..4).map(|i| format!("terima {i}")).collect();
        assert_eq!(got, want, "{c}: everything, once, in order");
    }
    assert!(s.store().outbox().await.unwrap().is_empty());
    assert!(s.store().dead_letters().await.unwrap().is_empty());
    let m = s.metrics();
    assert!(
        m.contains(r#"layan_send_failures_total{channel="whatsapp",reason="rate_limited"} 10"#),
        "{m}"
    );
    assert!(
        m.contains(r#"layan_send_failures_total{channel="whatsapp",reason="server_error"} 10"#),
        "{m}"
    );
}

fn telegram_section(api: &str, mode: &str) -> String {
    format!(
        r#"
        [channels.telegram]
        token = "123456:ABC-token"
        mode = "{mode}"
        secret_token = "rahasia-telegram"
        api_url = "{api}"
        "#
    )
}

/// The Bot API's answer: a sent message for sendMessage, `true` otherwise.
fn bot_api(r: &crate::mock::Request, n: usize) -> (StatusCode, String) {
    let method = r.path.rsplit('/').next().unwrap_or_default().to_lowercase();
    let result = match method.as_str() {
        "sendmessage" => {
            let chat = r.json()["chat_id"].clone();
            json!({"message_id": 1000 + n, "date": 1_764_150_000, "chat": {"id": chat, "type": "private", "first_name": "Budi"}, "text": "ok"})
        }
        "getupdates" => json!([]),
        _ => json!(true),
    };
    (
        StatusCode::OK,
        json!({"ok": true, "result": result}).to_string(),
    )
}

fn tg_message(update_id: u64, text: &str) -> Vec<u8> {
    json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": {"id": 42, "is_bot": false, "first_name": "Budi", "language_code": "id"},
            "chat": {"id": 42, "first_name": "Budi", "type": "private"},
            "date": 1_764_150_000,
            "text": text
        }
    })
    .to_string()
    .into_bytes()
}

fn sends(mock: &Mock) -> Vec<Value> {
    mock.requests()
        .iter()
        .filter(|r| r.path.to_lowercase().ends_with("/sendmessage"))
        .map(crate::mock::Request::json)
        .collect()
}

#[tokio::test]
async fn telegram_webhook_text_commands_and_buttons() {
    let api = Mock::start(bot_api).await;
    let s = Server::start(&telegram_section(&api.url, "webhook")).await;
    let secret = |v: &str| {
        vec![
            ("content-type", "application/json".to_owned()),
            ("x-telegram-bot-api-secret-token", v.to_owned()),
        ]
    };
    let body = tg_message(5001, "pesan 3");
    assert_eq!(s.post("/webhooks/telegram", &[], body.clone()).await.0, 401);
    assert_eq!(
        s.post("/webhooks/telegram", &secret("salah"), body.clone())
            .await
            .0,
        401
    );
    assert_eq!(
        s.post(
            "/webhooks/telegram",
            &secret("rahasia-telegram"),
            b"{".to_vec()
        )
        .await
        .0,
        400
    );
    assert_eq!(
        s.post(
            "/webhooks/telegram",
            &secret("rahasia-telegram"),
            body.clone()
        )
        .await
        .0,
        200
    );
    assert_eq!(
        s.post("/webhooks/telegram", &secret("rahasia-telegram"), body)
            .await
            .0,
        200,
        "a redelivery"
    );
    api.wait_for(1).await;
    let sent = sends(&api);
    assert_eq!(sent[0]["chat_id"], 42);
    assert_eq!(sent[0]["text"], "terima 3");
    assert!(api.requests()[0].path.starts_with("/bot123456:ABC-token/"));
    // /start opens the menu, with an inline keyboard of short ids.
    let start = tg_message(5002, "/start");
    assert_eq!(
        s.post("/webhooks/telegram", &secret("rahasia-telegram"), start)
            .await
            .0,
        200
    );
    until("the menu", || sends(&api).len() >= 2).await;
    let sent = sends(&api);
    assert_eq!(sent[1]["text"], "Pilih layanan:");
    let keyboard = &sent[1]["reply_markup"]["inline_keyboard"];
    assert_eq!(
        keyboard[0][0],
        json!({"text": "Gema", "callback_data": "gema"})
    );
    assert_eq!(
        keyboard[3][0],
        json!({"text": "Tiga", "callback_data": "tiga"})
    );
    // A press: answered (the spinner stops) and handled.
    let press = json!({"update_id": 5003, "callback_query": {
        "id": "4382bfdwdsb323b2d9", "chat_instance": "-1", "data": "satu",
        "from": {"id": 42, "is_bot": false, "first_name": "Budi"},
        "message": {"message_id": 1001, "date": 1_764_150_000, "chat": {"id": 42, "type": "private", "first_name": "Budi"}, "text": "Pilih layanan:"}}})
    .to_string()
    .into_bytes();
    assert_eq!(
        s.post("/webhooks/telegram", &secret("rahasia-telegram"), press)
            .await
            .0,
        200
    );
    until("the answer to the press", || sends(&api).len() >= 3).await;
    assert_eq!(sends(&api)[2]["text"], "Anda memilih satu.");
    let answered = api.requests().iter().any(|r| {
        r.path.to_lowercase().ends_with("/answercallbackquery")
            && r.json()["callback_query_id"] == "4382bfdwdsb323b2d9"
    });
    assert!(answered, "the callback query is answered");
    settle().await;
    assert_eq!(sends(&api).len(), 3, "nothing twice");
}

#[tokio::test]
async fn telegram_long_polling_confirms_updates_after_persisting() {
    let update = json!({"update_id": 777, "message": {"message_id": 1, "date": 1_764_150_000,
        "from": {"id": 43, "is_bot": false, "first_name": "Sari"},
        "chat": {"id": 43, "type": "private", "first_name": "Sari"}, "text": "pesan 7"}});
    let api = Mock::start(move |r, n| {
        let method = r.path.rsplit('/').next().unwrap_or_default().to_lowercase();
        if method == "getupdates" {
            let offset = r.json()["offset"].as_i64().unwrap_or(0);
            let result = if offset <= 777 {
                json!([update.clone()])
            } else {
                json!([])
            };
            if offset > 777 {
                std::thread::sleep(Duration::from_millis(50));
            }
            return (
                StatusCode::OK,
                json!({"ok": true, "result": result}).to_string(),
            );
        }
        bot_api(r, n)
    })
    .await;
    let _s = Server::start(&telegram_section(&api.url, "polling")).await;
    until("the polled update's answer", || !sends(&api).is_empty()).await;
    let sent = sends(&api);
    assert_eq!(sent.len(), 1, "the update fetched once is answered once");
    assert_eq!(
        (sent[0]["chat_id"].clone(), sent[0]["text"].clone()),
        (json!(43), json!("terima 7"))
    );
    let offsets: Vec<i64> = api
        .requests()
        .iter()
        .filter(|r| r.path.to_lowercase().ends_with("/getupdates"))
        .map(|r| r.json()["offset"].as_i64().unwrap_or(0))
        .collect();
    assert!(
        offsets.contains(&778),
        "confirmed with the next offset: {offsets:?}"
    );
}

fn twilio_section(api: &str) -> String {
    format!(
        r#"
        [channels.twilio]
        account_sid = "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
        auth_token = "token-twilio"
        from = "+15005550006"
        api_base = "{api}"
        "#
    )
}

fn twilio_form(pairs: &[(&str, &str)]) -> (Vec<(String, String)>, Vec<u8>) {
    let params: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    (params, body.into_bytes())
}

#[tokio::test]
async fn twilio_sms_in_and_out() {
    let api = Mock::start(|_, n| {
        (
            StatusCode::CREATED,
            json!({"sid": format!("SM{n:032}"), "status": "queued"}).to_string(),
        )
    })
    .await;
    let s = Server::start(&twilio_section(&api.url)).await;
    let url = format!("{}/webhooks/twilio", s.url);
    let signed = |params: &[(String, String)]| {
        vec![
            (
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            ),
            (
                "x-twilio-signature",
                layan_sms::twilio::Twilio::signature("token-twilio", &url, params),
            ),
        ]
    };
    let (params, body) = twilio_form(&[
        ("ToCountry", "ID"),
        ("SmsMessageSid", "SM11"),
        ("NumMedia", "0"),
        ("Body", "jawaban panjang"),
        ("From", "+6281234567890"),
        ("To", "+15005550006"),
        ("MessageSid", "SM11"),
        ("AccountSid", "ACXX"),
        ("NumSegments", "1"),
    ]);
    assert_eq!(s.post("/webhooks/twilio", &[], body.clone()).await.0, 401);
    let big = vec![b'a'; 70_000];
    let (status, _) = s.post("/webhooks/twilio", &signed(&[]), big).await;
    assert_eq!(status, 413, "over max_body_bytes");
    let mut tampered = params.clone();
    tampered[3].1 = "lain".into();
    assert_eq!(
        s.post("/webhooks/twilio", &signed(&tampered), body.clone())
            .await
            .0,
        401
    );
    let (status, twiml) = s.post("/webhooks/twilio", &signed(&params), body).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Response></Response>"), "{twiml}");
    let sent = api.wait_for(1).await;
    assert_eq!(
        sent[0].path,
        "/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Messages.json"
    );
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:token-twilio",
    );
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Basic {auth}"))
    );
    assert_eq!(sent[0].field("To").as_deref(), Some("+6281234567890"));
    assert_eq!(sent[0].field("From").as_deref(), Some("+15005550006"));
    let first = sent[0].field("Body").unwrap();
    assert!(layan_sms::gsm::is_gsm7(&first), "{first}");
    assert!(
        layan_sms::gsm::segment_count(&first) <= 2,
        "within the pack's budget: {first}"
    );
    assert!(
        first.ends_with("(Balas LANJUT untuk membaca selanjutnya.)"),
        "{first}"
    );
    // LANJUT brings the rest.
    let (params, body) = twilio_form(&[
        ("From", "+6281234567890"),
        ("To", "+15005550006"),
        ("Body", "LANJUT"),
        ("MessageSid", "SM12"),
    ]);
    assert_eq!(
        s.post("/webhooks/twilio", &signed(&params), body).await.0,
        200
    );
    let sent = api.wait_for(2).await;
    assert!(
        sent[1].field("Body").unwrap().contains("Kalimat keenam"),
        "{:?}",
        sent[1].field("Body")
    );
    // Signed but without a sender: a clear 400.
    let (params, body) = twilio_form(&[("Body", "halo"), ("MessageSid", "SM13")]);
    let (status, text) = s.post("/webhooks/twilio", &signed(&params), body).await;
    assert_eq!((status, text.as_str()), (400, "missing field From"));
}

fn android_section(api: &str) -> String {
    format!(
        r#"
        [channels.android_sms]
        url = "{api}/3rdparty/v1"
        username = "sms"
        password = "sandi"
        signing_key = "kunci-webhook"
        "#
    )
}

#[tokio::test]
async fn android_gateway_sms_in_and_out() {
    let api = Mock::start(|_, n| {
        (
            StatusCode::ACCEPTED,
            json!({"id": format!("msg{n}"), "state": "Pending", "recipients": []}).to_string(),
        )
    })
    .await;
    let s = Server::start(&android_section(&api.url)).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let event = |id: &str, received: &str, text: &str| {
        json!({"deviceId": "ffffffffceb0b1db0000018e937c815b", "event": "sms:received", "id": id,
            "payload": {"messageId": "abc", "message": text, "phoneNumber": "+6281234567890", "simNumber": 1, "receivedAt": received},
            "webhookId": "LreFUt-Z3sSq0JufY9uWB"})
        .to_string()
        .into_bytes()
    };
    let signed = |body: &[u8], ts: u64| {
        vec![
            ("content-type", "application/json".to_owned()),
            ("x-timestamp", ts.to_string()),
            (
                "x-signature",
                layan_sms::android::AndroidSms::signature("kunci-webhook", body, &ts.to_string()),
            ),
        ]
    };
    let body = event("e1", "2026-11-26T10:00:00.000+07:00", "pesan 4");
    assert_eq!(
        s.post("/webhooks/android-sms", &[], body.clone()).await.0,
        401
    );
    assert_eq!(
        s.post(
            "/webhooks/android-sms",
            &signed(&body, now - 3_600),
            body.clone()
        )
        .await
        .0,
        401,
        "stale"
    );
    let oops = b"{oops".to_vec();
    let (status, _) = s
        .post("/webhooks/android-sms", &signed(&oops, now), oops)
        .await;
    assert_eq!(status, 400, "malformed");
    let big = vec![b' '; 70_000];
    let (status, _) = s
        .post("/webhooks/android-sms", &signed(&big, now), big)
        .await;
    assert_eq!(status, 413, "over max_body_bytes");
    assert_eq!(
        s.post("/webhooks/android-sms", &signed(&body, now), body.clone())
            .await
            .0,
        200
    );
    assert_eq!(
        s.post("/webhooks/android-sms", &signed(&body, now), body)
            .await
            .0,
        200,
        "a retry"
    );
    // The same text again, later: the gateway gives it the same messageId, yet it is new.
    let again = event("e2", "2026-11-26T10:07:00.000+07:00", "pesan 4");
    assert_eq!(
        s.post("/webhooks/android-sms", &signed(&again, now), again)
            .await
            .0,
        200
    );
    let sent = api.wait_for(2).await;
    assert_eq!(sent[0].path, "/3rdparty/v1/message");
    let auth = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "sms:sandi");
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Basic {auth}"))
    );
    assert_eq!(
        sent[0].json(),
        json!({"textMessage": {"text": "terima 4"}, "phoneNumbers": ["+6281234567890"]})
    );
    let other = json!({"event": "sms:delivered", "payload": {"messageId": "x"}})
        .to_string()
        .into_bytes();
    assert_eq!(
        s.post("/webhooks/android-sms", &signed(&other, now), other)
            .await
            .0,
        200
    );
    settle().await;
    assert_eq!(
        api.requests().len(),
        2,
        "the retry was dropped, the second SMS answered"
    );
}

#[tokio::test]
async fn web_chat_answers_through_the_pipeline() {
    let s = Server::start("").await;
    let page = s.http.get(format!("{}/chat", s.url)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("<form id=\"form\""));
    let user = "pengunjung-0001";
    let json_header = [("content-type", "application/json".to_owned())];
    let post = |body: Value| {
        s.post(
            "/chat/api/messages",
            &json_header,
            body.to_string().into_bytes(),
        )
    };
    assert_eq!(post(json!({"user": user, "text": "menu"})).await.0, 202);
    let poll = |after: u64| {
        let url = format!(
            "{}/chat/api/messages?user={user}&after={after}&wait=5",
            s.url
        );
        let http = s.http.clone();
        async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let got = poll(0).await;
    assert_eq!(got["messages"][0]["text"], "Pilih layanan:");
    assert_eq!(
        got["messages"][0]["buttons"][1],
        json!({"title": "Satu", "payload": "satu"})
    );
    assert_eq!(post(json!({"user": user, "payload": "satu"})).await.0, 202);
    let got = poll(1).await;
    assert_eq!(got["messages"][0]["text"], "Anda memilih satu.");
    assert_eq!(post(json!({"user": "x", "text": "a"})).await.0, 400);
    assert_eq!(post(json!({"user": user})).await.0, 400);
    assert_eq!(
        post(json!({"user": user, "text": "a".repeat(3_000)}))
            .await
            .0,
        413
    );
    let health: Value = s
        .http
        .get(format!("{}/healthz", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let metrics = s
        .http
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"layan_messages_in_total{channel="web"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains("layan_handle_seconds_bucket"), "{metrics}");
    assert!(metrics.contains("layan_outbox_depth"), "{metrics}");
}

#[tokio::test]
async fn a_ticket_status_change_reaches_the_citizen_on_the_channel_it_came_from() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let s = Server::start(&whatsapp_section(&graph.url)).await;
    // A complaint filed earlier over WhatsApp.
    let ticket = layan::Ticket {
        id: "ADU-2026-000007".into(),
        form: "aduan".into(),
        channel: "whatsapp".into(),
        user: "6281234567890".into(),
        fields: Default::default(),
        status: layan::TicketStatus::Baru,
        history: Vec::new(),
        created_ms: 1,
        due_ms: 2,
    };
    crate::admin::save_ticket(s.store(), ticket).await;
    s.app
        .pipeline
        .engine()
        .set_ticket_status(
            "ADU-2026-000007",
            layan::TicketStatus::Diproses,
            "sari",
            "Petugas akan meninjau lokasi.",
        )
        .await
        .unwrap();
    // An operator's action wakes the sender (the dashboard will); without
    // it the sender finds the message on its next look within seconds.
    s.app.pipeline.wake();
    let sent = graph.wait_for(1).await;
    let body = sent[0].json();
    assert_eq!(body["to"], "6281234567890");
    let text = body["text"]["body"].as_str().unwrap();
    assert!(
        text.contains("ADU-2026-000007") && text.contains("Petugas akan meninjau lokasi."),
        "{text}"
    );
}

#[tokio::test]
async fn telegram_photos_are_fetched_with_get_file() {
    let api = Mock::start(|r, n| {
        if r.path.to_lowercase().ends_with("/getfile") {
            let result = json!({"file_id": "AgAC-foto", "file_unique_id": "u1", "file_size": 9, "file_path": "photos/file_7.jpg"});
            (StatusCode::OK, json!({"ok": true, "result": result}).to_string())
        } else if r.path == "/file/bot123456:ABC-token/photos/file_7.jpg" {
            (StatusCode::OK, "FOTO-BYTE".to_owned())
        } else {
            bot_api(r, n)
        }
    })
    .await;
    let s = Server::start(&telegram_section(&api.url, "webhook")).await;
    let telegram = s.app.pipeline.channel("telegram").unwrap();
    let media = telegram.media("AgAC-foto").await.unwrap().unwrap();
    assert_eq!(media.content_type, "image/jpeg");
    assert_eq!(media.bytes, b"FOTO-BYTE");
    let asked = api
        .requests()
        .into_iter()
        .find(|r| r.path.to_lowercase().ends_with("/getfile"))
        .unwrap();
    assert!(
        String::from_utf8_lossy(&asked.body).contains("AgAC-foto"),
        "getFile asks for the citizen's file"
    );
    // The web chat has no files to fetch.
    let web = s.app.pipeline.channel("web").unwrap();
    assert_eq!(web.media("x").await.unwrap(), None);
}
