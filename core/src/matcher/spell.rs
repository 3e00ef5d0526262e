//! Typo correction towards the pack's own vocabulary.
//!
//! A symmetric-delete index (the SymSpell idea): every vocabulary word is
//! stored under itself and each of its one-letter deletions, so a query word
//! finds every vocabulary word within one insertion, deletion, substitution
//! or transposition by looking up its own deletions. Only words the pack
//! uses are targets, and the matcher corrects only words that are neither
//! in the pack, nor in the lexicon, nor standard words by the dictionary
//! (`Normaliser::is_standard`), so ordinary words are left alone.

use std::collections::HashMap;

use super::edit_distance;

#[derive(Debug, Default)]
pub(crate) struct Speller {
    /// word → how often the pack uses it
    vocab: HashMap<String, u32>,
    /// deletion (or the word itself) → vocabulary words
    deletes: HashMap<String, Vec<u32>>,
    words: Vec<String>,
}

/// Words shorter than this are never corrected: too many neighbours.
const MIN_LEN: usize = 5;

impl Speller {
    pub(crate) fn new(vocab: HashMap<String, u32>) -> Self {
        let mut words: Vec<String> = vocab.keys().cloned().collect();
        words.sort();
        let mut deletes: HashMap<String, Vec<u32>> = HashMap::new();
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
        }
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
}
