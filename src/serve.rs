//! `layan serve`: the HTTP server, assembled from the config.
//!
//! [`build`] returns the axum [`Router`] (so an office can mount Layan in
//! its own service) with the running [`Pipeline`]; [`run`] binds, serves,
//! and on SIGTERM or Ctrl-C stops accepting, lets what is in flight finish,
//! and leaves the rest in the store for the next start.
//!
//! Routes: `GET|POST /webhooks/whatsapp`, `POST /webhooks/telegram`
//! (webhook mode), `POST /webhooks/twilio`, `POST /webhooks/android-sms` —
//! each present when its channel is configured — `GET /chat` and its API,
//! `GET /healthz`, `GET /metrics`, and the operators' dashboard under
//! `/admin` ([`admin`]).

pub mod admin;
pub mod config;
pub mod watched;
pub mod webchat;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use layan_core::{Channel, Engine, Pack, Pipeline};
use tokio::sync::watch;

pub use self::config::Config;

/// How long shutdown waits for messages in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A built server: its routes and the pipeline behind them.
pub struct App {
    /// Every route.
    pub router: Router,
    /// The delivery pipeline.
    pub pipeline: Pipeline,
    stopper: Stopper,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Ends what never ends by itself: Telegram polling, the dashboard's live
/// streams, the web chat's waiting polls.
#[derive(Clone)]
struct Stopper {
    stop: watch::Sender<bool>,
    web: Arc<webchat::WebChat>,
}

impl Stopper {
    fn stop(&self) {
        let _ = self.stop.send(true);
        self.web.close();
    }
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("pipeline", &self.pipeline)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Ends what never ends by itself: Telegram polling, the dashboard's
    /// live streams and the web chat's waiting polls. Call it when the HTTP
    /// server starts its graceful shutdown, so that open pages do not hold
    /// it up.
    pub fn begin_shutdown(&self) {
        self.stopper.stop();
    }

    /// Stops background tasks (Telegram polling) and the pipeline, waiting
    /// at most `grace` for messages in flight.
    pub async fn shutdown(self, grace: Duration) {
        self.stopper.stop();
        self.pipeline.shutdown(grace).await;
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
        }
    }
}

fn load_pack(config: &Config) -> anyhow::Result<Pack> {
    match &config.pack.path {
        Some(path) => Pack::load(path).map_err(|e| anyhow::anyhow!("{e}")),
        None => crate::bundled::pack().map_err(|e| anyhow::anyhow!("{e}")),
    }
}

/// Builds the server: opens the store, loads the pack, starts the
/// pipeline (resuming what the store holds) and the configured channels.
///
/// # Errors
/// The store cannot be opened, the pack does not load, or a channel's
/// settings are wrong.
pub async fn build(config: &Config) -> anyhow::Result<App> {
    let chosen = config
        .store
        .backend
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|e: String| anyhow::anyhow!("[store] backend: {e}"))?;
    let backend = crate::pick_backend(chosen, &config.store.path);
    let store = crate::open_store(backend, &config.store.path)
        .with_context(|| format!("cannot open the store in {}", config.store.path.display()))?;
    let store = watched::Watched::new(store);
    let changes = store.subscribe();
    let pack = load_pack(config)?;
    let pack_state = Arc::new(admin::pack::PackState::default());
    let segments = pack.settings.sms_segments;
    tracing::info!(target: "layan::serve", pack = %pack.meta.id, version = %pack.meta.version, "pack loaded");
    let engine = Engine::builder().pack(pack).shared_store(store).build()?;
    // One client for every channel: WhatsApp posts through its lean path,
    // the others (and media downloads) through its reqwest half.
    let client = layan_core::http::Http::new(layan_core::http::HttpSettings {
        timeout: Duration::from_millis(config.delivery.send_timeout_ms.max(100)),
        ..layan_core::http::HttpSettings::default()
    })
    .map_err(|e| anyhow::anyhow!(e))?;
    let http = client.reqwest().clone();
    let public_url = config.public_url();

    let web = webchat::WebChat::new();
    let mut channels: Vec<Arc<dyn Channel>> = vec![web.clone()];
    let whatsapp = config
        .channels
        .whatsapp
        .clone()
        .map(|c| layan_whatsapp::WhatsApp::new(c, client.clone()));
    let telegram = match config.channels.telegram.clone() {
        Some(c) => {
            Some(layan_telegram::Telegram::new(c, http.clone()).map_err(|e| anyhow::anyhow!(e))?)
        }
        None => None,
    };
    let twilio = config
        .channels
        .twilio
        .clone()
        .map(|c| layan_sms::twilio::Twilio::new(c, &public_url, segments, http.clone()));
    let android = config
        .channels
        .android_sms
        .clone()
        .map(|c| layan_sms::android::AndroidSms::new(c, segments, http.clone()));
    if let Some(c) = &whatsapp {
        channels.push(c.clone());
    }
    if let Some(c) = &telegram {
        channels.push(c.clone());
    }
    if let Some(c) = &twilio {
        channels.push(c.clone());
    }
    if let Some(c) = &android {
        channels.push(c.clone());
    }
    let names: Vec<String> = channels.iter().map(|c| c.name().to_owned()).collect();
    let pipeline = Pipeline::start(engine, channels, config.delivery.pipeline()).await?;
    tracing::info!(target: "layan::serve", channels = ?names, "pipeline started");

    let (stop, stopped) = watch::channel(false);
    let dashboard = admin::Admin::new(
        pipeline.clone(),
        &config.admin,
        config.server.trusted_proxies.clone(),
        public_url.starts_with("https://"),
        config.store.path.join("audit.jsonl"),
        pack_state.clone(),
        admin::Live {
            changes,
            stopped: stopped.clone(),
        },
    );
    let mut router = Router::new()
        .route("/", get(|| async { axum::response::Redirect::to("/chat") }))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(pipeline.clone())
        .merge(webchat::router(web.clone(), pipeline.clone()))
        .merge(admin::router(dashboard));
    if let Some(c) = whatsapp {
        router = router.merge(layan_whatsapp::router(c, pipeline.clone()));
    }
    if let Some(c) = twilio {
        router = router.merge(layan_sms::twilio::router(c, pipeline.clone()));
    }
    if let Some(c) = android {
        router = router.merge(layan_sms::android::router(c, pipeline.clone()));
    }
    let mut tasks = Vec::new();
    if config.admin.watch_pack {
        // Returns at once for the bundled pack, which has no folder to watch.
        tasks.push(tokio::spawn(admin::pack::watch(
            pack_state,
            pipeline.engine().clone(),
            stopped.clone(),
        )));
    }
    if let Some(c) = telegram {
        match c.mode() {
            layan_telegram::Mode::Webhook => {
                router = router.merge(layan_telegram::router(c, pipeline.clone()));
            }
            layan_telegram::Mode::Polling => {
                let mut stopped = stopped.clone();
                let p = pipeline.clone();
                tasks.push(tokio::spawn(async move {
                    c.poll(p, async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    })
                    .await;
                }));
            }
        }
    }
    let router = router.layer(DefaultBodyLimit::max(config.server.max_body_bytes));
    Ok(App {
        router,
        pipeline,
        stopper: Stopper { stop, web },
        tasks,
    })
}

async fn healthz(State(pipeline): State<Pipeline>) -> Response {
    let key = layan_core::SessionKey::new("healthz", "healthz");
    match pipeline.engine().store().session(&key).await {
        Ok(_) => {
            let pack = pipeline.engine().pack();
            axum::Json(serde_json::json!({
                "status": "ok",
                "pack": pack.meta.id,
                "pack_version": pack.meta.version,
            }))
            .into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({ "status": "error", "error": e.to_string() })),
        )
            .into_response(),
    }
}

async fn metrics(State(pipeline): State<Pipeline>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        pipeline.metrics_text(),
    )
        .into_response()
}

/// Serves until SIGTERM or Ctrl-C, then shuts down gracefully.
///
/// # Errors
/// When the server cannot be built or the address cannot be bound.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let addr = config.listen_addr()?;
    let app = build(&config).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    eprintln!(
        "layan: serving on http://{local} — web chat at http://{local}/chat, dashboard at http://{local}/admin"
    );
    let stopper = app.stopper.clone();
    axum::serve(
        listener,
        app.router
            .clone()
            .into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        stopper.stop();
    })
    .await
    .context("server failed")?;
    eprintln!("layan: shutting down; messages in flight are finished or kept for the next start");
    app.shutdown(SHUTDOWN_GRACE).await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
