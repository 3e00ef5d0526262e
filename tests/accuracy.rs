//! How well the bundled pack understands messages it never saw.

use std::path::Path;

use layan::Matcher;
use layan::eval::{Noise, cross_validate, evaluate, read_samples};

#[test]
fn held_out_accuracy_is_at_least_90_percent() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("intents/perindag/eval/heldout.jsonl");
    let samples = read_samples(&path).unwrap();
    assert!(samples.len() >= 150);
    assert!(samples.iter().filter(|s| s.intent == "fallback").count() >= 20);
    let pack = layan::bundled::pack().unwrap();
    let report = evaluate(&Matcher::new(&pack).unwrap(), &samples, |_| {});
    assert!(
        report.accuracy >= 0.90,
        "held-out accuracy {:.3}",
        report.accuracy
    );
    assert!(report.macro_f1 >= 0.88, "macro-F1 {:.3}", report.macro_f1);
}

#[test]
fn cross_validation_on_the_examples_holds_up_with_chat_noise() {
    let pack = layan::bundled::pack().unwrap();
    let clean = cross_validate(&pack, 5, Noise::None).unwrap();
    let noisy = cross_validate(&pack, 5, Noise::ChatLanguage).unwrap();
    assert_eq!(
        clean.total,
        pack.intents.iter().map(|i| i.examples.len()).sum::<usize>()
    );
    assert!(
        clean.accuracy >= 0.85,
        "5-fold accuracy {:.3}",
        clean.accuracy
    );
    assert!(
        noisy.accuracy >= 0.80,
        "5-fold accuracy with noise {:.3}",
        noisy.accuracy
    );
}

#[test]
fn standard_words_are_not_taken_for_typos_of_the_packs_words() {
    let pack = layan::bundled::pack().unwrap();
    let with = Matcher::new(&pack).unwrap();
    let without =
        Matcher::with_normaliser(&pack, layan::Normaliser::bundled().with_dictionary(None))
            .unwrap();
    // (message, as the matcher reads it, as it would read it without the
    // dictionary: one edit from a word of the pack)
    let cases = [
        (
            "ada vaksin kucing?",
            "ada vaksin kucing",
            "ada vaksin kuning",
        ),
        ("jual motor bekas", "jual motor bekas", "jual motor beras"),
        ("jadwal kapal", "jadwal kapal", "jadwal kapan"),
        // Real typos are still corrected.
        ("sertifkat halal", "sertifikat halal", "sertifikat halal"),
        ("pendaftran merek", "pendaftaran merek", "pendaftaran merek"),
    ];
    for (message, read, read_without) in cases {
        assert_eq!(with.decide(message).corrected, read, "{message}");
        assert_eq!(without.decide(message).corrected, read_without, "{message}");
    }
    assert_eq!(with.decide("ada vaksin kucing?").best.intent, "fallback");
}

#[path = "../benches/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

#[test]
fn large_generated_packs_still_find_the_right_intent() {
    // The index skips very common features in large packs; it must stay accurate.
    for n in [100, 1_000] {
        let pack = layan::Pack::from_files(synthetic::generated_pack(n)).unwrap();
        let m = Matcher::new(&pack).unwrap();
        let mut rng = synthetic::Rng(7);
        let trials = 200;
        let hits = (0..trials)
            .filter(|_| {
                let (want, text) = synthetic::query(rng.below(n));
                m.decide(&text).best.intent == want
            })
            .count();
        assert!(
            hits * 100 >= trials * 90,
            "{n} intents: {hits}/{trials} right"
        );
    }
}
