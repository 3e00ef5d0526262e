//! The HTTP client the channels send with.
//!
//! Every reply costs an HTTP request to the provider, so the send is half
//! of the HTTP work of each message. reqwest, on top of the pooled hyper
//! client it is built on, parses each request's URL again for its redirect
//! policy, formats and parses it once more for the response, and runs a
//! tower stack: in the webhook bench (`benches/webhook.rs`) that was about
//! a tenth of the server's CPU. [`Http::post`] sends through hyper-util's
//! pooled client directly, over rustls (ring, Mozilla's roots from
//! webpki-roots, as reqwest has them), with the same timeouts and user
//! agent.
//!
//! Proxies stay reqwest's. A destination that a proxy from the environment
//! applies to (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY`,
//! read as curl and reqwest read them) is posted through reqwest, which
//! tunnels or forwards it. [`Http::reqwest`] is that same client, for
//! everything else (media downloads, channels built on reqwest).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper_rustls::ConfigBuilderExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::proxy::matcher::Matcher;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::channel::SendError;

/// The `User-Agent` of every request Layan makes.
pub const USER_AGENT: &str = concat!("layan/", env!("CARGO_PKG_VERSION"));

/// How long the client waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpSettings {
    /// For a whole request: from sending it to the last byte of the answer.
    pub timeout: Duration,
    /// For a connection to be made.
    pub connect_timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A provider's answer: its status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The HTTP status.
    pub status: u16,
    /// The whole body.
    pub body: Bytes,
}

type Direct = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The channels' HTTP client; cheap to clone (clones share connections).
#[derive(Clone)]
pub struct Http {
    inner: Arc<Inner>,
}

struct Inner {
    direct: Direct,
    reqwest: reqwest::Client,
    proxies: Matcher,
    settings: HttpSettings,
    user_agent: HeaderValue,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl Http {
    /// A client waiting as `settings` says, through the proxies the
    /// environment names.
    ///
    /// # Errors
    /// When a TLS backend does not start.
    pub fn new(settings: HttpSettings) -> Result<Self, String> {
        let reqwest = reqwest_builder(settings)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Self::assemble(settings, Matcher::from_env(), reqwest)
    }

    /// A client that sends every request through `proxy`
    /// (`http://proxy.kantor.go.id:3128`), whatever the environment says.
    ///
    /// # Errors
    /// When `proxy` is not a proxy URL, or the client cannot be built.
    pub fn with_proxy(settings: HttpSettings, proxy: &str) -> Result<Self, String> {
        let reqwest = reqwest_builder(settings)
            .no_proxy()
            .proxy(
                reqwest::Proxy::all(proxy)
                    .map_err(|e| format!("`{proxy}` is not a proxy URL: {e}"))?,
            )
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let proxies = Matcher::builder().all(proxy.to_owned()).build();
        Self::assemble(settings, proxies, reqwest)
    }

    fn assemble(
        settings: HttpSettings,
        proxies: Matcher,
        reqwest: reqwest::Client,
    ) -> Result<Self, String> {
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(settings.connect_timeout));
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .with_webpki_roots()
        .with_no_client_auth();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let direct = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(https);
        Ok(Self {
            inner: Arc::new(Inner {
                direct,
                reqwest,
                proxies,
                settings,
                user_agent: HeaderValue::from_static(USER_AGENT),
            }),
        })
    }

    /// The reqwest client with the same settings and proxies, for what
    /// [`Http::post`] does not do.
    #[must_use]
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner.reqwest
    }

    /// POSTs `body` with `headers` to `uri` and reads the whole answer.
    /// Any status is an answer; a transport failure (refused, reset,
    /// timed out) is a retryable [`SendError`] (`network`, `timeout`).
    ///
    /// # Errors
    /// When no answer came.
    pub async fn post(
        &self,
        uri: &Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<HttpResponse, SendError> {
        if self.inner.proxies.intercept(uri).is_some() {
            return self.post_through_proxy(uri, headers, body).await;
        }
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;
        request
            .headers_mut()
            .insert(header::USER_AGENT, self.inner.user_agent.clone());
        let exchange = async {
            let response = self
                .inner
                .direct
                .request(request)
                .await
                .map_err(|e| network(uri, &e))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| network(uri, &e))?
                .to_bytes();
            Ok(HttpResponse { status, body })
        };
        match tokio::time::timeout(self.inner.settings.timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(SendError::retry(
                "timeout",
                format!(
                    "no answer from {uri} within {} ms",
                    self.inner.settings.timeout.as_millis()
                ),
            )),
        }
    }

    async fn post_through_proxy(
        &self,
        uri: &Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<HttpResponse, SendError> {
        let response = self
            .inner
            .reqwest
            .post(uri.to_string())
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::transport(&e))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| SendError::transport(&e))?;
        Ok(HttpResponse { status, body })
    }
}

/// reqwest with the settings: no retries of its own (the outbox retries,
/// with backoff, counted and dead-lettered; reqwest's default would clone
/// every request in case an HTTP/2 stream is refused, and these clients
/// speak HTTP/1.1).
fn reqwest_builder(settings: HttpSettings) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(USER_AGENT)
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .timeout(settings.timeout)
        .connect_timeout(settings.connect_timeout)
}

/// A transport failure, with every cause: hyper's own message alone
/// ("client error (Connect)") does not say what went wrong.
fn network(uri: &Uri, e: &(dyn std::error::Error + 'static)) -> SendError {
    let mut detail = format!("error sending request for url ({uri}): {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    SendError::retry("network", detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_a_retryable_network_error_that_says_why() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let http = Http::new(HttpSettings::default()).unwrap();
        let uri: Uri = format!("http://127.0.0.1:{port}/x").parse().unwrap();
        let e = http
            .post(&uri, HeaderMap::new(), Bytes::from_static(b"{}"))
            .await
            .unwrap_err();
        assert_eq!(e.reason(), "network");
        assert!(matches!(e, SendError::Retry { .. }), "{e}");
        let text = e.to_string();
        assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
        assert!(text.to_lowercase().contains("refused"), "{text}");
    }
}
