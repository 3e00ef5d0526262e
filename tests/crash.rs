//! The crash test: a burst of signed WhatsApp webhooks from 20 citizens,
//! `layan serve` killed with SIGKILL in the middle and restarted on the same
//! data, while the "provider" keeps redelivering what was not acknowledged
//! (and, after the restart, everything once more). Every message must be
//! answered, in order per citizen, and nothing answered twice — except the
//! few replies the provider had accepted when the process died, before
//! their delivery was recorded (at most `max_concurrent_sends` of them:
//! delivery to a provider without idempotency keys is at-least-once).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::channels::{graph_ok, wa_signed, wa_text, whatsapp_section};
use crate::mock::Mock;

const CITIZENS: usize = 20;
const MESSAGES: usize = 10;
const MAX_CONCURRENT_SENDS: usize = 4;

fn spawn(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_layan"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("layan serve starts")
}

async fn wait_healthy(http: &reqwest::Client, url: &str) {
    for _ in 0..1_000 {
        if let Ok(r) = http.get(format!("{url}/healthz")).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("layan serve did not become healthy");
}

/// Posts until the server answers 200, as a provider retries.
async fn deliver(http: &reqwest::Client, url: &str, body: Vec<u8>) {
    let headers = wa_signed(&body);
    loop {
        let mut r = http
            .post(format!("{url}/webhooks/whatsapp"))
            .body(body.clone())
            .timeout(Duration::from_secs(5));
        for (k, v) in &headers {
            r = r.header(*k, v);
        }
        if let Ok(resp) = r.send().await
            && resp.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A `layan serve` config on a free loopback port, the echo pack and a
/// WhatsApp channel pointing at `graph`; returns its folder, file and URL.
fn config_for(
    graph: &Mock,
    backend: &str,
    delivery: &str,
) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("layan.toml");
    std::fs::write(
        &config,
        format!(
            r#"
            [server]
            listen = "127.0.0.1:{port}"
            public_url = "{url}"
            [store]
            path = "data"
            backend = "{backend}"
            [pack]
            path = "{pack}"
            [delivery]
            {delivery}
            {wa}
            {users}
            "#,
            pack = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/echo"),
            wa = whatsapp_section(&graph.url),
            users = crate::admin::users_toml(),
        ),
    )
    .unwrap();
    (dir, config, url)
}

fn replies_by_citizen(graph: &Mock) -> BTreeMap<String, Vec<String>> {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in graph.requests() {
        let v = r.json();
        by.entry(v["to"].as_str().unwrap().to_owned())
            .or_default()
            .push(v["text"]["body"].as_str().unwrap().to_owned());
    }
    by
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_burst_loses_nothing_and_keeps_order() {
    sigkill_mid_burst("redb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_burst_loses_nothing_and_keeps_order_on_the_journal() {
    sigkill_mid_burst("journal").await;
}

async fn sigkill_mid_burst(backend: &str) {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let (_dir, config, url) = config_for(
        &graph,
        backend,
        &format!(
            "backoff_base_ms = 20\nbackoff_max_ms = 200\nmax_concurrent_sends = {MAX_CONCURRENT_SENDS}"
        ),
    );
    let http = reqwest::Client::new();
    let mut child = spawn(&config);
    wait_healthy(&http, &url).await;

    // Twenty citizens, each sending ten messages in order, as fast as the
    // server acknowledges them.
    let citizens: Vec<String> = (0..CITIZENS).map(|c| format!("6281300{c:05}")).collect();
    let bodies = |c: &str| -> Vec<Vec<u8>> {
        (0..MESSAGES)
            .map(|i| wa_text(c, &format!("wamid.{c}.{i}"), &format!("pesan {i}")))
            .collect()
    };
    let mut senders = Vec::new();
    for c in &citizens {
        let (http, url, bodies) = (http.clone(), url.clone(), bodies(c));
        senders.push(tokio::spawn(async move {
            for body in bodies {
                deliver(&http, &url, body).await;
            }
        }));
    }
    // Kill in the middle of the burst: some answered, many not yet.
    for _ in 0..2_000 {
        if graph.requests().len() >= CITIZENS * MESSAGES / 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = graph.requests().len();
    assert!(
        at_kill < CITIZENS * MESSAGES,
        "the kill must land mid-burst ({at_kill} replies already)"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut child = spawn(&config);
    wait_healthy(&http, &url).await;
    for s in senders {
        s.await.unwrap();
    }
    // The provider redelivers everything once more: all duplicates now.
    for c in &citizens {
        for body in bodies(c) {
            deliver(&http, &url, body).await;
        }
    }
    for _ in 0..3_000 {
        let answered: usize = replies_by_citizen(&graph)
            .values()
            .map(|v| {
                let mut v = v.clone();
                v.dedup();
                v.len()
            })
            .sum();
        if answered >= CITIZENS * MESSAGES {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    child.kill().unwrap();
    child.wait().unwrap();

    let replies = replies_by_citizen(&graph);
    let want: Vec<String> = (0..MESSAGES).map(|i| format!("terima {i}")).collect();
    let mut duplicates = 0;
    for c in &citizens {
        let got = replies.get(c).cloned().unwrap_or_default();
        let mut once = got.clone();
        once.dedup();
        duplicates += got.len() - once.len();
        assert_eq!(once, want, "{c}: every message answered, in order");
    }
    eprintln!(
        "{backend}: killed after {at_kill} replies; {duplicates} sent twice after the restart"
    );
    assert!(
        duplicates <= MAX_CONCURRENT_SENDS,
        "{duplicates} replies sent twice; only sends in flight at the kill may repeat"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_gracefully_and_the_next_start_resumes() {
    let graph = Mock::start(|_, n| graph_ok(n)).await;
    let (_dir, config, url) = config_for(&graph, "redb", "");
    let http = reqwest::Client::new();
    let mut child = spawn(&config);
    wait_healthy(&http, &url).await;
    deliver(&http, &url, wa_text("628555", "wamid.T1", "pesan 1")).await;
    graph.wait_for(1).await;
    // An operator's dashboard tab holds a live stream open: it must not
    // keep the server from stopping.
    let sari = crate::admin::Staff::login(&url, "sari").await;
    let mut live = reqwest::Client::new()
        .get(format!("{url}/admin/langsung/antrian"))
        .header("cookie", &sari.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    assert!(live.chunk().await.unwrap().is_some(), "the stream is open");
    // And a web chat page waits for answers (up to 25 s per poll).
    let chat = tokio::spawn(
        reqwest::Client::new()
            .get(format!("{url}/chat/api/messages?user=pengunjung1&after=0"))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let mut exited = None;
    for _ in 0..1_500 {
        if let Some(status) = child.try_wait().unwrap() {
            exited = Some(status);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = exited.expect("layan serve exits within 15 s of SIGTERM");
    while let Ok(Some(_)) = live.chunk().await {}
    let _ = chat.await;
    assert!(status.success(), "a clean exit: {status:?}");
    // The same data folder opens again (the lock was released) and remembers.
    let mut child = spawn(&config);
    wait_healthy(&http, &url).await;
    deliver(&http, &url, wa_text("628555", "wamid.T1", "pesan 1")).await;
    deliver(&http, &url, wa_text("628555", "wamid.T2", "pesan 2")).await;
    graph.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let texts: Vec<String> = graph
        .requests()
        .iter()
        .map(|r| r.json()["text"]["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts,
        ["terima 1", "terima 2"],
        "the redelivered message was not answered again"
    );
}
