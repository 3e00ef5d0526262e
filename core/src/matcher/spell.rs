//! Typo correction towards the pack's own vocabulary.
//!
//! A symmetric-delete index (the SymSpell idea): every vocabulary word is
//! stored under itself and each of its one-letter deletions, so a query word
//! finds every vocabulary word within one insertion, deletion, substitution
//! or transposition by looking up its own deletions. Only words the pack
//! uses are targets, and the matcher corrects only words that are neither
//! in the pack, nor in the lexicon, nor standard words by the dictionary
//! (`Normaliser::is_standard`), so ordinary words are left alone.

use std::collections::{HashMap, HashSet};

use super::edit_distance;
use super::similarity::Fnv;

#[derive(Debug, Default)]
pub(crate) struct Speller {
    /// word → how often the pack uses it
    vocab: HashMap<String, u32>,
    /// deletion (or the word itself) → vocabulary words
    deletes: HashMap<String, Vec<u32>>,
    words: Vec<String>,
    /// Hashes of every vocabulary word of three letters or more and of its
    /// one-letter deletions: what [`Speller::is_near`] looks up.
    near: HashSet<u64>,
}

/// Words shorter than this are never corrected: too many neighbours.
const MIN_LEN: usize = 5;

impl Speller {
    pub(crate) fn new(vocab: HashMap<String, u32>) -> Self {
        let mut words: Vec<String> = vocab.keys().cloned().collect();
        words.sort();
        let mut deletes: HashMap<String, Vec<u32>> = HashMap::new();
        let mut near = HashSet::new();
        for w in &words {
            if w.chars().count() >= 3 && w.chars().all(char::is_alphabetic) {
                near.insert(hash_without(w, 0..0));
                near.extend(deletion_hashes(w));
            }
        }
        for (i, w) in words.iter().enumerate() {
            if w.chars().count() < MIN_LEN || !w.chars().all(char::is_alphabetic) {
                continue;
            }
            for d in deletions(w).chain(std::iter::once(w.clone())) {
                let list = deletes.entry(d).or_default();
                if list.last() != Some(&(i as u32)) {
                    list.push(i as u32);
                }
            }
        }
        Self {
            vocab,
            deletes,
            words,
            near,
        }
    }

    /// Whether `word` looks like a typo of a vocabulary word of any length:
    /// one of them and `word` become the same word by deleting at most one
    /// letter each (one insertion, deletion or substitution apart, and some
    /// pairs two apart). Unlike [`Speller::correct`] it names no word, so it
    /// also holds for short words, where a correction would be a guess.
    pub(crate) fn is_near(&self, word: &str) -> bool {
        self.near.contains(&hash_without(word, 0..0))
            || deletion_hashes(word).any(|h| self.near.contains(&h))
    }

    pub(crate) fn contains(&self, word: &str) -> bool {
        self.vocab.contains_key(word)
    }

    /// The vocabulary word one edit away from `word`, the most frequent one
    /// when several are, or `None`.
    pub(crate) fn correct(&self, word: &str) -> Option<&str> {
        if word.chars().count() < MIN_LEN || !word.chars().all(char::is_alphabetic) {
            return None;
        }
        let mut best: Option<(u32, &str)> = None;
        for d in deletions(word).chain(std::iter::once(word.to_owned())) {
            let Some(list) = self.deletes.get(&d) else {
                continue;
            };
            for &i in list {
                let cand = self.words[i as usize].as_str();
                // Typos rarely change the first letter; `nama` is not `lama`.
                if edit_distance(word, cand) != 1 || cand.chars().next() != word.chars().next() {
                    continue;
                }
                let freq = self.vocab[cand];
                let better = match best {
                    None => true,
                    Some((f, w)) => freq > f || (freq == f && cand < w),
                };
                if better {
                    best = Some((freq, cand));
                }
            }
        }
        best.map(|(_, w)| w)
    }
}

/// The hash of `word` without the bytes in `skip`, computed in place.
fn hash_without(word: &str, skip: std::ops::Range<usize>) -> u64 {
    let mut h = Fnv::new();
    h.eat(&word.as_bytes()[..skip.start]);
    h.eat(&word.as_bytes()[skip.end..]);
    h.finish()
}

/// The hashes of `word`'s one-letter deletions, without building them.
fn deletion_hashes(word: &str) -> impl Iterator<Item = u64> + '_ {
    word.char_indices()
        .map(move |(i, c)| hash_without(word, i..i + c.len_utf8()))
}

fn deletions(word: &str) -> impl Iterator<Item = String> + '_ {
    word.char_indices().map(move |(i, c)| {
        let mut s = String::with_capacity(word.len());
        s.push_str(&word[..i]);
        s.push_str(&word[i + c.len_utf8()..]);
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrects_one_edit_towards_frequent_words() {
        let vocab = HashMap::from([
            ("sertifikat".to_owned(), 5),
            ("halal".to_owned(), 3),
            ("pendaftaran".to_owned(), 2),
        ]);
        let s = Speller::new(vocab);
        let cases = [
            ("sertifkat", Some("sertifikat")),
            ("sretifikat", Some("sertifikat")),
            ("halall", Some("halal")),
            ("hertifikat", None),
            ("pendaftran", Some("pendaftaran")),
            ("kucing", None),
            ("hal", None),
        ];
        for (input, want) in cases {
            assert_eq!(s.correct(input), want, "correct({input})");
        }
    }

    #[test]
    fn short_typos_are_near_their_word_and_other_words_are_not() {
        let vocab = HashMap::from([("izin".to_owned(), 4), ("halal".to_owned(), 3)]);
        let s = Speller::new(vocab);
        let cases = [
            ("izin", true),
            ("iziin", true),
            ("ijin", true),
            ("izn", true),
            ("hala", true),
            ("halla", true),
            ("kereta", false),
            ("palembang", false),
            ("ikan", false),
        ];
        for (word, want) in cases {
            assert_eq!(s.is_near(word), want, "is_near({word})");
        }
    }
}
