//! Helpers shared by the test modules.

use layan::{Engine, Inbound, Outcome};

/// An engine on the bundled Perindag pack with in-memory sessions.
pub fn engine() -> Engine {
    Engine::builder()
        .pack(layan::bundled::pack().expect("bundled pack loads"))
        .build()
        .expect("engine builds")
}

/// One message from `user`, answered.
pub async fn say(engine: &Engine, user: &str, text: &str) -> Outcome {
    engine
        .handle_outcome(Inbound::text("test", user, text))
        .await
        .expect("handle succeeds")
}

/// The text of every reply, joined.
pub fn text(outcome: &Outcome) -> String {
    outcome
        .replies
        .iter()
        .map(|r| r.text().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The titles of the options offered in the replies.
pub fn options(outcome: &Outcome) -> Vec<String> {
    outcome
        .replies
        .iter()
        .flat_map(|r| r.options())
        .map(|b| b.title)
        .collect()
}

/// Waits until `done` holds, for at most ten seconds; panics naming `what` otherwise.
pub async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..1_000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}
