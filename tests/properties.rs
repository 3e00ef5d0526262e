//! Property tests: whatever a citizen sends, the engine answers and the
//! matcher is deterministic.

use std::sync::OnceLock;

use layan::Matcher;
use proptest::prelude::*;

use crate::util::engine;

fn matcher() -> &'static Matcher {
    static M: OnceLock<Matcher> = OnceLock::new();
    M.get_or_init(|| Matcher::new(&layan::bundled::pack().unwrap()).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn matcher_is_total_and_deterministic(s in "\\PC{0,300}") {
        let m = matcher();
        let a = m.decide(&s);
        let b = m.decide(&s);
        prop_assert_eq!(&a, &b);
        prop_assert!((0.0..=1.0).contains(&a.best.score));
    }

    #[test]
    fn engine_always_answers(s in "(\\PC|[0-9 ]){0,80}") {
        static ENGINE: OnceLock<layan::Engine> = OnceLock::new();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let engine = ENGINE.get_or_init(engine);
        let replies = rt.block_on(engine.handle(layan::Inbound::text("t", "u", &s))).unwrap();
        prop_assert!(!replies.is_empty());
        prop_assert!(!replies[0].text().trim().is_empty());
    }
}
