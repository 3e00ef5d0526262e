//! Pack conversation tests (`tests/*.toml` in a pack): scripted
//! conversations with expectations, run on a fresh in-memory store with a
//! fixed clock. What `layan pack test DIR` runs.
//!
//! ```toml
//! [[conversation]]
//! name = "aduan sampai tiket"
//!
//! [[conversation.turn]]
//! say = "sy mau lapor timbangan curang"
//! intent = "aduan"
//! contains = ["Siapa nama Anda?"]
//! ```
//!
//! A turn sends (as the conversation's `user`, or the turn's own `user`) `say` (text), `payload` (a button), `location = [lat, lon]`
//! or `photo = "media-id"`, after `after_minutes` on the clock, or performs
//! an `operator` action (`take`, `reply`, `close`, `ticket_status`; as in
//! the dashboard, only the operator who took a conversation replies in it
//! or closes it: `name`, default `petugas`). It may
//! expect: `intent`, `contains`, `not_contains`, `matches`, `slots` (form
//! values after the turn), `ticket`, `handed_off`, `form_cancelled`,
//! `silent`, `outbox_contains` (notifications queued for the citizen).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::message::{Content, Inbound};
use crate::pack::Pack;
use crate::session::SessionKey;
use crate::store::{MemoryStore, Store, TicketStatus};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(default)]
    conversation: Vec<Conversation>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Conversation {
    name: String,
    #[serde(default = "default_user")]
    user: String,
    #[serde(default = "default_channel")]
    channel: String,
    /// Local start time `YYYY-MM-DD HH:MM`; default 2026-12-01 09:00 (a Tuesday).
    start: Option<String>,
    #[serde(default)]
    turn: Vec<Turn>,
}

fn default_user() -> String {
    "penguji".to_owned()
}

fn default_channel() -> String {
    "test".to_owned()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Turn {
    /// Another citizen speaking in this turn (default: the conversation's user).
    user: Option<String>,
    say: Option<String>,
    payload: Option<String>,
    location: Option<[f64; 2]>,
    photo: Option<String>,
    operator: Option<OperatorStep>,
    #[serde(default)]
    after_minutes: u64,
    intent: Option<String>,
    #[serde(default)]
    contains: Vec<String>,
    #[serde(default)]
    not_contains: Vec<String>,
    matches: Option<String>,
    slots: Option<BTreeMap<String, String>>,
    ticket: Option<bool>,
    handed_off: Option<bool>,
    form_cancelled: Option<bool>,
    silent: Option<bool>,
    #[serde(default)]
    outbox_contains: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorStep {
    #[serde(default = "default_operator")]
    name: String,
    #[serde(default)]
    take: bool,
    reply: Option<String>,
    #[serde(default)]
    close: bool,
    ticket_status: Option<String>,
    #[serde(default)]
    note: String,
}

fn default_operator() -> String {
    "petugas".to_owned()
}

/// One expectation that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One-based turn number.
    pub turn: usize,
    /// What was expected, e.g. `contains "Siapa nama"`.
    pub expected: String,
    /// What happened.
    pub actual: String,
}

/// The result of one conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationResult {
    /// The test file, relative to the pack.
    pub file: PathBuf,
    /// The conversation's name.
    pub name: String,
    /// Turns run.
    pub turns: usize,
    /// What failed; empty when it passed.
    pub failures: Vec<Failure>,
}

impl ConversationResult {
    /// Whether every expectation held.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Reads `tests/*.toml` of the pack in `dir`, sorted by name.
///
/// # Errors
/// The folder cannot be read.
pub fn read_tests(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let tests = dir.join("tests");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&tests) else {
        return Ok(out);
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|source| Error::Io {
            path: p.clone(),
            source,
        })?;
        out.push((
            Path::new("tests").join(p.file_name().unwrap_or_default()),
            text,
        ));
    }
    Ok(out)
}

/// Runs every conversation of `files` against `pack`, each on a fresh
/// in-memory store with a fixed clock.
///
/// # Errors
/// A test file that is not valid (its TOML error, with line), or an engine
/// that cannot be built.
pub async fn run(pack: &Pack, files: &[(PathBuf, String)]) -> Result<Vec<ConversationResult>> {
    let mut results = Vec::new();
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    for (path, text) in files {
        match toml::from_str::<TestFile>(text) {
            Ok(f) => parsed.push((path, f)),
            Err(e) => problems.push(crate::error::PackProblem {
                file: path.clone(),
                line: e.span().map_or(0, |s| {
                    text[..s.start.min(text.len())].lines().count().max(1)
                }),
                message: e.message().to_owned(),
                hint: Some("see the turn fields in layan_core::packtest".to_owned()),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Pack(problems));
    }
    for (path, file) in parsed {
        for conv in file.conversation {
            results.push(run_conversation(pack, path, conv).await?);
        }
    }
    Ok(results)
}

fn start_of(conv: &Conversation, pack: &Pack) -> SystemTime {
    let offset = pack.office.utc_offset;
    let (day, minute) = conv
        .start
        .as_deref()
        .and_then(|s| {
            let (date, time) = s.split_once(' ')?;
            let day = crate::clock::parse_date(date, 0)?;
            let (h, m) = time.split_once(':')?;
            Some((day, h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?))
        })
        .unwrap_or((crate::clock::days_from_civil(2026, 12, 1), 9 * 60));
    UNIX_EPOCH + Duration::from_millis(crate::clock::ms_of(day, minute, offset))
}

async fn run_conversation(
    pack: &Pack,
    file: &Path,
    conv: Conversation,
) -> Result<ConversationResult> {
    let now = Arc::new(Mutex::new(start_of(&conv, pack)));
    let clock = Arc::clone(&now);
    let store = Arc::new(MemoryStore::new());
    let engine = Engine::builder()
        .pack(pack.clone())
        .shared_store(Arc::clone(&store) as Arc<dyn Store>)
        .clock(move || {
            *clock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
        .build()?;
    let key = SessionKey::new(&conv.channel, &conv.user);
    let mut failures = Vec::new();
    let mut seq = 0u64;
    for (i, turn) in conv.turn.iter().enumerate() {
        let n = i + 1;
        let time = {
            let mut t = now
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            *t += Duration::from_secs(turn.after_minutes * 60 + 1);
            *t
        };
        let mut fail = |expected: String, actual: String| {
            failures.push(Failure {
                turn: n,
                expected,
                actual,
            })
        };
        if let Some(op) = &turn.operator {
            let outbox_before = store.outbox().await?.len();
            let result = operator_step(&engine, &key, op).await;
            if let Err(e) = result {
                fail("operator action to succeed".to_owned(), e.to_string());
            }
            let queued: Vec<String> = store
                .outbox()
                .await?
                .into_iter()
                .skip(outbox_before)
                .map(|(_, m)| m.text)
                .collect();
            for want in &turn.outbox_contains {
                if !queued.iter().any(|t| t.contains(want.as_str())) {
                    fail(
                        format!("a notification containing {want:?}"),
                        format!("{queued:?}"),
                    );
                }
            }
            continue;
        }
        let content = match (&turn.say, &turn.payload, &turn.location, &turn.photo) {
            (Some(s), _, _, _) => Content::Text(s.clone()),
            (_, Some(p), _, _) => Content::Payload(p.clone()),
            (_, _, Some([lat, lon]), _) => Content::Location {
                latitude: *lat,
                longitude: *lon,
            },
            (_, _, _, Some(id)) => Content::Media {
                kind: "image".to_owned(),
                reference: id.clone(),
                caption: None,
            },
            _ => {
                fail(
                    "a message (say, payload, location, photo) or an operator action".to_owned(),
                    "nothing".to_owned(),
                );
                continue;
            }
        };
        seq += 1;
        let inbound = Inbound {
            channel: conv.channel.clone(),
            user: turn.user.clone().unwrap_or_else(|| conv.user.clone()),
            message_id: format!("test-{seq}"),
            content,
            time,
            profile_name: None,
        };
        let outcome = engine.handle_outcome(inbound).await?;
        let text = outcome
            .replies
            .iter()
            .map(|r| {
                let mut t = r.text().to_owned();
                for (i, b) in r.options().iter().enumerate() {
                    t.push_str(&format!("\n{}. {}", i + 1, b.title));
                }
                t
            })
            .collect::<Vec<_>>()
            .join("\n---\n");
        if let Some(want) = &turn.intent
            && *want != outcome.intent
        {
            fail(
                format!("intent {want}"),
                format!(
                    "intent {} (layer {}, score {:.2})",
                    outcome.intent, outcome.layer, outcome.score
                ),
            );
        }
        for want in &turn.contains {
            if !text.contains(want.as_str()) {
                fail(format!("reply contains {want:?}"), text.clone());
            }
        }
        for unwanted in &turn.not_contains {
            if text.contains(unwanted.as_str()) {
                fail(format!("reply without {unwanted:?}"), text.clone());
            }
        }
        if let Some(re) = &turn.matches {
            match regex::Regex::new(re) {
                Ok(re) if re.is_match(&text) => {}
                Ok(_) => fail(format!("reply matching /{re}/"), text.clone()),
                Err(e) => fail(format!("a valid regex /{re}/"), e.to_string()),
            }
        }
        if let Some(want) = &turn.slots {
            let session = store.session(&key).await?;
            let have = session
                .and_then(|s| s.form)
                .map(|f| f.values)
                .unwrap_or_default();
            for (k, v) in want {
                if have.get(k) != Some(v) {
                    fail(format!("slot {k} = {v:?}"), format!("{have:?}"));
                }
            }
        }
        let flags = [
            ("ticket", turn.ticket, outcome.ticket.is_some()),
            ("handed_off", turn.handed_off, outcome.handed_off),
            (
                "form_cancelled",
                turn.form_cancelled,
                outcome.form_cancelled,
            ),
            ("silent", turn.silent, outcome.replies.is_empty()),
        ];
        for (name, want, have) in flags {
            if let Some(want) = want
                && want != have
            {
                fail(
                    format!("{name} = {want}"),
                    format!("{name} = {have}; reply: {text}"),
                );
            }
        }
    }
    Ok(ConversationResult {
        file: file.to_owned(),
        name: conv.name,
        turns: conv.turn.len(),
        failures,
    })
}

async fn operator_step(engine: &Engine, key: &SessionKey, op: &OperatorStep) -> Result<()> {
    if op.take {
        engine.take_handoff(key, &op.name).await?;
    }
    if let Some(text) = &op.reply {
        engine.operator_reply(key, &op.name, text).await?;
    }
    if op.close {
        engine.close_handoff(key, &op.name).await?;
    }
    if let Some(status) = &op.ticket_status {
        let status = TicketStatus::parse(status)
            .ok_or_else(|| Error::Config(format!("unknown ticket status `{status}`")))?;
        let mine = engine
            .tickets()
            .await?
            .into_iter()
            .rfind(|t| t.channel == key.channel && t.user == key.user)
            .ok_or_else(|| Error::Config("the conversation has no ticket".to_owned()))?;
        engine
            .set_ticket_status(&mine.id, status, &op.name, &op.note)
            .await?;
    }
    Ok(())
}
