//! The operators' dashboard at `/admin`: the hand-off inbox (live, over
//! server-sent events), tickets, statistics, the pack, and the audit log.
//!
//! Plain server-rendered HTML in Bahasa Indonesia, one small script for the
//! live parts, SVG charts drawn on the server. Every route but the login
//! page and the static assets needs a login; every state-changing request
//! needs the login's CSRF token (checked once, in [`guard`], for all of
//! them); every action is written to the audit log.

pub mod auth;
mod charts;
pub mod html;
pub mod pack;
mod pages;
pub mod stats;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use layan_core::Pipeline;

use self::auth::{Audit, Auth, COOKIE, Login};
use self::pack::PackState;
use crate::serve::config::AdminConfig;

/// The largest form the dashboard accepts.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// What the dashboard's handlers share.
#[derive(Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

struct Inner {
    trusted_proxies: Vec<std::net::IpAddr>,
    pipeline: Pipeline,
    auth: Auth,
    audit: Audit,
    pack: Arc<PackState>,
    live: Live,
}

/// What live pages wait on: store changes, and the server stopping (which
/// ends every live stream, so that open tabs do not hold up a shutdown).
#[derive(Debug, Clone)]
pub struct Live {
    /// Bumped on every store write ([`crate::serve::watched::Watched`]).
    pub changes: tokio::sync::watch::Receiver<u64>,
    /// Turns true when the server begins to stop.
    pub stopped: tokio::sync::watch::Receiver<bool>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("auth", &self.inner.auth)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// The dashboard for `pipeline`, with the users of `config`, the audit
    /// log at `audit_path` (and the logins file next to it), the pack's
    /// state, and what live pages wait on.
    #[must_use]
    pub fn new(
        pipeline: Pipeline,
        config: &AdminConfig,
        trusted_proxies: Vec<std::net::IpAddr>,
        secure_cookies: bool,
        audit_path: PathBuf,
        pack: Arc<PackState>,
        live: Live,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                trusted_proxies,
                pipeline,
                // Next to the audit log, in the store's folder.
                auth: Auth::new(
                    config,
                    secure_cookies,
                    Some(audit_path.with_file_name("admin-logins.json")),
                ),
                audit: Audit::new(audit_path),
                pack,
                live,
            }),
        }
    }

    fn engine(&self) -> &layan_core::Engine {
        self.inner.pipeline.engine()
    }

    fn offset(&self) -> i32 {
        self.engine().pack().office.utc_offset
    }

    fn audit(&self, login: &Login, address: &Address, action: &str, target: &str, detail: &str) {
        self.inner
            .audit
            .record(&login.user, &address.0, action, target, detail);
    }
}

/// The client's address, for the login rate limit and the audit log.
#[derive(Debug, Clone)]
pub struct Address(pub String);

impl Address {
    /// The client behind `peer`: `peer` itself, or, when `peer` is one of
    /// `trusted` proxies, the last address in `X-Forwarded-For` that is not
    /// a trusted proxy (the one the outermost trusted proxy saw).
    #[must_use]
    pub fn of(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> Self {
        let Some(peer) = peer else {
            return Self("unknown".to_owned());
        };
        if !trusted.contains(&peer) {
            return Self(peer.to_string());
        }
        let forwarded: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse().ok())
            .collect();
        let client = forwarded
            .iter()
            .rev()
            .find(|a| !trusted.contains(a))
            .copied()
            .unwrap_or(peer);
        Self(client.to_string())
    }
}

impl axum::extract::FromRequestParts<Admin> for Address {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        admin: &Admin,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(Self::of(peer, &parts.headers, &admin.inner.trusted_proxies))
    }
}

/// The value of cookie `name` in `headers`.
#[must_use]
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A plain answer with a status, as a small page.
fn refuse(status: StatusCode, title: &str, message: &str, login: Option<&Login>) -> Response {
    let body = format!(
        r#"<p class="error" role="alert">{}</p><p><a href="/admin">Kembali ke dasbor</a></p>"#,
        html::esc(message)
    );
    let mut r = html::page(title, login, "", &body);
    *r.status_mut() = status;
    r
}

/// Every `/admin` route but the login page and the assets: a current
/// login (else a redirect to the login page for pages, 401 for the rest),
/// and for any request that changes something, the login's CSRF token in
/// the form (else 403).
async fn guard(State(admin): State<Admin>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if path.starts_with("/admin/aset/") || path == "/admin/masuk" {
        return next.run(req).await;
    }
    let reading = req.method() == Method::GET || req.method() == Method::HEAD;
    if !admin.inner.auth.has_users() {
        return refuse(
            if reading {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            },
            "Dasbor belum disiapkan",
            "Belum ada pengguna dasbor. Tambahkan [[admin.users]] di layan.toml (name, role = \"operator\" atau \"admin\", password_hash dari perintah `layan admin hash-password`), lalu jalankan ulang layan serve.",
            None,
        );
    }
    let login = cookie(req.headers(), COOKIE).and_then(|id| admin.inner.auth.session(&id));
    let Some(login) = login else {
        if reading && !path.starts_with("/admin/langsung/") {
            let next = req.uri().path_and_query().map_or("/admin", |p| p.as_str());
            return Redirect::to(&format!("/admin/masuk?lanjut={}", html::url(next)))
                .into_response();
        }
        return (
            StatusCode::UNAUTHORIZED,
            "Silakan masuk ke dasbor terlebih dahulu.",
        )
            .into_response();
    };
    let mut req = req;
    if !reading {
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Terlalu besar",
                "Isian formulir terlalu panjang.",
                Some(&login),
            );
        };
        let token = form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        if !token.is_some_and(|t| login.csrf_ok(&t)) {
            return refuse(
                StatusCode::FORBIDDEN,
                "Permintaan ditolak",
                "Token keamanan formulir tidak cocok. Muat ulang halaman lalu coba lagi.",
                Some(&login),
            );
        }
        req = Request::from_parts(parts, Body::from(bytes));
    }
    req.extensions_mut().insert(login);
    next.run(req).await
}

async fn asset(path: axum::extract::Path<String>) -> Response {
    let (body, kind) = match path.as_str() {
        "admin.css" => (html::CSS, "text/css; charset=utf-8"),
        "admin.js" => (html::JS, "text/javascript; charset=utf-8"),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Security headers for every dashboard answer: no framing, no sniffing,
/// scripts and styles only from this server.
async fn headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    r
}

/// The dashboard's routes.
pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/admin", get(pages::queue))
        .route("/admin/", get(pages::queue))
        .route("/admin/aset/{file}", get(asset))
        .route("/admin/masuk", get(pages::login_page).post(pages::login))
        .route("/admin/keluar", post(pages::logout))
        .route("/admin/langsung/antrian", get(pages::queue_events))
        .route("/admin/percakapan", get(pages::conversation))
        .route(
            "/admin/langsung/percakapan",
            get(pages::conversation_events),
        )
        .route("/admin/percakapan/ambil", post(pages::take))
        .route("/admin/percakapan/balas", post(pages::reply))
        .route("/admin/percakapan/tutup", post(pages::close))
        .route("/admin/tiket", get(pages::tickets))
        .route("/admin/tiket/{id}", get(pages::ticket))
        .route("/admin/tiket/{id}/status", post(pages::ticket_status))
        .route("/admin/eskalasi", get(pages::escalation))
        .route("/admin/statistik", get(pages::statistics))
        .route("/admin/statistik/{file}", get(pages::statistics_csv))
        .route("/admin/paket", get(pages::pack))
        .route("/admin/paket/muat-ulang", post(pages::reload_pack))
        .route("/admin/audit", get(pages::audit))
        .route("/admin/media/{channel}", get(pages::media))
        .route("/admin/gagal", get(pages::failed))
        .layer(axum::middleware::from_fn_with_state(admin.clone(), guard))
        .layer(axum::middleware::from_fn(headers))
        .with_state(admin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.9".parse().unwrap());
        // Not trusted: the header is anyone's to write.
        assert_eq!(Address::of(Some(proxy), &headers, &[]).0, "127.0.0.1");
        // Trusted: the address the proxy saw (the rightmost), not what the
        // client claimed before it.
        assert_eq!(
            Address::of(Some(proxy), &headers, &[proxy]).0,
            "203.0.113.9"
        );
        let direct: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(
            Address::of(Some(direct), &headers, &[proxy]).0,
            "198.51.100.7"
        );
        assert_eq!(Address::of(None, &headers, &[proxy]).0, "unknown");
    }
}
