//! The statistics page's numbers for a date range, from what the store
//! holds: the transcript (messages, intents, fallbacks, ratings), hand-offs
//! and tickets. Unanswered questions are grouped by the similarity of their
//! normalised words, so that a maintainer sees what to add to the pack.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use layan_core::store::{Direction, Handoff, Ticket, TranscriptEntry};
use layan_core::{Engine, clock};

/// Local day numbers, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The first day.
    pub from: i64,
    /// The last day.
    pub to: i64,
}

impl Range {
    /// The range from `from` to `to` (`YYYY-MM-DD`), defaulting to the 30 days up to `today`.
    #[must_use]
    pub fn parse(from: Option<&str>, to: Option<&str>, today: i64) -> Self {
        let day = |s: Option<&str>| s.and_then(|s| clock::parse_date(s.trim(), today));
        let to = day(to).unwrap_or(today);
        let from = day(from).unwrap_or(to - 29).min(to);
        // At most a year at once.
        Self {
            from: from.max(to - 366),
            to,
        }
    }

    /// Whether local day `day` is in the range.
    #[must_use]
    pub fn contains(&self, day: i64) -> bool {
        (self.from..=self.to).contains(&day)
    }

    /// Every day of the range as `YYYY-MM-DD`.
    #[must_use]
    pub fn days(&self) -> Vec<String> {
        (self.from..=self.to).map(iso).collect()
    }
}

/// `YYYY-MM-DD` of local day number `day`.
#[must_use]
pub fn iso(day: i64) -> String {
    let (y, m, d) = clock::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Questions the bot could not answer that look alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// How many messages.
    pub count: usize,
    /// A few of them, as citizens wrote them.
    pub examples: Vec<String>,
    /// The words they share.
    pub words: Vec<String>,
}

/// Everything the statistics page shows.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// The days, `YYYY-MM-DD`.
    pub days: Vec<String>,
    /// The channels seen.
    pub channels: Vec<String>,
    /// Messages in and out per (day, channel).
    pub messages: BTreeMap<(String, String), (i64, i64)>,
    /// Inbound messages per intent, most first.
    pub intents: Vec<(String, i64)>,
    /// Per day: (fallback answers, inbound messages).
    pub fallback: Vec<(String, i64, i64)>,
    /// The questions the fallback answered, as citizens wrote them (group
    /// them with [`group_unanswered`] where they are shown).
    pub unanswered: Vec<String>,
    /// Hand-offs requested in the range.
    pub handoffs: usize,
    /// Of those, answered by a person.
    pub handoffs_answered: usize,
    /// Median time to the first human answer, ms.
    pub median_first_answer_ms: Option<u64>,
    /// Per day: (tickets opened, tickets closed).
    pub tickets: Vec<(String, i64, i64)>,
    /// Tickets closed in the range, and of those closed by their due time.
    pub closed: (usize, usize),
    /// Open tickets past their due time now.
    pub overdue_now: usize,
    /// Ratings 1–5 given in the range.
    pub csat: BTreeMap<u8, i64>,
}

impl Report {
    /// Inbound messages in the range.
    #[must_use]
    pub fn messages_in(&self) -> i64 {
        self.messages.values().map(|v| v.0).sum()
    }

    /// Outbound messages in the range.
    #[must_use]
    pub fn messages_out(&self) -> i64 {
        self.messages.values().map(|v| v.1).sum()
    }

    /// Tickets opened in the range.
    #[must_use]
    pub fn tickets_opened(&self) -> i64 {
        self.tickets.iter().map(|t| t.1).sum()
    }

    /// Share of inbound messages the fallback answered.
    #[must_use]
    pub fn fallback_rate(&self) -> f64 {
        let (f, n) = self
            .fallback
            .iter()
            .fold((0, 0), |(f, n), (_, a, b)| (f + a, n + b));
        if n == 0 { 0.0 } else { f as f64 / n as f64 }
    }

    /// Ratings given and their mean.
    #[must_use]
    pub fn csat_mean(&self) -> (i64, f64) {
        let n: i64 = self.csat.values().sum();
        let sum: i64 = self.csat.iter().map(|(k, v)| i64::from(*k) * v).sum();
        (n, if n == 0 { 0.0 } else { sum as f64 / n as f64 })
    }
}

/// Words too common to say what a question is about.
const STOP: &[&str] = &[
    "saya",
    "aku",
    "mau",
    "ingin",
    "apa",
    "apakah",
    "bagaimana",
    "yang",
    "di",
    "ke",
    "dari",
    "dan",
    "ini",
    "itu",
    "ada",
    "bisa",
    "tidak",
    "dengan",
    "untuk",
    "pak",
    "bu",
    "min",
    "kak",
    "tolong",
    "mohon",
    "ya",
    "dong",
    "nya",
    "kah",
    "kami",
    "kita",
    "sudah",
    "belum",
    "atau",
    "cara",
];

fn words(engine: &Engine, text: &str) -> BTreeSet<String> {
    let decision = engine.decide(text);
    decision
        .corrected
        .split_whitespace()
        .filter(|w| w.chars().count() > 1 && !STOP.contains(w))
        .map(str::to_owned)
        .collect()
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let shared = a.intersection(b).count();
    shared as f64 / (a.len() + b.len() - shared) as f64
}

/// How much two unanswered questions' words must overlap (Jaccard) to be grouped.
pub const GROUP_THRESHOLD: f64 = 0.4;

/// Groups `questions` whose words overlap by at least `threshold`
/// (Jaccard), largest groups first; a question joins the group whose first
/// question it resembles most.
#[must_use]
pub fn group_unanswered(engine: &Engine, questions: &[String], threshold: f64) -> Vec<Group> {
    struct Acc {
        seed: BTreeSet<String>,
        shared: BTreeSet<String>,
        count: usize,
        examples: Vec<String>,
        seen: HashSet<String>,
    }
    let mut groups: Vec<Acc> = Vec::new();
    for q in questions {
        let w = words(engine, q);
        let best = groups
            .iter_mut()
            .map(|g| (jaccard(&g.seed, &w), g))
            .filter(|(s, _)| *s >= threshold)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        match best {
            Some((_, g)) => {
                g.count += 1;
                g.shared = g.shared.intersection(&w).cloned().collect();
                if g.examples.len() < 3 && g.seen.insert(q.to_lowercase()) {
                    g.examples.push(q.clone());
                }
            }
            None => groups.push(Acc {
                seed: w.clone(),
                shared: w,
                count: 1,
                examples: vec![q.clone()],
                seen: HashSet::from([q.to_lowercase()]),
            }),
        }
    }
    let mut out: Vec<Group> = groups
        .into_iter()
        .map(|g| Group {
            count: g.count,
            examples: g.examples,
            words: g.shared.into_iter().collect(),
        })
        .collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.count));
    out
}

/// The report for `range` from `engine`'s store at `now_ms`, in the
/// office's time; computed off the async workers.
///
/// # Errors
/// When the store fails.
pub async fn load(engine: &Engine, range: Range, now_ms: u64) -> layan_core::Result<Report> {
    let offset = engine.pack().office.utc_offset;
    let store = engine.store();
    let transcript = store
        .transcript(clock::ms_of(range.from, 0, offset))
        .await?;
    let handoffs = store.handoffs().await?;
    let tickets = store.tickets().await?;
    tokio::task::spawn_blocking(move || {
        report(offset, range, &transcript, &handoffs, &tickets, now_ms)
    })
    .await
    .map_err(|e| layan_core::Error::Store(format!("the statistics failed: {e}")))
}

/// The report for `range` (office time `offset` minutes east of UTC) from
/// the store's transcript, hand-offs and tickets.
#[must_use]
pub fn report(
    offset: i32,
    range: Range,
    transcript: &[TranscriptEntry],
    handoffs: &[Handoff],
    tickets: &[Ticket],
    now_ms: u64,
) -> Report {
    let day_of = |ms: u64| clock::Local::at(ms, offset).day;
    let mut r = Report {
        days: range.days(),
        ..Report::default()
    };
    let mut channels = BTreeSet::new();
    let mut intents: BTreeMap<String, i64> = BTreeMap::new();
    let mut fallback: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for line in transcript {
        let day = day_of(line.time_ms);
        if !range.contains(day) {
            continue;
        }
        channels.insert(line.channel.clone());
        let cell = r
            .messages
            .entry((iso(day), line.channel.clone()))
            .or_default();
        match line.direction {
            Direction::In => {
                cell.0 += 1;
                let intent = line.intent.clone().unwrap_or_default();
                let f = fallback.entry(day).or_default();
                f.1 += 1;
                if intent == layan_core::FALLBACK {
                    f.0 += 1;
                    r.unanswered.push(line.text.clone());
                }
                if intent == "penilaian"
                    && let Some(n) = line
                        .text
                        .chars()
                        .find_map(|c| c.to_digit(10))
                        .and_then(|n| u8::try_from(n).ok())
                        .filter(|n| (1..=5).contains(n))
                {
                    *r.csat.entry(n).or_default() += 1;
                }
                if !intent.is_empty() {
                    *intents.entry(intent).or_default() += 1;
                }
            }
            Direction::Out => cell.1 += 1,
        }
    }
    r.channels = channels.into_iter().collect();
    let mut intents: Vec<(String, i64)> = intents.into_iter().collect();
    intents.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    r.intents = intents;
    r.fallback = (range.from..=range.to)
        .map(|d| {
            let (f, n) = fallback.get(&d).copied().unwrap_or_default();
            (iso(d), f, n)
        })
        .collect();

    let mut waits: Vec<u64> = Vec::new();
    // Every hand-off: each conversation's current one and those it replaced.
    for h in handoffs
        .iter()
        .flat_map(Handoff::all_times)
        .filter(|h| range.contains(day_of(h.requested_ms)))
    {
        r.handoffs += 1;
        if let Some(t) = h.first_answer_ms {
            r.handoffs_answered += 1;
            waits.push(t.saturating_sub(h.requested_ms));
        }
    }
    waits.sort_unstable();
    r.median_first_answer_ms = match waits.len() {
        0 => None,
        n if n % 2 == 1 => Some(waits[n / 2]),
        n => Some((waits[n / 2 - 1] + waits[n / 2]) / 2),
    };

    let mut per_day: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for t in tickets {
        let opened = day_of(t.created_ms);
        if range.contains(opened) {
            per_day.entry(opened).or_default().0 += 1;
        }
        if let Some(close) = t.history.iter().rev().find(|c| c.status.is_closed())
            && t.status.is_closed()
        {
            let day = day_of(close.time_ms);
            if range.contains(day) {
                per_day.entry(day).or_default().1 += 1;
                r.closed.0 += 1;
                if close.time_ms <= t.due_ms {
                    r.closed.1 += 1;
                }
            }
        }
        if t.is_overdue(now_ms) {
            r.overdue_now += 1;
        }
    }
    r.tickets = (range.from..=range.to)
        .map(|d| {
            let (o, c) = per_day.get(&d).copied().unwrap_or_default();
            (iso(d), o, c)
        })
        .collect();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_questions_fall_in_one_group() {
        let engine = Engine::builder()
            .pack(crate::bundled::pack().unwrap())
            .store(layan_core::MemoryStore::new())
            .build()
            .unwrap();
        let qs: Vec<String> = [
            "berapa harga sewa los pasar",
            "harga sewa los di pasar berapa ya",
            "sewa los pasar brp",
            "kapan jadwal pasar murah",
            "jadwal pasar murah kapan",
            "siapa nama kepala dinas",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let groups = group_unanswered(&engine, &qs, GROUP_THRESHOLD);
        assert_eq!(groups[0].count, 3, "{groups:?}");
        assert!(groups[0].words.contains(&"sewa".to_owned()), "{groups:?}");
        assert_eq!(groups[1].count, 2, "{groups:?}");
        assert_eq!(groups.len(), 3, "{groups:?}");
    }

    #[test]
    fn ranges_default_to_thirty_days_and_read_dates() {
        let today = clock::days_from_civil(2026, 11, 26);
        let r = Range::parse(None, None, today);
        assert_eq!(r.days().len(), 30);
        assert_eq!(r.days().last().unwrap(), "2026-11-26");
        let r = Range::parse(Some("2026-11-01"), Some("2026-11-03"), today);
        assert_eq!(r.days(), ["2026-11-01", "2026-11-02", "2026-11-03"]);
        // Reversed: the start is clamped to the end.
        let r = Range::parse(Some("2026-12-01"), Some("2026-11-03"), today);
        assert_eq!(r.days(), ["2026-11-03"]);
    }
}
