//! The dashboard's pages and actions.

use std::convert::Infallible;
use std::fmt::Write;
use std::future::Future;
use std::time::{Duration, SystemTime};

use axum::Extension;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use futures_util::Stream;
use layan_core::store::{Direction, Handoff, HandoffState, Ticket, TicketStatus, unix_ms};
use layan_core::{Session, SessionKey, SlotKind};
use serde::Deserialize;

use super::auth::{COOKIE, LOGIN_COOKIE, Login, Refused, token};
use super::html::{ago, csrf, duration, esc, page, url, when};
use super::stats::{Group, Range, Report, iso};
use super::{Address, Admin, charts, cookie, refuse};

/// How long live parts wait after a store change before rendering again.
const SETTLE: Duration = Duration::from_millis(150);
/// How often live parts render again without a change (relative times move on).
const REFRESH: Duration = Duration::from_secs(20);
/// How far back a conversation's transcript is shown.
const TRANSCRIPT_DAYS: u64 = 30;
/// Transcript lines shown on a conversation page.
const TRANSCRIPT_LINES: usize = 200;

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A stream of `make()`'s output: sent at once, then again whenever it
/// differs after a store change (or every [`REFRESH`], for times shown as
/// "3 menit lalu"); it ends when the server stops.
fn live<F, Fut>(
    mut live: super::Live,
    make: F,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<F, Fut>>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = String> + Send,
{
    struct State<F> {
        make: F,
        last: String,
        first: bool,
        live: super::Live,
    }
    live.changes.mark_unchanged();
    let start = State {
        make,
        last: String::new(),
        first: true,
        live,
    };
    let stream = futures_util::stream::unfold(start, |mut st| async move {
        loop {
            if !st.first {
                let stopping = async {
                    // The guard wait_for returns must not live across an await.
                    let _ = st.live.stopped.wait_for(|s| *s).await;
                };
                tokio::select! {
                    () = stopping => return None,
                    changed = st.live.changes.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                        // Let a burst of writes settle into one render.
                        tokio::time::sleep(SETTLE).await;
                    }
                    () = tokio::time::sleep(REFRESH) => {}
                }
            }
            st.first = false;
            if *st.live.stopped.borrow() {
                return None;
            }
            let now = (st.make)().await.replace('\r', "");
            if now != st.last {
                st.last.clone_from(&now);
                return Some((Ok(Event::default().data(now)), st));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The page for a failure of the store or the engine.
fn internal(login: &Login, error: impl std::fmt::Display) -> Response {
    refuse(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Gagal",
        &error.to_string(),
        Some(login),
    )
}

/// A part of a page the server keeps current: `content` now, then what the
/// event stream at `source` (an escaped URL) sends.
fn live_section(label: &str, source: &str, content: &str) -> String {
    format!(
        r#"<section aria-live="polite" aria-label="{}" data-live="{source}">{content}</section>"#,
        esc(label)
    )
}

// ---------------------------------------------------------------- login

#[derive(Debug, Deserialize)]
pub(super) struct LoginQuery {
    lanjut: Option<String>,
}

fn login_form(admin: &Admin, next: &str, error: Option<&str>, status: StatusCode) -> Response {
    let form_token = token();
    let mut body = String::new();
    if let Some(e) = error {
        let _ = write!(body, r#"<p class="error" role="alert">{}</p>"#, esc(e));
    }
    let _ = write!(
        body,
        r#"<form method="post" action="/admin/masuk" class="card">
<input type="hidden" name="csrf" value="{form_token}">
<input type="hidden" name="lanjut" value="{}">
<label for="nama">Nama pengguna</label>
<input id="nama" name="nama" autocomplete="username" required autofocus>
<label for="sandi">Kata sandi</label>
<input id="sandi" name="sandi" type="password" autocomplete="current-password" required>
<p><button type="submit">Masuk</button></p>
</form>"#,
        esc(next)
    );
    let mut r = page("Masuk", None, "", &body);
    *r.status_mut() = status;
    set_cookie(
        &mut r,
        &admin
            .inner
            .auth
            .cookie(LOGIN_COOKIE, &form_token, Some(3600)),
    );
    r
}

fn set_cookie(response: &mut Response, cookie: &str) {
    if let Ok(v) = header::HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

pub(super) async fn login_page(
    State(admin): State<Admin>,
    Query(q): Query<LoginQuery>,
) -> Response {
    login_form(
        &admin,
        q.lanjut.as_deref().unwrap_or("/admin"),
        None,
        StatusCode::OK,
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(default)]
    nama: String,
    #[serde(default)]
    sandi: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lanjut: String,
}

/// Only a path inside the dashboard is a place to go after logging in.
fn safe_next(next: &str) -> &str {
    if next.starts_with("/admin") && !next.starts_with("//") && !next.contains('\\') {
        next
    } else {
        "/admin"
    }
}

pub(super) async fn login(
    State(admin): State<Admin>,
    address: Address,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty()
        || !layan_core::channel::constant_time_eq(expected.as_bytes(), form.csrf.as_bytes())
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "Permintaan ditolak",
            "Formulir masuk sudah kedaluwarsa. Buka lagi halaman masuk lalu coba lagi.",
            None,
        );
    }
    let auth = &admin.inner.auth;
    match auth.login(form.nama.trim(), &form.sandi, &address.0).await {
        Ok((id, login)) => {
            admin
                .inner
                .audit
                .record(&login.user, &address.0, "masuk", "", "");
            let mut r = see_other(safe_next(&form.lanjut));
            set_cookie(&mut r, &auth.cookie(COOKIE, &id, None));
            set_cookie(&mut r, &auth.cookie(LOGIN_COOKIE, "", Some(0)));
            r
        }
        Err(refused) => {
            let (status, message, action) = match refused {
                Refused::Wrong => (
                    StatusCode::UNAUTHORIZED,
                    "Nama pengguna atau kata sandi salah.",
                    "gagal_masuk",
                ),
                Refused::Locked => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Terlalu banyak percobaan masuk yang salah. Akun atau alamat ini dikunci sementara; coba lagi nanti.",
                    "masuk_dikunci",
                ),
            };
            admin
                .inner
                .audit
                .record(form.nama.trim(), &address.0, action, "", "");
            login_form(&admin, &form.lanjut, Some(message), status)
        }
    }
}

pub(super) async fn logout(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    address: Address,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = cookie(&headers, COOKIE) {
        admin.inner.auth.logout(&id);
    }
    admin.audit(&login, &address, "keluar", "", "");
    let mut r = see_other("/admin/masuk");
    set_cookie(&mut r, &admin.inner.auth.cookie(COOKIE, "", Some(0)));
    r
}

// ---------------------------------------------------------------- hand-offs

/// The channel's reply window (WhatsApp: 24 hours since the citizen's last
/// message), when it has one and it has closed for this conversation.
fn closed_window(admin: &Admin, channel: &str, session: &Session, now: u64) -> Option<Window> {
    let length_ms = admin.inner.pipeline.capabilities(channel).reply_window_ms?;
    (session.last_seen_ms > 0 && now.saturating_sub(session.last_seen_ms) > length_ms).then(|| {
        Window {
            channel: channel_name(channel),
            // Providers state windows in hours ("24 jam", not "1 hari").
            length: if length_ms % 3_600_000 == 0 {
                format!("{} jam", length_ms / 3_600_000)
            } else {
                duration(length_ms)
            },
        }
    })
}

/// A closed reply window, as operators read about it.
struct Window {
    /// `WhatsApp`.
    channel: String,
    /// `24 jam`.
    length: String,
}

/// A channel's name as people write it.
fn channel_name(channel: &str) -> String {
    match channel {
        layan_whatsapp::NAME => "WhatsApp".to_owned(),
        layan_telegram::NAME => "Telegram".to_owned(),
        layan_sms::twilio::NAME | layan_sms::android::NAME => "SMS".to_owned(),
        other => other.to_owned(),
    }
}

fn state_badge(state: &HandoffState, me: &str) -> String {
    match state {
        HandoffState::Waiting => r#"<span class="badge warn">Menunggu petugas</span>"#.to_owned(),
        HandoffState::Taken(op) if op == me => {
            r#"<span class="badge ok">Dipegang oleh Anda</span>"#.to_owned()
        }
        HandoffState::Taken(op) => {
            format!(r#"<span class="badge">Dipegang oleh {}</span>"#, esc(op))
        }
        HandoffState::Closed => r#"<span class="badge">Selesai</span>"#.to_owned(),
    }
}

/// `kanal=…&pengguna=…`: a conversation in a URL query (unescaped for HTML).
fn conversation_query(key: &SessionKey) -> String {
    format!("kanal={}&pengguna={}", url(&key.channel), url(&key.user))
}

/// The conversation page of `channel`/`user`, escaped for an `href`.
fn conversation_href(channel: &str, user: &str) -> String {
    esc(&format!(
        "/admin/percakapan?{}",
        conversation_query(&SessionKey::new(channel, user))
    ))
}

/// A conversation as the audit log names it.
fn audit_target(key: &SessionKey) -> String {
    format!("{}/{}", key.channel, key.user)
}

/// The citizen's session (an empty one when there is none or the store fails:
/// the page still shows what it can).
async fn session_of(admin: &Admin, key: &SessionKey) -> Session {
    admin
        .engine()
        .store()
        .session(key)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

async fn queue_fragment(admin: &Admin, login: &Login) -> String {
    let engine = admin.engine();
    let queue = match engine.handoff_queue().await {
        Ok(q) => q,
        Err(e) => {
            return format!(
                r#"<p class="error">Antrian tidak dapat dibaca: {}</p>"#,
                esc(&e.to_string())
            );
        }
    };
    let now = now_ms();
    let offset = admin.offset();
    if queue.is_empty() {
        return r#"<p class="notice" id="antrian-kosong">Tidak ada percakapan yang menunggu petugas.</p>"#.to_owned();
    }
    let mut out = format!(
        r#"<p><span id="jumlah-antrian">{}</span> percakapan menunggu atau sedang dilayani.</p><div class="table-wrap"><table class="stack"><thead><tr><th scope="col">Sejak</th><th scope="col">Kanal</th><th scope="col">Warga</th><th scope="col">Pertanyaan</th><th scope="col">Status</th></tr></thead><tbody>"#,
        queue.len()
    );
    for h in &queue {
        let session = session_of(admin, &h.key()).await;
        let mut flags = state_badge(&h.state, &login.user);
        if let Some(w) = closed_window(admin, &h.channel, &session, now) {
            let _ = write!(
                flags,
                r#" <span class="badge warn">Jendela {} {} tertutup</span>"#,
                w.length,
                esc(&w.channel)
            );
        }
        let name = session
            .profile_name
            .as_deref()
            .map(|n| format!("{} · ", esc(n)))
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<tr class="antrian"><td data-label="Sejak">{} <span class="muted">({})</span></td><td data-label="Kanal">{}</td><td data-label="Warga">{name}{}</td><td data-label="Pertanyaan"><a href="{}">{}</a></td><td data-label="Status">{flags}</td></tr>"#,
            when(h.requested_ms, offset),
            ago(now.saturating_sub(h.requested_ms)),
            esc(&h.channel),
            esc(&h.user),
            conversation_href(&h.channel, &h.user),
            if h.question.trim().is_empty() {
                "(buka percakapan)".to_owned()
            } else {
                esc(&h.question)
            },
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

pub(super) async fn queue(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
) -> Response {
    let body = format!(
        r#"<p class="muted">Percakapan yang diserahkan bot kepada petugas. Daftar ini diperbarui sendiri.</p>{}"#,
        live_section(
            "Antrian percakapan",
            "/admin/langsung/antrian",
            &queue_fragment(&admin, &login).await
        )
    );
    page("Antrian percakapan", Some(&login), "/admin", &body)
}

pub(super) async fn queue_events(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
) -> impl IntoResponse {
    live(admin.inner.live.clone(), move || {
        let admin = admin.clone();
        let login = login.clone();
        async move { queue_fragment(&admin, &login).await }
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct Conversation {
    #[serde(default)]
    kanal: String,
    #[serde(default)]
    pengguna: String,
    #[serde(default)]
    teks: String,
}

impl Conversation {
    fn key(&self) -> SessionKey {
        SessionKey::new(&self.kanal, &self.pengguna)
    }
}

async fn open_handoff(admin: &Admin, key: &SessionKey) -> Option<Handoff> {
    admin
        .engine()
        .handoff_queue()
        .await
        .ok()?
        .into_iter()
        .find(|h| h.key() == *key)
}

async fn transcript_fragment(admin: &Admin, key: &SessionKey) -> String {
    let since = now_ms().saturating_sub(TRANSCRIPT_DAYS * 86_400_000);
    let mine = match admin
        .engine()
        .store()
        .conversation(key, since, TRANSCRIPT_LINES)
        .await
    {
        Ok(l) => l,
        Err(e) => {
            return format!(
                r#"<p class="error">Riwayat tidak dapat dibaca: {}</p>"#,
                esc(&e.to_string())
            );
        }
    };
    let offset = admin.offset();
    let mut out = String::from(r#"<ol class="transcript">"#);
    for l in &mine {
        let (class, who) = match l.direction {
            Direction::In => ("in", "Warga".to_owned()),
            Direction::Out => (
                "out",
                match l.author.as_deref() {
                    None | Some("bot") => "Bot".to_owned(),
                    Some(a) => format!("Petugas {a}"),
                },
            ),
        };
        let intent = l
            .intent
            .as_deref()
            .filter(|_| l.direction == Direction::In)
            .map(|i| format!(" · {}", esc(i)))
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<li class="{class}"><span class="meta">{} · {}{intent}</span>{}</li>"#,
            esc(&who),
            when(l.time_ms, offset),
            esc(&l.text)
        );
    }
    if mine.is_empty() {
        out.push_str(r#"<li class="muted">Belum ada pesan.</li>"#);
    }
    out.push_str("</ol>");
    out
}

pub(super) async fn conversation(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    Query(c): Query<Conversation>,
) -> Response {
    let key = c.key();
    let session = session_of(&admin, &key).await;
    let handoff = open_handoff(&admin, &key).await;
    let now = now_ms();
    let window = closed_window(&admin, &key.channel, &session, now);
    let mut body = format!(
        r#"<div class="card"><p><b>Kanal:</b> {} · <b>Warga:</b> {}{} · <b>Terakhir menulis:</b> {}</p>"#,
        esc(&key.channel),
        esc(&key.user),
        session
            .profile_name
            .as_deref()
            .map(|n| format!(" ({})", esc(n)))
            .unwrap_or_default(),
        when(session.last_seen_ms, admin.offset())
    );
    if let Some(w) = &window {
        let _ = write!(
            body,
            r#"<p class="error" id="jendela-tertutup">Jendela {len} {ch} sudah tertutup: warga terakhir menulis lebih dari {len} lalu. {ch} tidak mengirim balasan bebas di luar jendela ini; balasan baru bisa dikirim setelah warga menulis lagi.</p>"#,
            len = w.length,
            ch = esc(&w.channel)
        );
    }
    let hidden = format!(
        r#"{}<input type="hidden" name="kanal" value="{}"><input type="hidden" name="pengguna" value="{}">"#,
        csrf(&login),
        esc(&key.channel),
        esc(&key.user)
    );
    match &handoff {
        None => body.push_str(
            r#"<p class="muted">Percakapan ini tidak sedang diserahkan kepada petugas.</p>"#,
        ),
        Some(h) => {
            let _ = write!(body, "<p>{}</p>", state_badge(&h.state, &login.user));
            let mine = h.state == HandoffState::Taken(login.user.clone());
            let can_take = match &h.state {
                HandoffState::Waiting => true,
                HandoffState::Taken(op) => op != &login.user && login.is_admin(),
                HandoffState::Closed => false,
            };
            if can_take {
                let label = if h.state == HandoffState::Waiting {
                    "Ambil percakapan"
                } else {
                    "Ambil alih percakapan"
                };
                let _ = write!(
                    body,
                    r#"<form method="post" action="/admin/percakapan/ambil">{hidden}<button type="submit" id="ambil">{label}</button></form>"#
                );
            }
            if mine {
                let _ = write!(
                    body,
                    r#"<form method="post" action="/admin/percakapan/balas">{hidden}<label for="teks">Balasan untuk warga</label><textarea id="teks" name="teks" required maxlength="4000"></textarea><p><button type="submit" id="kirim">Kirim balasan</button></p></form><form method="post" action="/admin/percakapan/tutup">{hidden}<button type="submit" class="secondary" id="tutup">Tutup percakapan (bot melanjutkan dan meminta penilaian)</button></form>"#
                );
            }
        }
    }
    body.push_str("</div><h2>Riwayat percakapan</h2>");
    body.push_str(&live_section(
        "Riwayat percakapan",
        &esc(&format!(
            "/admin/langsung/percakapan?{}",
            conversation_query(&key)
        )),
        &transcript_fragment(&admin, &key).await,
    ));
    page("Percakapan", Some(&login), "/admin", &body)
}

pub(super) async fn conversation_events(
    State(admin): State<Admin>,
    Query(c): Query<Conversation>,
) -> impl IntoResponse {
    let key = c.key();
    live(admin.inner.live.clone(), move || {
        let admin = admin.clone();
        let key = key.clone();
        async move { transcript_fragment(&admin, &key).await }
    })
}

fn back_to(key: &SessionKey) -> Response {
    see_other(&format!("/admin/percakapan?{}", conversation_query(key)))
}

pub(super) async fn take(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    address: Address,
    Form(c): Form<Conversation>,
) -> Response {
    let key = c.key();
    let Some(h) = open_handoff(&admin, &key).await else {
        return refuse(
            StatusCode::NOT_FOUND,
            "Tidak ditemukan",
            "Percakapan ini tidak sedang menunggu petugas.",
            Some(&login),
        );
    };
    if let HandoffState::Taken(op) = &h.state
        && op != &login.user
        && !login.is_admin()
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "Sudah dipegang",
            &format!(
                "Percakapan ini sedang dipegang oleh {op}. Hanya admin yang dapat mengambil alih."
            ),
            Some(&login),
        );
    }
    if let Err(e) = admin.engine().take_handoff(&key, &login.user).await {
        return internal(&login, e);
    }
    admin.audit(&login, &address, "ambil", &audit_target(&key), "");
    back_to(&key)
}

/// The page for an operator's action the engine refused: the conversation
/// is not handed off, not taken, or held by someone else (who may have taken
/// it over a moment ago).
fn engine_refusal(login: &Login, e: layan_core::Error) -> Response {
    match e {
        layan_core::Error::NotHandedOff { .. } => refuse(
            StatusCode::NOT_FOUND,
            "Tidak ditemukan",
            "Percakapan ini tidak sedang diserahkan kepada petugas.",
            Some(login),
        ),
        layan_core::Error::NotHolder { holder: Some(op) } => refuse(
            StatusCode::FORBIDDEN,
            "Bukan percakapan Anda",
            &format!(
                "Percakapan ini dipegang oleh {op}. Ambil alih dulu (admin) sebelum membalas atau menutupnya."
            ),
            Some(login),
        ),
        layan_core::Error::NotHolder { holder: None } => refuse(
            StatusCode::CONFLICT,
            "Ambil dulu",
            "Ambil percakapan ini dulu sebelum membalas atau menutupnya.",
            Some(login),
        ),
        e => internal(login, e),
    }
}

pub(super) async fn reply(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    address: Address,
    Form(c): Form<Conversation>,
) -> Response {
    let key = c.key();
    // Checked ahead so that a refusal for the holder comes before one for
    // the text or the window; the engine checks again as it answers.
    if let Err(e) = admin.engine().held_handoff(&key, &login.user).await {
        return engine_refusal(&login, e);
    }
    let text = c.teks.trim();
    if text.is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Balasan kosong",
            "Tulis balasan terlebih dahulu.",
            Some(&login),
        );
    }
    let session = session_of(&admin, &key).await;
    if let Some(w) = closed_window(&admin, &key.channel, &session, now_ms()) {
        admin.audit(
            &login,
            &address,
            "balas_ditolak",
            &audit_target(&key),
            &format!("jendela {} tertutup", w.length),
        );
        return refuse(
            StatusCode::CONFLICT,
            "Balasan tidak dapat dikirim",
            &format!(
                "Balasan tidak dikirim: warga terakhir menulis lebih dari {len} lalu, dan {ch} hanya meneruskan balasan bebas dalam {len} sejak pesan terakhir warga. Balasan dapat dikirim setelah warga menulis lagi; bila mendesak, hubungi warga lewat telepon.",
                len = w.length,
                ch = w.channel
            ),
            Some(&login),
        );
    }
    if let Err(e) = admin.engine().operator_reply(&key, &login.user, text).await {
        return engine_refusal(&login, e);
    }
    admin.inner.pipeline.wake();
    let detail: String = text.chars().take(200).collect();
    admin.audit(&login, &address, "balas", &audit_target(&key), &detail);
    back_to(&key)
}

pub(super) async fn close(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    address: Address,
    Form(c): Form<Conversation>,
) -> Response {
    let key = c.key();
    if let Err(e) = admin.engine().close_handoff(&key, &login.user).await {
        return engine_refusal(&login, e);
    }
    admin.inner.pipeline.wake();
    admin.audit(&login, &address, "tutup", &audit_target(&key), "");
    back_to(&key)
}

// ---------------------------------------------------------------- tickets

#[derive(Debug, Default, Deserialize)]
pub(super) struct TicketFilter {
    #[serde(default)]
    status: String,
    #[serde(default)]
    formulir: String,
    #[serde(default)]
    terlambat: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    disimpan: String,
}

fn digits(s: &str) -> String {
    s.chars().filter(char::is_ascii_digit).collect()
}

/// A phone number's digits in international form (`0812…` → `62812…`).
fn phone_digits(s: &str) -> String {
    let d = digits(s);
    match d.strip_prefix('0') {
        Some(rest) => format!("62{rest}"),
        None => d,
    }
}

fn matches(t: &Ticket, f: &TicketFilter, now: u64) -> bool {
    if !f.status.is_empty() && t.status.label() != f.status {
        return false;
    }
    if !f.formulir.is_empty() && t.form != f.formulir {
        return false;
    }
    if !f.terlambat.is_empty() && !t.is_overdue(now) {
        return false;
    }
    let q = f.q.trim();
    if q.is_empty() {
        return true;
    }
    if t.id.to_lowercase().contains(&q.to_lowercase()) {
        return true;
    }
    let phone = phone_digits(q);
    phone.len() >= 6
        && (phone_digits(&t.user).contains(&phone)
            || t.fields.values().any(|v| phone_digits(v).contains(&phone)))
}

fn status_badge(t: &Ticket, now: u64) -> String {
    let mut s = format!(r#"<span class="badge">{}</span>"#, esc(t.status.label()));
    if t.is_overdue(now) {
        let _ = write!(
            s,
            r#" <span class="badge warn">Terlambat {}</span>"#,
            duration(now - t.due_ms)
        );
    }
    s
}

fn ticket_rows(tickets: &[&Ticket], now: u64, offset: i32) -> String {
    let mut out = String::from(
        r#"<div class="table-wrap"><table class="stack"><thead><tr><th scope="col">Nomor</th><th scope="col">Formulir</th><th scope="col">Status</th><th scope="col">Warga</th><th scope="col">Dibuat</th><th scope="col">Batas waktu</th></tr></thead><tbody>"#,
    );
    for t in tickets {
        let _ = write!(
            out,
            r#"<tr class="tiket{}"><td data-label="Nomor"><a href="/admin/tiket/{}">{}</a></td><td data-label="Formulir">{}</td><td data-label="Status">{}</td><td data-label="Warga">{} · {}</td><td data-label="Dibuat">{}</td><td data-label="Batas waktu">{}</td></tr>"#,
            if t.is_overdue(now) { " overdue" } else { "" },
            url(&t.id),
            esc(&t.id),
            esc(&t.form),
            status_badge(t, now),
            esc(&t.channel),
            esc(&t.user),
            when(t.created_ms, offset),
            when(t.due_ms, offset),
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

const STATUSES: [TicketStatus; 4] = [
    TicketStatus::Baru,
    TicketStatus::Diproses,
    TicketStatus::Selesai,
    TicketStatus::Ditolak,
];

fn options(values: &[(String, String)], selected: &str) -> String {
    let mut out = String::from(r#"<option value="">Semua</option>"#);
    for (v, label) in values {
        let sel = if v == selected { " selected" } else { "" };
        let _ = write!(
            out,
            r#"<option value="{}"{sel}>{}</option>"#,
            esc(v),
            esc(label)
        );
    }
    out
}

pub(super) async fn tickets(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    Query(f): Query<TicketFilter>,
) -> Response {
    let all = match admin.engine().tickets().await {
        Ok(t) => t,
        Err(e) => return internal(&login, e),
    };
    let now = now_ms();
    let mut shown: Vec<&Ticket> = all.iter().filter(|t| matches(t, &f, now)).collect();
    shown.sort_by_key(|t| std::cmp::Reverse(t.created_ms));
    let pack = admin.engine().pack();
    let forms: Vec<(String, String)> = pack
        .forms
        .iter()
        .map(|fm| (fm.id.clone(), fm.title.clone()))
        .collect();
    let statuses: Vec<(String, String)> = STATUSES
        .iter()
        .map(|s| (s.label().to_owned(), s.label().to_owned()))
        .collect();
    let mut body = format!(
        r#"<form method="get" action="/admin/tiket" class="card row" role="search">
<div><label for="q">Cari nomor tiket atau nomor HP</label><input id="q" name="q" value="{}" placeholder="ADU-2026-000001 atau 0812…"></div>
<div><label for="status">Status</label><select id="status" name="status">{}</select></div>
<div><label for="formulir">Formulir</label><select id="formulir" name="formulir">{}</select></div>
<div><label><input type="checkbox" name="terlambat" value="1"{}> Hanya yang melewati batas waktu</label></div>
<div><button type="submit">Tampilkan</button></div>
</form>"#,
        esc(&f.q),
        options(&statuses, &f.status),
        options(&forms, &f.formulir),
        if f.terlambat.is_empty() {
            ""
        } else {
            " checked"
        },
    );
    let _ = write!(
        body,
        r#"<p><span id="jumlah-tiket">{}</span> dari {} tiket.</p>"#,
        shown.len(),
        all.len()
    );
    body.push_str(&ticket_rows(&shown, now, admin.offset()));
    page("Tiket", Some(&login), "/admin/tiket", &body)
}

pub(super) async fn ticket(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    Path(id): Path<String>,
    Query(f): Query<TicketFilter>,
) -> Response {
    let engine = admin.engine();
    let Ok(Some(t)) = engine.store().ticket(&id.to_uppercase()).await else {
        return refuse(
            StatusCode::NOT_FOUND,
            "Tiket tidak ditemukan",
            &format!("Tidak ada tiket {id}."),
            Some(&login),
        );
    };
    let now = now_ms();
    let offset = admin.offset();
    let pack = engine.pack();
    let form = pack.forms.iter().find(|fm| fm.id == t.form);
    let mut body = String::new();
    if !f.disimpan.is_empty() {
        body.push_str(r#"<p class="notice" role="status" id="disimpan">Status disimpan; warga diberi tahu lewat kanalnya.</p>"#);
    }
    let _ = write!(
        body,
        r#"<div class="card"><p><b>Nomor:</b> {} · <b>Formulir:</b> {} · <b>Status:</b> {}</p><p><b>Warga:</b> <a href="{}">{} · {}</a> · <b>Dibuat:</b> {} · <b>Batas waktu:</b> {}</p></div>"#,
        esc(&t.id),
        esc(form.map_or(&t.form, |fm| &fm.title)),
        status_badge(&t, now),
        conversation_href(&t.channel, &t.user),
        esc(&t.channel),
        esc(&t.user),
        when(t.created_ms, offset),
        when(t.due_ms, offset),
    );
    body.push_str(r#"<h2>Isian warga</h2><div class="table-wrap"><table><tbody>"#);
    for (name, value) in &t.fields {
        let slot = form.and_then(|fm| fm.slots.iter().find(|s| &s.name == name));
        let label = slot.map_or(name.as_str(), |s| s.label.as_str());
        // A photo the citizen skipped ("lewati") is stored empty.
        let shown = if slot.is_some_and(|s| s.kind == SlotKind::Photo) && !value.is_empty() {
            // A provider's public URL as it is; a media reference (a
            // WhatsApp or Telegram id, Twilio's message and media sids)
            // through the channel, with its credentials.
            let src = if value.starts_with("https://") || value.starts_with("http://") {
                value.clone()
            } else {
                format!("/admin/media/{}?ref={}", url(&t.channel), url(value))
            };
            format!(
                r#"<a href="{0}"><img src="{0}" alt="Foto dari warga ({1})" style="max-width:16rem;max-height:16rem"></a>"#,
                esc(&src),
                esc(value)
            )
        } else {
            esc(value)
        };
        let _ = write!(
            body,
            r#"<tr><th scope="row">{}</th><td>{shown}</td></tr>"#,
            esc(label)
        );
    }
    body.push_str("</tbody></table></div><h2>Riwayat status</h2><ol>");
    for h in &t.history {
        let _ = write!(
            body,
            r#"<li>{} — <b>{}</b> oleh {}{}</li>"#,
            when(h.time_ms, offset),
            esc(h.status.label()),
            esc(&h.actor),
            if h.note.is_empty() {
                String::new()
            } else {
                format!(": {}", esc(&h.note))
            }
        );
    }
    body.push_str("</ol>");
    let mut choices = String::new();
    for s in STATUSES {
        let sel = if s == t.status { " selected" } else { "" };
        let _ = write!(
            choices,
            r#"<option value="{0}"{sel}>{0}</option>"#,
            s.label()
        );
    }
    let _ = write!(
        body,
        r#"<h2>Ubah status</h2><form method="post" action="/admin/tiket/{}/status" class="card">{}<label for="status">Status baru</label><select id="status" name="status">{choices}</select><label for="catatan">Catatan untuk warga</label><textarea id="catatan" name="catatan" maxlength="1000"></textarea><p><button type="submit" id="simpan-status">Simpan dan beri tahu warga</button></p></form>"#,
        url(&t.id),
        csrf(&login)
    );
    page(
        &format!("Tiket {}", t.id),
        Some(&login),
        "/admin/tiket",
        &body,
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct StatusForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    catatan: String,
}

pub(super) async fn ticket_status(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    address: Address,
    Path(id): Path<String>,
    Form(f): Form<StatusForm>,
) -> Response {
    let Some(status) = TicketStatus::parse(&f.status) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "Status tidak dikenal",
            "Pilih salah satu status: baru, diproses, selesai, ditolak.",
            Some(&login),
        );
    };
    let note = f.catatan.trim();
    match admin
        .engine()
        .set_ticket_status(&id, status, &login.user, note)
        .await
    {
        Ok(t) => {
            admin.inner.pipeline.wake();
            admin.audit(
                &login,
                &address,
                "status_tiket",
                &t.id,
                &format!("{}: {note}", status.label()),
            );
            see_other(&format!("/admin/tiket/{}?disimpan=1", url(&t.id)))
        }
        Err(e) => refuse(StatusCode::NOT_FOUND, "Gagal", &e.to_string(), Some(&login)),
    }
}

pub(super) async fn escalation(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
) -> Response {
    let all = match admin.engine().tickets().await {
        Ok(t) => t,
        Err(e) => return internal(&login, e),
    };
    let now = now_ms();
    let mut late: Vec<&Ticket> = all.iter().filter(|t| t.is_overdue(now)).collect();
    late.sort_by_key(|t| t.due_ms);
    let mut body = String::from(
        r#"<p class="muted">Tiket terbuka yang melewati batas waktu layanan, yang paling lama terlambat di atas.</p>"#,
    );
    if late.is_empty() {
        body.push_str(r#"<p class="notice">Tidak ada tiket yang terlambat.</p>"#);
    } else {
        body.push_str(r#"<div class="table-wrap"><table><thead><tr><th scope="col">Terlambat</th><th scope="col">Nomor</th><th scope="col">Formulir</th><th scope="col">Status</th><th scope="col">Batas waktu</th></tr></thead><tbody>"#);
        for t in &late {
            let _ = write!(
                body,
                r#"<tr class="overdue"><td><b>{}</b></td><td><a href="/admin/tiket/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                duration(now - t.due_ms),
                url(&t.id),
                esc(&t.id),
                esc(&t.form),
                esc(t.status.label()),
                when(t.due_ms, admin.offset())
            );
        }
        body.push_str("</tbody></table></div>");
    }
    page("Eskalasi", Some(&login), "/admin/eskalasi", &body)
}

// ---------------------------------------------------------------- statistics

#[derive(Debug, Default, Deserialize)]
pub(super) struct RangeQuery {
    dari: Option<String>,
    sampai: Option<String>,
}

async fn report(admin: &Admin, q: &RangeQuery) -> Result<(Range, Report), String> {
    let engine = admin.engine();
    let offset = admin.offset();
    let now = now_ms();
    let today = layan_core::clock::Local::at(now, offset).day;
    let range = Range::parse(q.dari.as_deref(), q.sampai.as_deref(), today);
    super::stats::load(engine, range, now)
        .await
        .map(|r| (range, r))
        .map_err(|e| e.to_string())
}

/// The report's unanswered questions grouped by similarity (every question
/// goes through the normaliser, so off the async workers).
async fn groups(admin: &Admin, questions: Vec<String>) -> Vec<Group> {
    let engine = admin.engine().clone();
    tokio::task::spawn_blocking(move || {
        super::stats::group_unanswered(&engine, &questions, super::stats::GROUP_THRESHOLD)
    })
    .await
    .unwrap_or_default()
}

fn range_query(range: &Range) -> String {
    format!("dari={}&amp;sampai={}", iso(range.from), iso(range.to))
}

fn figure(id: &str, title: &str, range: &Range, chart: &str) -> String {
    format!(
        r#"<figure id="grafik-{id}"><figcaption><span>{}</span><a href="/admin/statistik/{id}.csv?{}">Unduh CSV</a></figcaption>{chart}</figure>"#,
        esc(title),
        range_query(range)
    )
}

pub(super) async fn statistics(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let (range, r) = match report(&admin, &q).await {
        Ok(x) => x,
        Err(e) => return internal(&login, e),
    };
    let (ratings, mean) = r.csat_mean();
    let (closed, on_time) = r.closed;
    let mut body = format!(
        r#"<form method="get" action="/admin/statistik" class="card row"><div><label for="dari">Dari tanggal</label><input type="date" id="dari" name="dari" value="{}"></div><div><label for="sampai">Sampai tanggal</label><input type="date" id="sampai" name="sampai" value="{}"></div><div><button type="submit">Tampilkan</button></div></form>"#,
        iso(range.from),
        iso(range.to)
    );
    let kpi = |id: &str, label: &str, value: String| {
        format!(
            r#"<div class="kpi" id="kpi-{id}"><b>{}</b>{}</div>"#,
            esc(&value),
            esc(label)
        )
    };
    body.push_str(r#"<div class="kpis">"#);
    body.push_str(&kpi("masuk", "pesan masuk", r.messages_in().to_string()));
    body.push_str(&kpi("keluar", "pesan keluar", r.messages_out().to_string()));
    body.push_str(&kpi(
        "fallback",
        "tidak dipahami bot",
        format!("{:.0}%", r.fallback_rate() * 100.0),
    ));
    body.push_str(&kpi(
        "handoff",
        "diserahkan ke petugas",
        r.handoffs.to_string(),
    ));
    body.push_str(&kpi(
        "respons",
        "median jawaban pertama petugas",
        r.median_first_answer_ms.map_or("—".to_owned(), duration),
    ));
    body.push_str(&kpi(
        "sla",
        "tiket selesai tepat waktu",
        if closed == 0 {
            "—".to_owned()
        } else {
            format!(
                "{:.0}% dari {closed}",
                on_time as f64 * 100.0 / closed as f64
            )
        },
    ));
    body.push_str(&kpi(
        "terlambat",
        "tiket terlambat saat ini",
        r.overdue_now.to_string(),
    ));
    body.push_str(&kpi(
        "csat",
        "rata-rata penilaian (1–5)",
        if ratings == 0 {
            "—".to_owned()
        } else {
            format!("{mean:.1} dari {ratings}")
        },
    ));
    body.push_str(r#"</div><div class="charts">"#);
    let series: Vec<(String, Vec<f64>)> = r
        .channels
        .iter()
        .map(|c| {
            let values = r
                .days
                .iter()
                .map(|d| {
                    r.messages
                        .get(&(d.clone(), c.clone()))
                        .map_or(0.0, |v| v.0 as f64)
                })
                .collect();
            (c.clone(), values)
        })
        .collect();
    body.push_str(&figure(
        "pesan",
        "Pesan masuk per hari per kanal",
        &range,
        &charts::stacked_bars("Pesan masuk per hari per kanal", &r.days, &series),
    ));
    let top: Vec<(String, f64)> = r
        .intents
        .iter()
        .take(10)
        .map(|(i, n)| (i.clone(), *n as f64))
        .collect();
    body.push_str(&figure(
        "intent",
        "Topik yang paling sering ditanyakan",
        &range,
        &charts::horizontal_bars("Topik teratas", &top),
    ));
    let rates: Vec<(String, Option<f64>)> = r
        .fallback
        .iter()
        .map(|(d, f, n)| (d.clone(), (*n > 0).then(|| *f as f64 / *n as f64)))
        .collect();
    body.push_str(&figure(
        "fallback",
        "Pesan yang tidak dipahami bot per hari",
        &range,
        &charts::rate_line("Tingkat fallback", &rates),
    ));
    let tickets: Vec<(String, Vec<f64>)> = vec![
        (
            "dibuka".to_owned(),
            r.tickets.iter().map(|t| t.1 as f64).collect(),
        ),
        (
            "selesai/ditolak".to_owned(),
            r.tickets.iter().map(|t| t.2 as f64).collect(),
        ),
    ];
    body.push_str(&figure(
        "tiket",
        "Tiket dibuka dan ditutup per hari",
        &range,
        &charts::stacked_bars("Tiket per hari", &r.days, &tickets),
    ));
    let csat: Vec<(String, f64)> = (1..=5_u8)
        .map(|n| {
            (
                format!("nilai {n}"),
                r.csat.get(&n).copied().unwrap_or(0) as f64,
            )
        })
        .collect();
    body.push_str(&figure(
        "csat",
        "Penilaian warga",
        &range,
        &charts::horizontal_bars("Penilaian warga", &csat),
    ));
    let handoff: Vec<(String, f64)> = vec![
        ("diminta".to_owned(), r.handoffs as f64),
        ("dijawab petugas".to_owned(), r.handoffs_answered as f64),
    ];
    body.push_str(&figure(
        "handoff",
        "Penyerahan ke petugas",
        &range,
        &charts::horizontal_bars("Penyerahan ke petugas", &handoff),
    ));
    body.push_str("</div>");
    let _ = write!(
        body,
        r#"<h2 id="tidak-terjawab">Pertanyaan yang belum terjawab</h2><p class="muted">Dikelompokkan menurut kemiripan kata; kelompok besar adalah calon intent baru untuk paket. <a href="/admin/statistik/tidak-terjawab.csv?{}">Unduh CSV</a></p>"#,
        range_query(&range)
    );
    let unanswered = groups(&admin, r.unanswered).await;
    if unanswered.is_empty() {
        body.push_str(r#"<p class="notice">Tidak ada pertanyaan yang tidak dipahami bot pada rentang ini.</p>"#);
    } else {
        body.push_str(r#"<div class="table-wrap"><table><thead><tr><th scope="col">Jumlah</th><th scope="col">Kata bersama</th><th scope="col">Contoh</th></tr></thead><tbody>"#);
        for g in unanswered.iter().take(30) {
            let examples: Vec<String> =
                g.examples.iter().map(|e| format!("“{}”", esc(e))).collect();
            let _ = write!(
                body,
                r#"<tr class="kelompok"><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                g.count,
                esc(&g.words.join(", ")),
                examples.join("<br>")
            );
        }
        body.push_str("</tbody></table></div>");
    }
    page("Statistik", Some(&login), "/admin/statistik", &body)
}

fn csv_cell(s: &str) -> String {
    // A cell a spreadsheet would run as a formula is kept as text.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

fn csv(rows: Vec<Vec<String>>) -> String {
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

pub(super) async fn statistics_csv(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    Path(file): Path<String>,
    Query(q): Query<RangeQuery>,
) -> Response {
    let (range, r) = match report(&admin, &q).await {
        Ok(x) => x,
        Err(e) => return internal(&login, e),
    };
    let s = |v: &dyn ToString| v.to_string();
    let rows: Vec<Vec<String>> = match file.as_str() {
        "pesan.csv" => {
            let mut rows = vec![vec![
                "tanggal".into(),
                "kanal".into(),
                "masuk".into(),
                "keluar".into(),
            ]];
            for ((d, c), (i, o)) in &r.messages {
                rows.push(vec![d.clone(), c.clone(), s(i), s(o)]);
            }
            rows
        }
        "intent.csv" => std::iter::once(vec!["intent".into(), "pesan".into()])
            .chain(r.intents.iter().map(|(i, n)| vec![i.clone(), s(n)]))
            .collect(),
        "fallback.csv" => std::iter::once(vec![
            "tanggal".into(),
            "fallback".into(),
            "pesan_masuk".into(),
        ])
        .chain(
            r.fallback
                .iter()
                .map(|(d, f, n)| vec![d.clone(), s(f), s(n)]),
        )
        .collect(),
        "tiket.csv" => std::iter::once(vec!["tanggal".into(), "dibuka".into(), "ditutup".into()])
            .chain(
                r.tickets
                    .iter()
                    .map(|(d, o, c)| vec![d.clone(), s(o), s(c)]),
            )
            .collect(),
        "csat.csv" => std::iter::once(vec!["nilai".into(), "jumlah".into()])
            .chain((1..=5_u8).map(|n| vec![s(&n), s(&r.csat.get(&n).copied().unwrap_or(0))]))
            .collect(),
        "handoff.csv" => vec![
            vec![
                "diminta".into(),
                "dijawab_petugas".into(),
                "median_jawaban_pertama_detik".into(),
            ],
            vec![
                s(&r.handoffs),
                s(&r.handoffs_answered),
                r.median_first_answer_ms
                    .map_or(String::new(), |m| s(&(m / 1000))),
            ],
        ],
        "tidak-terjawab.csv" => std::iter::once(vec![
            "jumlah".into(),
            "kata_bersama".into(),
            "contoh".into(),
        ])
        .chain(
            groups(&admin, r.unanswered)
                .await
                .iter()
                .map(|g| vec![s(&g.count), g.words.join(" "), g.examples.join(" | ")]),
        )
        .collect(),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let name = format!(
        "layan-{}-{}-{}",
        file.trim_end_matches(".csv"),
        iso(range.from),
        iso(range.to)
    );
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        csv(rows),
    )
        .into_response()
}

// ---------------------------------------------------------------- pack and audit

fn pack_body(admin: &Admin, login: &Login, message: Option<(bool, String)>) -> String {
    let st = admin.inner.pack.status();
    let pack = admin.engine().pack();
    let offset = admin.offset();
    let mut body = String::new();
    if let Some((ok, text)) = message {
        let class = if ok { "notice" } else { "error" };
        let _ = write!(
            body,
            r#"<p class="{class}" role="status" id="hasil-muat">{}</p>"#,
            esc(&text)
        );
    }
    let _ = write!(
        body,
        r#"<div class="card"><p><b>Paket:</b> <span id="paket-id">{}</span> versi <span id="paket-versi">{}</span></p><p><b>Sumber:</b> {}</p><p><b>Dimuat:</b> {}</p><p><b>Pemeriksaan:</b> <span class="badge ok">lulus</span> {} intent, {} contoh kalimat</p></div>"#,
        esc(&pack.meta.id),
        esc(&pack.meta.version),
        pack.root
            .as_ref()
            .map_or("paket bawaan (tertanam di program)".to_owned(), |p| esc(&p
                .display()
                .to_string())),
        when(st.loaded_ms, offset),
        pack.intents.len(),
        pack.intents.iter().map(|i| i.examples.len()).sum::<usize>()
    );
    if let Some((t, problems)) = &st.failed {
        let _ = write!(
            body,
            r#"<h2>Muat ulang terakhir gagal ({})</h2><p class="error">Paket yang rusak tidak dipakai; bot tetap memakai paket di atas. Perbaiki masalah berikut:</p><ul id="masalah-paket">"#,
            when(*t, offset)
        );
        for p in problems {
            let _ = write!(body, "<li><code>{}</code></li>", esc(p));
        }
        body.push_str("</ul>");
    }
    if pack.root.is_none() {
        body.push_str(r#"<p class="muted">Paket bawaan tertanam di program dan tidak dimuat ulang. Untuk menyunting isi bot, salin folder <code>intents/perindag</code>, atur <code>[pack] path</code> di layan.toml, lalu jalankan ulang layan serve: sejak itu perubahan berkas dimuat sendiri.</p>"#);
    } else if login.is_admin() {
        let _ = write!(
            body,
            r#"<form method="post" action="/admin/paket/muat-ulang">{}<p><button type="submit" id="muat-ulang">Periksa dan muat ulang paket</button></p></form><p class="muted">layan serve juga memuat ulang sendiri bila berkas paket berubah.</p>"#,
            csrf(login)
        );
    } else {
        body.push_str(r#"<p class="muted">Hanya admin yang dapat memuat ulang paket.</p>"#);
    }
    body
}

pub(super) async fn pack(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
) -> Response {
    let body = pack_body(&admin, &login, None);
    page("Paket intent", Some(&login), "/admin/paket", &body)
}

pub(super) async fn reload_pack(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    address: Address,
) -> Response {
    if !login.is_admin() {
        return refuse(
            StatusCode::FORBIDDEN,
            "Khusus admin",
            "Hanya admin yang dapat memuat ulang paket.",
            Some(&login),
        );
    }
    let state = admin.inner.pack.clone();
    let engine = admin.engine().clone();
    let result = tokio::task::spawn_blocking(move || state.reload(&engine))
        .await
        .unwrap_or_else(|e| Err(vec![e.to_string()]));
    let message = match &result {
        Ok(()) => {
            let pack = admin.engine().pack();
            let (id, version) = (&pack.meta.id, &pack.meta.version);
            admin.audit(&login, &address, "muat_ulang_paket", id, version);
            (true, format!("Paket {id} versi {version} dimuat."))
        }
        Err(problems) => {
            admin.audit(
                &login,
                &address,
                "muat_ulang_paket_gagal",
                "",
                &format!("{} masalah", problems.len()),
            );
            (
                false,
                format!(
                    "Paket tidak dimuat: {} masalah. Bot tetap memakai paket yang lama.",
                    problems.len()
                ),
            )
        }
    };
    let mut r = page(
        "Paket intent",
        Some(&login),
        "/admin/paket",
        &pack_body(&admin, &login, Some(message)),
    );
    if result.is_err() {
        *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    r
}

pub(super) async fn audit(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
) -> Response {
    if !login.is_admin() {
        return refuse(
            StatusCode::FORBIDDEN,
            "Khusus admin",
            "Hanya admin yang dapat membaca log audit.",
            Some(&login),
        );
    }
    let entries = {
        let admin = admin.clone();
        tokio::task::spawn_blocking(move || admin.inner.audit.recent(300))
            .await
            .unwrap_or_default()
    };
    let offset = admin.offset();
    let mut body = String::from(
        r#"<div class="table-wrap"><table><thead><tr><th scope="col">Waktu</th><th scope="col">Pengguna</th><th scope="col">Alamat</th><th scope="col">Tindakan</th><th scope="col">Sasaran</th><th scope="col">Rincian</th></tr></thead><tbody>"#,
    );
    for e in &entries {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            when(e.time_ms, offset),
            esc(&e.user),
            esc(&e.address),
            esc(&e.action),
            esc(&e.target),
            esc(&e.detail)
        );
    }
    body.push_str("</tbody></table></div>");
    page("Log audit", Some(&login), "/admin/audit", &body)
}

#[derive(Debug, Deserialize)]
pub(super) struct MediaQuery {
    #[serde(rename = "ref", default)]
    reference: String,
}

/// A file a citizen sent, fetched from the channel's provider.
pub(super) async fn media(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
    Path(channel): Path<String>,
    Query(q): Query<MediaQuery>,
) -> Response {
    let Some(ch) = admin.inner.pipeline.channel(&channel) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "Tidak ditemukan",
            &format!("Kanal {channel} tidak aktif."),
            Some(&login),
        );
    };
    match ch.media(&q.reference).await {
        Ok(Some(m)) => {
            // Only pictures and PDFs are shown in the page; anything else is downloaded.
            let inline =
                m.content_type.starts_with("image/") || m.content_type == "application/pdf";
            let disposition = if inline { "inline" } else { "attachment" };
            (
                [
                    (header::CONTENT_TYPE, m.content_type),
                    (header::CONTENT_DISPOSITION, disposition.to_owned()),
                    (header::CACHE_CONTROL, "private, max-age=300".to_owned()),
                ],
                m.bytes,
            )
                .into_response()
        }
        Ok(None) => refuse(
            StatusCode::NOT_FOUND,
            "Berkas tidak tersedia",
            &format!("Kanal {channel} tidak menyediakan unduhan berkas."),
            Some(&login),
        ),
        Err(e) => refuse(
            StatusCode::BAD_GATEWAY,
            "Berkas tidak dapat diambil",
            &e,
            Some(&login),
        ),
    }
}

/// A short Indonesian reading of a dead letter's reason.
fn reason_text(reason: &str) -> &'static str {
    match reason {
        "outside_24h_window" => "jendela 24 jam WhatsApp sudah tertutup",
        "attempts_exhausted" => "penyedia terus gagal; percobaan habis",
        "invalid_recipient" => "nomor atau akun tujuan tidak valid",
        "unauthorized" => "token penyedia ditolak; periksa konfigurasi kanal",
        _ => "ditolak penyedia",
    }
}

/// Messages the pipeline gave up on, newest first, with the reason.
pub(super) async fn failed(
    State(admin): State<Admin>,
    Extension(login): Extension<Login>,
) -> Response {
    let mut letters = match admin.engine().store().dead_letters().await {
        Ok(l) => l,
        Err(e) => {
            return internal(&login, e);
        }
    };
    letters.reverse();
    let offset = admin.offset();
    let mut body = String::from(
        r#"<p class="muted">Pesan untuk warga yang tidak dapat dikirim: penyedia menolaknya atau terus gagal. Hubungi warga lewat jalur lain bila perlu.</p>"#,
    );
    if letters.is_empty() {
        body.push_str(r#"<p class="notice">Semua pesan terkirim.</p>"#);
    } else {
        body.push_str(r#"<div class="table-wrap"><table class="stack"><thead><tr><th scope="col">Waktu</th><th scope="col">Warga</th><th scope="col">Sebab</th><th scope="col">Pesan</th></tr></thead><tbody>"#);
        for d in letters.iter().take(500) {
            let m = &d.message;
            let _ = write!(
                body,
                r#"<tr class="gagal"><td data-label="Waktu">{}</td><td data-label="Warga"><a href="{}">{} · {}</a></td><td data-label="Sebab"><b>{}</b><br><span class="muted">{}</span></td><td data-label="Pesan">{}</td></tr>"#,
                when(d.time_ms, offset),
                conversation_href(&m.channel, &m.user),
                esc(&m.channel),
                esc(&m.user),
                reason_text(&d.reason),
                esc(&d.detail),
                esc(&m.text),
            );
        }
        body.push_str("</tbody></table></div>");
    }
    page("Gagal terkirim", Some(&login), "/admin/gagal", &body)
}
