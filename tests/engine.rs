//! The engine on the bundled Perindag pack: what citizens get back.

use std::time::{Duration, SystemTime};

use layan::render::{Outgoing, render};
use layan::{Capabilities, Content, Engine, Inbound, Layer, Pack};

use crate::util::{engine, options, say, text};

struct Case {
    input: &'static str,
    intent: &'static str,
    contains: &'static str,
}

#[tokio::test]
async fn citizens_get_the_right_answer() {
    let cases = [
        Case {
            input: "gmn cara bikin izin usaha?",
            intent: "izin_usaha",
            contains: "oss.go.id",
        },
        Case {
            input: "ada bantuan alat utk IKM?",
            intent: "bantuan_usaha",
            contains: "tidak setiap pengajuan",
        },
        Case {
            input: "sy mau lapor timbangan pedagang curang",
            intent: "aduan",
            contains: "timbangan/takaran curang",
        },
        Case {
            input: "#info",
            intent: "menu",
            contains: "Selamat datang",
        },
        Case {
            input: "/start",
            intent: "menu",
            contains: "Selamat datang",
        },
        Case {
            input: "#INFO",
            intent: "menu",
            contains: "Selamat datang",
        },
        Case {
            input: "#tanya",
            intent: "tanya_petugas",
            contains: "sambungkan dengan petugas",
        },
        Case {
            input: "#status ADU-2026-000123",
            intent: "status_tiket",
            contains: "tidak ditemukan untuk nomor Anda",
        },
        Case {
            input: "tera ulang bayar ga?",
            intent: "tera_ulang",
            contains: "gratis",
        },
        Case {
            input: "srtifikat halal gratis ada?",
            intent: "sertifikat_halal",
            contains: "SEHATI",
        },
        Case {
            input: "mau daftarin merk dagang",
            intent: "merek_haki",
            contains: "merek.dgip.go.id",
        },
        Case {
            input: "hrg cabe brp skrg",
            intent: "harga_bahan_pokok",
            contains: "sp2kp.kemendag.go.id",
        },
        Case {
            input: "format proposal bantuan alat",
            intent: "format_proposal",
            contains: "Surat permohonan",
        },
        Case {
            input: "kantor buka jam brp",
            intent: "jam_layanan",
            contains: "08.00",
        },
        Case {
            input: "alamat kantor dmn",
            intent: "alamat_kontak",
            contains: "Tebing Tinggi",
        },
        Case {
            input: "makasihhh minnn",
            intent: "terima_kasih",
            contains: "Sama-sama",
        },
        Case {
            input: "ada pelatihan umkm bulan ini?",
            intent: "kegiatan",
            contains: "bimtek",
        },
        Case {
            input: "manfaat punya nib apa",
            intent: "legalitas_usaha",
            contains: "KUR",
        },
        Case {
            input: "izin pirt di mana",
            intent: "pirt",
            contains: "Dinas Kesehatan",
        },
        Case {
            input: "resep rendang padang",
            intent: "fallback",
            contains: "belum memahami",
        },
    ];
    let engine = engine();
    for (i, c) in cases.iter().enumerate() {
        let out = say(&engine, &format!("warga-{i}"), c.input).await;
        assert_eq!(out.intent, c.intent, "intent for {:?}", c.input);
        assert!(
            text(&out).contains(c.contains),
            "reply to {:?} should contain {:?}:\n{}",
            c.input,
            c.contains,
            text(&out)
        );
    }
}

#[tokio::test]
async fn every_answer_leads_back_to_the_menu() {
    let engine = engine();
    let pack = engine.pack();
    for intent in &pack.intents {
        // Forms answer with their first question (and #batal) instead.
        if intent.id == "menu" || intent.form.is_some() {
            continue;
        }
        let out = engine
            .handle_outcome(Inbound::payload("test", "warga-menu", &intent.id))
            .await
            .unwrap();
        assert_eq!(out.intent, intent.id);
        assert!(
            options(&out).iter().any(|t| t == "Menu utama"),
            "{} offers no way back to the menu",
            intent.id
        );
    }
}

#[tokio::test]
async fn numbered_menu_answers_map_back() {
    let answers = [
        "2",
        "no 2",
        "nomor 2",
        "No. 2",
        "dua",
        "yang kedua",
        "yg ke-2",
        "Bantuan untk IKM",
    ];
    for answer in answers {
        let engine = engine();
        let menu = say(&engine, "w", "halo").await;
        assert_eq!(options(&menu)[1], "Bantuan untuk IKM");
        let out = say(&engine, "w", answer).await;
        assert_eq!(out.intent, "bantuan_usaha", "answer {answer:?}");
        assert_eq!(out.layer, Layer::Choice, "answer {answer:?}");
    }
}

#[tokio::test]
async fn a_number_without_a_menu_or_out_of_range_gets_a_clear_answer() {
    let engine = engine();
    let out = say(&engine, "baru", "3").await;
    assert!(
        text(&out).contains("Belum ada pilihan bernomor"),
        "{}",
        text(&out)
    );
    assert_eq!(options(&out), ["Menu utama"]);

    say(&engine, "baru", "menu").await;
    let out = say(&engine, "baru", "11").await;
    assert!(
        text(&out).contains("Pilihan 11 tidak ada"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("1 sampai 10"));
    // The menu is shown again, so the next answer still works.
    assert_eq!(say(&engine, "baru", "1").await.intent, "izin_usaha");
}

#[tokio::test]
async fn a_question_instead_of_a_number_is_answered() {
    let engine = engine();
    say(&engine, "w", "menu").await;
    let out = say(&engine, "w", "tera ulang timbangan di mana").await;
    assert_eq!(out.intent, "tera_ulang");
}

#[tokio::test]
async fn fallback_offers_suggestions_a_person_and_the_menu() {
    let engine = engine();
    // Which process? Ambiguous on purpose.
    let out = say(&engine, "w", "berapa lama prosesnya").await;
    assert_eq!(out.intent, "fallback", "{out:?}");
    let opts = options(&out);
    assert!(
        opts.len() >= 4,
        "three suggestions, a person and the menu: {opts:?}"
    );
    let plausible = ["Cek status tiket", "Manfaat NIB", "Izin usaha (NIB)"];
    assert_eq!(opts[..3], plausible, "{opts:?}");
    assert!(opts.contains(&"Tanya petugas".to_owned()), "{opts:?}");
    assert!(opts.contains(&"Menu utama".to_owned()), "{opts:?}");
    // The suggestions are a menu: "1" picks the first.
    let first = say(&engine, "w", "1").await;
    assert_eq!(first.layer, Layer::Choice);
}

#[tokio::test]
async fn sessions_are_per_citizen() {
    let engine = engine();
    say(&engine, "ani", "menu").await;
    assert_eq!(say(&engine, "ani", "6").await.intent, "tera_ulang");
    let budi = say(&engine, "budi", "6").await;
    assert!(text(&budi).contains("Belum ada pilihan bernomor"));
}

#[tokio::test]
async fn a_session_expires_after_the_pack_timeout() {
    let engine = engine();
    say(&engine, "w", "menu").await;
    let later = SystemTime::now() + Duration::from_secs(31 * 60);
    let mut msg = Inbound::text("test", "w", "2");
    msg.time = later;
    let out = engine.handle_outcome(msg).await.unwrap();
    assert!(
        text(&out).contains("Belum ada pilihan bernomor"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn bad_input_gets_a_sensible_answer() {
    let long = "izin usaha ".repeat(10_000);
    let inputs: [(&str, &str); 9] = [
        ("empty", ""),
        ("whitespace", "   \t\n "),
        ("100 KB", &long),
        ("control characters", "\u{0}\u{1}\u{7}\u{1b}[31m"),
        ("emoji only", "🙏🙏😂👍"),
        ("mixed scripts", "مرحبا 你好 izin usaha Привет"),
        ("lone punctuation", "???"),
        ("zero-width", "\u{200b}\u{feff}"),
        ("very long word", &"a".repeat(5000)),
    ];
    let engine = engine();
    for (name, input) in inputs {
        let out = say(&engine, "w", input).await;
        assert!(!text(&out).trim().is_empty(), "{name}: empty reply");
    }
    assert_eq!(say(&engine, "w", &long).await.intent, "izin_usaha");
}

#[tokio::test]
async fn attachments_outside_a_form_are_acknowledged() {
    let engine = engine();
    let mut msg = Inbound::text("test", "w", "");
    msg.content = Content::Media {
        kind: "image".into(),
        reference: "media-1".into(),
        caption: None,
    };
    let out = engine.handle_outcome(msg).await.unwrap();
    assert!(text(&out).contains("hanya dapat membaca pesan teks"));
}

#[tokio::test]
async fn replies_render_for_each_channel() {
    let engine = engine();
    let out = say(&engine, "w", "menu").await;
    match &render(&out.replies, &Capabilities::whatsapp())[..] {
        [Outgoing::List { rows, .. }] => assert_eq!(rows.len(), 10),
        other => panic!("WhatsApp should get a list: {other:?}"),
    }
    let sms = render(&out.replies, &Capabilities::plain(160));
    assert!(sms.len() > 1, "a menu does not fit one SMS");
    assert!(sms.iter().all(|m| m.text().chars().count() <= 160));
    assert!(
        sms.last()
            .unwrap()
            .text()
            .ends_with("Balas dengan nomor pilihan.")
    );
}

#[tokio::test]
async fn reload_swaps_the_pack() {
    let engine = engine();
    let other = Pack::from_files([
        ("pack.toml", "[pack]\nid = \"lain\"\nname = \"Lain\"\nversion = \"2\"\nlanguage = \"id\"\n"),
        ("intents/a.toml", "[[intent]]\nid = \"ktp\"\nexamples = [\"cara buat ktp\"]\nreply = \"Ke Disdukcapil.\"\n"),
    ])
    .unwrap();
    engine.reload(other).unwrap();
    assert_eq!(engine.pack().meta.id, "lain");
    assert_eq!(say(&engine, "w", "gmn cara bikin ktp").await.intent, "ktp");
}

#[tokio::test]
async fn concurrent_messages_to_one_conversation_all_get_answers() {
    let engine = engine();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let engine: Engine = engine.clone();
        tasks.push(tokio::spawn(async move {
            let text = if i % 2 == 0 { "menu" } else { "izin usaha" };
            engine.handle(Inbound::text("test", "same", text)).await
        }));
    }
    for t in tasks {
        let replies = t.await.unwrap().unwrap();
        assert!(!replies.is_empty());
    }
}

/// A follow-up read with the topic just answered says so: staff reading
/// the transcript see that `biaya nya brp` was understood from the
/// conversation, not from its own words.
#[tokio::test]
async fn a_follow_up_is_marked_as_read_in_context() {
    let engine = engine();
    say(&engine, "w", "ada bantuan alat utk IKM?").await;
    let cases = [
        ("caranya gimana", "bantuan_usaha", Layer::Context),
        // Read alone it already asks about the topic: its own layer.
        ("syarat bantuan ikm apa", "bantuan_usaha", Layer::Similarity),
    ];
    for (input, intent, layer) in cases {
        let out = say(&engine, "w", input).await;
        assert_eq!((out.intent.as_str(), out.layer), (intent, layer), "{input}");
    }
    let alone = say(&engine, "baru", "caranya gimana").await;
    assert_ne!(alone.layer, Layer::Context);
}

/// The pack's own fallback (examples, buttons, no reply of its own) answers
/// a question about something else with the built-in text and the nearest
/// topics, a person and the menu as buttons.
#[tokio::test]
async fn the_packs_own_fallback_answers_with_the_built_in_text() {
    let engine = engine();
    let pack = engine.pack();
    let fallback = pack.intent("fallback").expect("the pack's own");
    assert!(fallback.reply.source().is_empty());
    let out = say(&engine, "w", "beli tiket pesawat").await;
    assert_eq!(out.intent, "fallback");
    assert!(
        text(&out).starts_with("Maaf, saya belum memahami"),
        "{}",
        text(&out)
    );
    let buttons = options(&out);
    for want in ["Cek status tiket", "Tanya petugas", "Menu utama"] {
        assert!(buttons.iter().any(|b| b == want), "{want}: {buttons:?}");
    }
}
