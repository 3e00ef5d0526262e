//! The dashboard and the web chat in a real browser: Debian's headless
//! Chromium driven by chromedriver over the W3C WebDriver protocol.
//!
//! `.ci/run` installs `chromium` and `chromium-driver` and sets
//! `LAYAN_BROWSER_TESTS=1`, which makes a missing browser a failure. Without
//! it (a developer machine without Chromium) the test says so and passes.
//! Screenshots of every page go to `target/browser-artifacts/`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::admin::{Dashboard, PERINDAG, file_ticket, now_ms, text_sent};
use crate::channels::graph_ok;
use crate::mock::Mock;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
    shots: PathBuf,
}

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    std::env::var_os(env)
        .map(PathBuf::from)
        .into_iter()
        .chain(candidates.iter().map(PathBuf::from))
        .find(|p| p.exists())
}

impl Browser {
    /// Chromium under chromedriver, or `None` when they are not installed
    /// and browser tests are not required.
    async fn start() -> Option<Self> {
        let required = std::env::var("LAYAN_BROWSER_TESTS").is_ok_and(|v| v == "1");
        let driver = find_binary("CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let chromium = find_binary(
            "CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            assert!(
                !required,
                "LAYAN_BROWSER_TESTS=1 but chromium/chromedriver are not installed (apt-get install chromium chromium-driver)"
            );
            eprintln!("browser test skipped: chromium and chromedriver are not installed");
            return None;
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true)
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
        std::fs::create_dir_all(&shots).unwrap();
        Some(Self {
            http,
            session: format!("{base}/session/{id}"),
            driver: child,
            _profile: profile,
            shots,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, format!("{}{path}", self.session))
            .json(&body)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", json!({ "url": url }))
            .await;
    }

    /// Runs `script` in the page and returns its value.
    async fn eval(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
        .await
    }

    /// The first element matching `css`, waiting up to ten seconds for it.
    async fn find(&self, css: &str) -> String {
        for _ in 0..100 {
            let v = self
                .call(
                    reqwest::Method::POST,
                    "/element",
                    json!({ "using": "css selector", "value": css }),
                )
                .await;
            if let Some(id) = v[ELEMENT].as_str() {
                return id.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let last = self
            .call(
                reqwest::Method::POST,
                "/element",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        let page = self.eval("return document.body.innerText").await;
        panic!("no element `{css}` on the page ({last}):\n{page}");
    }

    /// Clicks the first element matching `css`. A live part of the page may
    /// replace the element between finding and clicking it ("stale element
    /// reference"): then it is found again, as a person would look again.
    async fn click(&self, css: &str) {
        let mut last = Value::Null;
        for _ in 0..50 {
            let id = self.find(css).await;
            last = self
                .call(
                    reqwest::Method::POST,
                    &format!("/element/{id}/click"),
                    json!({}),
                )
                .await;
            if last.get("error").is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not click `{css}`: {last}");
    }

    async fn type_in(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Types `keys` into whatever has the focus, as a keyboard would
    /// (`\u{E004}` is Tab, `\u{E007}` Enter).
    async fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|c| {
                let c = c.to_string();
                [
                    json!({ "type": "keyDown", "value": c }),
                    json!({ "type": "keyUp", "value": c }),
                ]
            })
            .collect();
        self.call(
            reqwest::Method::POST,
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "papan-ketik", "actions": actions }] }),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::GET,
            &format!("/element/{id}/text"),
            json!({}),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Waits until the page's visible text contains `needle`.
    async fn wait_text(&self, needle: &str) {
        for _ in 0..150 {
            let body = self.eval("return document.body.innerText").await;
            if body.as_str().is_some_and(|b| b.contains(needle)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let body = self.eval("return document.body.innerText").await;
        panic!("`{needle}` never appeared:\n{body}");
    }

    async fn screenshot(&self, name: &str) {
        let v = self
            .call(reqwest::Method::GET, "/screenshot", json!({}))
            .await;
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn resize(&self, width: u32, height: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            json!({ "width": width, "height": height }),
        )
        .await;
    }

    async fn quit(mut self) {
        let _ = self.http.delete(&self.session).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_work_the_dashboard_and_citizens_the_web_chat_in_chromium() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let d = Dashboard::start(PERINDAG, &graph.url, "").await;
    let url = d.url.clone();

    // Log in: /admin sends a stranger to the login page first.
    b.goto(&format!("{url}/admin")).await;
    b.find("#nama").await;
    b.screenshot("01-masuk").await;
    b.type_in("#nama", "sari").await;
    b.type_in("#sandi", "sandi-sari-123").await;
    b.click("button[type=submit]").await;
    b.wait_text("Antrian percakapan").await;
    b.wait_text("Tidak ada percakapan yang menunggu").await;

    // A citizen asks for a person on WhatsApp; the queue shows it without a reload.
    b.eval("window.__sama = true; return 1").await;
    d.citizen(
        "6281311112222",
        "wamid.BR1",
        "#tanya <img src=x onerror=\"window.__diserang=1\"> kapan pasar murah berikutnya?",
        0,
    )
    .await;
    b.wait_text("kapan pasar murah berikutnya?").await;
    assert_eq!(
        b.eval("return window.__sama === true").await,
        true,
        "the queue updated in place, the page was not reloaded"
    );
    assert_eq!(
        b.eval("return window.__diserang === undefined && document.querySelectorAll('#isi img').length === 0")
            .await,
        true,
        "citizen HTML is shown as text"
    );
    b.screenshot("02-antrian").await;

    // Take it and answer; the answer reaches the provider.
    let bot_replies = graph.wait_for(1).await.len();
    b.click("tr.antrian a").await;
    b.click("#ambil").await;
    b.type_in(
        "#teks",
        "Pasar murah berikutnya hari Sabtu di Pasar Tebing Tinggi.",
    )
    .await;
    b.click("#kirim").await;
    let sent = graph.wait_for(bot_replies + 1).await;
    assert_eq!(sent[bot_replies].json()["to"], "6281311112222");
    assert_eq!(
        text_sent(&sent[bot_replies]),
        "Pasar murah berikutnya hari Sabtu di Pasar Tebing Tinggi."
    );
    b.wait_text("Petugas sari").await;
    b.screenshot("03-percakapan").await;

    // Close a ticket; the citizen's channel gets the notification.
    let now = now_ms();
    file_ticket(
        &d,
        "ADU-2026-000042",
        "6281399990000",
        now - 4 * 86_400_000,
        now - 86_400_000,
    )
    .await;
    b.goto(&format!("{url}/admin/tiket?terlambat=1")).await;
    b.wait_text("ADU-2026-000042").await;
    b.screenshot("04-tiket-daftar").await;
    b.click("tr.tiket a").await;
    b.click("#status option[value=selesai]").await;
    b.type_in("#catatan", "Timbangan pedagang sudah ditera ulang.")
        .await;
    b.click("#simpan-status").await;
    b.find("#disimpan").await;
    b.screenshot("05-tiket").await;
    let sent = graph.wait_for(bot_replies + 2).await;
    assert_eq!(sent[bot_replies + 1].json()["to"], "6281399990000");
    let text = text_sent(&sent[bot_replies + 1]);
    assert!(
        text.contains("ADU-2026-000042") && text.contains("sudah ditera ulang"),
        "{text}"
    );

    // Statistics: the charts carry the real numbers.
    let inbound = d
        .store()
        .transcript(0)
        .await
        .unwrap()
        .iter()
        .filter(|l| l.direction == layan::Direction::In)
        .count();
    b.goto(&format!("{url}/admin/statistik")).await;
    b.find("#grafik-pesan svg").await;
    assert_eq!(b.text("#kpi-masuk b").await, inbound.to_string());
    let bars = b
        .eval("return Array.from(document.querySelectorAll('#grafik-pesan rect[data-value]')).reduce((s, r) => s + Number(r.dataset.value), 0)")
        .await;
    assert_eq!(
        bars.as_f64(),
        Some(inbound as f64),
        "bars sum to the messages"
    );
    let drawn = b
        .eval("return document.querySelector('#grafik-pesan svg').getBoundingClientRect().height")
        .await;
    assert!(
        drawn.as_f64().unwrap() > 100.0,
        "the chart is drawn: {drawn}"
    );
    b.screenshot("06-statistik").await;

    b.goto(&format!("{url}/admin/eskalasi")).await;
    b.wait_text("Tidak ada tiket yang terlambat").await;
    b.screenshot("06b-eskalasi").await;
    b.goto(&format!("{url}/admin/gagal")).await;
    b.wait_text("Semua pesan terkirim").await;
    b.screenshot("06c-gagal-terkirim").await;

    b.goto(&format!("{url}/admin/paket")).await;
    b.wait_text("perindag").await;
    b.screenshot("07-paket").await;

    // Phone width: nothing wider than the screen.
    b.resize(390, 844).await;
    b.goto(&format!("{url}/admin")).await;
    b.wait_text("Antrian percakapan").await;
    let fits = b
        .eval("return document.documentElement.scrollWidth <= window.innerWidth + 1")
        .await;
    assert_eq!(fits, true, "the dashboard fits a phone screen");
    b.screenshot("08-antrian-ponsel").await;
    b.resize(1280, 900).await;

    // Log out; the admin logs in with the keyboard alone (autofocus, Tab,
    // Enter) and reads in the audit log what the operator did.
    b.click(".logout button").await;
    b.find("#nama").await;
    b.keys("ani\u{E004}sandi-ani-1234\u{E007}").await;
    b.wait_text("Antrian percakapan").await;
    b.goto(&format!("{url}/admin/audit")).await;
    b.wait_text("status_tiket").await;
    let log = b.text("table").await;
    assert!(
        log.contains("sari") && log.contains("balas") && log.contains("keluar"),
        "{log}"
    );
    b.screenshot("10-audit").await;

    // The web chat answers, and its buttons work.
    b.goto(&format!("{url}/chat")).await;
    b.type_in("#text", "menu").await;
    b.click("#send").await;
    b.find(".choices button").await;
    let answers = b
        .eval("return document.querySelectorAll('#log .msg.bot').length")
        .await;
    b.click(".choices button").await;
    for _ in 0..100 {
        let now = b
            .eval("return document.querySelectorAll('#log .msg.bot').length")
            .await;
        if now.as_u64() > answers.as_u64() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = b
        .eval("return document.querySelectorAll('#log .msg.bot').length")
        .await;
    assert!(
        after.as_u64() > answers.as_u64(),
        "the button was answered ({answers} → {after})"
    );
    b.screenshot("09-web-chat").await;
    b.quit().await;
}
