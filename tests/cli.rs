//! The `layan` binary, run as a user runs it.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn layan(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_layan"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("layan runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn chat_reads_piped_messages_and_exits_at_the_end() {
    let data = tempfile::tempdir().unwrap();
    let out = layan(
        &["chat", "--data", data.path().to_str().unwrap()],
        "halo\n2\ngmn cr bkin ijin usaha?\nresep rendang\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // A question the bot did not understand is answered, not logged over
    // the conversation.
    assert_eq!(stderr(&out), "");
    let s = stdout(&out);
    assert!(s.contains("belum memahami"), "{s}");
    assert!(s.contains("> halo"), "{s}");
    assert!(s.contains("1. Izin usaha (NIB)"), "{s}");
    assert!(s.contains("Balas dengan nomor pilihan."), "{s}");
    assert!(
        s.contains("Dinas membina industri kecil"),
        "answer to \"2\":\n{s}"
    );
    assert!(s.contains("oss.go.id"), "{s}");
}

#[test]
fn chat_with_a_pack_folder_and_verbose() {
    // A folder of its own: a conversation left in `./data` by a user's own
    // `layan chat` must not answer for this one.
    let data = tempfile::tempdir().unwrap();
    let out = layan(
        &[
            "chat",
            "--pack",
            "intents/perindag",
            "--verbose",
            "--data",
            data.path().to_str().unwrap(),
        ],
        "tera ulang\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("[intent=tera_ulang"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn chat_with_a_broken_pack_says_why() {
    let out = layan(&["chat", "--pack", "tests/fixtures/duplicate_id"], "halo\n");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("duplicate intent id `salam`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pack_check_passes_and_fails() {
    let ok = layan(&["pack", "check", "intents/perindag"], "");
    assert!(ok.status.success());
    assert!(
        stdout(&ok).starts_with("ok: pack `perindag`"),
        "{}",
        stdout(&ok)
    );

    let bad = layan(&["pack", "check", "tests/fixtures/many_problems"], "");
    assert_eq!(bad.status.code(), Some(1));
    let s = stdout(&bad);
    assert!(
        s.contains("intents/a.toml:8: duplicate intent id `menu`"),
        "{s}"
    );
    assert!(
        s.contains("intents/b.toml:3: pattern does not compile"),
        "{s}"
    );
    assert!(s.contains("6 problem(s)"), "{s}");
}

#[test]
fn eval_prints_a_table_and_json() {
    let table = layan(
        &["eval", "--data", "intents/perindag/eval/heldout.jsonl"],
        "",
    );
    assert!(table.status.success(), "{}", stderr(&table));
    let s = stdout(&table);
    assert!(s.starts_with("accuracy "), "{s}");
    assert!(s.contains("macro-F1"), "{s}");
    assert!(s.contains("izin_usaha"), "{s}");

    let json = layan(
        &[
            "eval",
            "--data",
            "intents/perindag/eval/heldout.jsonl",
            "--json",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("valid JSON");
    assert!(v["accuracy"].as_f64().unwrap() >= 0.9);
    assert!(v["macro_f1"].is_number());
    assert!(v["total"].as_u64().unwrap() >= 150);
    assert!(v["per_intent"]["tera_ulang"]["recall"].is_number());
}

#[test]
fn eval_reports_a_bad_line_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("bad.jsonl");
    std::fs::write(
        &data,
        "{\"text\":\"halo\",\"intent\":\"menu\"}\n{\"text\": oops}\n",
    )
    .unwrap();
    let out = layan(&["eval", "--data", data.to_str().unwrap()], "");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("bad.jsonl:2:"), "{}", stderr(&out));
}

#[test]
fn eval_cross_validates() {
    let out = layan(&["eval", "--kfold", "5", "--noise", "--json"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["accuracy"].as_f64().unwrap() > 0.7);
}

/// With the messages before it, `explain` also answers the message in that
/// conversation: a follow-up read alone and read after its topic.
#[test]
fn explain_after_earlier_messages_shows_the_follow_up() {
    let out = layan(
        &[
            "explain",
            "--after",
            "ada bantuan alat utk IKM?",
            "caranya gimana",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let s = stdout(&out);
    assert!(s.contains("decision:   izin_usaha"), "{s}");
    assert!(
        s.contains("in context: bantuan_usaha (layer context,"),
        "{s}"
    );
    assert!(s.contains("after 1 earlier message(s)"), "{s}");
    // Without `--after`, no conversation.
    let alone = stdout(&layan(&["explain", "caranya gimana"], ""));
    assert!(!alone.contains("in context:"), "{alone}");
}

#[test]
fn explain_shows_the_decision() {
    let out = layan(&["explain", "sy mau bkin nib gmn"], "");
    assert!(out.status.success());
    let s = stdout(&out);
    assert!(s.contains("normalised: saya mau buat nib bagaimana"), "{s}");
    assert!(s.contains("decision:   izin_usaha"), "{s}");
    assert!(s.contains("runners-up:"), "{s}");

    let out = layan(&["explain", "film terbaru netflix"], "");
    let s = stdout(&out);
    assert!(
        s.contains("unknown:    film netflix (new to the pack: they lower every score)"),
        "{s}"
    );
    assert!(s.contains("decision:   fallback"), "{s}");
}

#[test]
fn an_installed_layan_reads_the_dictionary_beside_it() {
    // `layan` somewhere else, with a dictionary of its own beside it that
    // does not list `bekas`: the corrector then reads `bekas` as a typo of
    // the pack's `beras`, which the shipped list prevents.
    let dir = tempfile::tempdir().unwrap();
    let installed = dir.path().join("layan");
    std::fs::hard_link(env!("CARGO_BIN_EXE_layan"), &installed)
        .or_else(|_| std::fs::copy(env!("CARGO_BIN_EXE_layan"), &installed).map(drop))
        .unwrap();
    let explain = |dir: &std::path::Path| {
        let out = Command::new(dir.join("layan"))
            .args(["explain", "jual motor bekas"])
            .env_remove("LAYAN_DICTIONARY")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    // Nothing beside it: the source tree's list, as in development.
    assert!(!explain(dir.path()).contains("corrected:"));
    std::fs::write(dir.path().join("id_ID.dic"), "1\nkucing\n").unwrap();
    let s = explain(dir.path());
    assert!(s.contains("corrected:  jual motor beras"), "{s}");
}

#[test]
fn pack_test_runs_the_conversations() {
    let out = layan(&["pack", "test", "intents/perindag"], "");
    assert!(out.status.success(), "{}", stdout(&out));
    let s = stdout(&out);
    assert!(
        s.contains("ok   tests/aduan.toml — aduan lengkap sampai tiket"),
        "{s}"
    );
    assert!(s.trim_end().ends_with(" passed, 0 failed"), "{s}");
    // The report is not interleaved with log lines (the conversations
    // include questions the pack does not answer).
    assert_eq!(stderr(&out), "");
}

/// A data folder into which `layan chat` filed a complaint telling
/// `story` (no location, no photo), then took the lines of `then`.
fn chatted(story: &str, then: &str) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let script = format!("#aduan\nBudi\n0812 3456 7890\n1\n{story}\nlewati\nlewati\nya\n{then}");
    let out = layan(&["chat", "--data", data.path().to_str().unwrap()], &script);
    assert!(out.status.success(), "{}", stderr(&out));
    data
}

#[test]
fn stats_and_export_read_what_chat_stored() {
    let data = chatted(
        "timbangan curang, NIK saya 1601235512900001",
        "resep rendang\n",
    );
    let d = data.path().to_str().unwrap();

    let stats = layan(&["stats", "--data", d, "--json"], "");
    assert!(stats.status.success(), "{}", stderr(&stats));
    let v: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(v["messages_in"], 9);
    assert!(v["messages_out"].as_i64().unwrap() >= 9);
    assert_eq!(v["per_intent"]["fallback"], 1);
    let days = v["per_day_intent"].as_object().unwrap();
    assert_eq!(days.len(), 1);
    let today = days.values().next().unwrap();
    assert_eq!(today["fallback"], 1);
    assert_eq!(today["aduan"], 1);
    assert!((v["fallback_rate"].as_f64().unwrap() - 1.0 / 9.0).abs() < 1e-9);
    assert_eq!(v["handoffs"], 0);
    assert_eq!(v["tickets"]["total"], 1);
    assert_eq!(v["csat"]["responses"], 0);

    let csv = layan(&["export", "--data", d, "--format", "csv"], "");
    let s = stdout(&csv);
    assert!(s.starts_with("time,channel,user,direction,intent"), "{s}");
    assert!(s.contains("0812 **** **90"), "phone masked: {s}");
    assert!(s.contains("1601**********01"), "NIK masked: {s}");
    assert!(!s.contains("1601235512900001"));
    let raw = layan(&["export", "--data", d, "--unmasked"], "");
    assert!(stdout(&raw).contains("1601235512900001"));
    let since = layan(&["export", "--data", d, "--since", "2999-01-01"], "");
    assert!(stdout(&since).is_empty());
    let bad = layan(&["export", "--data", d, "--since", "kemarin dulu"], "");
    assert!(!bad.status.success());
}

#[test]
fn stats_for_a_range_of_days() {
    let data = chatted("timbangan curang", "resep rendang\nresep rendang padang\n");
    let d = data.path().to_str().unwrap();

    // Every day from 2000 to 2100: today is in it whatever the clock says.
    let all_days = [
        "stats",
        "--data",
        d,
        "--from",
        "2000-01-01",
        "--to",
        "2100-12-31",
    ];
    let out = layan(&[&all_days[..], &["--json"]].concat(), "");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["from"], "2000-01-01");
    assert_eq!(v["to"], "2100-12-31");
    assert_eq!(v["messages_in"], 10);
    assert!(v["messages_out"].as_i64().unwrap() >= 10);
    assert_eq!(v["per_intent"]["fallback"], 2);
    assert!((v["fallback_rate"].as_f64().unwrap() - 0.2).abs() < 1e-9);
    assert_eq!(v["tickets"]["opened"], 1);
    assert_eq!(v["tickets"]["closed"], 0);
    let days = v["per_day"].as_object().unwrap();
    assert_eq!(days.len(), 1, "{days:?}");
    assert_eq!(days.values().next().unwrap()["terminal"][0], 10);
    // The two unanswered questions are one group, as on the dashboard.
    let groups = v["unanswered"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["count"], 2);
    assert_eq!(groups[0]["words"], serde_json::json!(["rendang", "resep"]));

    // The text form says which days it counted.
    let text = stdout(&layan(&all_days, ""));
    assert!(
        text.starts_with("2000-01-01 to 2100-12-31 (office time)\n"),
        "{text}"
    );
    assert!(text.contains("messages in 10,"), "{text}");
    assert!(
        text.contains("2  resep rendang | resep rendang padang"),
        "{text}"
    );

    // Days before anything was stored count nothing; --to alone means the
    // 30 days up to it, as on the dashboard.
    let past = layan(&["stats", "--data", d, "--to", "2000-01-31", "--json"], "");
    let v: serde_json::Value = serde_json::from_slice(&past.stdout).unwrap();
    assert_eq!(v["from"], "2000-01-02");
    assert_eq!(v["messages_in"], 0);
    assert_eq!(v["unanswered"], serde_json::json!([]));

    for (args, says) in [
        (
            vec!["--from", "kemarin"],
            "--from kemarin: write the date as YYYY-MM-DD",
        ),
        (
            vec!["--to", "2026-13-01"],
            "--to 2026-13-01: write the date as YYYY-MM-DD",
        ),
        (
            vec!["--to", "2300-01-01"],
            "--to 2300-01-01: write the date as YYYY-MM-DD, a day that exists, in the years 1900–2200",
        ),
        (
            vec!["--from", "2026-12-01", "--to", "2026-11-01"],
            "--from 2026-12-01 is after --to 2026-11-01",
        ),
    ] {
        let mut all = vec!["stats", "--data", d];
        all.extend(args);
        let out = layan(&all, "");
        assert!(!out.status.success(), "{all:?}");
        assert!(stderr(&out).contains(says), "{all:?}: {}", stderr(&out));
    }
}

#[test]
fn stats_without_data_says_so() {
    let empty = tempfile::tempdir().unwrap();
    let out = layan(&["stats", "--data", empty.path().to_str().unwrap()], "");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("holds no Layan data"),
        "{}",
        stderr(&out)
    );
}
