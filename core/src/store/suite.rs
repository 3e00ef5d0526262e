//! The store test suite, written once and run against every backend
//! (`MemoryStore`, `RedbStore`, and any an office writes): call
//! [`run`] from a test with a function that makes a fresh, empty store.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::{
    Changes, Direction, Handoff, HandoffState, HandoffTimes, InboxItem, OutboxMessage,
    OutboxUpdate, Store, Ticket, TicketStatus, TranscriptEntry,
};
use crate::message::Content;
use crate::session::{SaveOutcome, Session, SessionKey};

/// Runs every check against stores made by `make`; panics on the first failure.
pub async fn run<S: Store>(make: impl Fn() -> S) {
    compare_and_swap(&make()).await;
    conflicting_commit_writes_nothing(&make()).await;
    tickets_round_trip(&make()).await;
    sequences_are_unique_under_concurrency(Arc::new(make())).await;
    concurrent_commits_add_up(Arc::new(make())).await;
    racing_commits_one_wins(Arc::new(make())).await;
    counters_outbox_handoffs_transcript(&make()).await;
    one_conversations_transcript(&make()).await;
    a_conversation_written_with_its_session(&make()).await;
    inbox_deduplicates_and_clears_with_the_answer(&make()).await;
    outbox_retries_dead_letters_and_statuses(&make()).await;
}

fn saved(outcome: SaveOutcome) {
    assert!(matches!(outcome, SaveOutcome::Saved(_)), "{outcome:?}");
}

fn line(text: &str, time_ms: u64) -> TranscriptEntry {
    TranscriptEntry {
        time_ms,
        channel: "test".into(),
        user: "u".into(),
        direction: Direction::In,
        text: text.into(),
        intent: None,
        score: None,
        layer: None,
        latency_us: None,
        author: None,
    }
}

/// The texts of `lines`, in order.
fn texts(lines: Vec<TranscriptEntry>) -> Vec<String> {
    lines.into_iter().map(|l| l.text).collect()
}

fn ticket(id: &str, created_ms: u64) -> Ticket {
    Ticket {
        id: id.into(),
        form: "aduan".into(),
        channel: "test".into(),
        user: "u".into(),
        fields: BTreeMap::from([("nama".into(), "Budi".into())]),
        status: TicketStatus::Baru,
        history: Vec::new(),
        created_ms,
        due_ms: created_ms + 1000,
    }
}

async fn compare_and_swap(store: &impl Store) {
    let key = SessionKey::new("test", "u");
    assert_eq!(store.session(&key).await.unwrap(), None);
    let fresh = Session::default();
    let save = |s: &Session| Changes {
        session: Some((key.clone(), s.clone())),
        ..Changes::default()
    };
    assert_eq!(
        store.commit(save(&fresh)).await.unwrap(),
        SaveOutcome::Saved(1)
    );
    assert_eq!(
        store.commit(save(&fresh)).await.unwrap(),
        SaveOutcome::Conflict,
        "a stale writer must lose"
    );
    let mut loaded = store.session(&key).await.unwrap().expect("saved session");
    assert_eq!(loaded.version, 1);
    loaded.last_intent = Some("menu".into());
    assert_eq!(
        store.commit(save(&loaded)).await.unwrap(),
        SaveOutcome::Saved(2)
    );
    let again = store.session(&key).await.unwrap().unwrap();
    assert_eq!(again.last_intent.as_deref(), Some("menu"));
}

async fn conflicting_commit_writes_nothing(store: &impl Store) {
    let key = SessionKey::new("test", "u");
    let first = Changes {
        session: Some((key.clone(), Session::default())),
        ..Changes::default()
    };
    assert!(matches!(
        store.commit(first).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
    let mut stale = Changes {
        session: Some((key.clone(), Session::default())),
        transcript: vec![line("lost?", 5)],
        tickets: vec![ticket("ADU-2026-000009", 5)],
        ..Changes::default()
    };
    stale.count("in", 1);
    assert_eq!(store.commit(stale).await.unwrap(), SaveOutcome::Conflict);
    assert!(
        store.transcript(0).await.unwrap().is_empty(),
        "no transcript from a conflicting commit"
    );
    assert!(
        store.tickets().await.unwrap().is_empty(),
        "no ticket from a conflicting commit"
    );
    assert!(
        store.counters().await.unwrap().is_empty(),
        "no counter from a conflicting commit"
    );
}

async fn tickets_round_trip(store: &impl Store) {
    let a = ticket("ADU-2026-000001", 10);
    let b = ticket("ADU-2026-000002", 20);
    let commit = |t: Vec<Ticket>| Changes {
        tickets: t,
        ..Changes::default()
    };
    saved(
        store
            .commit(commit(vec![a.clone(), b.clone()]))
            .await
            .unwrap(),
    );
    let mut changed = a.clone();
    changed.status = TicketStatus::Diproses;
    saved(store.commit(commit(vec![changed.clone()])).await.unwrap());
    assert_eq!(
        store.ticket("ADU-2026-000001").await.unwrap(),
        Some(changed.clone())
    );
    assert_eq!(store.ticket("ADU-2026-999999").await.unwrap(), None);
    let all = store.tickets().await.unwrap();
    assert_eq!(all, vec![changed, b], "oldest first, replaced in place");
}

async fn sequences_are_unique_under_concurrency<S: Store>(store: Arc<S>) {
    let mut tasks = Vec::new();
    for _ in 0..1_000 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            store.next_number("ADU-2026").await.unwrap()
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        assert!(
            seen.insert(t.await.unwrap()),
            "a number was handed out twice"
        );
    }
    assert_eq!(seen.len(), 1_000);
    assert_eq!(seen.iter().max(), Some(&1_000));
    assert_eq!(
        store.next_number("PMH-2026").await.unwrap(),
        1,
        "sequences are independent"
    );
}

/// Many messages committed at once (a backend may apply them in one group):
/// every counter adds up, every transcript line and outbox message gets an
/// id of its own, ticket numbers drawn meanwhile stay unique, and a commit
/// refused for its stale session counts nothing.
async fn concurrent_commits_add_up<S: Store>(store: Arc<S>) {
    let stale = SessionKey::new("test", "basi");
    saved(
        store
            .commit(Changes {
                session: Some((stale.clone(), Session::default())),
                ..Changes::default()
            })
            .await
            .unwrap(),
    );
    let mut tasks = Vec::new();
    for i in 0..200 {
        let store = Arc::clone(&store);
        let stale = stale.clone();
        tasks.push(tokio::spawn(async move {
            let key = if i == 100 {
                // Version 0 of a session stored at version 1: a conflict.
                stale
            } else {
                SessionKey::new("test", &format!("warga{i}"))
            };
            let mut c = Changes {
                session: Some((key.clone(), Session::default())),
                transcript: vec![TranscriptEntry {
                    user: key.user.clone(),
                    ..line(&format!("pesan {i}"), i)
                }],
                outbox: vec![OutboxMessage {
                    channel: "test".into(),
                    user: key.user.clone(),
                    text: format!("jawaban {i}"),
                    ..OutboxMessage::default()
                }],
                ..Changes::default()
            };
            c.count("in:2026-11-26:test", 1);
            c.count("out:2026-11-26:test", 2);
            let outcome = store.commit(c).await.unwrap();
            let number = store.next_number("ADU-2026").await.unwrap();
            (outcome, number)
        }));
    }
    let mut numbers = HashSet::new();
    let mut conflicts = 0;
    for t in tasks {
        let (outcome, number) = t.await.unwrap();
        match outcome {
            SaveOutcome::Saved(_) => {}
            SaveOutcome::Conflict => conflicts += 1,
            other => panic!("{other:?}"),
        }
        assert!(numbers.insert(number), "a number was handed out twice");
    }
    assert_eq!(conflicts, 1, "the stale session is refused");
    let counters = store.counters().await.unwrap();
    assert_eq!(
        (
            counters["in:2026-11-26:test"],
            counters["out:2026-11-26:test"]
        ),
        (199, 398)
    );
    let lines = store.transcript(0).await.unwrap();
    let texts: HashSet<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!((lines.len(), texts.len()), (199, 199));
    assert!(
        !texts.contains("pesan 100"),
        "the refused commit wrote nothing"
    );
    let outbox = store.outbox().await.unwrap();
    let ids: HashSet<u64> = outbox.iter().map(|(id, _)| *id).collect();
    assert_eq!((outbox.len(), ids.len()), (199, 199));
    assert_eq!(
        store
            .conversation(&SessionKey::new("test", "warga7"), 0, 10)
            .await
            .unwrap()[0]
            .text,
        "pesan 7"
    );
}

/// Commits that race (a backend may apply them in one group): of twenty
/// writes of one session at the same version, one is saved and the others
/// conflict; of twenty messages with one provider id, one is saved and the
/// others are duplicates. Then the winners' state is what the next commit
/// is checked against.
async fn racing_commits_one_wins<S: Store>(store: Arc<S>) {
    let shared = SessionKey::new("test", "satu");
    let outcomes = |tasks: Vec<tokio::task::JoinHandle<SaveOutcome>>| async move {
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        all
    };
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (store, key) = (Arc::clone(&store), shared.clone());
        tasks.push(tokio::spawn(async move {
            let c = Changes {
                session: Some((key, Session::default())),
                transcript: vec![line(&format!("balapan {i}"), i)],
                ..Changes::default()
            };
            store.commit(c).await.unwrap()
        }));
    }
    let all = outcomes(tasks).await;
    let saved_count = all
        .iter()
        .filter(|o| matches!(o, SaveOutcome::Saved(1)))
        .count();
    let conflicts = all
        .iter()
        .filter(|o| matches!(o, SaveOutcome::Conflict))
        .count();
    assert_eq!((saved_count, conflicts), (1, 19), "{all:?}");
    assert_eq!(store.transcript(0).await.unwrap().len(), 1);

    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let key = SessionKey::new("test", &format!("kembar{i}"));
            let c = Changes {
                seen: Some((super::dedup_key("test", "wamid.sama"), 5)),
                session: Some((key, Session::default())),
                ..Changes::default()
            };
            store.commit(c).await.unwrap()
        }));
    }
    let all = outcomes(tasks).await;
    let duplicates = all
        .iter()
        .filter(|o| matches!(o, SaveOutcome::Duplicate))
        .count();
    assert_eq!(duplicates, 19, "{all:?}");
    assert!(store.is_seen("test", "wamid.sama").await.unwrap());

    // The winner is at version 1: a write at version 0 conflicts, one at
    // version 1 is saved as 2.
    let stale = Changes {
        session: Some((shared.clone(), Session::default())),
        ..Changes::default()
    };
    assert_eq!(store.commit(stale).await.unwrap(), SaveOutcome::Conflict);
    let current = store.session(&shared).await.unwrap().unwrap();
    assert_eq!(current.version, 1);
    let fresh = Changes {
        session: Some((shared.clone(), current)),
        ..Changes::default()
    };
    assert_eq!(store.commit(fresh).await.unwrap(), SaveOutcome::Saved(2));
}

async fn counters_outbox_handoffs_transcript(store: &impl Store) {
    let mut c = Changes::default();
    c.count("in:2026-11-26:test", 2);
    c.count("in:2026-11-26:test", 3);
    c.transcript = vec![line("a", 100), line("b", 200)];
    c.outbox = vec![OutboxMessage {
        channel: "test".into(),
        user: "u".into(),
        text: "Tiket Anda diproses".into(),
        buttons: Vec::new(),
        created_ms: 1,
        ..OutboxMessage::default()
    }];
    c.handoffs = vec![Handoff {
        channel: "test".into(),
        user: "u".into(),
        question: "tolong".into(),
        requested_ms: 1,
        first_answer_ms: None,
        state: HandoffState::Waiting,
        earlier: vec![HandoffTimes {
            requested_ms: 0,
            first_answer_ms: Some(1),
        }],
    }];
    saved(store.commit(c).await.unwrap());
    assert_eq!(store.counters().await.unwrap()["in:2026-11-26:test"], 5);
    let lines = store.transcript(150).await.unwrap();
    assert_eq!(
        lines.iter().map(|l| l.text.as_str()).collect::<Vec<_>>(),
        ["b"]
    );
    let outbox = store.outbox().await.unwrap();
    assert_eq!(outbox.len(), 1);
    store.ack_outbox(&[outbox[0].0]).await.unwrap();
    assert!(store.outbox().await.unwrap().is_empty());
    let mut h = store.handoffs().await.unwrap();
    assert_eq!(h.len(), 1);
    assert_eq!(
        h[0].earlier,
        [HandoffTimes {
            requested_ms: 0,
            first_answer_ms: Some(1)
        }],
        "the earlier hand-offs are kept with the current one"
    );
    h[0].state = HandoffState::Taken("sari".into());
    saved(
        store
            .commit(Changes {
                handoffs: h.clone(),
                ..Changes::default()
            })
            .await
            .unwrap(),
    );
    assert_eq!(
        store.handoffs().await.unwrap(),
        h,
        "one hand-off per conversation, replaced"
    );
    assert_eq!(
        store.handoff(&h[0].key()).await.unwrap().as_ref(),
        Some(&h[0])
    );
    let other = SessionKey::new(&h[0].channel, &format!("{}0", h[0].user));
    assert_eq!(
        store.handoff(&other).await.unwrap(),
        None,
        "no prefix match"
    );
}

/// Lines of three conversations, interleaved over several commits; users
/// `62812` and `628123` share a prefix, and `telegram` has the same user.
async fn one_conversations_transcript(store: &impl Store) {
    let said = |channel: &str, user: &str, text: &str, time_ms: u64| TranscriptEntry {
        channel: channel.into(),
        user: user.into(),
        ..line(text, time_ms)
    };
    for t in 0..5_u64 {
        let c = Changes {
            transcript: vec![
                said("whatsapp", "62812", &format!("a{t}"), 100 + t),
                said("whatsapp", "628123", &format!("b{t}"), 100 + t),
                said("telegram", "62812", &format!("c{t}"), 100 + t),
            ],
            ..Changes::default()
        };
        saved(store.commit(c).await.unwrap());
    }
    let key = SessionKey::new("whatsapp", "62812");
    assert_eq!(
        texts(store.conversation(&key, 0, 100).await.unwrap()),
        ["a0", "a1", "a2", "a3", "a4"]
    );
    assert_eq!(
        texts(store.conversation(&key, 0, 2).await.unwrap()),
        ["a3", "a4"],
        "the last lines, oldest first"
    );
    assert_eq!(
        texts(store.conversation(&key, 103, 100).await.unwrap()),
        ["a3", "a4"]
    );
    assert_eq!(
        texts(
            store
                .conversation(&SessionKey::new("whatsapp", "628123"), 0, 1)
                .await
                .unwrap()
        ),
        ["b4"]
    );
    assert!(
        store
            .conversation(&SessionKey::new("whatsapp", "6281"), 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A long conversation as the engine writes it: each message's lines in
/// the commit that saves the session, now and then a line of another
/// citizen in the same commit, and operator replies committed without the
/// session. Its lines come back complete and in order, however a backend
/// files them.
async fn a_conversation_written_with_its_session(store: &impl Store) {
    let key = SessionKey::new("whatsapp", "6281");
    let said = |user: &str, text: String, time_ms: u64| TranscriptEntry {
        channel: "whatsapp".into(),
        user: user.into(),
        ..line(&text, time_ms)
    };
    let mut want = Vec::new();
    let mut session = Session::default();
    for t in 0..100_u64 {
        let mut transcript = vec![
            said("6281", format!("m{t}"), 10 * t),
            said("6281", format!("r{t}"), 10 * t + 1),
        ];
        want.extend([format!("m{t}"), format!("r{t}")]);
        if t % 10 == 0 {
            transcript.insert(1, said("6282", format!("x{t}"), 10 * t));
        }
        let c = Changes {
            session: Some((key.clone(), session.clone())),
            transcript,
            ..Changes::default()
        };
        let SaveOutcome::Saved(version) = store.commit(c).await.unwrap() else {
            panic!("message {t} not saved");
        };
        session.version = version;
        if t % 7 == 3 {
            let c = Changes {
                transcript: vec![said("6281", format!("op{t}"), 10 * t + 2)],
                ..Changes::default()
            };
            saved(store.commit(c).await.unwrap());
            want.push(format!("op{t}"));
        }
    }
    assert_eq!(
        texts(store.conversation(&key, 0, 1000).await.unwrap()),
        want
    );
    assert_eq!(
        texts(store.conversation(&key, 0, 5).await.unwrap()),
        ["r97", "m98", "r98", "m99", "r99"],
        "the last lines, oldest first"
    );
    assert_eq!(
        texts(store.conversation(&key, 942, 100).await.unwrap()),
        [
            "op94", "m95", "r95", "m96", "r96", "m97", "r97", "m98", "r98", "m99", "r99"
        ]
    );
    assert_eq!(
        texts(
            store
                .conversation(&SessionKey::new("whatsapp", "6282"), 0, 100)
                .await
                .unwrap()
        ),
        [
            "x0", "x10", "x20", "x30", "x40", "x50", "x60", "x70", "x80", "x90"
        ]
    );
    let stored = store.session(&key).await.unwrap().expect("saved session");
    assert_eq!(stored.version, 100);
}

fn inbox_item(id: &str, received_ms: u64) -> InboxItem {
    InboxItem {
        channel: "whatsapp".into(),
        user: "6281234567890".into(),
        message_id: id.into(),
        content: Content::Text(format!("pesan {id}")),
        time_ms: received_ms,
        received_ms,
        profile_name: Some("Budi".into()),
    }
}

async fn inbox_deduplicates_and_clears_with_the_answer(store: &impl Store) {
    let ids = store
        .accept(vec![inbox_item("wamid.1", 10), inbox_item("wamid.2", 20)])
        .await
        .unwrap();
    assert!(ids.iter().all(Option::is_some), "{ids:?}");
    let again = store
        .accept(vec![inbox_item("wamid.2", 30), inbox_item("wamid.3", 30)])
        .await
        .unwrap();
    assert_eq!(again[0], None, "a provider's retry is dropped");
    assert!(again[1].is_some());
    let mut other = inbox_item("wamid.1", 40);
    other.channel = "telegram".into();
    assert!(
        store.accept(vec![other]).await.unwrap()[0].is_some(),
        "ids are unique per channel only"
    );
    let pending = store.inbox().await.unwrap();
    assert_eq!(pending.len(), 4);
    assert_eq!(
        pending[0].1,
        inbox_item("wamid.1", 10),
        "kept whole, in order"
    );
    // The answer and the inbox entry go together.
    saved(
        store
            .commit(Changes {
                inbox_done: vec![pending[0].0],
                outbox: vec![OutboxMessage {
                    channel: "whatsapp".into(),
                    user: "6281234567890".into(),
                    text: "jawaban".into(),
                    reply_to: Some("wamid.1".into()),
                    ..OutboxMessage::default()
                }],
                ..Changes::default()
            })
            .await
            .unwrap(),
    );
    assert_eq!(store.inbox().await.unwrap().len(), 3);
    assert_eq!(store.outbox().await.unwrap().len(), 1);
    // Accepted and answered in one commit: a second time is a duplicate
    // and writes nothing; a conflicting session records no id either.
    let direct = |id: &str| Changes {
        seen: Some((super::dedup_key("whatsapp", id), 60)),
        outbox: vec![OutboxMessage {
            text: format!("jawaban {id}"),
            ..OutboxMessage::default()
        }],
        ..Changes::default()
    };
    assert!(!store.is_seen("whatsapp", "wamid.D").await.unwrap());
    saved(store.commit(direct("wamid.D")).await.unwrap());
    assert!(store.is_seen("whatsapp", "wamid.D").await.unwrap());
    assert!(!store.is_seen("telegram", "wamid.D").await.unwrap());
    let outbox_len = store.outbox().await.unwrap().len();
    assert_eq!(
        store.commit(direct("wamid.D")).await.unwrap(),
        SaveOutcome::Duplicate
    );
    assert_eq!(store.outbox().await.unwrap().len(), outbox_len);
    assert_eq!(
        store.accept(vec![inbox_item("wamid.D", 70)]).await.unwrap()[0],
        None
    );
    let mut stale = direct("wamid.S");
    stale.session = Some((
        SessionKey::new("whatsapp", "x"),
        Session {
            version: 7,
            ..Session::default()
        },
    ));
    assert_eq!(store.commit(stale).await.unwrap(), SaveOutcome::Conflict);
    assert!(
        !store.is_seen("whatsapp", "wamid.S").await.unwrap(),
        "a conflict records nothing"
    );
    // The session and the provider id in one read: a seen id hides the
    // session; an unseen one gives it (or none yet).
    let key = SessionKey::new("whatsapp", "y");
    let mut with_session = direct("wamid.Y");
    with_session.session = Some((
        key.clone(),
        Session {
            last_intent: Some("salam".into()),
            ..Session::default()
        },
    ));
    assert_eq!(
        store.session_if_unseen(&key, "wamid.Y").await.unwrap(),
        Some(None)
    );
    saved(store.commit(with_session).await.unwrap());
    assert_eq!(
        store.session_if_unseen(&key, "wamid.Y").await.unwrap(),
        None
    );
    let fresh = store
        .session_if_unseen(&key, "wamid.Z")
        .await
        .unwrap()
        .flatten()
        .expect("the stored session");
    assert_eq!(fresh.last_intent.as_deref(), Some("salam"));
    assert_eq!(fresh.version, 1);
    // Forgetting old ids lets the same id in again (past the retention).
    assert_eq!(store.forget_seen(25).await.unwrap(), 2);
    assert!(store.accept(vec![inbox_item("wamid.1", 50)]).await.unwrap()[0].is_some());
    assert_eq!(
        store.accept(vec![inbox_item("wamid.3", 50)]).await.unwrap()[0],
        None
    );
}

async fn outbox_retries_dead_letters_and_statuses(store: &impl Store) {
    let message = |text: &str| OutboxMessage {
        channel: "whatsapp".into(),
        user: "6281234567890".into(),
        text: text.into(),
        ..OutboxMessage::default()
    };
    saved(
        store
            .commit(Changes {
                outbox: vec![message("satu"), message("dua"), message("tiga")],
                ..Changes::default()
            })
            .await
            .unwrap(),
    );
    let queued = store.outbox().await.unwrap();
    let (a, b, c) = (queued[0].0, queued[1].0, queued[2].0);
    let after_a = store.outbox_after(a).await.unwrap();
    assert_eq!(
        after_a.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        [b, c],
        "only what came after"
    );
    assert!(store.outbox_after(c).await.unwrap().is_empty());
    store
        .update_outbox(vec![
            OutboxUpdate::Sent {
                id: a,
                provider_id: Some("wamid.out1".into()),
                time_ms: 5,
            },
            OutboxUpdate::Retry {
                id: b,
                attempts: 1,
                not_before_ms: 900,
                error: "http 429".into(),
            },
            OutboxUpdate::Dead {
                id: c,
                reason: "outside_24h_window".into(),
                detail: "131047".into(),
                time_ms: 6,
            },
        ])
        .await
        .unwrap();
    let left = store.outbox().await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].0, b);
    assert_eq!(left[0].1.attempts, 1);
    assert_eq!(left[0].1.not_before_ms, 900);
    assert_eq!(left[0].1.last_error.as_deref(), Some("http 429"));
    let dead = store.dead_letters().await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message.text, "tiga");
    assert_eq!(dead[0].reason, "outside_24h_window");
    let sent = store
        .delivery("whatsapp", "wamid.out1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sent.status, "sent");
    store
        .update_outbox(vec![OutboxUpdate::Status {
            channel: "whatsapp".into(),
            provider_id: "wamid.out1".into(),
            status: "read".into(),
            error: None,
            time_ms: 9,
        }])
        .await
        .unwrap();
    let read = store
        .delivery("whatsapp", "wamid.out1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((read.status.as_str(), read.time_ms), ("read", 9));
    assert_eq!(store.delivery("whatsapp", "nope").await.unwrap(), None);
    // Old delivery records go with old provider ids.
    assert_eq!(store.forget_seen(9).await.unwrap(), 0);
    assert_eq!(store.forget_seen(10).await.unwrap(), 1);
    assert_eq!(
        store.delivery("whatsapp", "wamid.out1").await.unwrap(),
        None
    );
}
