//! Measuring how well a pack understands citizens.
//!
//! [`evaluate`] runs a [`Matcher`] over labelled utterances (`{"text": …,
//! "intent": …}` lines; a message the fallback answers counts as intent
//! `fallback`) and reports accuracy, macro-F1, per-intent precision and
//! recall, and the most frequent confusions. [`cross_validate`] measures a
//! pack on its own examples without a separate data file: each fold's
//! examples are held out of the matcher and classified, optionally with
//! chat-language and typo noise added the way citizens write.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::matcher::Matcher;
use crate::normalise::informal_variants;
use crate::pack::{FALLBACK, Pack};

/// One labelled utterance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    /// What the citizen wrote.
    pub text: String,
    /// The intent it should reach (`fallback` for out-of-scope messages).
    pub intent: String,
}

/// Reads a JSONL file of samples; blank lines are skipped.
///
/// # Errors
/// [`Error::Io`] when unreadable; [`Error::Data`] naming the first bad line
/// (and how many more there are).
pub fn read_samples(path: &Path) -> Result<Vec<Sample>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    parse_samples(&text).map_err(|(line, message)| Error::Data {
        path: path.to_owned(),
        line,
        message,
    })
}

/// Parses JSONL samples; on error the first bad line number and what is wrong.
///
/// # Errors
/// The one-based line number of the first bad line and a message that also
/// counts the other bad lines.
pub fn parse_samples(text: &str) -> std::result::Result<Vec<Sample>, (usize, String)> {
    let mut out = Vec::new();
    let mut bad: Vec<(usize, String)> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Sample>(line) {
            Ok(s) if s.intent.trim().is_empty() => bad.push((i + 1, "empty \"intent\"".to_owned())),
            Ok(s) => out.push(s),
            Err(e) => bad.push((i + 1, format!("not a {{\"text\", \"intent\"}} object: {e}"))),
        }
    }
    match bad.len() {
        0 => Ok(out),
        1 => Err(bad.swap_remove(0)),
        n => {
            let (line, msg) = bad.swap_remove(0);
            Err((line, format!("{msg} (and {} more bad line(s))", n - 1)))
        }
    }
}

/// Scores of one intent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IntentScore {
    /// Samples labelled with this intent.
    pub support: usize,
    /// Samples predicted as this intent.
    pub predicted: usize,
    /// Samples labelled and predicted as this intent.
    pub correct: usize,
    /// correct / predicted.
    pub precision: f64,
    /// correct / support.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

/// A frequent mistake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Confusion {
    /// The intent the sample is labelled with.
    pub expected: String,
    /// The intent the matcher chose.
    pub predicted: String,
    /// How often.
    pub count: usize,
    /// Up to three of the messages.
    pub examples: Vec<String>,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Samples evaluated.
    pub total: usize,
    /// Samples whose intent was right.
    pub correct: usize,
    /// correct / total.
    pub accuracy: f64,
    /// Unweighted mean F1 over every intent that is labelled or predicted.
    pub macro_f1: f64,
    /// Per-intent scores, by intent id.
    pub per_intent: BTreeMap<String, IntentScore>,
    /// Mistakes, most frequent first.
    pub confusions: Vec<Confusion>,
}

/// Classifies every sample with `matcher`; `progress` is called after each.
#[must_use]
pub fn evaluate(matcher: &Matcher, samples: &[Sample], mut progress: impl FnMut(usize)) -> Report {
    let pairs: Vec<(String, String, String)> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let predicted = matcher.decide(&s.text).best.intent;
            progress(i + 1);
            (s.intent.clone(), predicted, s.text.clone())
        })
        .collect();
    report(&pairs)
}

fn report(pairs: &[(String, String, String)]) -> Report {
    let mut per_intent: BTreeMap<String, IntentScore> = BTreeMap::new();
    let mut confusions: HashMap<(String, String), (usize, Vec<String>)> = HashMap::new();
    let mut correct = 0;
    for (expected, predicted, text) in pairs {
        per_intent.entry(expected.clone()).or_default().support += 1;
        per_intent.entry(predicted.clone()).or_default().predicted += 1;
        if expected == predicted {
            correct += 1;
            per_intent.entry(expected.clone()).or_default().correct += 1;
        } else {
            let c = confusions
                .entry((expected.clone(), predicted.clone()))
                .or_default();
            c.0 += 1;
            if c.1.len() < 3 {
                c.1.push(text.clone());
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    for s in per_intent.values_mut() {
        s.precision = ratio(s.correct, s.predicted);
        s.recall = ratio(s.correct, s.support);
        s.f1 = if s.precision + s.recall == 0.0 {
            0.0
        } else {
            2.0 * s.precision * s.recall / (s.precision + s.recall)
        };
    }
    let macro_f1 = if per_intent.is_empty() {
        0.0
    } else {
        per_intent.values().map(|s| s.f1).sum::<f64>() / per_intent.len() as f64
    };
    let mut confusions: Vec<Confusion> = confusions
        .into_iter()
        .map(|((expected, predicted), (count, examples))| Confusion {
            expected,
            predicted,
            count,
            examples,
        })
        .collect();
    confusions.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.expected.cmp(&b.expected))
            .then_with(|| a.predicted.cmp(&b.predicted))
    });
    Report {
        total: pairs.len(),
        correct,
        accuracy: ratio(correct, pairs.len()),
        macro_f1,
        per_intent,
        confusions,
    }
}

/// How held-out examples are perturbed in [`cross_validate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Noise {
    /// The examples as written.
    #[default]
    None,
    /// Formal words swapped for informal spellings from IndoCollex, and one
    /// typo (dropped, doubled or swapped letter) in a longer word.
    ChatLanguage,
}

/// `folds`-fold cross-validation over the pack's own examples: every
/// example is classified once by a matcher that never saw it.
///
/// A pack's own `fallback` examples (questions it does not handle that
/// share a word with one of its topics, each about something else) stay
/// in every fold's training, where they compete with the held-out examples
/// as they do in use; they are not held out themselves, since none stands
/// for another. Out-of-scope questions are measured with [`evaluate`] on a
/// file of their own.
///
/// # Errors
/// [`Error::Config`] for fewer than two folds; matcher build errors.
pub fn cross_validate(pack: &Pack, folds: usize, noise: Noise) -> Result<Report> {
    if folds < 2 {
        return Err(Error::Config(
            "cross-validation needs at least 2 folds".to_owned(),
        ));
    }
    let variants = match noise {
        Noise::None => HashMap::new(),
        Noise::ChatLanguage => informal_variants(),
    };
    let mut pairs = Vec::new();
    for fold in 0..folds {
        let mut train = pack.clone();
        let mut held_out = Vec::new();
        for intent in &mut train.intents {
            if intent.id == FALLBACK {
                continue;
            }
            let mut kept = Vec::new();
            for (i, e) in intent.examples.drain(..).enumerate() {
                if i % folds == fold {
                    held_out.push((intent.id.clone(), e));
                } else {
                    kept.push(e);
                }
            }
            intent.examples = kept;
        }
        let matcher = Matcher::new(&train)?;
        for (intent, text) in held_out {
            let text = match noise {
                Noise::None => text,
                Noise::ChatLanguage => perturb(&text, &variants),
            };
            let predicted = matcher.decide(&text).best.intent;
            pairs.push((intent, predicted, text));
        }
    }
    Ok(report(&pairs))
}

/// A deterministic chat-language version of `text`.
fn perturb(text: &str, variants: &HashMap<String, Vec<String>>) -> String {
    let mut rng = text.bytes().fold(0x9e37_79b9_7f4a_7c15_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    for w in &mut words {
        let key = w.trim_matches(|c: char| !c.is_alphanumeric()).to_owned();
        if let Some(v) = variants.get(&key)
            && next() % 2 == 0
        {
            *w = v[(next() % v.len() as u64) as usize].clone();
        }
    }
    let long: Vec<usize> = (0..words.len())
        .filter(|&i| words[i].chars().count() >= 6 && words[i].chars().all(char::is_alphabetic))
        .collect();
    if !long.is_empty() {
        let i = long[(next() % long.len() as u64) as usize];
        let mut chars: Vec<char> = words[i].chars().collect();
        let p = 1 + (next() % (chars.len() as u64 - 2)) as usize;
        match next() % 3 {
            0 => {
                chars.remove(p);
            }
            1 => chars.insert(p, chars[p]),
            _ => chars.swap(p, p + 1),
        }
        words[i] = chars.into_iter().collect();
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_on_a_small_table() {
        let pairs: Vec<(String, String, String)> = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b")]
            .iter()
            .map(|(e, p)| ((*e).to_owned(), (*p).to_owned(), String::new()))
            .collect();
        let r = report(&pairs);
        assert_eq!(r.total, 4);
        assert_eq!(r.correct, 3);
        assert!((r.accuracy - 0.75).abs() < 1e-9);
        let a = &r.per_intent["a"];
        assert!((a.precision - 1.0).abs() < 1e-9 && (a.recall - 0.5).abs() < 1e-9);
        let b = &r.per_intent["b"];
        assert!((b.precision - 2.0 / 3.0).abs() < 1e-9 && (b.recall - 1.0).abs() < 1e-9);
        let want_macro = (2.0 / 3.0 + 0.8) / 2.0;
        assert!((r.macro_f1 - want_macro).abs() < 1e-9);
        assert_eq!(r.confusions[0].expected, "a");
        assert_eq!(r.confusions[0].predicted, "b");
    }

    #[test]
    fn bad_lines_are_reported_with_their_number() {
        let text = "{\"text\":\"halo\",\"intent\":\"menu\"}\n\nnot json\n{\"text\":\"x\"}\n";
        let (line, msg) = parse_samples(text).unwrap_err();
        assert_eq!(line, 3);
        assert!(msg.contains("1 more"), "{msg}");
    }

    #[test]
    fn perturbation_is_deterministic_and_changes_text() {
        let v = informal_variants();
        let a = perturb("bagaimana cara mendaftar sertifikat halal", &v);
        assert_eq!(a, perturb("bagaimana cara mendaftar sertifikat halal", &v));
        assert_ne!(a, "bagaimana cara mendaftar sertifikat halal");
    }
}
