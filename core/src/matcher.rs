//! Intent matching, in layers (see DESIGN.md):
//!
//! 1. commands and button payloads, exact;
//! 2. keywords and phrases in one aho-corasick automaton, whole words, weighted;
//! 3. regex patterns with named captures;
//! 4. example similarity over an inverted index of every intent's examples;
//! 5. below the pack's confidence threshold: the fallback, with suggestions.
//!
//! Layers 2–4 each score every intent they recognise in 0..1, and an
//! intent's score combines them (noisy-or), so a keyword hit is confirmed by
//! similar examples and a clearly better paraphrase beats an incidental
//! keyword. Words of the message the pack does not know lower the keyword
//! and similarity scores ([`UNKNOWN_PENALTY`]), so that a question about
//! something else is not carried by the one word it shares with an intent.
//! Every result names the layer that contributed most. Matching is
//! deterministic: ties go to the intent defined first.

mod commands;
mod keywords;
mod patterns;
mod similarity;
mod spell;

use std::collections::{BTreeMap, HashMap};

use regex::Regex;

use crate::error::{Error, Result};
use crate::normalise::Normaliser;
use crate::pack::{FALLBACK, Pack};

/// How much a message's words the pack does not know lower every intent's
/// keyword and similarity scores: each is multiplied by `1 − UNKNOWN_PENALTY
/// × (unknown words ÷ words)`, counting words of three letters or more.
///
/// A message about something else usually shares one word with the pack
/// and brings its own topic: `status pengiriman paket shopee`, `film
/// terbaru netflix`. Without this, the one shared word carries the match
/// (the similarity's character block only sees the n-grams the pack
/// knows). It is not enough where the shared word is most of the message
/// (`harga bitcoin`). Chosen on the Perindag pack's held-out set, its k-fold
/// cross-validation and a development set of out-of-scope questions (see
/// `benches/RESULTS.md`).
pub const UNKNOWN_PENALTY: f32 = 0.7;

/// A word the pack does not use still counts as known when it is one edit
/// from a pack word (and no standard word itself), or when at least this
/// share of its character n-grams are the pack's: another form of a pack
/// word, or a typo two edits away.
const KNOWN_GRAM_SHARE: f32 = 0.8;

/// Words that carry no topic: conjunctions, prepositions, pronouns,
/// question words, particles, auxiliaries and forms of address. They count
/// as known whether or not the pack uses them: the normaliser writes chat
/// shorthand out as them (`tp` → `tetapi`, `udh` → `sudah`), and a pack's
/// examples need not hold every one, so without this a complaint typed
/// `beli gula 1 kg tp kurang` lost to the penalty the word `tetapi`.
fn is_function_word(word: &str) -> bool {
    matches!(
        word,
        "tetapi"
            | "tapi"
            | "namun"
            | "karena"
            | "jadi"
            | "sudah"
            | "belum"
            | "tidak"
            | "bukan"
            | "dengan"
            | "untuk"
            | "dari"
            | "pada"
            | "yang"
            | "ini"
            | "itu"
            | "saya"
            | "aku"
            | "kami"
            | "kita"
            | "anda"
            | "dia"
            | "mereka"
            | "apa"
            | "apakah"
            | "siapa"
            | "bagaimana"
            | "kapan"
            | "mengapa"
            | "kenapa"
            | "mana"
            | "berapa"
            | "juga"
            | "saja"
            | "hanya"
            | "masih"
            | "sangat"
            | "sekali"
            | "lagi"
            | "akan"
            | "sedang"
            | "bisa"
            | "dapat"
            | "harus"
            | "mau"
            | "ingin"
            | "atau"
            | "dan"
            | "serta"
            | "kalau"
            | "jika"
            | "agar"
            | "supaya"
            | "sehingga"
            | "pun"
            | "lah"
            | "kah"
            | "dong"
            | "sih"
            | "nya"
            | "ada"
            | "tadi"
            | "nanti"
            | "sini"
            | "situ"
            | "sana"
            | "begitu"
            | "begini"
            | "lalu"
            | "kemudian"
            | "terus"
            | "tolong"
            | "mohon"
            | "min"
            | "admin"
            | "pak"
            | "bapak"
            | "ibu"
            | "kak"
            | "kakak"
            | "mas"
            | "mbak"
            | "bang"
            | "deh"
            | "kok"
            | "kan"
            | "toh"
            | "loh"
    )
}

/// Text longer than this many characters is matched on its beginning only:
/// rambling messages rarely change topic, and matching stays fast.
pub const MAX_MATCH_CHARS: usize = 1_000;

/// The layer that decided a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Layer {
    /// An exact command such as `#info`.
    Command,
    /// A button payload or a numbered menu choice.
    Choice,
    /// Keywords and phrases.
    Keyword,
    /// A regex pattern.
    Pattern,
    /// Similarity to the pack's examples.
    Similarity,
    /// A follow-up, read with the topic just answered (`biayanya brp?`
    /// after the answer about NIB).
    Context,
    /// Nothing was confident enough.
    Fallback,
}

impl Layer {
    /// The layer's name in lower case.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::Choice => "choice",
            Self::Keyword => "keyword",
            Self::Pattern => "pattern",
            Self::Similarity => "similarity",
            Self::Context => "context",
            Self::Fallback => "fallback",
        }
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One intent's result for a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The intent id.
    pub intent: String,
    /// Combined score in 0..1.
    pub score: f32,
    /// The layer that contributed most.
    pub layer: Layer,
    /// Score of each layer that recognised the intent.
    pub layers: BTreeMap<Layer, f32>,
    /// Named captures of a pattern, or `args` of a command.
    pub captures: BTreeMap<String, String>,
}

/// The matcher's decision on one message, with everything `explain` shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The message after normalisation.
    pub normalised: String,
    /// The normalised words after typo correction towards the pack's vocabulary.
    pub corrected: String,
    /// The chosen intent: the best match, or `fallback` below the threshold.
    pub best: Match,
    /// The next best intents, best first (at most five).
    pub runners_up: Vec<Match>,
    /// The message's words the pack does not know (see [`UNKNOWN_PENALTY`]).
    pub unknown: Vec<String>,
}

impl Decision {
    /// Whether the fallback answered.
    #[must_use]
    pub fn is_fallback(&self) -> bool {
        self.best.intent == FALLBACK
    }
}

/// Compiles a pack pattern for normalised text: ASCII word classes where
/// the pattern allows it (hundreds of times cheaper than Unicode classes),
/// Unicode otherwise.
///
/// # Errors
/// The regex error when the pattern does not compile either way.
pub fn compile_pattern(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .unicode(false)
        .build()
        .or_else(|_| Regex::new(pattern))
}

/// The intent matcher of one pack; built when the pack loads.
#[derive(Debug)]
pub struct Matcher {
    normaliser: Normaliser,
    ids: Vec<String>,
    commands: commands::Commands,
    keywords: keywords::Keywords,
    patterns: patterns::Patterns,
    similarity: similarity::SimilarityIndex,
    speller: spell::Speller,
    threshold: f32,
    fallback_defined: bool,
}

impl Matcher {
    /// Builds the matcher for `pack` with the bundled normaliser.
    ///
    /// # Errors
    /// When the keyword automaton cannot be built (far beyond any real pack's size).
    pub fn new(pack: &Pack) -> Result<Self> {
        Self::with_normaliser(pack, Normaliser::bundled())
    }

    /// Builds the matcher for `pack` with `normaliser`.
    ///
    /// # Errors
    /// When the keyword automaton cannot be built.
    pub fn with_normaliser(pack: &Pack, normaliser: Normaliser) -> Result<Self> {
        let mut commands = commands::Commands::default();
        let mut patterns = patterns::Patterns::default();
        let mut phrases = Vec::new();
        let mut examples = Vec::new();
        let mut vocab: HashMap<String, u32> = HashMap::new();
        for (i, intent) in pack.intents.iter().enumerate() {
            let i = i as u32;
            for c in &intent.commands {
                commands.insert(c, i);
            }
            for k in &intent.keywords {
                let words = normaliser.words(&k.text);
                for w in &words {
                    *vocab.entry(w.clone()).or_default() += 1;
                }
                phrases.push((i, words.join(" "), k.weight));
                // Keywords are short examples too: they widen each intent's vocabulary.
                examples.push((i, words));
            }
            for p in &intent.patterns {
                if let Ok(re) = compile_pattern(p) {
                    patterns.push(i, re);
                }
            }
            for e in &intent.examples {
                let words = normaliser.words(e);
                for w in &words {
                    *vocab.entry(w.clone()).or_default() += 1;
                }
                examples.push((i, words));
            }
        }
        let example_texts: Vec<(u32, String)> = examples
            .iter()
            .map(|(i, words)| (*i, words.join(" ")))
            .collect();
        let keywords = keywords::Keywords::build(phrases, &example_texts)
            .map_err(|e| Error::Matcher(e.to_string()))?;
        let similarity = similarity::SimilarityIndex::build(pack.intents.len(), &examples);
        Ok(Self {
            normaliser,
            ids: pack.intents.iter().map(|i| i.id.clone()).collect(),
            commands,
            keywords,
            patterns,
            similarity,
            speller: spell::Speller::new(vocab),
            threshold: pack.settings.confidence_threshold,
            fallback_defined: pack.intents.iter().any(|i| i.id == FALLBACK),
        })
    }

    /// The normaliser this matcher uses.
    #[must_use]
    pub fn normaliser(&self) -> &Normaliser {
        &self.normaliser
    }

    /// The intent a command (`#info`, `/start`) leads to, with its argument.
    #[must_use]
    pub fn command<'t>(&self, raw: &'t str) -> Option<(&str, &'t str)> {
        self.commands
            .find(raw)
            .map(|(i, rest)| (self.ids[i as usize].as_str(), rest))
    }

    /// Decides which intent `text` asks for.
    #[must_use]
    pub fn decide(&self, text: &str) -> Decision {
        let text = truncate_chars(text, MAX_MATCH_CHARS);
        if let Some((intent, args)) = self.commands.find(text) {
            let mut captures = BTreeMap::new();
            if !args.is_empty() {
                captures.insert("args".to_owned(), args.to_owned());
            }
            let normalised = self.normaliser.normalise(text);
            let mut best = Match {
                intent: self.ids[intent as usize].clone(),
                score: 1.0,
                layer: Layer::Command,
                layers: BTreeMap::from([(Layer::Command, 1.0)]),
                captures,
            };
            // Patterns still fill captures for a command with arguments (`#status ADU-…`).
            for (i, _, caps) in self.patterns.scores(&normalised) {
                if i == intent {
                    best.captures.extend(caps);
                }
            }
            return Decision {
                corrected: normalised.clone(),
                normalised,
                best,
                runners_up: Vec::new(),
                unknown: Vec::new(),
            };
        }

        let words = self.normaliser.words(text);
        let normalised = words.join(" ");
        let corrected_words: Vec<String> = words
            .iter()
            .map(|w| {
                if self.speller.contains(w)
                    || self.normaliser.is_informal(w)
                    || self.normaliser.is_standard(w)
                {
                    return w.clone();
                }
                self.speller
                    .correct(w)
                    .map_or_else(|| w.clone(), str::to_owned)
            })
            .collect();
        let corrected = corrected_words.join(" ");

        // Scores per intent in plain arrays; `Match` values are built only
        // for the few intents a decision reports.
        let mut scores: similarity::IntentMap<[f32; 3]> = similarity::IntentMap::default();
        const KW: usize = 0;
        const PAT: usize = 1;
        const SIM: usize = 2;
        for (i, s) in self.keywords.scores(&corrected) {
            scores.entry(i).or_default()[KW] = s;
        }
        let mut captured: Vec<(u32, BTreeMap<String, String>)> = Vec::new();
        for (i, s, caps) in self.patterns.scores(&corrected) {
            scores.entry(i).or_default()[PAT] = s;
            captured.push((i, caps));
        }
        for (i, s) in self.similarity.scores(&corrected_words) {
            scores.entry(i).or_default()[SIM] = s;
        }
        let (unknown, counted) = self.unknown_words(&corrected_words);
        if !unknown.is_empty() {
            let factor = 1.0 - UNKNOWN_PENALTY * unknown.len() as f32 / counted as f32;
            for l in scores.values_mut() {
                l[KW] *= factor;
                l[SIM] *= factor;
            }
        }
        let mut combined: Vec<(u32, f32, [f32; 3])> = scores
            .into_iter()
            .map(|(i, l)| {
                let miss: f32 = l.iter().map(|s| 1.0 - s.clamp(0.0, 1.0)).product();
                (i, 1.0 - miss, l)
            })
            .collect();
        let order = |a: &(u32, f32, [f32; 3]), b: &(u32, f32, [f32; 3])| {
            b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
        };
        const REPORTED: usize = 6;
        if combined.len() > REPORTED {
            combined.select_nth_unstable_by(REPORTED - 1, order);
            combined.truncate(REPORTED);
        }
        combined.sort_unstable_by(order);
        let mut ranked: Vec<Match> = combined
            .into_iter()
            .map(|(i, score, l)| {
                let layers: BTreeMap<Layer, f32> = [
                    (Layer::Keyword, l[KW]),
                    (Layer::Pattern, l[PAT]),
                    (Layer::Similarity, l[SIM]),
                ]
                .into_iter()
                .filter(|(_, s)| *s > 0.0)
                .collect();
                let layer = layers
                    .iter()
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
                    .map_or(Layer::Fallback, |(l, _)| *l);
                let captures = captured
                    .iter()
                    .find(|(c, _)| *c == i)
                    .map(|(_, caps)| caps.clone())
                    .unwrap_or_default();
                Match {
                    intent: self.ids[i as usize].clone(),
                    score,
                    layer,
                    layers,
                    captures,
                }
            })
            .collect();

        let confident = ranked
            .first()
            .is_some_and(|m| m.score >= self.threshold && m.score > 0.0);
        let best = if confident {
            ranked.remove(0)
        } else {
            Match {
                intent: FALLBACK.to_owned(),
                score: ranked.first().map_or(0.0, |m| m.score),
                layer: Layer::Fallback,
                layers: BTreeMap::new(),
                captures: BTreeMap::new(),
            }
        };
        ranked.truncate(5);
        Decision {
            normalised,
            corrected,
            best,
            runners_up: ranked,
            unknown,
        }
    }

    /// The words of `words` (three letters or more, letters only) that the
    /// pack does not know, and how many such words there are in all.
    fn unknown_words(&self, words: &[String]) -> (Vec<String>, usize) {
        let mut counted = 0;
        let mut unknown = Vec::new();
        let (mut padded, mut bounds) = (String::new(), Vec::new());
        for w in words {
            if w.chars().count() < 3 || !w.chars().all(char::is_alphabetic) {
                continue;
            }
            counted += 1;
            let known = self.speller.contains(w)
                || is_function_word(w)
                || self.similarity.knows_stem(w)
                // A typo of a pack word, unless it is a standard word itself
                // (`kapal` is not `kapan`).
                || (self.speller.is_near(w) && !self.normaliser.is_standard(w))
                || self.similarity.known_gram_share(w, &mut padded, &mut bounds)
                    >= KNOWN_GRAM_SHARE;
            if !known {
                unknown.push(w.clone());
            }
        }
        (unknown, counted)
    }

    /// Whether the pack defines its own `fallback` intent.
    #[must_use]
    pub fn has_own_fallback(&self) -> bool {
        self.fallback_defined
    }

    /// Every intent id, in pack order.
    #[must_use]
    pub fn intent_ids(&self) -> &[String] {
        &self.ids
    }
}

/// The first `max` characters of `text`, cut on a character boundary.
#[must_use]
pub fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// Optimal-string-alignment edit distance (insertions, deletions,
/// substitutions, adjacent transpositions), over characters.
#[must_use]
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // Three rolling rows: the one before last is needed for transpositions.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(before[j - 2] + 1);
            }
            row[j] = v;
        }
        std::mem::swap(&mut before, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    last[b.len()]
}

#[cfg(test)]
mod tests {
    use super::edit_distance;

    #[test]
    fn edit_distance_counts_each_kind_of_edit_once() {
        let cases = [
            ("", "", 0),
            ("izin", "izin", 0),
            ("izin", "ijin", 1),
            ("izin", "izn", 1),
            ("izin", "iziin", 1),
            ("izin", "ziin", 1),
            ("halal", "", 5),
            ("sertifikat", "srtifikta", 2),
        ];
        for (a, b, want) in cases {
            assert_eq!(edit_distance(a, b), want, "{a} ~ {b}");
            assert_eq!(edit_distance(b, a), want, "{b} ~ {a}");
        }
    }
}
