//! Follow-up questions: `biayanya berapa?` right after the answer about
//! NIB asks what NIB costs, not what a trademark costs.
//!
//! A follow-up names an aspect (cost, requirements, duration, place, …)
//! and no topic of its own. Read alone it matches whichever intent's
//! examples share the aspect word; read after a topic it is matched again
//! with that topic's title added, and the result is kept when it is the
//! topic itself or one of the intents its buttons lead to.
//!
//! A message that read alone already gives the topic is left as it is; one
//! that gives an intent a button leads to is left as it is when the topic
//! supports that reading (`manfaatnya apa` after NIB scores the benefits of
//! NIB higher with the topic's title than without it), and read as the
//! topic's when the topic pulls away from it (`caranya gimana` after the
//! IKM aid reads alone as how to get an NIB, a button of that answer; with
//! the aid's title it asks how to apply for the aid).

use super::Turn;
use crate::matcher::{Decision, Layer, Match};
use crate::pack::FALLBACK;
use crate::slots;

/// Words that ask about an aspect of the topic just answered.
const ASPECT_WORDS: &[&str] = &[
    "biaya",
    "bayar",
    "gratis",
    "tarif",
    "ongkos",
    "syarat",
    "persyaratan",
    "berkas",
    "dokumen",
    "lama",
    "waktu",
    "proses",
    "cara",
    "daftar",
    "mendaftar",
    "pendaftaran",
    "urus",
    "mengurus",
    "tempat",
    "lokasi",
    "jadwal",
    "online",
    "daring",
    "manfaat",
    "fungsi",
    "guna",
    "kegunaan",
    "contoh",
    "format",
    "formulir",
    "link",
    "situs",
    "aplikasi",
    "langkah",
    "prosedur",
    "alur",
    "berlaku",
];

/// Words that carry no topic of their own, beside the question words
/// ([`slots::QUESTION_WORDS`]).
const FILLER_WORDS: &[&str] = &[
    "saja", "di", "ya", "kak", "min", "pak", "bu", "itu", "ini", "untuk", "juga", "yang", "harus",
    "perlu", "butuh", "ada", "tidak", "kah", "sih", "dong", "lagi", "saya", "buat", "hari", "masa",
    "kalau", "terus", "lalu", "trus", "nya", "dan", "atau", "mau", "ingin", "tanya",
];

/// The most words a follow-up has; a longer message says what it is about.
const MAX_FOLLOW_UP_WORDS: usize = 6;

/// Whether `decision`'s message names only aspects: `biaya berapa`,
/// `syaratnya apa saja`, `berapa lama prosesnya`.
fn is_follow_up(decision: &Decision) -> bool {
    let words: Vec<&str> = decision.corrected.split_whitespace().collect();
    if words.is_empty() || words.len() > MAX_FOLLOW_UP_WORDS {
        return false;
    }
    let mut aspects = 0;
    for word in words {
        let word = word
            .strip_suffix("nya")
            .filter(|w| w.len() >= 3)
            .unwrap_or(word);
        if ASPECT_WORDS.contains(&word) {
            aspects += 1;
        } else if !FILLER_WORDS.contains(&word) && !slots::QUESTION_WORDS.contains(&word) {
            return false;
        }
    }
    aspects > 0
}

impl Turn<'_> {
    /// The intent a follow-up asks about, when the conversation's last
    /// answer gives it one; `None` to keep `decision` as it is.
    pub(super) fn follow_up(&self, text: &str, decision: &Decision) -> Option<Match> {
        // A command or a pattern says exactly what it asks.
        if matches!(decision.best.layer, Layer::Command | Layer::Pattern) || !is_follow_up(decision)
        {
            return None;
        }
        let pack = self.pack();
        let topic = pack.intent(self.session.last_intent.as_deref()?)?;
        if topic.form.is_some() || topic.action.is_some() {
            return None;
        }
        let related = |id: &str| {
            id == topic.id
                || topic
                    .buttons
                    .iter()
                    .any(|b| b.intent == id && id != FALLBACK)
        };
        // Read alone it already asks about the topic.
        let alone =
            (!decision.is_fallback() && related(&decision.best.intent)).then_some(&decision.best);
        if alone.is_some_and(|m| m.intent == topic.id) {
            return None;
        }
        let title = topic
            .title
            .clone()
            .unwrap_or_else(|| topic.id.replace('_', " "));
        let again = self.active.matcher.decide(&format!("{text} {title}"));
        // Read alone it asks where one of the topic's buttons leads: kept
        // when the topic supports that reading, scoring it at least as high
        // (`manfaatnya apa` after NIB: the benefits of NIB).
        if let Some(alone) = alone {
            let with_topic = std::iter::once(&again.best)
                .chain(&again.runners_up)
                .find(|m| m.intent == alone.intent)
                .map_or(0.0, |m| m.score);
            if with_topic >= alone.score {
                return None;
            }
        }
        (!again.is_fallback() && related(&again.best.intent)).then_some(Match {
            layer: Layer::Context,
            ..again.best
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_ups_name_aspects_only() {
        let cases = [
            ("biaya berapa", true),
            ("syaratnya apa saja", true),
            ("berapa lama prosesnya", true),
            ("daftarnya di mana", true),
            ("bayar tidak", true),
            ("gratis", true),
            // A topic of its own, or no aspect at all.
            ("biaya sertifikat halal berapa", false),
            ("harga beras", false),
            ("apa saja", false),
            ("terima kasih", false),
            ("", false),
        ];
        for (corrected, want) in cases {
            let decision = Decision {
                normalised: corrected.to_owned(),
                corrected: corrected.to_owned(),
                best: Match {
                    intent: FALLBACK.to_owned(),
                    score: 0.0,
                    layer: Layer::Fallback,
                    layers: std::collections::BTreeMap::new(),
                    captures: std::collections::BTreeMap::new(),
                },
                runners_up: Vec::new(),
                unknown: Vec::new(),
            };
            assert_eq!(is_follow_up(&decision), want, "{corrected}");
        }
    }
}
