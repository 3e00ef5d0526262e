//! The `http` action against a mock office system on 127.0.0.1.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use layan::{Engine, Inbound, Pack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::util::text;

/// A tiny HTTP server answering each request with the next scripted
/// `(status, body, delay)`, recording the request bodies.
async fn mock(
    script: Vec<(u16, &'static str, u64)>,
) -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/izin", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for (status, body, delay) in script {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read headers, then the body by Content-Length.
            let (head_end, length) = loop {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    break (i + 4, len);
                }
            };
            while buf.len() < head_end + length {
                let n = sock.read(&mut chunk).await.unwrap();
                buf.extend_from_slice(&chunk[..n]);
            }
            log.lock()
                .unwrap()
                .push(serde_json::from_slice(&buf[head_end..head_end + length]).unwrap());
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    (url, seen)
}

fn engine(url: &str, timeout: u64) -> Engine {
    let intents = format!(
        r#"
[[intent]]
id = "cek_izin"
patterns = ['izin (?P<nomor>\d+)']
action = "http"
http = {{ url = "{url}", timeout_seconds = {timeout}, retries = 2 }}
reply = "Izin {{nomor}}: {{http.status}} (diperbarui {{http.tanggal}})."
"#
    );
    let pack = Pack::from_files([
        (
            "pack.toml",
            "[pack]\nid = \"kota\"\nname = \"Kota\"\nversion = \"1\"\nlanguage = \"id\"\n"
                .to_owned(),
        ),
        ("intents/a.toml", intents),
    ])
    .unwrap();
    Engine::builder().pack(pack).build().unwrap()
}

#[tokio::test]
async fn the_answer_fills_the_reply_and_the_office_receives_the_values() {
    let (url, seen) = mock(vec![(
        200,
        r#"{"status":"sudah terbit","tanggal":"2026-11-20","kode":7}"#,
        0,
    )])
    .await;
    let e = engine(&url, 5);
    let out = e
        .handle_outcome(Inbound::text("whatsapp", "62812", "cek izin 2026001"))
        .await
        .unwrap();
    assert_eq!(
        text(&out),
        "Izin 2026001: sudah terbit (diperbarui 2026-11-20)."
    );
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["pack"], "kota");
    assert_eq!(got[0]["intent"], "cek_izin");
    assert_eq!(got[0]["channel"], "whatsapp");
    assert_eq!(got[0]["user"], "62812");
    assert_eq!(got[0]["values"]["nomor"], "2026001");
    assert_eq!(got[0]["text"], "cek izin 2026001");
}

#[tokio::test]
async fn server_errors_are_retried_then_the_citizen_hears_an_honest_message() {
    let (url, seen) = mock(vec![
        (500, "{}", 0),
        (503, "{}", 0),
        (200, r#"{"status":"diproses","tanggal":"kemarin"}"#, 0),
    ])
    .await;
    let out = engine(&url, 5)
        .handle_outcome(Inbound::text("t", "u", "izin 5"))
        .await
        .unwrap();
    assert_eq!(text(&out), "Izin 5: diproses (diperbarui kemarin).");
    assert_eq!(seen.lock().unwrap().len(), 3, "two retries after two 5xx");

    let (url, seen) = mock(vec![(500, "{}", 0), (500, "{}", 0), (500, "{}", 0)]).await;
    let out = engine(&url, 5)
        .handle_outcome(Inbound::text("t", "u", "izin 5"))
        .await
        .unwrap();
    assert!(text(&out).contains("sedang bermasalah"), "{}", text(&out));
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_slow_system_times_out_and_a_closed_port_fails_cleanly() {
    let (url, _) = mock(vec![
        (200, "{}", 3_000),
        (200, "{}", 3_000),
        (200, "{}", 3_000),
    ])
    .await;
    let out = engine(&url, 1)
        .handle_outcome(Inbound::text("t", "u", "izin 5"))
        .await
        .unwrap();
    assert!(text(&out).contains("sedang bermasalah"));

    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let out = engine(&url, 1)
        .handle_outcome(Inbound::text("t", "u", "izin 5"))
        .await
        .unwrap();
    assert!(text(&out).contains("sedang bermasalah"));
}

#[test]
fn an_http_action_without_a_url_is_a_pack_problem() {
    let err = Pack::from_files([
        (
            "pack.toml",
            "[pack]\nid = \"k\"\nname = \"K\"\nversion = \"1\"\nlanguage = \"id\"\n",
        ),
        (
            "intents/a.toml",
            "[[intent]]\nid = \"x\"\nexamples = [\"x\"]\naction = \"http\"\nreply = \"{http.a}\"\n",
        ),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("without an `http` table"), "{err}");
}

#[tokio::test]
async fn a_form_can_complete_by_posting_to_the_office() {
    let (url, seen) = mock(vec![(200, r#"{"nomor":"SKU-77"}"#, 0)]).await;
    let form = format!(
        r#"
[[form]]
id = "sku"
confirm = false
on_complete = "http"
http = {{ url = "{url}" }}
reply = "Permohonan {{slot.nama}} tercatat: {{http.nomor}}."

[[form.slot]]
name = "nama"
prompt = "Nama?"
"#
    );
    let pack = Pack::from_files([
        ("pack.toml", "[pack]\nid = \"k\"\nname = \"K\"\nversion = \"1\"\nlanguage = \"id\"\n".to_owned()),
        ("intents/a.toml", "[[intent]]\nid = \"sku\"\nexamples = [\"minta surat keterangan usaha\"]\nform = \"sku\"\n".to_owned()),
        ("forms/sku.toml", form),
    ])
    .unwrap();
    let e = Engine::builder().pack(pack).build().unwrap();
    assert!(
        text(
            &e.handle_outcome(Inbound::text("t", "u", "minta surat keterangan usaha"))
                .await
                .unwrap()
        )
        .contains("Nama?")
    );
    let out = e
        .handle_outcome(Inbound::text("t", "u", "Sari"))
        .await
        .unwrap();
    assert_eq!(
        text(&out).lines().next().unwrap(),
        "Permohonan Sari tercatat: SKU-77."
    );
    assert_eq!(seen.lock().unwrap()[0]["values"]["nama"], "Sari");
    assert_eq!(seen.lock().unwrap()[0]["form"], "sku");
}
