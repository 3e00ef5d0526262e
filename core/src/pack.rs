//! Intent packs: the questions an office answers, as TOML files a
//! maintainer edits without Rust.
//!
//! ```text
//! intents/perindag/
//!   pack.toml        [pack] id, name, version, language; [office] …; [settings] …
//!   intents/*.toml   [[intent]] id, commands, keywords, patterns, examples, reply, buttons, form, action
//!   forms/*.toml     [[form]] id, title, confirm, on_complete, reply, ticket_prefix, sla_hours | sla_working_days; [[form.slot]] …
//! ```
//!
//! [`Pack::load`] validates everything and reports every problem with file,
//! line and a hint, not only the first.

mod load;
mod template;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use template::{Template, TemplateError};

use crate::error::Result;

/// Variables about the office and pack that every reply template may use.
pub const OFFICE_VARIABLES: &[&str] = &[
    "office.name",
    "office.address",
    "office.phone",
    "office.whatsapp",
    "office.email",
    "office.website",
    "office.hours",
    "office.timezone",
    "pack.id",
    "pack.name",
    "pack.version",
];

/// The id of the built-in fallback intent; a pack may define its own.
pub const FALLBACK: &str = "fallback";

/// A loaded and validated intent pack.
#[derive(Debug, Clone)]
pub struct Pack {
    /// `[pack]`: identity.
    pub meta: PackMeta,
    /// `[office]`: facts about the office, used in replies.
    pub office: Office,
    /// `[settings]`: matching and session tuning.
    pub settings: Settings,
    /// Every intent, in file order (files sorted by name).
    pub intents: Vec<Intent>,
    /// Every form (`forms/*.toml`).
    pub forms: Vec<Form>,
    /// Where the pack was loaded from (`None` for packs built from memory).
    pub root: Option<PathBuf>,
}

/// `[pack]` of `pack.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackMeta {
    /// Short machine id, e.g. `perindag`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// The pack's own version, e.g. `1.0.0`.
    pub version: String,
    /// Language tag, e.g. `id`.
    pub language: String,
    /// Optional description.
    pub description: String,
}

/// `[office]` of `pack.toml`. Every field is optional and renders as empty
/// text when missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Office {
    /// The office's name.
    pub name: String,
    /// Street address.
    pub address: String,
    /// Telephone number.
    pub phone: String,
    /// WhatsApp number.
    pub whatsapp: String,
    /// E-mail address.
    pub email: String,
    /// Web site.
    pub website: String,
    /// Opening hours, as shown to citizens.
    pub hours: String,
    /// IANA time zone, e.g. `Asia/Jakarta`, or `WIB`/`WITA`/`WIT`.
    pub timezone: String,
    /// Minutes east of UTC, from `timezone` (WIB when not set).
    pub utc_offset: i32,
    /// Opening hours per weekday (Monday first), minutes since local midnight.
    pub schedule: [Option<(u32, u32)>; 7],
    /// Closed days, as local day numbers since 1970-01-01.
    pub holidays: Vec<i64>,
}

impl Office {
    /// Whether the office is open at `ms` (Unix milliseconds).
    #[must_use]
    pub fn is_open(&self, ms: u64) -> bool {
        let l = crate::clock::Local::at(ms, self.utc_offset);
        !self.holidays.contains(&l.day)
            && self.schedule[l.weekday].is_some_and(|(a, b)| (a..b).contains(&l.minute))
    }

    /// When the office next opens at or after `ms`, within two weeks.
    #[must_use]
    pub fn next_opening(&self, ms: u64) -> Option<u64> {
        let l = crate::clock::Local::at(ms, self.utc_offset);
        for ahead in 0..14 {
            let day = l.day + ahead;
            let weekday = crate::clock::weekday_of_day(day);
            if self.holidays.contains(&day) {
                continue;
            }
            if let Some((open, close)) = self.schedule[weekday] {
                if ahead == 0 && l.minute >= close {
                    continue;
                }
                let minute = if ahead == 0 { open.max(l.minute) } else { open };
                return Some(crate::clock::ms_of(day, minute, self.utc_offset));
            }
        }
        None
    }

    /// When a ticket received at `ms` is due after `days` office days
    /// (hari kerja): at closing time of the `days`-th office day after the
    /// day it is received on. A ticket filed outside opening hours is
    /// received when the office next opens; holidays and closed weekdays
    /// do not count. `None` when the office never opens.
    #[must_use]
    pub fn after_working_days(&self, ms: u64, days: u64) -> Option<u64> {
        let received = self.next_opening(ms)?;
        let mut day = crate::clock::Local::at(received, self.utc_offset).day;
        let days = days.max(1);
        let mut left = days;
        // An office open one day a week still reaches any count well
        // within this many days, holidays included.
        for _ in 0..(days * 7 + 366) {
            day += 1;
            if self.holidays.contains(&day) {
                continue;
            }
            if let Some((_, close)) = self.schedule[crate::clock::weekday_of_day(day)] {
                left -= 1;
                if left == 0 {
                    return Some(crate::clock::ms_of(day, close, self.utc_offset));
                }
            }
        }
        None
    }
}

/// How long the office gives itself to act on a form's ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sla {
    /// Clock hours from filing (`sla_hours`).
    Hours(u64),
    /// Office days (`sla_working_days`): see [`Office::after_working_days`].
    WorkingDays(u64),
}

impl Sla {
    /// When a ticket filed at `now_ms` is due.
    #[must_use]
    pub fn due(self, now_ms: u64, office: &Office) -> u64 {
        match self {
            Self::Hours(h) => now_ms + h * 3_600_000,
            // A pack is refused when it counts office days without a
            // schedule; an office that never opens counts calendar days.
            Self::WorkingDays(d) => office
                .after_working_days(now_ms, d)
                .unwrap_or(now_ms + d * 86_400_000),
        }
    }
}

impl Default for Office {
    fn default() -> Self {
        Self {
            name: String::new(),
            address: String::new(),
            phone: String::new(),
            whatsapp: String::new(),
            email: String::new(),
            website: String::new(),
            hours: String::new(),
            timezone: String::new(),
            utc_offset: 7 * 60,
            schedule: [None; 7],
            holidays: Vec::new(),
        }
    }
}

/// `[settings]` of `pack.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Below this score (0..1) the fallback answers; 0 always answers with
    /// the best intent.
    pub confidence_threshold: f32,
    /// How many suggestions the fallback offers as buttons.
    pub fallback_suggestions: usize,
    /// Minutes of silence after which a session starts afresh.
    pub session_timeout_minutes: u64,
    /// Minutes after which an unanswered or held hand-off is released to the bot.
    pub handoff_timeout_minutes: u64,
    /// SMS segments one answer may take before the rest waits for `LANJUT`.
    pub sms_segments: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            confidence_threshold: 0.3,
            fallback_suggestions: 3,
            session_timeout_minutes: 30,
            handoff_timeout_minutes: 24 * 60,
            sms_segments: 3,
        }
    }
}

/// One intent: a kind of question and its answer.
#[derive(Debug, Clone)]
pub struct Intent {
    /// Unique id (`izin_usaha`).
    pub id: String,
    /// Short human title, used when the intent is offered as a suggestion.
    pub title: Option<String>,
    /// Exact commands (`#info`, `/start`), compared case-insensitively.
    pub commands: Vec<String>,
    /// Words and phrases that signal the intent, whole words.
    pub keywords: Vec<Keyword>,
    /// Regular expressions over normalised text; named groups become variables.
    pub patterns: Vec<String>,
    /// Example utterances the similarity layer learns from at load time.
    pub examples: Vec<String>,
    /// The answer.
    pub reply: Template,
    /// Buttons under the answer.
    pub buttons: Vec<IntentButton>,
    /// The form this intent starts, if any.
    pub form: Option<String>,
    /// What the intent does besides replying.
    pub action: Option<Action>,
    /// Where the intent is defined.
    pub source: Source,
}

impl Intent {
    /// Whether it has a reply of its own: every intent does but one that
    /// starts a form, or a pack's own fallback that keeps the built-in text.
    #[must_use]
    pub fn has_reply(&self) -> bool {
        !self.reply.source().trim().is_empty()
    }
}

/// What an intent or a completed form does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Only the reply.
    Reply,
    /// Open a ticket with the form's fields (forms only).
    TicketCreate,
    /// Look up a ticket's status (`#status NOMOR`).
    TicketStatus,
    /// Put the conversation in the operator queue.
    Handoff,
    /// POST the values as JSON to the office's own system; the fields of
    /// its JSON answer become `{http.FIELD}` in the reply.
    Http(HttpAction),
    /// A Rust action registered on the engine builder under this name.
    Custom(String),
}

/// Where and how the `http` action posts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAction {
    /// The URL to POST to.
    pub url: String,
    /// Seconds before one attempt gives up.
    pub timeout_seconds: u64,
    /// Further attempts after a failed one (connection error, timeout, 5xx).
    pub retries: u32,
}

impl Action {
    fn parse(s: &str) -> Self {
        match s {
            "http" => Self::Http(HttpAction {
                url: String::new(),
                timeout_seconds: 10,
                retries: 2,
            }),
            "reply" => Self::Reply,
            "ticket.create" => Self::TicketCreate,
            "ticket.status" => Self::TicketStatus,
            "handoff" => Self::Handoff,
            other => Self::Custom(other.to_owned()),
        }
    }
}

/// A multi-step form: slots asked one by one, then an action.
#[derive(Debug, Clone)]
pub struct Form {
    /// Unique id (`aduan`).
    pub id: String,
    /// Human title (`Pengaduan`).
    pub title: String,
    /// The slots, in the order they are asked.
    pub slots: Vec<Slot>,
    /// Show a summary and ask for confirmation before completing.
    pub confirm: bool,
    /// What completing the form does.
    pub on_complete: Action,
    /// The reply when the form completes (`{slot.nama}`, `{ticket.id}`, `{ticket.due}`).
    pub reply: Template,
    /// Ticket number prefix (`ADU` → `ADU-2026-000123`).
    pub ticket_prefix: String,
    /// When a ticket of this form is due.
    pub sla: Sla,
    /// Where the form is defined.
    pub source: Source,
}

/// One question of a form.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The variable name (`nama`, `nomor_hp`).
    pub name: String,
    /// A short label for summaries (`Nama`).
    pub label: String,
    /// The question asked.
    pub prompt: String,
    /// What kind of answer is expected.
    pub kind: SlotKind,
    /// Whether the citizen may skip it (`lewati`).
    pub required: bool,
    /// Said when an answer is not valid, before asking again.
    pub reask: Option<String>,
    /// The options of a `choice` slot.
    pub choices: Vec<String>,
    /// A regex a `text` or `name` answer must match.
    pub pattern: Option<regex::Regex>,
    /// Invalid answers allowed before the form is cancelled.
    pub retries: u32,
}

/// The type of a slot's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotKind {
    /// Free text.
    Text,
    /// A person's name (`nama saya budi santoso` gives `Budi Santoso`); a
    /// question or a sentence is not taken for one.
    Name,
    /// A number.
    Number,
    /// One of the slot's `choices` (buttons, numbered on plain channels).
    Choice,
    /// An Indonesian phone number, stored as E.164 (`+62812…`).
    Phone,
    /// A 16-digit NIK with a plausible region and birth date.
    Nik,
    /// An e-mail address.
    Email,
    /// A date (`5 Desember 2026`, `05/12/2026`, `besok`, `senin`), stored as `YYYY-MM-DD`.
    Date,
    /// A shared location, or a written place.
    Location,
    /// A photo, by the channel's media reference.
    Photo,
}

impl SlotKind {
    /// The name used in pack files.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Name => "name",
            Self::Number => "number",
            Self::Choice => "choice",
            Self::Phone => "phone",
            Self::Nik => "nik",
            Self::Email => "email",
            Self::Date => "date",
            Self::Location => "location",
            Self::Photo => "photo",
        }
    }

    /// Every kind, for hints.
    pub const ALL: [Self; 10] = [
        Self::Text,
        Self::Name,
        Self::Number,
        Self::Choice,
        Self::Phone,
        Self::Nik,
        Self::Email,
        Self::Date,
        Self::Location,
        Self::Photo,
    ];

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A keyword or phrase with its weight (0..1].
#[derive(Debug, Clone, PartialEq)]
pub struct Keyword {
    /// The word or phrase as written.
    pub text: String,
    /// How strongly it signals the intent.
    pub weight: f32,
}

/// A button under an intent's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentButton {
    /// The label.
    pub title: String,
    /// The intent it leads to.
    pub intent: String,
}

/// A place in a pack file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    /// File relative to the pack root.
    pub file: PathBuf,
    /// One-based line.
    pub line: usize,
}

impl Pack {
    /// Loads and validates the pack in `dir`.
    ///
    /// # Errors
    /// [`Error::Pack`](crate::Error::Pack) with every problem found, or
    /// [`Error::Io`](crate::Error::Io) when the folder cannot be read.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        let files = load::read_dir(dir)?;
        let mut pack = Self::from_files(files)?;
        pack.root = Some(dir.to_owned());
        Ok(pack)
    }

    /// Loads a pack from `(relative path, contents)` pairs, e.g. files
    /// embedded in a binary. Paths use `/`: `pack.toml`, `intents/x.toml`.
    ///
    /// # Errors
    /// [`Error::Pack`](crate::Error::Pack) with every problem found.
    pub fn from_files<P, C>(files: impl IntoIterator<Item = (P, C)>) -> Result<Self>
    where
        P: Into<PathBuf>,
        C: Into<String>,
    {
        let files: Vec<(PathBuf, String)> = files
            .into_iter()
            .map(|(p, c)| (p.into(), c.into()))
            .collect();
        load::parse(&files)
    }

    /// The intent with `id`.
    #[must_use]
    pub fn intent(&self, id: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.id == id)
    }

    /// The form with `id`.
    #[must_use]
    pub fn form(&self, id: &str) -> Option<&Form> {
        self.forms.iter().find(|f| f.id == id)
    }

    /// A short human title for intent `id`: its `title`, else the title of a
    /// button leading to it, else the id made readable (`izin_usaha` → `Izin usaha`).
    #[must_use]
    pub fn intent_title(&self, id: &str) -> String {
        if let Some(t) = self.intent(id).and_then(|i| i.title.clone()) {
            return t;
        }
        let from_button = self
            .intents
            .iter()
            .flat_map(|i| &i.buttons)
            .find(|b| b.intent == id)
            .map(|b| b.title.clone());
        from_button.unwrap_or_else(|| {
            let spaced = id.replace('_', " ");
            let mut chars = spaced.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect())
                .unwrap_or_default()
        })
    }

    /// The office and pack variables for reply templates.
    #[must_use]
    pub fn variables(&self) -> BTreeMap<String, String> {
        let o = &self.office;
        let pairs = [
            ("office.name", &o.name),
            ("office.address", &o.address),
            ("office.phone", &o.phone),
            ("office.whatsapp", &o.whatsapp),
            ("office.email", &o.email),
            ("office.website", &o.website),
            ("office.hours", &o.hours),
            ("office.timezone", &o.timezone),
            ("pack.id", &self.meta.id),
            ("pack.name", &self.meta.name),
            ("pack.version", &self.meta.version),
        ];
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{days_from_civil, ms_of};

    const WIB: i32 = 7 * 60;

    fn at(y: i64, m: u32, d: u32, hour: u32, minute: u32) -> u64 {
        ms_of(days_from_civil(y, m, d), hour * 60 + minute, WIB)
    }

    /// The reference pack's example office: Monday to Thursday 08.00–16.00,
    /// Friday 08.00–16.30, Christmas closed.
    fn office() -> Office {
        let mut schedule = [None; 7];
        for day in &mut schedule[..4] {
            *day = Some((8 * 60, 16 * 60));
        }
        schedule[4] = Some((8 * 60, 16 * 60 + 30));
        Office {
            utc_offset: WIB,
            schedule,
            holidays: vec![days_from_civil(2026, 12, 25)],
            ..Office::default()
        }
    }

    #[test]
    fn office_days_count_from_the_day_a_ticket_is_received() {
        // (filed, office days, due)
        let cases = [
            // Friday before opening: received that Friday.
            (at(2026, 11, 27, 6, 14), 3, at(2026, 12, 2, 16, 0)),
            // Friday evening: received on Monday.
            (at(2026, 11, 27, 20, 0), 3, at(2026, 12, 3, 16, 0)),
            // Saturday: received on Monday.
            (at(2026, 11, 28, 9, 0), 1, at(2026, 12, 1, 16, 0)),
            (at(2026, 11, 30, 10, 0), 3, at(2026, 12, 3, 16, 0)),
            // Over a weekend, and Friday closes later.
            (at(2026, 12, 2, 10, 0), 3, at(2026, 12, 7, 16, 0)),
            (at(2026, 12, 3, 10, 0), 1, at(2026, 12, 4, 16, 30)),
            // Over a holiday Friday.
            (at(2026, 12, 24, 10, 0), 3, at(2026, 12, 30, 16, 0)),
        ];
        let office = office();
        for (filed, days, due) in cases {
            assert_eq!(
                office.after_working_days(filed, days),
                Some(due),
                "filed {}, {days} office days",
                crate::clock::datetime_text(filed, WIB)
            );
            assert_eq!(Sla::WorkingDays(days).due(filed, &office), due);
        }
    }

    #[test]
    fn clock_hours_ignore_the_schedule_and_a_closed_office_counts_calendar_days() {
        let filed = at(2026, 11, 27, 6, 14);
        assert_eq!(
            Sla::Hours(72).due(filed, &office()),
            at(2026, 11, 30, 6, 14)
        );
        let closed = Office::default();
        assert_eq!(closed.after_working_days(filed, 3), None);
        assert_eq!(
            Sla::WorkingDays(3).due(filed, &closed),
            at(2026, 11, 30, 6, 14)
        );
    }
}
