//! The operators' dashboard over HTTP: access control (logins, CSRF, the
//! login rate limit, one operator's session against another's work),
//! escaping of citizen text, and the actions whose effects a citizen or a
//! provider sees: replies, closing, ticket notifications, the pack reload.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::channels::{Server, graph_ok, wa_signed};
use crate::mock::Mock;
use crate::util::until;

pub const PERINDAG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/intents/perindag");
const ECHO_PACK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/echo");
const PNID: &str = "106540352242922";

/// Dashboard users of every test: two operators and an admin.
pub const USERS: [(&str, &str, &str); 3] = [
    ("sari", "operator", "sandi-sari-123"),
    ("budi", "operator", "sandi-budi-123"),
    ("ani", "admin", "sandi-ani-1234"),
];

/// `[[admin.users]]` entries for [`USERS`] (hashed once per test run).
pub fn users_toml() -> String {
    use std::sync::OnceLock;
    static HASHES: OnceLock<String> = OnceLock::new();
    HASHES
        .get_or_init(|| {
            USERS
                .iter()
                .map(|(name, role, pw)| {
                    format!(
                        "[[admin.users]]\nname = \"{name}\"\nrole = \"{role}\"\npassword_hash = \"{}\"\n",
                        layan::serve::admin::auth::hash_password(pw).unwrap()
                    )
                })
                .collect()
        })
        .clone()
}

/// `layan serve` with the WhatsApp channel against `graph` and the dashboard users.
pub struct Dashboard(Server);

impl std::ops::Deref for Dashboard {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.0
    }
}

impl Dashboard {
    /// With `server` added to the `[server]` section.
    pub async fn start(pack: &str, graph: &str, server: &str) -> Self {
        let sections = format!(
            r#"
            [channels.whatsapp]
            phone_number_id = "{PNID}"
            access_token = "token-uji"
            app_secret = "rahasia-aplikasi"
            verify_token = "verifikasi"
            api_base = "{graph}"
            {users}
            "#,
            users = users_toml(),
        );
        Self(Server::start_with(pack, server, &sections).await)
    }

    /// A citizen's WhatsApp message, sent `ago_s` seconds ago.
    pub async fn citizen(&self, from: &str, id: &str, text: &str, ago_s: u64) {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            - ago_s;
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [{ "id": "1", "changes": [{ "field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": { "display_phone_number": "15550783881", "phone_number_id": PNID },
                "contacts": [{ "profile": { "name": "Siti <b>Aminah</b>" }, "wa_id": from }],
                "messages": [{ "from": from, "id": id, "timestamp": ts.to_string(), "type": "text", "text": { "body": text } }]
            }}]}]
        })
        .to_string()
        .into_bytes();
        let mut r = reqwest::Client::new()
            .post(format!("{}/webhooks/whatsapp", self.url))
            .body(body.clone());
        for (k, v) in wa_signed(&body) {
            r = r.header(k, v);
        }
        assert_eq!(r.send().await.unwrap().status(), 200);
    }

    /// Waits until `user`'s conversation is in the hand-off queue.
    pub async fn handed_off(&self, user: &str) {
        let engine = self.app.pipeline.engine().clone();
        for _ in 0..200 {
            if engine
                .handoff_queue()
                .await
                .unwrap()
                .iter()
                .any(|h| h.user == user)
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("{user} was never handed off");
    }
}

/// A browser-less staff member: cookies and the CSRF token by hand.
pub struct Staff {
    /// `X-Forwarded-For` on every request, as a proxy would add it.
    pub forwarded: Option<String>,
    http: reqwest::Client,
    base: String,
    pub cookie: String,
    pub csrf: String,
}

fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

fn hidden_csrf(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf" value=""#)? + r#"name="csrf" value=""#.len();
    Some(html[at..].split('"').next()?.to_owned())
}

impl Staff {
    pub fn anonymous(base: &str) -> Self {
        Self {
            forwarded: None,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_owned(),
            cookie: String::new(),
            csrf: String::new(),
        }
    }

    /// Tries to log in; the status of the answer.
    pub async fn try_login(&mut self, name: &str, password: &str) -> u16 {
        let page = self
            .http
            .get(format!("{}/admin/masuk", self.base))
            .header(
                "x-forwarded-for",
                self.forwarded.clone().unwrap_or_default(),
            )
            .send()
            .await
            .unwrap();
        let form_cookie = set_cookie(&page, "layan_login").unwrap();
        let token = hidden_csrf(&page.text().await.unwrap()).unwrap();
        let r = self
            .http
            .post(format!("{}/admin/masuk", self.base))
            .header("cookie", form_cookie)
            .header(
                "x-forwarded-for",
                self.forwarded.clone().unwrap_or_default(),
            )
            .form(&[
                ("nama", name),
                ("sandi", password),
                ("csrf", &token),
                ("lanjut", "/admin"),
            ])
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if let Some(c) = set_cookie(&r, "layan_admin") {
            self.cookie = c;
            let (_, page) = self.get("/admin").await;
            self.csrf = hidden_csrf(&page).unwrap();
        }
        status
    }

    pub async fn login(base: &str, name: &str) -> Self {
        let password = USERS.iter().find(|u| u.0 == name).unwrap().2;
        let mut s = Self::anonymous(base);
        assert_eq!(s.try_login(name, password).await, 303);
        s
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let (status, _, body) = self.get_file(path).await;
        (status, body)
    }

    /// A file under `path`: status, content type and body.
    pub async fn get_file(&self, path: &str) -> (u16, String, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        let kind = r
            .headers()
            .get("content-type")
            .map_or("", |v| v.to_str().unwrap())
            .to_owned();
        (r.status().as_u16(), kind, r.text().await.unwrap())
    }

    /// Posts `fields` with this login's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        all.push(("csrf", &self.csrf));
        self.post_raw(path, &all).await
    }

    /// Posts exactly `fields`.
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .form(fields)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

/// The text of a message sent to the Graph API: plain, or an interactive one's body.
pub fn text_sent(r: &crate::mock::Request) -> String {
    let v = r.json();
    v["interactive"]["body"]["text"]
        .as_str()
        .or(v["text"]["body"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn every_dashboard_route_needs_a_login() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(ECHO_PACK, &graph.url, "").await;
    let anon = Staff::anonymous(&d.url);
    for path in [
        "/admin",
        "/admin/percakapan?kanal=whatsapp&pengguna=1",
        "/admin/tiket",
        "/admin/tiket/ADU-2026-000001",
        "/admin/eskalasi",
        "/admin/statistik",
        "/admin/statistik/pesan.csv",
        "/admin/paket",
        "/admin/audit",
    ] {
        let r = anon
            .http
            .get(format!("{}{path}", d.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{path}");
        let to = r.headers()["location"].to_str().unwrap();
        assert!(
            to.starts_with("/admin/masuk?lanjut=%2Fadmin"),
            "{path} → {to}"
        );
    }
    assert_eq!(anon.get("/admin/langsung/antrian").await.0, 401);
    for path in [
        "/admin/percakapan/ambil",
        "/admin/percakapan/balas",
        "/admin/percakapan/tutup",
        "/admin/tiket/ADU-2026-000001/status",
        "/admin/paket/muat-ulang",
        "/admin/keluar",
    ] {
        assert_eq!(anon.post_raw(path, &[("csrf", "x")]).await.0, 401, "{path}");
    }
    // The login page and its assets are open.
    assert_eq!(anon.get("/admin/masuk").await.0, 200);
    assert_eq!(anon.get("/admin/aset/admin.js").await.0, 200);
}

#[tokio::test]
async fn state_changes_need_the_sessions_own_csrf_token() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(PERINDAG, &graph.url, "").await;
    d.citizen("628111", "wamid.A1", "#tanya apakah ada pasar murah?", 0)
        .await;
    d.handed_off("628111").await;
    let sari = Staff::login(&d.url, "sari").await;
    let budi = Staff::login(&d.url, "budi").await;
    let conv = [("kanal", "whatsapp"), ("pengguna", "628111")];
    // No token, a wrong token, another user's token: refused, nothing taken.
    assert_eq!(sari.post_raw("/admin/percakapan/ambil", &conv).await.0, 403);
    let mut wrong = conv.to_vec();
    wrong.push(("csrf", "bukan-token"));
    assert_eq!(
        sari.post_raw("/admin/percakapan/ambil", &wrong).await.0,
        403
    );
    let mut borrowed = conv.to_vec();
    borrowed.push(("csrf", &budi.csrf));
    assert_eq!(
        sari.post_raw("/admin/percakapan/ambil", &borrowed).await.0,
        403
    );
    let queue = d.app.pipeline.engine().handoff_queue().await.unwrap();
    assert_eq!(queue[0].state, layan::HandoffState::Waiting);
    // A login form without its own token is refused too.
    let r = sari
        .http
        .post(format!("{}/admin/masuk", d.url))
        .form(&[("nama", "sari"), ("sandi", "sandi-sari-123"), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // With it, the action happens.
    assert_eq!(sari.post("/admin/percakapan/ambil", &conv).await.0, 303);
    let queue = d.app.pipeline.engine().handoff_queue().await.unwrap();
    assert_eq!(queue[0].state, layan::HandoffState::Taken("sari".into()));
}

#[tokio::test]
async fn ten_wrong_passwords_lock_the_account_for_a_while() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(ECHO_PACK, &graph.url, "").await;
    let mut s = Staff::anonymous(&d.url);
    for i in 0..10 {
        assert_eq!(s.try_login("sari", "salah").await, 401, "attempt {i}");
    }
    // The right password no longer helps.
    assert_eq!(s.try_login("sari", "sandi-sari-123").await, 429);
    // The address is locked too: guessing another account from it fails.
    assert_eq!(s.try_login("budi", "sandi-budi-123").await, 429);
    let admin = d.app.pipeline.engine().clone();
    drop(admin);
    let audit = std::fs::read_to_string(d.dir.path().join("data/audit.jsonl")).unwrap();
    assert_eq!(audit.matches("\"gagal_masuk\"").count(), 10, "{audit}");
    assert!(audit.contains("\"masuk_dikunci\""), "{audit}");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_limit_is_per_client_address() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(ECHO_PACK, &graph.url, r#"trusted_proxies = ["127.0.0.1"]"#).await;
    let mut attacker = Staff::anonymous(&d.url);
    attacker.forwarded = Some("203.0.113.9".into());
    for _ in 0..10 {
        assert_eq!(attacker.try_login("tebakan", "salah").await, 401);
    }
    assert_eq!(attacker.try_login("sari", "sandi-sari-123").await, 429);
    // Staff at another address, through the same proxy, still get in.
    let mut office = Staff::anonymous(&d.url);
    office.forwarded = Some("198.51.100.7".into());
    assert_eq!(office.try_login("sari", "sandi-sari-123").await, 303);
    let audit = std::fs::read_to_string(d.dir.path().join("data/audit.jsonl")).unwrap();
    assert!(audit.contains(r#""address":"203.0.113.9""#), "{audit}");
    assert!(audit.contains(r#""address":"198.51.100.7""#), "{audit}");
}

#[tokio::test]
async fn an_operator_cannot_act_in_a_conversation_another_holds() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(PERINDAG, &graph.url, "").await;
    d.citizen("628222", "wamid.B1", "#tanya berapa sewa los pasar?", 0)
        .await;
    d.handed_off("628222").await;
    let before = graph.wait_for(1).await.len();
    let sari = Staff::login(&d.url, "sari").await;
    let budi = Staff::login(&d.url, "budi").await;
    let ani = Staff::login(&d.url, "ani").await;
    let conv = [("kanal", "whatsapp"), ("pengguna", "628222")];
    assert_eq!(sari.post("/admin/percakapan/ambil", &conv).await.0, 303);
    let mut reply = conv.to_vec();
    reply.push(("teks", "Saya Budi, bukan Sari."));
    assert_eq!(budi.post("/admin/percakapan/ambil", &conv).await.0, 403);
    assert_eq!(budi.post("/admin/percakapan/balas", &reply).await.0, 403);
    assert_eq!(budi.post("/admin/percakapan/tutup", &conv).await.0, 403);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        graph.requests().len(),
        before,
        "nothing went to the citizen"
    );
    // An admin may take over; then it is the admin's conversation.
    assert_eq!(ani.post("/admin/percakapan/ambil", &conv).await.0, 303);
    let mut r = conv.to_vec();
    r.push(("teks", "Sewa los diatur Perda retribusi pasar."));
    assert_eq!(sari.post("/admin/percakapan/balas", &r).await.0, 403);
    assert_eq!(ani.post("/admin/percakapan/balas", &r).await.0, 303);
    let sent = graph.wait_for(before + 1).await;
    assert_eq!(
        text_sent(&sent[before]),
        "Sewa los diatur Perda retribusi pasar."
    );
    assert_eq!(sent[before].json()["to"], "628222");
    // Every action is in the audit log, readable by the admin only.
    assert_eq!(sari.get("/admin/audit").await.0, 403);
    let (status, log) = ani.get("/admin/audit").await;
    assert_eq!(status, 200);
    for action in ["ambil", "balas", "masuk"] {
        assert!(
            log.contains(&format!("<td>{action}</td>")),
            "{action}: {log}"
        );
    }
}

#[tokio::test]
async fn citizen_html_is_escaped_everywhere_staff_read_it() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(PERINDAG, &graph.url, "").await;
    let evil = r#"#tanya <script>alert("xss")</script><img src=x onerror=alert(1)>"#;
    d.citizen("628333", "wamid.C1", evil, 0).await;
    d.handed_off("628333").await;
    let sari = Staff::login(&d.url, "sari").await;
    for path in [
        "/admin",
        "/admin/percakapan?kanal=whatsapp&pengguna=628333",
        "/admin/statistik",
    ] {
        let (status, page) = sari.get(path).await;
        assert_eq!(status, 200, "{path}");
        assert!(!page.contains("<script>alert"), "{path}: {page}");
        assert!(!page.contains("<img src=x"), "{path}");
        assert!(!page.contains("<b>Aminah"), "{path}");
    }
    let (_, conversation) = sari
        .get("/admin/percakapan?kanal=whatsapp&pengguna=628333")
        .await;
    assert!(
        conversation.contains("&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;"),
        "{conversation}"
    );
    assert!(conversation.contains("Siti &lt;b&gt;Aminah&lt;/b&gt;"));
}

#[tokio::test]
async fn handoff_take_reply_close_reach_the_citizen_and_the_bot_asks_for_a_rating() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(PERINDAG, &graph.url, "").await;
    d.citizen("628444", "wamid.D1", "#tanya kapan ada pasar murah?", 0)
        .await;
    d.handed_off("628444").await;
    let bot = graph.wait_for(1).await.len();
    let sari = Staff::login(&d.url, "sari").await;
    let (_, queue) = sari.get("/admin").await;
    assert!(queue.contains("kapan ada pasar murah?"), "{queue}");
    assert!(queue.contains("Menunggu petugas"));
    let conv = [("kanal", "whatsapp"), ("pengguna", "628444")];
    // Replying before taking is explained.
    let mut reply = conv.to_vec();
    reply.push(("teks", "Pasar murah hari Sabtu di Pasar Tebing Tinggi."));
    assert_eq!(sari.post("/admin/percakapan/balas", &reply).await.0, 409);
    assert_eq!(sari.post("/admin/percakapan/ambil", &conv).await.0, 303);
    assert_eq!(sari.post("/admin/percakapan/balas", &reply).await.0, 303);
    let sent = graph.wait_for(bot + 1).await;
    assert_eq!(
        text_sent(&sent[bot]),
        "Pasar murah hari Sabtu di Pasar Tebing Tinggi."
    );
    let (_, page) = sari
        .get("/admin/percakapan?kanal=whatsapp&pengguna=628444")
        .await;
    assert!(page.contains("Petugas sari"), "{page}");
    assert!(page.contains("Siti &lt;b&gt;Aminah"), "profile name shown");
    assert_eq!(sari.post("/admin/percakapan/tutup", &conv).await.0, 303);
    let sent = graph.wait_for(bot + 2).await;
    let closing = text_sent(&sent[bot + 1]);
    assert!(closing.contains("1 (buruk) sampai 5"), "{closing}");
    assert!(
        d.app
            .pipeline
            .engine()
            .handoff_queue()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn whatsapp_conversations_past_the_24_hour_window_are_marked_and_not_replied() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(PERINDAG, &graph.url, "").await;
    d.citizen(
        "628555",
        "wamid.E1",
        "#tanya izin gudang bagaimana?",
        25 * 3600,
    )
    .await;
    d.handed_off("628555").await;
    let sari = Staff::login(&d.url, "sari").await;
    let (_, queue) = sari.get("/admin").await;
    assert!(
        queue.contains("Jendela 24 jam WhatsApp tertutup"),
        "{queue}"
    );
    let conv = [("kanal", "whatsapp"), ("pengguna", "628555")];
    assert_eq!(sari.post("/admin/percakapan/ambil", &conv).await.0, 303);
    let before = graph.requests().len();
    let mut reply = conv.to_vec();
    reply.push(("teks", "Silakan datang ke kantor."));
    let (status, page) = sari.post("/admin/percakapan/balas", &reply).await;
    assert_eq!(status, 409);
    assert!(page.contains("lebih dari 24 jam"), "{page}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(graph.requests().len(), before);
}

/// Files ticket `id` for `user` on WhatsApp, as a completed form would.
pub async fn file_ticket(d: &Dashboard, id: &str, user: &str, created_ms: u64, due_ms: u64) {
    let ticket = layan::Ticket {
        id: id.into(),
        form: "aduan".into(),
        channel: "whatsapp".into(),
        user: user.into(),
        fields: [
            ("nama".to_owned(), "Rudi".to_owned()),
            ("kronologi".to_owned(), "Timbangan <i>curang</i>".to_owned()),
        ]
        .into(),
        status: layan::TicketStatus::Baru,
        history: Vec::new(),
        created_ms,
        due_ms,
    };
    save_ticket(d.store(), ticket).await;
}

/// Stores `ticket` (new or changed) as the engine would.
pub async fn save_ticket(store: &std::sync::Arc<dyn layan::Store>, ticket: layan::Ticket) {
    let saved = store
        .commit(layan::Changes {
            tickets: vec![ticket],
            ..layan::Changes::default()
        })
        .await
        .unwrap();
    assert!(matches!(saved, layan::SaveOutcome::Saved(_)));
}

pub fn now_ms() -> u64 {
    layan::store::unix_ms(SystemTime::now())
}

#[tokio::test]
async fn tickets_filter_search_escalate_and_notify_the_citizen() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(PERINDAG, &graph.url, "").await;
    let now = now_ms();
    file_ticket(
        &d,
        "ADU-2026-000001",
        "6281200000001",
        now - 5 * 86_400_000,
        now - 2 * 86_400_000,
    )
    .await;
    file_ticket(
        &d,
        "ADU-2026-000002",
        "6281200000002",
        now - 3_600_000,
        now + 86_400_000,
    )
    .await;
    let sari = Staff::login(&d.url, "sari").await;
    let count = |page: &str| {
        let at = page.find(r#"<span id="jumlah-tiket">"#).unwrap() + 24;
        page[at..].split('<').next().unwrap().to_owned()
    };
    for (query, n) in [
        ("", "2"),
        ("?terlambat=1", "1"),
        ("?q=adu-2026-000002", "1"),
        ("?q=081200000001", "1"),
        ("?status=selesai", "0"),
        ("?formulir=aduan", "2"),
    ] {
        let (status, page) = sari.get(&format!("/admin/tiket{query}")).await;
        assert_eq!(status, 200);
        assert_eq!(count(&page), n, "{query}");
    }
    let (_, late) = sari.get("/admin/eskalasi").await;
    assert!(late.contains("ADU-2026-000001") && !late.contains("ADU-2026-000002"));
    assert!(late.contains("2 hari"), "{late}");
    let (_, detail) = sari.get("/admin/tiket/ADU-2026-000001").await;
    assert!(
        detail.contains("Timbangan &lt;i&gt;curang&lt;/i&gt;"),
        "{detail}"
    );
    let (status, _) = sari
        .post(
            "/admin/tiket/ADU-2026-000001/status",
            &[
                ("status", "selesai"),
                ("catatan", "Timbangan sudah ditera ulang."),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let sent = graph.wait_for(1).await;
    assert_eq!(sent[0].json()["to"], "6281200000001");
    let text = text_sent(&sent[0]);
    assert!(
        text.contains("ADU-2026-000001") && text.contains("selesai"),
        "{text}"
    );
    assert!(text.contains("Timbangan sudah ditera ulang."), "{text}");
    let t = d.store().ticket("ADU-2026-000001").await.unwrap().unwrap();
    assert_eq!(t.status, layan::TicketStatus::Selesai);
    assert_eq!(t.history.last().unwrap().actor, "sari");
    // A made-up status is refused with a reason.
    assert_eq!(
        sari.post(
            "/admin/tiket/ADU-2026-000002/status",
            &[("status", "hilang")]
        )
        .await
        .0,
        400
    );
}

#[tokio::test]
async fn statistics_count_what_citizens_sent_and_export_csv() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(PERINDAG, &graph.url, "").await;
    let messages = [
        "cara bikin nib gmn",
        "vaksin kucing dimana",
        "vaksin utk kucing di mana ya",
        "ada vaksin kucing?",
        "sewa los pasar brp",
    ];
    for (i, m) in messages.iter().enumerate() {
        d.citizen(&format!("62877{i}"), &format!("wamid.S{i}"), m, 0)
            .await;
    }
    until("every message answered", || {
        graph.requests().len() >= messages.len()
    })
    .await;
    let sari = Staff::login(&d.url, "sari").await;
    let (status, page) = sari.get("/admin/statistik").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(r#"<div class="kpi" id="kpi-masuk"><b>5</b>"#),
        "{page}"
    );
    assert!(page.contains("<svg"), "charts drawn");
    assert!(page.contains("izin_usaha"), "top intents");
    let (status, csv) = sari.get("/admin/statistik/pesan.csv").await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "tanggal,kanal,masuk,keluar");
    assert!(lines[1].ends_with(",whatsapp,5,5"), "{csv}");
    let (_, groups) = sari.get("/admin/statistik/tidak-terjawab.csv").await;
    let first = groups.lines().nth(1).unwrap();
    assert!(
        first.starts_with("3,") && first.contains("vaksin"),
        "the three questions on cat vaccines: {groups}"
    );
    assert_eq!(
        groups.lines().count(),
        3,
        "and the one on stall rent: {groups}"
    );
    assert_eq!(sari.get("/admin/statistik/rahasia.csv").await.0, 404);
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_broken_pack_never_replaces_a_working_one_and_edits_reload_by_themselves() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let packs = tempfile::tempdir().unwrap();
    let pack = packs.path().join("echo");
    copy_dir(std::path::Path::new(ECHO_PACK), &pack);
    let d = Dashboard::start(pack.to_str().unwrap(), &graph.url, "").await;
    let ani = Staff::login(&d.url, "ani").await;
    let sari = Staff::login(&d.url, "sari").await;
    assert_eq!(sari.post("/admin/paket/muat-ulang", &[]).await.0, 403);
    let manifest = pack.join("pack.toml");
    let good = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, good.replace("[pack]", "[pack\nrusak")).unwrap();
    let (status, page) = ani.post("/admin/paket/muat-ulang", &[]).await;
    assert_eq!(status, 422);
    assert!(
        page.contains("pack.toml:"),
        "file and line of the problem: {page}"
    );
    assert!(page.contains("tetap memakai paket"), "{page}");
    // The bot still answers with the old pack.
    d.citizen("628999", "wamid.P1", "pesan 7", 0).await;
    let sent = graph.wait_for(1).await;
    assert!(text_sent(&sent[0]).contains("terima 7"));
    // A fixed pack with a new version is picked up without anyone asking.
    std::fs::write(
        &manifest,
        good.replacen("version = \"", "version = \"9.9.", 1),
    )
    .unwrap();
    let engine = d.app.pipeline.engine().clone();
    for _ in 0..100 {
        if engine.pack().meta.version.starts_with("9.9.") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        engine.pack().meta.version.starts_with("9.9."),
        "watcher reloaded"
    );
    let (_, page) = ani.get("/admin/paket").await;
    assert!(page.contains("9.9."), "{page}");
}

#[tokio::test]
async fn ticket_photos_are_fetched_from_whatsapp_for_staff() {
    // The Graph API: the media id gives a short-lived URL on the same host,
    // and that URL the file; both need the access token.
    let graph = Mock::start(|r, n| match r.path.as_str() {
        "/media-777" => {
            let host = r.header("host").unwrap();
            (
                axum::http::StatusCode::OK,
                json!({ "messaging_product": "whatsapp", "url": format!("http://{host}/unduh/777"),
                        "mime_type": "image/jpeg", "sha256": "x", "file_size": "9", "id": "media-777" })
                .to_string(),
            )
        }
        "/unduh/777" => (axum::http::StatusCode::OK, "FOTO-BYTE".to_owned()),
        "/media-404" => (axum::http::StatusCode::NOT_FOUND, "{}".to_owned()),
        _ => graph_ok(n),
    })
    .await;
    let d = Dashboard::start(PERINDAG, &graph.url, "").await;
    let now = now_ms();
    file_ticket(&d, "ADU-2026-000009", "628123", now, now + 86_400_000).await;
    let mut t = d.store().ticket("ADU-2026-000009").await.unwrap().unwrap();
    t.fields.insert("foto".into(), "media-777".into());
    save_ticket(d.store(), t).await;
    let anon = Staff::anonymous(&d.url);
    assert_eq!(anon.get("/admin/media/whatsapp?ref=media-777").await.0, 303);
    let sari = Staff::login(&d.url, "sari").await;
    let (_, page) = sari.get("/admin/tiket/ADU-2026-000009").await;
    assert!(
        page.contains(r#"<img src="/admin/media/whatsapp?ref=media-777""#),
        "{page}"
    );
    assert_eq!(
        sari.get_file("/admin/media/whatsapp?ref=media-777").await,
        (200, "image/jpeg".to_owned(), "FOTO-BYTE".to_owned())
    );
    for req in graph.requests() {
        assert_eq!(req.header("authorization").unwrap(), "Bearer token-uji");
    }
    // A provider error and a made-up reference are explained, not passed on.
    assert_eq!(sari.get("/admin/media/whatsapp?ref=media-404").await.0, 502);
    assert_eq!(sari.get("/admin/media/whatsapp?ref=..%2Fetc").await.0, 502);
    assert_eq!(sari.get("/admin/media/web?ref=x").await.0, 404);
}

#[tokio::test]
async fn ticket_photos_sent_by_mms_are_fetched_from_twilio_for_staff() {
    // Twilio's media URL wants the account's credentials and redirects to
    // a short-lived CDN URL on another host, which must not get them.
    /// Each request's path and authorization header.
    type Seen = Arc<Mutex<Vec<(String, Option<String>)>>>;
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = seen.clone();
    let twilio = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let log = log.clone();
        async move {
            use axum::http::{StatusCode, header};
            use axum::response::IntoResponse;
            let path = req.uri().path().to_owned();
            let auth = req
                .headers()
                .get(header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_owned());
            log.lock().unwrap().push((path.clone(), auth));
            match path.as_str() {
                "/2010-04-01/Accounts/ACuji/Messages/MM2/Media/ME3" => (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, format!("http://localhost:{port}/cdn/ME3"))],
                )
                    .into_response(),
                "/cdn/ME3" => ([(header::CONTENT_TYPE, "image/png")], "PNG-BYTE").into_response(),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
    });
    tokio::spawn(async move { axum::serve(listener, twilio).await.unwrap() });
    let sections = format!(
        r#"
        [channels.twilio]
        account_sid = "ACuji"
        auth_token = "token-twilio"
        from = "+15550001111"
        api_base = "http://127.0.0.1:{port}"
        {users}
        "#,
        users = users_toml(),
    );
    let d = Dashboard(Server::start_with(PERINDAG, "", &sections).await);
    let now = now_ms();
    file_ticket(&d, "ADU-2026-000010", "+628123", now, now + 86_400_000).await;
    let mut t = d.store().ticket("ADU-2026-000010").await.unwrap().unwrap();
    t.channel = "twilio".into();
    // What the Twilio webhook stores for an MMS photo (see layan-sms).
    t.fields.insert("foto".into(), "MM2/ME3".into());
    save_ticket(d.store(), t).await;

    let sari = Staff::login(&d.url, "sari").await;
    let (_, page) = sari.get("/admin/tiket/ADU-2026-000010").await;
    assert!(
        page.contains(r#"<img src="/admin/media/twilio?ref=MM2%2FME3""#),
        "{page}"
    );
    assert_eq!(
        sari.get_file("/admin/media/twilio?ref=MM2%2FME3").await,
        (200, "image/png".to_owned(), "PNG-BYTE".to_owned())
    );
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "ACuji:token-twilio"
        )
    );
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (
                "/2010-04-01/Accounts/ACuji/Messages/MM2/Media/ME3".to_owned(),
                Some(basic)
            ),
            ("/cdn/ME3".to_owned(), None),
        ]
    );
    // Unknown media and anything but two sids are refused, never fetched.
    assert_eq!(sari.get("/admin/media/twilio?ref=MM2%2FME404").await.0, 502);
    for bad in [
        "..%2F..%2Fx",
        "MM2",
        "http%3A%2F%2Fexample.com%2Fx",
        "MM2%2FME3%3Fa",
    ] {
        assert_eq!(
            sari.get(&format!("/admin/media/twilio?ref={bad}")).await.0,
            502,
            "{bad}"
        );
    }
    assert_eq!(
        seen.lock().unwrap().len(),
        3,
        "only the unknown media was asked for"
    );

    // A photo the citizen skipped ("lewati") is stored empty: no picture.
    file_ticket(&d, "ADU-2026-000011", "+628124", now, now + 86_400_000).await;
    let mut t = d.store().ticket("ADU-2026-000011").await.unwrap().unwrap();
    t.fields.insert("foto".into(), String::new());
    save_ticket(d.store(), t).await;
    let (_, page) = sari.get("/admin/tiket/ADU-2026-000011").await;
    assert!(!page.contains("/admin/media/"), "{page}");
}

#[tokio::test]
async fn undeliverable_messages_are_listed_with_their_reason() {
    let graph = Mock::start(|_, _| {
        (
            axum::http::StatusCode::BAD_REQUEST,
            json!({"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException", "code": 131047,
                "error_data": {"messaging_product": "whatsapp", "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."},
                "fbtrace_id": "A1"}})
            .to_string(),
        )
    })
    .await;
    let d = Dashboard::start(ECHO_PACK, &graph.url, "").await;
    let sari = Staff::login(&d.url, "sari").await;
    assert!(
        sari.get("/admin/gagal")
            .await
            .1
            .contains("Semua pesan terkirim.")
    );
    d.citizen("628777", "wamid.G1", "pesan 3", 0).await;
    until("the reply is given up on", || !graph.requests().is_empty()).await;
    let store = d.store().clone();
    for _ in 0..100 {
        if !store.dead_letters().await.unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (status, page) = sari.get("/admin/gagal").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("jendela 24 jam WhatsApp sudah tertutup"),
        "{page}"
    );
    assert!(
        page.contains("terima 3") && page.contains("628777"),
        "{page}"
    );
}
