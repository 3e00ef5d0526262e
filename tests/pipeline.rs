//! The delivery pipeline with an in-process channel: order, deduplication,
//! retries, dead letters, resuming after a restart, `LANJUT` and menu pages.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::util::until;
use layan::{
    Capabilities, Channel, Engine, Inbound, MemoryStore, Outgoing, Pack, Pipeline, PipelineConfig,
    SendError, Sent, Store,
};

/// A channel that records what it is asked to send, failing as scripted.
struct Recorder {
    caps: Capabilities,
    sent: Mutex<Vec<(String, Outgoing)>>,
    failures: Mutex<VecDeque<SendError>>,
}

impl Recorder {
    fn new(caps: Capabilities) -> Arc<Self> {
        Arc::new(Self {
            caps,
            sent: Mutex::new(Vec::new()),
            failures: Mutex::new(VecDeque::new()),
        })
    }

    fn fail_next(&self, errors: impl IntoIterator<Item = SendError>) {
        self.failures.lock().unwrap().extend(errors);
    }

    fn texts(&self, user: &str) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(u, _)| u == user)
            .map(|(_, m)| m.text().to_owned())
            .collect()
    }

    fn count(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

#[async_trait::async_trait]
impl Channel for Recorder {
    fn name(&self) -> &str {
        "rekam"
    }

    fn capabilities(&self) -> Capabilities {
        self.caps.clone()
    }

    async fn send(&self, user: &str, message: &Outgoing) -> Result<Sent, SendError> {
        if let Some(e) = self.failures.lock().unwrap().pop_front() {
            return Err(e);
        }
        let mut sent = self.sent.lock().unwrap();
        sent.push((user.to_owned(), message.clone()));
        Ok(Sent {
            provider_id: Some(format!("out-{}", sent.len())),
        })
    }
}

fn echo_pack() -> Pack {
    Pack::load(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/echo")).expect("echo pack")
}

fn fast() -> PipelineConfig {
    PipelineConfig {
        burst_window: Duration::from_millis(200),
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        max_attempts: 4,
        ..PipelineConfig::default()
    }
}

async fn start(store: Arc<dyn Store>, channel: &Arc<Recorder>) -> Pipeline {
    let engine = Engine::builder()
        .pack(echo_pack())
        .shared_store(store)
        .build()
        .unwrap();
    Pipeline::start(engine, vec![channel.clone() as Arc<dyn Channel>], fast())
        .await
        .unwrap()
}

fn message(user: &str, id: &str, text: &str) -> Inbound {
    let mut m = Inbound::text("rekam", user, text);
    m.message_id = id.to_owned();
    m
}

#[tokio::test]
async fn each_citizen_is_answered_in_order_and_duplicates_once() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let channel = Recorder::new(Capabilities::whatsapp());
    let pipeline = start(store.clone(), &channel).await;
    let users: Vec<String> = (0..8).map(|u| format!("62812000{u}")).collect();
    let mut tasks = Vec::new();
    for user in &users {
        let (p, user) = (pipeline.clone(), user.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let id = format!("{user}-{i}");
                let first = p
                    .submit(vec![message(&user, &id, &format!("pesan {i}"))])
                    .await;
                assert_eq!(first.unwrap().accepted, 1);
                // The provider retries the same delivery: dropped.
                let again = p
                    .submit(vec![message(&user, &id, &format!("pesan {i}"))])
                    .await;
                assert_eq!(again.unwrap().duplicates, 1);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    until("every reply", || channel.count() == 8 * 25).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(channel.count(), 8 * 25, "nothing twice");
    for user in &users {
        let want: Vec<String> = (0..25).map(|i| format!("terima {i}")).collect();
        assert_eq!(channel.texts(user), want, "order for {user}");
    }
    assert!(store.inbox().await.unwrap().is_empty());
    assert!(store.outbox().await.unwrap().is_empty());
    let metrics = pipeline.metrics_text();
    assert!(
        metrics.contains("layan_messages_in_total{channel=\"rekam\"} 200"),
        "{metrics}"
    );
    assert!(metrics.contains("layan_duplicates_total{channel=\"rekam\"} 200"));
    assert!(metrics.contains("layan_messages_out_total{channel=\"rekam\"} 200"));
}

#[tokio::test]
async fn retryable_failures_are_retried_and_final_ones_dead_lettered() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let channel = Recorder::new(Capabilities::whatsapp());
    channel.fail_next([
        SendError::from_http_status(429, "too many"),
        SendError::from_http_status(503, "unavailable"),
    ]);
    let pipeline = start(store.clone(), &channel).await;
    pipeline
        .submit(vec![message("a", "a-1", "pesan 1")])
        .await
        .unwrap();
    until("the retried reply", || channel.count() == 1).await;
    assert_eq!(channel.texts("a"), ["terima 1"]);

    channel.fail_next([SendError::fatal("outside_24h_window", "131047")]);
    pipeline
        .submit(vec![message("a", "a-2", "pesan 2")])
        .await
        .unwrap();
    let s = store.clone();
    until("a dead letter", || {
        futures_now(s.dead_letters()).is_some_and(|d| d.len() == 1)
    })
    .await;
    let dead = store.dead_letters().await.unwrap();
    assert_eq!(dead[0].reason, "outside_24h_window");
    assert_eq!(dead[0].message.text, "terima 2");
    assert_eq!(dead[0].message.reply_to.as_deref(), Some("a-2"));

    // Four retryable failures in a row exhaust max_attempts = 4.
    channel.fail_next((0..4).map(|_| SendError::from_http_status(500, "boom")));
    pipeline
        .submit(vec![message("a", "a-3", "pesan 3")])
        .await
        .unwrap();
    let s = store.clone();
    until("exhausted attempts", || {
        futures_now(s.dead_letters()).is_some_and(|d| d.len() == 2)
    })
    .await;
    assert_eq!(
        store.dead_letters().await.unwrap()[1].reason,
        "attempts_exhausted"
    );
    // The citizen's later messages are not blocked by a dead letter.
    pipeline
        .submit(vec![message("a", "a-4", "pesan 4")])
        .await
        .unwrap();
    until("the next reply", || channel.count() == 2).await;
    assert_eq!(channel.texts("a"), ["terima 1", "terima 4"]);
    let metrics = pipeline.metrics_text();
    assert!(metrics.contains("reason=\"rate_limited\""), "{metrics}");
    assert!(metrics.contains("layan_dead_letters_total"), "{metrics}");
}

/// Polls a store future once to completion (memory-store futures are ready at once).
fn futures_now<T>(f: impl std::future::Future<Output = layan::Result<T>>) -> Option<T> {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(r) => r.ok(),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test]
async fn pending_inbox_and_outbox_resume_on_start() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    // Accepted by an earlier process that died before answering.
    let items = vec![
        layan::InboxItem::of(&message("b", "b-1", "pesan 1"), 1),
        layan::InboxItem::of(&message("b", "b-2", "pesan 2"), 2),
    ];
    store.accept(items).await.unwrap();
    let channel = Recorder::new(Capabilities::whatsapp());
    let _pipeline = start(store.clone(), &channel).await;
    until("resumed replies", || channel.count() == 2).await;
    assert_eq!(channel.texts("b"), ["terima 1", "terima 2"]);
}

#[tokio::test]
async fn a_long_answer_is_cut_at_the_budget_and_continued_on_lanjut() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let caps = Capabilities {
        budget: Some(160),
        ..Capabilities::plain(1_600)
    };
    let channel = Recorder::new(caps);
    let pipeline = start(store, &channel).await;
    pipeline
        .submit(vec![message("c", "c-1", "jawaban panjang")])
        .await
        .unwrap();
    until("the first part", || channel.count() == 1).await;
    let first = channel.texts("c")[0].clone();
    assert!(first.chars().count() <= 160, "{first}");
    assert!(first.starts_with("Kalimat pertama"), "{first}");
    assert!(
        first.ends_with("(Balas LANJUT untuk membaca selanjutnya.)"),
        "{first}"
    );
    let mut seen = first.clone();
    for n in 2..10 {
        if !channel.texts("c").last().unwrap().contains("LANJUT") {
            break;
        }
        pipeline
            .submit(vec![message("c", &format!("c-{n}"), "lanjut")])
            .await
            .unwrap();
        until("the next part", || channel.count() == n).await;
        let part = channel.texts("c").last().unwrap().clone();
        assert!(part.chars().count() <= 160, "{part}");
        seen.push_str(&part);
    }
    assert!(
        seen.contains("Kalimat keenam menutup jawaban ini."),
        "{seen}"
    );
}

#[tokio::test]
async fn a_menu_longer_than_a_page_offers_lainnya() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let caps = Capabilities {
        max_buttons: 3,
        max_list_rows: 0,
        ..Capabilities::telegram()
    };
    let channel = Recorder::new(caps);
    let pipeline = start(store, &channel).await;
    pipeline
        .submit(vec![message("d", "d-1", "menu")])
        .await
        .unwrap();
    until("the menu", || channel.count() == 1).await;
    let Outgoing::Buttons { buttons, .. } = channel.sent.lock().unwrap()[0].1.clone() else {
        panic!("buttons expected");
    };
    let titles: Vec<&str> = buttons.iter().map(|b| b.title.as_str()).collect();
    assert_eq!(titles, ["Gema", "Satu", "Lainnya"]);
    let mut press = Inbound::payload("rekam", "d", &buttons[2].payload);
    press.message_id = "d-2".into();
    pipeline.submit(vec![press]).await.unwrap();
    until("the next page", || channel.count() == 2).await;
    let Outgoing::Buttons { buttons, .. } = channel.sent.lock().unwrap()[1].1.clone() else {
        panic!("buttons expected");
    };
    let pages: BTreeMap<_, _> = buttons
        .iter()
        .map(|b| (b.title.as_str(), b.payload.as_str()))
        .collect();
    assert_eq!(pages, BTreeMap::from([("Dua", "dua"), ("Tiga", "tiga")]));
}
