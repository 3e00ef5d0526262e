//! Plugging in a messenger Layan doesn't ship, in the office's own code.
//!
//! Many Indonesian offices reach WhatsApp through a local gateway with a
//! plain HTTP API: send with a token header, receive a webhook with
//! `sender` and `message` fields. This example implements Layan's
//! [`Channel`] trait for such a gateway, mounts its webhook next to Layan's
//! pipeline, and runs the whole loop against a mock gateway on loopback:
//!
//! ```text
//! cargo run --example custom_channel
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use layan::channel::constant_time_eq;
use layan::{
    Capabilities, Channel, Content, Engine, Inbound, Outgoing, Pipeline, PipelineConfig, SendError,
    Sent,
};

/// The gateway: where its API is, the token it wants, and the secret its
/// webhook carries.
struct Gateway {
    api: String,
    token: String,
    webhook_secret: String,
    http: reqwest::Client,
}

#[async_trait::async_trait]
impl Channel for Gateway {
    fn name(&self) -> &str {
        "wagateway"
    }

    /// The gateway sends plain text only: Layan turns buttons into numbered
    /// menus, and a reply of "2" chooses the second option.
    fn capabilities(&self) -> Capabilities {
        Capabilities::plain(4096)
    }

    async fn send(&self, user: &str, message: &Outgoing) -> Result<Sent, SendError> {
        let response = self
            .http
            .post(format!("{}/send", self.api))
            .header("Authorization", &self.token)
            .json(&serde_json::json!({ "target": user, "message": message.text() }))
            .send()
            .await
            .map_err(|e| SendError::transport(&e))?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if (200..300).contains(&status) && body["status"] == true {
            return Ok(Sent {
                provider_id: body["id"].as_str().map(str::to_owned),
            });
        }
        // 429 and 5xx are retried by the pipeline; anything else is final.
        Err(SendError::from_http_status(status, body.to_string()))
    }
}

/// The gateway's webhook: check the secret, read `sender` and `message`,
/// hand the message to the pipeline, and answer 200 only once it is stored.
async fn webhook(
    State((gateway, pipeline)): State<(Arc<Gateway>, Pipeline)>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let secret = headers
        .get("x-webhook-secret")
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if !constant_time_eq(secret, gateway.webhook_secret.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, "invalid secret");
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "malformed JSON");
    };
    let (Some(sender), Some(text), Some(id)) = (
        v["sender"].as_str(),
        v["message"].as_str(),
        v["id"].as_str(),
    ) else {
        return (
            StatusCode::BAD_REQUEST,
            "sender, message and id are required",
        );
    };
    let inbound = Inbound {
        channel: "wagateway".to_owned(),
        user: sender.to_owned(),
        // The gateway's id: the same on its retries, so Layan drops those.
        message_id: id.to_owned(),
        content: Content::Text(text.to_owned()),
        time: std::time::SystemTime::now(),
        profile_name: v["name"].as_str().map(str::to_owned),
    };
    match pipeline.submit(vec![inbound]).await {
        Ok(_) => (StatusCode::OK, "ok"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "try again"),
    }
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A mock of the gateway's API: records what it is asked to send.
    let outbox: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let recorded = outbox.clone();
    let mock = serve(Router::new().route(
        "/send",
        post(move |headers: HeaderMap, body: Bytes| {
            let recorded = recorded.clone();
            async move {
                assert_eq!(headers["authorization"], "token-kantor");
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                recorded.lock().unwrap().push(v);
                axum::Json(serde_json::json!({ "status": true, "id": "gw-1" }))
            }
        }),
    ))
    .await;

    // Layan with the office's own channel.
    let gateway = Arc::new(Gateway {
        api: mock,
        token: "token-kantor".to_owned(),
        webhook_secret: "rahasia-webhook".to_owned(),
        http: reqwest::Client::new(),
    });
    let engine = Engine::builder().pack(layan::bundled::pack()?).build()?;
    let pipeline = Pipeline::start(
        engine,
        vec![gateway.clone() as Arc<dyn Channel>],
        PipelineConfig::default(),
    )
    .await?;
    let url = serve(
        Router::new()
            .route("/webhooks/wagateway", post(webhook))
            .with_state((gateway, pipeline)),
    )
    .await;

    // The gateway delivers a citizen's message (twice: a retry is dropped).
    let http = reqwest::Client::new();
    for _ in 0..2 {
        let status = http
            .post(format!("{url}/webhooks/wagateway"))
            .header("x-webhook-secret", "rahasia-webhook")
            .json(&serde_json::json!({
                "id": "msg-0001",
                "sender": "6281234567890",
                "name": "Budi",
                "message": "gmn cara bikin izin usaha?"
            }))
            .send()
            .await?
            .status();
        println!("webhook answered {status}");
    }
    let wrong = http
        .post(format!("{url}/webhooks/wagateway"))
        .header("x-webhook-secret", "salah")
        .body("{}")
        .send()
        .await?
        .status();
    println!("a webhook with the wrong secret: {wrong}");

    for _ in 0..500 {
        if !outbox.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = outbox.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one answer for one message");
    println!(
        "the gateway was asked to send to {}:\n{}",
        sent[0]["target"],
        sent[0]["message"].as_str().unwrap_or_default()
    );
    Ok(())
}
