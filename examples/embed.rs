//! An office embedding Layan in its own program: load its pack, answer a
//! citizen, and render the answer for WhatsApp and for SMS.
//!
//! Run with `cargo run --example embed`.

use layan::render::{Outgoing, render};
use layan::{Capabilities, Engine, Inbound, Pack};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), layan::Error> {
    // An office ships its own folder; here, the reference pack in this repository.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/intents/perindag");
    let pack = Pack::load(dir)?;
    let engine = Engine::builder().pack(pack).build()?;

    let msg = Inbound::text(
        "whatsapp",
        "6281200000001",
        "min, tera ulang timbangan bayar ga?",
    );
    let outcome = engine.handle_outcome(msg).await?;
    println!(
        "intent {} ({} layer, score {:.2})\n",
        outcome.intent, outcome.layer, outcome.score
    );

    for out in render(&outcome.replies, &Capabilities::whatsapp()) {
        match out {
            Outgoing::Buttons { text, buttons } => {
                println!("WhatsApp text:\n{text}");
                for b in buttons {
                    println!("  [{}] → {}", b.title, b.payload);
                }
            }
            other => println!("WhatsApp: {other:?}"),
        }
    }
    let sms = render(&outcome.replies, &Capabilities::plain(160));
    println!("\nSMS: {} message(s) of at most 160 characters", sms.len());
    Ok(())
}
