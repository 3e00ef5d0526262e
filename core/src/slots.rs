//! Reading a citizen's answer to one form slot.

use crate::clock;
use crate::message::Content;
use crate::normalise::{fold_chars, stem};
use crate::pack::{Slot, SlotKind};
use crate::render::resolve_choice;

/// The stored value of a valid answer, or `None` when the answer does not fit.
#[must_use]
pub fn parse(slot: &Slot, content: &Content, today: i64) -> Option<String> {
    match (slot.kind, content) {
        (
            SlotKind::Location,
            Content::Location {
                latitude,
                longitude,
            },
        ) => Some(format!("{latitude:.6},{longitude:.6}")),
        (
            SlotKind::Photo,
            Content::Media {
                kind, reference, ..
            },
        ) if kind == "image" || kind == "document" => Some(reference.clone()),
        (_, Content::Text(text) | Content::Payload(text)) => parse_text(slot, text.trim(), today),
        _ => None,
    }
}

/// A stored value as the citizen reads it: a date (stored `YYYY-MM-DD`)
/// with its weekday, `Rabu, 2 Desember 2026`; anything else as stored.
#[must_use]
pub fn readable(slot: &Slot, value: &str) -> String {
    match slot.kind {
        SlotKind::Date => {
            clock::parse_iso_date(value).map_or_else(|| value.to_owned(), clock::day_text)
        }
        _ => value.to_owned(),
    }
}

/// The longest answer a slot accepts, in characters.
pub const MAX_ANSWER_CHARS: usize = 2_000;

fn parse_text(slot: &Slot, text: &str, today: i64) -> Option<String> {
    if text.is_empty() || text.chars().nth(MAX_ANSWER_CHARS).is_some() {
        return None;
    }
    match slot.kind {
        SlotKind::Text => {
            let ok = slot.pattern.as_ref().is_none_or(|re| re.is_match(text));
            ok.then(|| text.to_owned())
        }
        SlotKind::Name => {
            name(text).filter(|n| slot.pattern.as_ref().is_none_or(|re| re.is_match(n)))
        }
        SlotKind::Number => {
            let cleaned: String = text.chars().filter(|c| !matches!(c, '.' | ' ')).collect();
            let cleaned = cleaned.replace(',', ".");
            cleaned
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .map(|_| cleaned)
        }
        SlotKind::Choice => {
            let options: Vec<crate::message::Button> = slot
                .choices
                .iter()
                .map(|c| crate::message::Button::new(c.clone(), c.clone()))
                .collect();
            resolve_choice(text, &options)
                .or_else(|| choice_by_words(text, &slot.choices))
                .map(|i| slot.choices[i].clone())
        }
        SlotKind::Phone => phone(text).or_else(|| within(text, phone)),
        SlotKind::Nik => nik(text).or_else(|| within(text, nik)),
        SlotKind::Email => email(text),
        SlotKind::Date => clock::parse_date(text, today).map(|d| {
            let (y, m, dd) = clock::civil_from_days(d);
            format!("{y:04}-{m:02}-{dd:02}")
        }),
        // A written place is accepted for a location: many phones can't share one.
        SlotKind::Location => {
            (text.chars().filter(|c| c.is_alphanumeric()).count() >= 3).then(|| text.to_owned())
        }
        SlotKind::Photo => None,
    }
}

/// The one number in a sentence that `read` accepts: `no hp saya
/// 0812-3456-7890 pak` gives the phone number. `None` when there is none,
/// or more than one (which of them was meant is not guessed).
fn within(text: &str, read: fn(&str) -> Option<String>) -> Option<String> {
    let mut found = None;
    for run in text.split(|c: char| !(c.is_ascii_digit() || " +-.()".contains(c))) {
        let run = run.trim_matches(|c: char| !(c.is_ascii_digit() || c == '+' || c == '('));
        if !run.chars().any(|c| c.is_ascii_digit()) {
            continue;
        }
        if let Some(value) = read(run) {
            if found.as_ref().is_some_and(|f| *f != value) {
                return None;
            }
            found = Some(value);
        }
    }
    found
}

/// Words too common to tell one option from another (shorter words are
/// not compared at all).
const COMMON_WORDS: &[&str] = &[
    "yang", "untuk", "dengan", "tidak", "bukan", "atau", "dari", "pada", "saya", "sudah", "belum",
    "karena", "jadi", "kami", "kalau", "akan", "bisa", "juga", "sama", "lagi", "ingin", "tentang",
    "soal", "masalah",
];

/// The option a free answer describes: `timbangan pedagang ayam kurang 2
/// ons` is `Timbangan/takaran curang`, since it uses a word (or the stem of
/// a word) of that option and of no other. `None` when it names no option
/// or more than one: the citizen is asked again.
fn choice_by_words(text: &str, choices: &[String]) -> Option<usize> {
    let words = |s: &str| -> Vec<String> {
        fold_chars(s)
            .split_whitespace()
            .filter(|w| w.chars().count() >= 4 && !COMMON_WORDS.contains(w))
            .map(|w| stem(w).into_owned())
            .collect()
    };
    let said = words(text);
    let mut found = None;
    for (i, choice) in choices.iter().enumerate() {
        if words(choice).iter().any(|w| said.contains(w)) {
            if found.is_some() {
                return None;
            }
            found = Some(i);
        }
    }
    found
}

/// Words that open (or, in chat, close) a question: `dimana kantornya`,
/// `tiket konser dimana`.
pub(crate) const QUESTION_WORDS: &[&str] = &[
    "apa",
    "apakah",
    "bagaimana",
    "gimana",
    "gmn",
    "bgmn",
    "berapa",
    "brp",
    "kapan",
    "kpn",
    "dimana",
    "dmn",
    "mana",
    "siapa",
    "kenapa",
    "knp",
    "mengapa",
    "bisa",
    "boleh",
    "jam",
];

/// What a citizen says before their name: `nama saya`, `saya`.
const NAME_PREFIXES: &[&[&str]] = &[
    &["nama", "saya"],
    &["nama", "sy"],
    &["nama", "aku"],
    &["namaku"],
    &["nama"],
    &["saya"],
    &["sy"],
    &["aku"],
];

/// Answers that are not a name on their own: a greeting, a yes or no.
const NOT_NAMES: &[&str] = &[
    "ya",
    "iya",
    "gak",
    "ga",
    "nggak",
    "ok",
    "oke",
    "halo",
    "hai",
    "hallo",
    "assalamualaikum",
    "pagi",
    "siang",
    "sore",
    "malam",
    "selamat",
    "min",
    "admin",
    "pak",
    "bu",
    "kak",
    "terima",
    "kasih",
    "makasih",
    "siap",
    "baik",
    "test",
    "tes",
    "nama",
    "saya",
    "sy",
    "aku",
];

/// Words that make an answer a sentence, not a name: `mau lapor timbangan
/// di pasar`. No Indonesian name is made of them.
const SENTENCE_WORDS: &[&str] = &[
    "mau", "ingin", "pengen", "di", "ke", "dari", "yang", "dan", "untuk", "utk", "dengan", "dgn",
    "tidak", "sudah", "belum", "ada", "lapor", "tanya", "tolong", "mohon", "info", "ini", "itu",
    "kok", "dong", "sih", "karena", "soal", "tentang",
];

/// The most words a name is taken to have (`Anak Agung Ngurah Made Wira Putra` has six).
const MAX_NAME_WORDS: usize = 8;

/// A person's name: letters, with spaces, `.`, `'`, `-` and `,` between
/// them (`Hj. Siti Aminah`, `Muh. Rizky, S.Pd.`), at most eight words.
/// `nama saya budi santoso` gives `Budi Santoso`: the words before the
/// name are dropped, and a name typed all in lower (or upper) case is
/// capitalised. A question (`tiket konser dimana`), a sentence, a
/// number, or a greeting alone (`halo min`) is not a name.
#[must_use]
pub fn name(text: &str) -> Option<String> {
    let text = text.trim().trim_end_matches('!');
    let allowed = |c: char| c.is_alphabetic() || c.is_whitespace() || ".'’-,".contains(c);
    if !text.chars().all(allowed) || !text.chars().any(char::is_alphabetic) {
        return None;
    }
    let mut words: Vec<&str> = text.split_whitespace().collect();
    let folded: Vec<String> = words
        .iter()
        .map(|w| fold_chars(w).trim().to_owned())
        .collect();
    if folded
        .iter()
        .any(|w| QUESTION_WORDS.contains(&w.as_str()) || SENTENCE_WORDS.contains(&w.as_str()))
        || folded.iter().all(|w| NOT_NAMES.contains(&w.as_str()))
    {
        return None;
    }
    if let Some(prefix) = NAME_PREFIXES
        .iter()
        .find(|p| p.len() < words.len() && folded.iter().zip(p.iter()).all(|(w, p)| w == p))
    {
        words.drain(..prefix.len());
    }
    if words.len() > MAX_NAME_WORDS {
        return None;
    }
    let joined = words.join(" ");
    let letters = || joined.chars().filter(|c| c.is_alphabetic());
    let one_case = letters().all(char::is_lowercase) || letters().all(char::is_uppercase);
    if !one_case {
        return Some(joined);
    }
    Some(
        words
            .iter()
            .map(|w| capitalised(w))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// `budi` → `Budi`, `SANTOSO` → `Santoso`, `o'neil` → `O'neil`.
fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first
            .to_uppercase()
            .chain(chars.flat_map(char::to_lowercase))
            .collect()
    })
}

/// An Indonesian mobile or landline number as E.164: `0812-3456-789`,
/// `+62 812 3456 789` and `62812…` all become `+628123456789`.
#[must_use]
pub fn phone(text: &str) -> Option<String> {
    if text.chars().any(|c| c.is_alphabetic()) {
        return None;
    }
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let national = if let Some(rest) = digits.strip_prefix("62") {
        rest.to_owned()
    } else if let Some(rest) = digits.strip_prefix('0') {
        rest.to_owned()
    } else {
        return None;
    };
    // Mobile numbers start with 8 and have 9–12 digits after the 0; landlines 7–10.
    let ok = if national.starts_with('8') {
        (9..=12).contains(&national.len())
    } else {
        (7..=10).contains(&national.len()) && !national.starts_with('0')
    };
    ok.then(|| format!("+62{national}"))
}

/// A NIK: 16 digits, a province code that exists (11–94), a birth date
/// that can be read (day + 40 for women), and a sequence that is not zero.
#[must_use]
pub fn nik(text: &str) -> Option<String> {
    let digits: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '.' && *c != '-')
        .collect();
    if digits.len() != 16 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let num = |a: usize, b: usize| digits[a..b].parse::<u32>().unwrap_or(0);
    let province = num(0, 2);
    let mut day = num(6, 8);
    let month = num(8, 10);
    if day > 40 {
        day -= 40;
    }
    let ok = (11..=94).contains(&province)
        && (1..=31).contains(&day)
        && (1..=12).contains(&month)
        && num(12, 16) != 0;
    ok.then_some(digits)
}

/// A plausible e-mail address, lower-cased.
#[must_use]
pub fn email(text: &str) -> Option<String> {
    let t = text.trim().to_lowercase();
    let (local, domain) = t.split_once('@')?;
    let ok = !local.is_empty()
        && !t.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    ok.then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(kind: SlotKind, choices: Vec<String>) -> Slot {
        Slot {
            name: "isian".to_owned(),
            label: "Isian".to_owned(),
            prompt: "?".to_owned(),
            kind,
            required: true,
            reask: None,
            choices,
            pattern: None,
            retries: 3,
        }
    }

    #[test]
    fn a_choice_is_read_from_a_free_answer_that_names_one_option() {
        let choices: Vec<String> = [
            "Timbangan/takaran curang",
            "Harga tidak wajar",
            "Stok langka",
            "Pasar rakyat",
            "Lainnya",
        ]
        .map(str::to_owned)
        .to_vec();
        let slot = slot(SlotKind::Choice, choices);
        let cases = [
            ("2", Some("Harga tidak wajar")),
            ("stok langka", Some("Stok langka")),
            (
                "timbangan pedagang ayam kurang 2 ons tiap beli 1 kg",
                Some("Timbangan/takaran curang"),
            ),
            ("takarannya dikurangi", Some("Timbangan/takaran curang")),
            ("minyak goreng langka di toko", Some("Stok langka")),
            ("harga cabai naik terus", Some("Harga tidak wajar")),
            ("yang lainnya", Some("Lainnya")),
            // Two options named: asked again, not guessed.
            ("harga di pasar naik", None),
            // No option named; "tidak" alone tells nothing.
            ("tidak tahu", None),
            ("jalan rusak", None),
        ];
        for (answer, want) in cases {
            let got = parse(&slot, &Content::Text(answer.to_owned()), 0);
            assert_eq!(got.as_deref(), want, "{answer}");
        }
    }

    #[test]
    fn a_number_is_read_from_the_sentence_around_it() {
        let cases = [
            (
                SlotKind::Phone,
                "no hp saya 0812-3456-7890 pak",
                Some("+6281234567890"),
            ),
            (
                SlotKind::Phone,
                "WA: +62 812 3456 789.",
                Some("+628123456789"),
            ),
            (SlotKind::Phone, "nomor saya 0812", None),
            (SlotKind::Phone, "0812 3456 7890 atau 0813 1111 2222", None),
            (SlotKind::Phone, "pasar talang padang", None),
            (
                SlotKind::Nik,
                "nik saya 1601234512900001 ya",
                Some("1601234512900001"),
            ),
            (
                SlotKind::Nik,
                "NIK: 1601 2345 1290 0001",
                Some("1601234512900001"),
            ),
            (SlotKind::Nik, "nik 160123451290000", None),
        ];
        for (kind, answer, want) in cases {
            let got = parse(
                &slot(kind, Vec::new()),
                &Content::Text(answer.to_owned()),
                0,
            );
            assert_eq!(got.as_deref(), want, "{answer}");
        }
    }

    #[test]
    fn names() {
        let cases = [
            ("Budi Santoso", Some("Budi Santoso")),
            ("budi santoso", Some("Budi Santoso")),
            ("SITI AMINAH", Some("Siti Aminah")),
            ("nama saya budi", Some("Budi")),
            ("Nama saya Sari Dewi", Some("Sari Dewi")),
            ("saya Rudi", Some("Rudi")),
            ("namaku ani", Some("Ani")),
            // Mixed case is kept as typed: titles and particles.
            ("Hj. Siti Aminah", Some("Hj. Siti Aminah")),
            ("Muh. Rizky, S.Pd.", Some("Muh. Rizky, S.Pd.")),
            ("I Made Wirawan", Some("I Made Wirawan")),
            (
                "Anak Agung Ngurah Made Wira Putra",
                Some("Anak Agung Ngurah Made Wira Putra"),
            ),
            ("Ahmad!", Some("Ahmad")),
            // Questions, numbers, greetings and sentences are not names.
            ("tiket konser dimana", None),
            ("kantornya dmn", None),
            ("apa syaratnya", None),
            ("berapa biayanya?", None),
            ("0812 3456 7890", None),
            ("budi 0812", None),
            ("halo min", None),
            ("selamat pagi", None),
            ("iya", None),
            ("nama saya", None),
            (
                "saya mau lapor timbangan pedagang di pasar curang sekali",
                None,
            ),
            // A phrase without a sentence's words cannot be told from a
            // name here, without the pack: the form refuses it when every
            // word is the pack's and it matches a topic (engine::dialog).
            (
                "timbangan pedagang ayam curang",
                Some("Timbangan Pedagang Ayam Curang"),
            ),
            ("budi@contoh.id", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(name(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn a_name_slot_applies_its_pattern_to_the_name() {
        let mut with_pattern = slot(SlotKind::Name, Vec::new());
        with_pattern.pattern = Some(regex::Regex::new(r"^\S+ \S+").unwrap());
        let read = |text: &str| parse(&with_pattern, &Content::Text(text.to_owned()), 0);
        assert_eq!(
            read("nama saya budi santoso").as_deref(),
            Some("Budi Santoso")
        );
        assert_eq!(read("budi"), None);
    }

    #[test]
    fn phones() {
        let cases = [
            ("0812-3456-7890", Some("+6281234567890")),
            ("+62 812 3456 789", Some("+628123456789")),
            ("6281234567890", Some("+6281234567890")),
            ("(0702) 21234", Some("+6270221234")),
            ("12345", None),
            ("08123", None),
            ("nomor saya 0812", None),
            ("+1 555 1234567", None),
        ];
        for (input, want) in cases {
            assert_eq!(phone(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn niks() {
        let cases = [
            ("1601234512900001", true), // Sumatera Selatan, born 12-09-…
            ("1601235512900001", true), // a woman: day 55 → 15
            ("1601 2345 1290 0001", true),
            ("0001234512900001", false), // no province 00
            ("1601233212900001", false), // day 32
            ("1601234513900001", false), // month 13
            ("1601234512900000", false), // sequence 0000
            ("160123451290000", false),  // 15 digits
            ("16012345129000012", false),
            ("abcd234512900001", false),
        ];
        for (input, ok) in cases {
            assert_eq!(nik(input).is_some(), ok, "{input}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            email("Budi@Contoh.go.id").as_deref(),
            Some("budi@contoh.go.id")
        );
        for bad in ["budi", "budi@", "@x.id", "budi@x", "bu di@x.id", "a@b..id"] {
            assert_eq!(email(bad), None, "{bad}");
        }
    }
}
