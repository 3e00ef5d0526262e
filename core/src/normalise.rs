//! Normalisation of Indonesian chat language.
//!
//! The same [`Normaliser`] runs over a pack's examples and keywords when the
//! pack loads and over every citizen message, so both sides meet in one
//! vocabulary: `"Gmn caraaa bkin ijin usaha??"` becomes
//! `"bagaimana cara buat izin usaha"`.

mod dictionary;
mod lexicon;
mod stem;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

pub use dictionary::{DICTIONARY_ENV, DICTIONARY_FILE, Dictionary};
pub use stem::stem;

pub(crate) use lexicon::informal_variants;

/// Turns chat text into normalised words.
///
/// Steps, in order: Unicode NFKC; lower case; accents removed from Latin
/// letters; punctuation, symbols and emoji become spaces (except `-`, `/`,
/// `.` and `,` between a digit and another alphanumeric, so `ADU-2026-000123`,
/// `05/12/2026` and `1.500` survive); runs of three or more equal letters are
/// squeezed (`tolonggg` → `tolong`, `maaaf` → `maaf`); reduplication written
/// with a digit is folded (`syarat2` → `syarat`); and each word is looked up in
/// the chat-language lexicon (`gmn` → `bagaimana`, `mksh` → `terima kasih`,
/// fillers such as `dong` dropped).
///
/// Cheap to clone: the lexicon is shared.
#[derive(Debug, Clone)]
pub struct Normaliser {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// informal word → formal words (empty: drop the word)
    map: HashMap<String, Vec<String>>,
    /// every word the lexicon knows as standard, for squeezing decisions
    known: HashSet<String>,
    /// standard words, which the typo corrector leaves alone
    dictionary: Option<Arc<Dictionary>>,
}

impl Default for Normaliser {
    fn default() -> Self {
        Self::bundled()
    }
}

impl Normaliser {
    /// The normaliser with the bundled lexicons (IndoCollex and Layan's own
    /// list). Built once per process and shared.
    #[must_use]
    pub fn bundled() -> Self {
        static BUNDLED: OnceLock<Normaliser> = OnceLock::new();
        BUNDLED
            .get_or_init(|| Self::from_entries(lexicon::bundled_entries()))
            .clone()
    }

    /// A normaliser over the bundled lexicons plus `extra` entries
    /// (`informal`, `formal`), which win over the bundled ones. An empty
    /// formal side drops the word.
    #[must_use]
    pub fn with_entries<'a>(extra: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut entries = lexicon::bundled_entries();
        entries.extend(extra.into_iter().map(|(a, b)| (a.to_owned(), b.to_owned())));
        Self::from_entries(entries)
    }

    fn from_entries(entries: Vec<(String, String)>) -> Self {
        let mut map = HashMap::with_capacity(entries.len());
        let mut known = HashSet::new();
        for (informal, formal) in entries {
            let informal = fold_chars(&informal);
            let informal = informal.trim();
            if informal.is_empty() || informal.contains(' ') {
                continue;
            }
            let words: Vec<String> = fold_chars(&formal)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            known.extend(words.iter().cloned());
            map.insert(informal.to_owned(), words);
        }
        // A word mapped to itself is standard: make that explicit.
        map.retain(|k, v| !(v.len() == 1 && v[0] == *k));
        Self {
            inner: Arc::new(Inner {
                map,
                known,
                dictionary: Dictionary::shared(),
            }),
        }
    }

    /// This normaliser with `dictionary` as its list of standard words
    /// instead of [`Dictionary::shared`] (`None`: without one).
    #[must_use]
    pub fn with_dictionary(&self, dictionary: Option<Arc<Dictionary>>) -> Self {
        Self {
            inner: Arc::new(Inner {
                map: self.inner.map.clone(),
                known: self.inner.known.clone(),
                dictionary,
            }),
        }
    }

    /// Whether `word` (normalised) is a standard word by the dictionary:
    /// not a typo, whatever word of the pack it resembles.
    #[must_use]
    pub fn is_standard(&self, word: &str) -> bool {
        self.inner
            .dictionary
            .as_ref()
            .is_some_and(|d| d.contains(word))
    }

    /// Normalises `text` into words joined by single spaces.
    #[must_use]
    pub fn normalise(&self, text: &str) -> String {
        self.words(text).join(" ")
    }

    /// Normalises `text` into its words.
    #[must_use]
    pub fn words(&self, text: &str) -> Vec<String> {
        let folded = fold_chars(text);
        let mut out = Vec::new();
        for raw in folded.split_whitespace() {
            self.push_word(raw, &mut out);
        }
        out
    }

    /// Whether the lexicon maps `word` (already folded) to something else.
    #[must_use]
    pub fn is_informal(&self, word: &str) -> bool {
        self.inner.map.contains_key(word)
    }

    fn push_word(&self, raw: &str, out: &mut Vec<String>) {
        let word = squeeze(raw, |w| self.is_known(w));
        let word = unreduplicate(&word);
        if let Some(formal) = self.inner.map.get(word.as_ref()) {
            out.extend(formal.iter().cloned());
            return;
        }
        // Informal word with an enclitic: `ijinnya`, `bikinin`.
        for suffix in ["nya", "in"] {
            if let Some(base) = word.strip_suffix(suffix)
                && base.len() >= 2
                && let Some(formal) = self.inner.map.get(base)
                && !formal.is_empty()
            {
                out.extend(formal.iter().cloned());
                return;
            }
        }
        out.push(word.into_owned());
    }

    fn is_known(&self, word: &str) -> bool {
        self.inner.map.contains_key(word) || self.inner.known.contains(word)
    }
}

/// NFKC, lower case, Latin accents removed, everything that is not a letter
/// or a digit turned into a space, save for separators inside codes and numbers.
#[must_use]
pub fn fold_chars(text: &str) -> String {
    // Most chat messages are ASCII, where NFKC changes nothing.
    let chars: Vec<char> = if text.is_ascii() {
        text.chars().map(|c| c.to_ascii_lowercase()).collect()
    } else {
        text.nfkc().flat_map(char::to_lowercase).collect()
    };
    let mut out = String::with_capacity(chars.len());
    for (i, &c) in chars.iter().enumerate() {
        if c.is_alphanumeric() {
            push_without_accents(c, &mut out);
            continue;
        }
        let prev = i.checked_sub(1).and_then(|j| chars.get(j)).copied();
        let next = chars.get(i + 1).copied();
        let between_alnum =
            prev.is_some_and(char::is_alphanumeric) && next.is_some_and(char::is_alphanumeric);
        let keep = match c {
            // Apostrophes inside words: jum'at, assalamu'alaikum.
            '\'' | '’' | '`' if between_alnum => None,
            '-' | '/' | '.' | ',' | ':'
                if between_alnum
                    && (prev.is_some_and(|p| p.is_ascii_digit())
                        || next.is_some_and(|n| n.is_ascii_digit())) =>
            {
                Some(c)
            }
            _ => Some(' '),
        };
        if let Some(k) = keep {
            out.push(k);
        }
    }
    out
}

fn push_without_accents(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c);
        return;
    }
    // Strip combining marks from Latin letters only (é → e); other scripts stay as they are.
    let mut decomposed = std::iter::once(c).nfd().peekable();
    let base = decomposed.peek().copied().unwrap_or(c);
    if base.is_ascii_alphabetic() {
        out.extend(decomposed.filter(|d| !is_combining_mark(*d)));
    } else {
        out.push(c);
    }
}

/// Squeezes runs of three or more equal characters: to two when that makes a
/// known word (`maaaf` → `maaf`), otherwise to one (`tolonggg` → `tolong`).
fn squeeze<'a>(word: &'a str, known: impl Fn(&str) -> bool) -> Cow<'a, str> {
    let bytes = word.as_bytes();
    let has_run = bytes.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]);
    if !has_run || word.chars().all(|c| c.is_ascii_digit()) {
        return Cow::Borrowed(word);
    }
    let squeeze_to = |keep: usize| {
        let mut out = String::with_capacity(word.len());
        let mut last = None;
        let mut run = 0;
        for c in word.chars() {
            if Some(c) == last {
                run += 1;
            } else {
                run = 1;
                last = Some(c);
            }
            if run <= keep || c.is_ascii_digit() {
                out.push(c);
            }
        }
        out
    };
    let two = squeeze_to(2);
    if known(&two) {
        return Cow::Owned(two);
    }
    Cow::Owned(squeeze_to(1))
}

/// `syarat2` → `syarat`: reduplication written with the digit 2.
fn unreduplicate(word: &str) -> Cow<'_, str> {
    match word.strip_suffix('2') {
        Some(base) if base.len() >= 3 && base.chars().all(char::is_alphabetic) => {
            Cow::Owned(base.to_owned())
        }
        _ => Cow::Borrowed(word),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        name: &'static str,
        input: &'static str,
        want: &'static str,
    }

    #[test]
    fn table() {
        let cases = [
            Case {
                name: "slang",
                input: "Gmn cr bkin ijin usaha??",
                want: "bagaimana cara buat izin usaha",
            },
            Case {
                name: "letter runs",
                input: "tolonggg min",
                want: "tolong admin",
            },
            Case {
                name: "double letters kept when known",
                input: "maaaaf",
                want: "maaf",
            },
            Case {
                name: "phrase expansion",
                input: "mksh ya",
                want: "terima kasih",
            },
            Case {
                name: "emoji folded",
                input: "halo 👋🙏",
                want: "halo",
            },
            Case {
                name: "accents",
                input: "Sértifikat HALÁL",
                want: "sertifikat halal",
            },
            Case {
                name: "ticket code survives",
                input: "#status ADU-2026-000123",
                want: "status adu-2026-000123",
            },
            Case {
                name: "dates survive",
                input: "tgl 05/12/2026",
                want: "tanggal 05/12/2026",
            },
            Case {
                name: "reduplication",
                input: "syarat2nya apa",
                want: "syarat apa",
            },
            Case {
                name: "enclitic on informal word",
                input: "ijinnya",
                want: "izin",
            },
            Case {
                name: "fullwidth",
                input: "ＮＩＢ",
                want: "nib",
            },
            Case {
                name: "empty",
                input: "",
                want: "",
            },
            Case {
                name: "whitespace",
                input: " \t\n ",
                want: "",
            },
            Case {
                name: "control characters",
                input: "a\u{0}b\u{7}c",
                want: "a b c",
            },
            Case {
                name: "mixed scripts",
                input: "izin مرحبا usaha",
                want: "izin مرحبا usaha",
            },
            Case {
                name: "apostrophe inside word",
                input: "Jum'at",
                want: "jumat",
            },
        ];
        let n = Normaliser::bundled();
        for c in cases {
            assert_eq!(n.normalise(c.input), c.want, "case {}", c.name);
        }
    }

    #[test]
    fn own_entries_win() {
        let n = Normaliser::with_entries([("ikm", "industri kecil menengah")]);
        assert_eq!(n.normalise("IKM"), "industri kecil menengah");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_is_idempotent_on_output(s in "\\PC{0,200}") {
            let n = Normaliser::bundled();
            let once = n.normalise(&s);
            proptest::prop_assert!(!once.contains("  "));
            proptest::prop_assert_eq!(once.trim(), once.as_str());
        }
    }
}
