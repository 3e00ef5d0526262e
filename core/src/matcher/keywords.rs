//! Layer 2: keywords and phrases, all compiled into one aho-corasick
//! automaton over normalised text and matched as whole words.

use aho_corasick::{AhoCorasick, MatchKind};

#[derive(Debug)]
pub(crate) struct Keywords {
    automaton: Option<AhoCorasick>,
    /// pattern index → (intent, strength of one hit)
    entries: Vec<(u32, f32)>,
}

impl Keywords {
    /// `phrases`: `(intent, normalised phrase, weight)`.
    pub(crate) fn build(phrases: Vec<(u32, String, f32)>) -> Result<Self, aho_corasick::BuildError> {
        let mut patterns = Vec::with_capacity(phrases.len());
        let mut entries = Vec::with_capacity(phrases.len());
        for (intent, phrase, weight) in phrases {
            let words = phrase.split(' ').count();
            // A longer phrase is a stronger signal than a lone word.
            let strength = weight * (0.7 + 0.1 * (words.min(3) - 1) as f32);
            // Spaces around the phrase make every hit a whole-word hit.
            patterns.push(format!(" {phrase} "));
            entries.push((intent, strength));
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(AhoCorasick::builder().match_kind(MatchKind::Standard).build(&patterns)?)
        };
        Ok(Self { automaton, entries })
    }

    /// Keyword score per intent: the noisy-or of its distinct hits.
    pub(crate) fn scores(&self, normalised: &str) -> Vec<(u32, f32)> {
        let Some(ac) = &self.automaton else {
            return Vec::new();
        };
        let haystack = format!(" {normalised} ");
        let mut hits: Vec<usize> = ac
            .find_overlapping_iter(&haystack)
            .map(|m| m.pattern().as_usize())
            .collect();
        hits.sort_unstable();
        hits.dedup();
        let mut out: Vec<(u32, f32)> = Vec::new();
        for p in hits {
            let (intent, strength) = self.entries[p];
            match out.iter_mut().find(|(i, _)| *i == intent) {
                Some((_, miss)) => *miss *= 1.0 - strength,
                None => out.push((intent, 1.0 - strength)),
            }
        }
        for (_, s) in &mut out {
            *s = 1.0 - *s;
        }
        out
    }
}
