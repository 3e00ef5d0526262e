//! A conversation in the terminal (or any reader and writer): what
//! `layan chat` runs.

use std::io::{BufRead, Write};

use layan_core::render::{Outgoing, render};
use layan_core::{Capabilities, Engine, Inbound, Result};

/// How the conversation is shown.
#[derive(Debug, Clone)]
pub struct ChatOptions {
    /// The citizen's id (sessions are per user).
    pub user: String,
    /// The channel name recorded on each message.
    pub channel: String,
    /// Show a prompt and a greeting (a person at a terminal), or echo each
    /// input line (a script piping messages in).
    pub interactive: bool,
    /// Print the intent, layer and score after each reply.
    pub verbose: bool,
}

impl Default for ChatOptions {
    fn default() -> Self {
        Self {
            user: "warga".to_owned(),
            channel: "terminal".to_owned(),
            interactive: false,
            verbose: false,
        }
    }
}

/// Reads one message per line from `input` until it ends (or the person
/// types `/keluar`), and writes the bot's replies to `output`, rendered as a
/// plain-text channel shows them (numbered menus).
///
/// # Errors
/// Reading or writing fails, or the engine's session store fails.
pub async fn run(
    engine: &Engine,
    input: impl BufRead,
    mut output: impl Write,
    opts: &ChatOptions,
) -> Result<()> {
    let io = |e: std::io::Error| layan_core::Error::Io {
        path: "<terminal>".into(),
        source: e,
    };
    let caps = Capabilities::terminal();
    deliver_outbox(engine, &mut output, opts).await?;
    if opts.interactive {
        let pack = engine.pack();
        writeln!(
            output,
            "{} {} — ketik pesan lalu Enter; /keluar untuk selesai.\n",
            pack.meta.name, pack.meta.version
        )
        .map_err(io)?;
        write!(output, "Anda> ").map_err(io)?;
        output.flush().map_err(io)?;
    }
    for line in input.lines() {
        let line = line.map_err(io)?;
        let text = line.trim_end_matches('\r');
        if opts.interactive && matches!(text.trim(), "/keluar" | "/exit" | "/quit") {
            break;
        }
        if !opts.interactive {
            writeln!(output, "> {text}").map_err(io)?;
        }
        let outcome = engine
            .handle_outcome(Inbound::text(&opts.channel, &opts.user, text))
            .await?;
        deliver_outbox(engine, &mut output, opts).await?;
        for message in render(&outcome.replies, &caps) {
            let text = match &message {
                Outgoing::Media { url, caption, .. } => {
                    format!("{} {url}", caption.as_deref().unwrap_or(""))
                }
                other => other.text().to_owned(),
            };
            writeln!(output, "{text}").map_err(io)?;
        }
        if opts.verbose {
            writeln!(
                output,
                "  [intent={} layer={} score={:.2}]",
                outcome.intent, outcome.layer, outcome.score
            )
            .map_err(io)?;
        }
        writeln!(output).map_err(io)?;
        if opts.interactive {
            write!(output, "Anda> ").map_err(io)?;
        }
        output.flush().map_err(io)?;
    }
    Ok(())
}

/// Shows (and acknowledges) notifications queued for this citizen on this
/// channel: ticket status changes and operators' answers. The terminal is
/// the channel that delivers them here.
async fn deliver_outbox(
    engine: &Engine,
    output: &mut impl Write,
    opts: &ChatOptions,
) -> Result<()> {
    let io = |e: std::io::Error| layan_core::Error::Io {
        path: "<terminal>".into(),
        source: e,
    };
    let queued = engine.store().outbox().await?;
    let mine: Vec<(u64, layan_core::OutboxMessage)> = queued
        .into_iter()
        .filter(|(_, m)| m.channel == opts.channel && m.user == opts.user)
        .collect();
    if mine.is_empty() {
        return Ok(());
    }
    for (_, m) in &mine {
        let reply = if m.buttons.is_empty() {
            layan_core::Reply::Text(m.text.clone())
        } else {
            layan_core::Reply::Buttons {
                text: m.text.clone(),
                buttons: m.buttons.clone(),
            }
        };
        for message in render(&[reply], &Capabilities::terminal()) {
            writeln!(output, "[pemberitahuan] {}\n", message.text()).map_err(io)?;
        }
    }
    let ids: Vec<u64> = mine.iter().map(|(id, _)| *id).collect();
    engine.store().ack_outbox(&ids).await
}
