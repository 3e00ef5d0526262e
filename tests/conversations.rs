//! Conversations that remember: forms, tickets, hand-off, durability.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use layan::{
    ActionContext, ActionError, ActionOutput, Direction, Engine, Inbound, MemoryStore, Pack,
    RedbStore, SessionKey, Store, TicketStatus,
};

use crate::util::{engine, say, text};

#[tokio::test]
async fn the_reference_pack_passes_its_conversation_tests() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("intents/perindag");
    let pack = Pack::load(&dir).unwrap();
    let files = layan::packtest::read_tests(&dir).unwrap();
    let results = layan::packtest::run(&pack, &files).await.unwrap();
    assert!(results.len() >= 20, "only {} conversations", results.len());
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("{}: {:?}", r.name, r.failures))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

async fn file_complaint(engine: &Engine, user: &str) -> String {
    for line in [
        "#aduan",
        "Budi",
        "081234567890",
        "1",
        "timbangan di pasar curang",
        "lewati",
        "lewati",
    ] {
        say(engine, user, line).await;
    }
    say(engine, user, "ya").await.ticket.expect("a ticket")
}

#[tokio::test]
async fn operators_change_tickets_and_citizens_are_notified() {
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .pack(layan::bundled::pack().unwrap())
        .shared_store(store.clone() as Arc<dyn Store>)
        .build()
        .unwrap();
    let id = file_complaint(&engine, "ani").await;
    let t = engine
        .set_ticket_status(&id, TicketStatus::Diproses, "sari", "Dijadwalkan Kamis")
        .await
        .unwrap();
    assert_eq!(t.history.len(), 2);
    assert_eq!(t.history[1].actor, "sari");
    let outbox = store.outbox().await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        (outbox[0].1.channel.as_str(), outbox[0].1.user.as_str()),
        ("test", "ani")
    );
    assert!(outbox[0].1.text.contains("kini *diproses*"));

    engine
        .set_ticket_status(&id, TicketStatus::Selesai, "sari", "")
        .await
        .unwrap();
    assert_eq!(say(&engine, "ani", "5").await.intent, "penilaian");
    let stats = engine.stats().await.unwrap();
    assert_eq!(stats.tickets.total, 1);
    assert_eq!(stats.tickets.by_status["selesai"], 1);
    assert_eq!(stats.csat.responses, 1);
    assert!((stats.csat.average - 5.0).abs() < 1e-9);
    assert!(stats.messages_in >= 9);
    assert!(
        engine
            .set_ticket_status("ADU-2026-999999", TicketStatus::Selesai, "sari", "")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn one_conversation_is_handled_in_order_without_lost_updates() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let engine = Engine::builder()
        .pack(layan::bundled::pack().unwrap())
        .shared_store(store.clone() as Arc<dyn Store>)
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let t = if i % 2 == 0 { "menu" } else { "izin usaha" };
            engine
                .handle(Inbound::text("test", "sama", t))
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        assert!(!t.await.unwrap().is_empty());
    }
    let session = store
        .session(&SessionKey::new("test", "sama"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        session.version, 100,
        "every message saved its session: no lost update"
    );
    let lines = store.transcript(0).await.unwrap();
    assert_eq!(lines.len(), 200);
    // Each message's reply directly follows it: messages never interleave.
    for pair in lines.chunks(2) {
        assert_eq!(pair[0].direction, Direction::In);
        assert_eq!(pair[1].direction, Direction::Out);
        assert_eq!(pair[0].intent, pair[1].intent);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_tickets_filed_at_once_get_unique_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let mut tasks = Vec::new();
    for _ in 0..1_000 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.next_number("ADU-2026").await.unwrap()
        }));
    }
    let mut numbers = std::collections::HashSet::new();
    for t in tasks {
        assert!(numbers.insert(t.await.unwrap()));
    }
    assert_eq!(numbers.len(), 1_000);
}

#[tokio::test]
async fn custom_actions_answer_from_the_office_data() {
    let pack = Pack::from_files([
        (
            "pack.toml",
            "[pack]\nid = \"x\"\nname = \"X\"\nversion = \"1\"\nlanguage = \"id\"\n",
        ),
        (
            "intents/a.toml",
            r#"
[[intent]]
id = "cek_izin"
patterns = ['izin (?P<nomor>\d{4,})']
action = "cek_izin"
reply = "Izin {nomor}: {action.status}."
"#,
        ),
    ])
    .unwrap();
    let engine = Engine::builder()
        .pack(pack.clone())
        .action("cek_izin", |ctx: ActionContext| async move {
            match ctx.values.get("nomor").map(String::as_str) {
                Some("1234") => Ok(ActionOutput {
                    vars: [("status".to_owned(), "sudah terbit".to_owned())].into(),
                }),
                _ => Err(ActionError("not in the register".to_owned())),
            }
        })
        .build()
        .unwrap();
    assert_eq!(
        text(&say(&engine, "u", "cek izin 1234").await),
        "Izin 1234: sudah terbit."
    );
    assert!(text(&say(&engine, "u", "cek izin 9999").await).contains("sedang bermasalah"));

    let unregistered = Engine::builder().pack(pack).build();
    assert!(unregistered.unwrap_err().to_string().contains("cek_izin"));
}

#[test]
fn another_backends_data_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("BACKEND"), "sled\n").unwrap();
    let err = RedbStore::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("`sled` backend"), "{err}");
}

/// A `layan chat` child process on `data`, fed one line at a time.
struct Chat {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Chat {
    fn start(data: &std::path::Path, backend: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_layan"))
            .args([
                "chat",
                "--data",
                data.to_str().unwrap(),
                "--user",
                "warga-9",
                "--backend",
                backend,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// Sends `line` and waits until the reply contains `expect`.
    fn say(&mut self, line: &str, expect: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        let mut seen = String::new();
        loop {
            let l = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no {expect:?} after {line:?}; saw:\n{seen}"));
            seen.push_str(&l);
            seen.push('\n');
            if l.contains(expect) {
                return seen;
            }
        }
    }
}

#[test]
fn a_form_survives_sigkill_and_continues_after_restart_redb() {
    sigkill_then_continue("redb", |dir| {
        layan::open_store(layan::Backend::Redb, dir).unwrap()
    });
}

#[test]
fn a_form_survives_sigkill_and_continues_after_restart_journal() {
    sigkill_then_continue("journal", |dir| {
        layan::open_store(layan::Backend::Journal, dir).unwrap()
    });
}

#[cfg(feature = "sled")]
#[test]
fn a_form_survives_sigkill_and_continues_after_restart_sled() {
    sigkill_then_continue("sled", |dir| {
        layan::open_store(layan::Backend::Sled, dir).unwrap()
    });
}

#[test]
fn the_other_backends_folder_is_refused_by_the_cli() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("BACKEND"), "sled\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_layan"))
        .args([
            "chat",
            "--data",
            data.path().to_str().unwrap(),
            "--backend",
            "redb",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("`sled` backend"));
}

#[test]
fn a_folder_is_opened_with_its_own_backend_when_none_is_given() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let chat = |args: &[&str], line: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_layan"))
            .args(["chat", "--data", d])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{line}").unwrap();
        child.wait_with_output().unwrap()
    };
    let first = chat(&["--backend", "journal"], "#aduan");
    assert!(first.status.success());
    // No --backend: the journal folder is read as a journal, and the open
    // form is remembered.
    let second = chat(&[], "Budi");
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(String::from_utf8_lossy(&second.stdout).contains("Nomor HP"));
    let stats = Command::new(env!("CARGO_BIN_EXE_layan"))
        .args(["stats", "--data", d, "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(v["messages_in"], 2);
    // Asking for another backend is refused, naming the folder's.
    let redb = chat(&["--backend", "redb"], "halo");
    assert!(!redb.status.success());
    assert!(String::from_utf8_lossy(&redb.stderr).contains("`journal` backend"));
}

fn sigkill_then_continue(backend: &str, open: impl Fn(&std::path::Path) -> Arc<dyn Store>) {
    let data = tempfile::tempdir().unwrap();
    let mut chat = Chat::start(data.path(), backend);
    chat.say("#aduan", "Siapa nama Anda?");
    chat.say("Budi", "Nomor HP");
    chat.say("0812 3456 7890", "Aduan Anda tentang apa?");
    // The reply to the last answer was printed, so it was committed: kill hard.
    chat.child.kill().unwrap(); // SIGKILL on Unix
    chat.child.wait().unwrap();

    let mut chat = Chat::start(data.path(), backend);
    chat.say("2", "Ceritakan kejadiannya");
    chat.say("harga minyak goreng di atas HET", "lokasi kejadian");
    chat.say("lewati", "foto bukti");
    chat.say("lewati", "Sudah benar?");
    let done = chat.say("ya", "#status ADU-2026-");
    assert!(done.contains("Terima kasih, Budi"), "{done}");
    drop(chat.stdin);
    chat.child.wait().unwrap();

    // Tickets and transcript are intact: both runs are in it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let store = open(data.path());
    let tickets = rt.block_on(store.tickets()).unwrap();
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets[0].fields["nama"], "Budi");
    assert_eq!(tickets[0].fields["kategori"], "Harga tidak wajar");
    let lines = rt.block_on(store.transcript(0)).unwrap();
    let said: Vec<&str> = lines
        .iter()
        .filter(|l| l.direction == Direction::In)
        .map(|l| l.text.as_str())
        .collect();
    assert_eq!(
        said,
        [
            "#aduan",
            "Budi",
            "0812 3456 7890",
            "2",
            "harga minyak goreng di atas HET",
            "lewati",
            "lewati",
            "ya"
        ]
    );
}

#[tokio::test]
async fn a_ten_megabyte_answer_or_an_out_of_range_choice_is_asked_again() {
    let engine = engine();
    for t in ["#aduan", "Budi", "081234567890"] {
        say(&engine, "besar", t).await;
    }
    // The category is a choice of five: 7 is not one of them.
    let out = say(&engine, "besar", "7").await;
    assert!(
        text(&out).contains("Mohon pilih salah satu pilihan"),
        "{}",
        text(&out)
    );
    assert_eq!(say(&engine, "besar", "5").await.intent, "form:aduan");
    let huge = "timbangan curang ".repeat(10 * 1024 * 1024 / 17);
    let out = say(&engine, "besar", &huge).await;
    assert!(text(&out).contains("terlalu panjang"), "{}", text(&out));
    // Still in the form, on the same question.
    assert!(
        text(&say(&engine, "besar", "timbangan di los ikan tidak akurat").await)
            .contains("lokasi kejadian")
    );
}

#[tokio::test]
async fn a_photo_sent_as_the_question_is_described_in_the_queue() {
    let engine = engine();
    say(&engine, "foto", "#tanya").await;
    let mut msg = Inbound::text("test", "foto", "");
    msg.content = layan::Content::Media {
        kind: "image".into(),
        reference: "media-9".into(),
        caption: Some("timbangan ini".into()),
    };
    assert!(engine.handle_outcome(msg).await.unwrap().handed_off);
    let queue = engine.handoff_queue().await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].question, "[image] timbangan ini");
}

/// Only the operator holding a conversation answers or closes it, whatever
/// screen they act from: the engine refuses the others, naming the holder.
#[tokio::test]
async fn only_the_operator_holding_a_conversation_answers_or_closes_it() {
    let engine = engine();
    say(&engine, "warga", "#tanya kapan pasar murah?").await;
    let key = SessionKey::new("test", "warga");
    let holder = |r: layan::Result<()>| match r {
        Err(layan::Error::NotHolder { holder }) => holder,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert_eq!(
        holder(engine.operator_reply(&key, "budi", "halo").await),
        None
    );
    engine.take_handoff(&key, "sari").await.unwrap();
    assert_eq!(
        holder(engine.operator_reply(&key, "budi", "halo").await),
        Some("sari".to_owned())
    );
    assert_eq!(
        holder(engine.close_handoff(&key, "budi").await),
        Some("sari".to_owned())
    );
    engine
        .operator_reply(&key, "sari", "Sabtu ini di Pasar Tebing Tinggi.")
        .await
        .unwrap();
    // Taken over: the first holder can no longer act.
    engine.take_handoff(&key, "ani").await.unwrap();
    assert_eq!(
        holder(engine.close_handoff(&key, "sari").await),
        Some("ani".to_owned())
    );
    engine.close_handoff(&key, "ani").await.unwrap();
    let answers: Vec<_> = engine
        .store()
        .transcript(0)
        .await
        .unwrap()
        .into_iter()
        .filter(|l| l.direction == Direction::Out && l.author.as_deref() != Some("bot"))
        .map(|l| (l.author.unwrap_or_default(), l.text))
        .collect();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert_eq!(answers[0].0, "sari");
    assert_eq!(answers[1].0, "ani");
    assert!(engine.handoff_queue().await.unwrap().is_empty());
}

/// A citizen who asks for a person again after the first hand-off closed
/// starts a new one; the closed one stays in its history, and the
/// statistics count both.
#[tokio::test]
async fn a_second_handoff_keeps_the_first_for_the_statistics() {
    use layan::serve::admin::stats::{Range, load};
    let engine = engine();
    let key = SessionKey::new("test", "warga");
    say(&engine, "warga", "#tanya kapan pasar murah?").await;
    engine.take_handoff(&key, "sari").await.unwrap();
    engine
        .operator_reply(&key, "sari", "Sabtu ini di Pasar Tebing Tinggi.")
        .await
        .unwrap();
    engine.close_handoff(&key, "sari").await.unwrap();
    say(&engine, "warga", "#tanya di pasar mana lagi?").await;
    let asked = engine.store().handoff(&key).await.unwrap().unwrap();
    // Asked again while that one waits: the same hand-off, the latest
    // question, its place in the queue kept.
    let mut again = Inbound::text("test", "warga", "#tanya halo?");
    again.time += Duration::from_secs(60);
    engine.handle_outcome(again).await.unwrap();

    let h = engine.store().handoff(&key).await.unwrap().unwrap();
    assert_eq!(h.state, layan::HandoffState::Waiting);
    assert_eq!(h.question, "halo?");
    assert_eq!(h.requested_ms, asked.requested_ms);
    assert_eq!(h.earlier.len(), 1, "{h:?}");
    let first = h.earlier[0];
    assert!(
        first.first_answer_ms.unwrap() >= first.requested_ms,
        "{h:?}"
    );

    let now = layan::store::unix_ms(std::time::SystemTime::now());
    let offset = engine.pack().office.utc_offset;
    let today = layan::clock::Local::at(now, offset).day;
    let range = Range {
        from: today - 1,
        to: today + 1,
    };
    let r = load(&engine, range, now).await.unwrap();
    assert_eq!((r.handoffs, r.handoffs_answered), (2, 1));
    assert!(r.median_first_answer_ms.is_some());
}

/// `#status` without a number shows the tickets this conversation opened,
/// newest first, at most the last three.
#[tokio::test]
async fn status_without_a_number_lists_the_conversations_latest_tickets() {
    let engine = engine();
    for story in ["satu", "dua", "tiga", "empat"] {
        for line in [
            "#aduan",
            "Budi",
            "0812 3456 7890",
            "1",
            &format!("timbangan kurang, aduan {story}"),
            "lewati",
            "lewati",
        ] {
            say(&engine, "warga", line).await;
        }
        let done = text(&say(&engine, "warga", "kirim").await);
        assert!(done.contains("*ADU-"), "{done}");
    }
    let status = text(&say(&engine, "warga", "#status").await);
    let shown: Vec<&str> = ["000004", "000003", "000002", "000001"]
        .into_iter()
        .filter(|n| status.contains(&format!("-{n}*")))
        .collect();
    assert_eq!(shown, ["000004", "000003", "000002"], "{status}");
    assert!(
        status.find("000004").unwrap() < status.find("000002").unwrap(),
        "newest first: {status}"
    );
    // Another citizen sees none of them.
    let other = text(&say(&engine, "tetangga", "#status").await);
    assert!(!other.contains("-000001*"), "{other}");
}

/// A ticket filed before sessions listed their tickets, or without a
/// session, is still found by `#status` alone; a session that lists its
/// tickets is answered from its list, without looking at every ticket.
#[tokio::test]
async fn status_without_a_number_finds_tickets_the_session_does_not_remember() {
    let engine = engine();
    let ticket = |id: &str, user: &str| layan::Ticket {
        id: id.to_owned(),
        form: "aduan".to_owned(),
        channel: "test".to_owned(),
        user: user.to_owned(),
        fields: Default::default(),
        status: TicketStatus::Diproses,
        history: Vec::new(),
        created_ms: 1_764_000_000_000,
        due_ms: 1_764_300_000_000,
    };
    let changes = layan::store::Changes {
        tickets: vec![
            ticket("ADU-2025-000007", "warga-lama"),
            ticket("ADU-2025-000008", "tetangga"),
        ],
        ..Default::default()
    };
    let saved = engine.store().commit(changes).await.unwrap();
    assert!(matches!(saved, layan::SaveOutcome::Saved(_)), "{saved:?}");
    let status = text(&say(&engine, "warga-lama", "#status").await);
    assert!(status.contains("*ADU-2025-000007*"), "{status}");
    assert!(status.contains("status *diproses*"), "{status}");
    assert!(!status.contains("000008"), "{status}");
    let key = layan::SessionKey::new("test", "warga-lama");
    let session = engine.store().session(&key).await.unwrap().unwrap();
    assert_eq!(session.tickets, ["ADU-2025-000007"]);
    assert!(session.tickets_listed);

    // A session saved by an older version (no `tickets_listed` in its row).
    let old_key = layan::SessionKey::new("test", "tetangga");
    let old: layan::Session =
        serde_json::from_str(r#"{"menu":[],"last_intent":null,"last_seen_ms":1764000000000,"version":0,"form":null,"handoff":null,"rating_for":null}"#)
            .unwrap();
    assert!(!old.tickets_listed);
    let saved = engine
        .store()
        .commit(layan::store::Changes {
            session: Some((old_key, old)),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(matches!(saved, layan::SaveOutcome::Saved(_)), "{saved:?}");
    let status = text(&say(&engine, "tetangga", "#status").await);
    assert!(status.contains("*ADU-2025-000008*"), "{status}");

    // A citizen whose session lists its tickets (none yet) and a ticket
    // stored for them outside the conversation: `#status` alone goes by
    // the list, and does not look through every ticket.
    say(&engine, "warga-baru", "halo").await;
    let outside = layan::store::Changes {
        tickets: vec![ticket("ADU-2025-000009", "warga-baru")],
        ..Default::default()
    };
    let saved = engine.store().commit(outside).await.unwrap();
    assert!(matches!(saved, layan::SaveOutcome::Saved(_)), "{saved:?}");
    let status = text(&say(&engine, "warga-baru", "#status").await);
    assert!(!status.contains("000009"), "{status}");
    assert!(status.contains("diikuti nomor tiket"), "{status}");
}
