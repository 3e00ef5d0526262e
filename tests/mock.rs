//! A provider API on loopback for the channel tests: records every request
//! and answers as the test scripts it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request the mock received.
#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    /// The request target as sent: a path, or a whole URL when the mock
    /// is addressed as a proxy.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as form fields.
    pub fn form(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(&self.body).into_owned().collect()
    }

    /// A form field.
    pub fn field(&self, name: &str) -> Option<String> {
        self.form()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// How the mock answers the `n`-th request (0-based) it receives.
pub type Script = dyn Fn(&Request, usize) -> (StatusCode, String) + Send + Sync;

#[derive(Clone)]
struct Shared {
    log: Arc<Mutex<Vec<Request>>>,
    script: Arc<Script>,
}

/// A running mock.
pub struct Mock {
    pub url: String,
    log: Arc<Mutex<Vec<Request>>>,
}

impl Mock {
    /// Starts a mock answering with `script`.
    pub async fn start(
        script: impl Fn(&Request, usize) -> (StatusCode, String) + Send + Sync + 'static,
    ) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let shared = Shared {
            log: log.clone(),
            script: Arc::new(script),
        };
        let app = Router::new().fallback(record).with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { url, log }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (ten seconds at most).
    pub async fn wait_for(&self, n: usize) -> Vec<Request> {
        for _ in 0..1_000 {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "the mock got {} requests, expected {n}: {:#?}",
            self.requests().len(),
            self.requests()
                .iter()
                .map(|r| (
                    r.path.clone(),
                    String::from_utf8_lossy(&r.body).into_owned()
                ))
                .collect::<Vec<_>>()
        );
    }
}

async fn record(
    State(shared): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = Request {
        path: uri.path().to_owned(),
        target: uri.to_string(),
        headers,
        body,
    };
    let n = {
        let mut log = shared.log.lock().unwrap();
        log.push(request.clone());
        log.len() - 1
    };
    let (status, body) = (shared.script)(&request, n);
    (status, [("content-type", "application/json")], body).into_response()
}
