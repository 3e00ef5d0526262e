//! Layer 2: keywords and phrases, all compiled into one aho-corasick
//! automaton over normalised text and matched as whole words.

use aho_corasick::{AhoCorasick, MatchKind};

/// Keywords confirm rather than decide: a hit adds at most this much
/// before specificity and phrase length, so that clearly better similarity
/// to an intent's examples can win over an incidental keyword.
const KEYWORD_SCALE: f32 = 0.5;

#[derive(Debug)]
pub(crate) struct Keywords {
    automaton: Option<AhoCorasick>,
    /// pattern index → (intent, strength of one hit)
    entries: Vec<(u32, f32)>,
}

impl Keywords {
    /// `phrases`: `(intent, normalised phrase, weight)`; `examples`:
    /// `(intent, normalised example)`, used to learn how specific each
    /// keyword is.
    pub(crate) fn build(
        phrases: Vec<(u32, String, f32)>,
        examples: &[(u32, String)],
    ) -> Result<Self, aho_corasick::BuildError> {
        let specificity = specificity(&phrases, examples)?;
        let mut patterns = Vec::with_capacity(phrases.len());
        let mut entries = Vec::with_capacity(phrases.len());
        let mut seen = std::collections::HashSet::new();
        for ((intent, phrase, weight), specificity) in phrases.into_iter().zip(specificity) {
            // `aduan` and `pengaduan` may normalise to the same phrase: count it once.
            if !seen.insert((intent, phrase.clone())) {
                continue;
            }
            let words = phrase.split(' ').count();
            // A longer phrase is a stronger signal than a lone word, and a
            // phrase the examples of other intents use too is a weaker one.
            let strength =
                KEYWORD_SCALE * weight * specificity * (0.7 + 0.1 * (words.min(3) - 1) as f32);
            // Spaces around the phrase make every hit a whole-word hit.
            patterns.push(format!(" {phrase} "));
            entries.push((intent, strength));
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&patterns)?,
            )
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

/// For each phrase: of the examples that contain it (whole words), the
/// share that belongs to the phrase's own intent, smoothed so that a phrase
/// no example uses keeps full strength.
fn specificity(
    phrases: &[(u32, String, f32)],
    examples: &[(u32, String)],
) -> Result<Vec<f32>, aho_corasick::BuildError> {
    let mut own = vec![0u32; phrases.len()];
    let mut total = vec![0u32; phrases.len()];
    if !phrases.is_empty() {
        let patterns: Vec<String> = phrases.iter().map(|(_, p, _)| format!(" {p} ")).collect();
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&patterns)?;
        let mut hit = Vec::new();
        for (intent, text) in examples {
            hit.clear();
            hit.extend(
                ac.find_overlapping_iter(&format!(" {text} "))
                    .map(|m| m.pattern().as_usize()),
            );
            hit.sort_unstable();
            hit.dedup();
            for &p in &hit {
                total[p] += 1;
                if phrases[p].0 == *intent {
                    own[p] += 1;
                }
            }
        }
    }
    Ok(own
        .iter()
        .zip(&total)
        .map(|(&o, &t)| (o as f32 + 1.0) / (t as f32 + 1.0))
        .collect())
}
