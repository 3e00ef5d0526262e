//! The `layan` command: a thin shell over the library.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use layan::eval::{self, Noise, Report};
use layan::{Engine, Error, Matcher, Pack};

#[derive(Parser)]
#[command(
    name = "layan",
    version,
    about = "Layan: public-service chatbots for Indonesian offices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Talk to a pack in the terminal (or pipe messages in, one per line).
    Chat {
        #[command(flatten)]
        pack: PackArg,
        /// Who is speaking (sessions are per user).
        #[arg(long, default_value = "warga")]
        user: String,
        /// Print intent, layer and score under each reply.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Check or test an intent pack.
    Pack {
        #[command(subcommand)]
        command: PackCommand,
    },
    /// Show how a message is understood: normalised text, decision, layer, score, runners-up.
    Explain {
        #[command(flatten)]
        pack: PackArg,
        /// The message.
        text: String,
    },
    /// Measure intent accuracy on labelled messages, or by cross-validation on the pack's own examples.
    Eval {
        #[command(flatten)]
        pack: PackArg,
        /// JSONL file of {"text": …, "intent": …} lines.
        #[arg(long, required_unless_present = "kfold")]
        data: Option<PathBuf>,
        /// Instead of --data: k-fold cross-validation over the pack's examples.
        #[arg(long, conflicts_with = "data")]
        kfold: Option<usize>,
        /// With --kfold: rewrite held-out examples in chat language with typos.
        #[arg(long, requires = "kfold")]
        noise: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PackCommand {
    /// Validate a pack and print every problem with file, line and hint.
    Check {
        /// The pack folder.
        dir: PathBuf,
    },
}

#[derive(Args)]
struct PackArg {
    /// Pack folder; the bundled Perindag pack when omitted.
    #[arg(long)]
    pack: Option<PathBuf>,
}

impl PackArg {
    fn load(&self) -> anyhow::Result<Pack> {
        match &self.pack {
            Some(dir) => load_pack(dir),
            None => Ok(layan::bundled::pack()?),
        }
    }
}

fn load_pack(dir: &Path) -> anyhow::Result<Pack> {
    Pack::load(dir).with_context(|| format!("cannot load the pack in {}", dir.display()))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // `layan eval | head`: the reader left; that is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<Error>().is_some_and(|le| {
                matches!(le, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
            })
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Chat {
            pack,
            user,
            verbose,
        } => {
            let engine = Engine::builder().pack(pack.load()?).build()?;
            let stdin = std::io::stdin();
            let opts = layan::chat::ChatOptions {
                user,
                interactive: stdin.is_terminal(),
                verbose,
                ..Default::default()
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(layan::chat::run(&engine, stdin.lock(), out, &opts))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Pack {
            command: PackCommand::Check { dir },
        } => match Pack::load(&dir) {
            Ok(pack) => {
                let examples: usize = pack.intents.iter().map(|i| i.examples.len()).sum();
                writeln!(
                    out,
                    "ok: pack `{}` {} — {} intents, {} examples",
                    pack.meta.id,
                    pack.meta.version,
                    pack.intents.len(),
                    examples
                )?;
                Ok(ExitCode::SUCCESS)
            }
            Err(Error::Pack(problems)) => {
                for p in &problems {
                    writeln!(out, "{}", p)?;
                }
                writeln!(out, "{} problem(s) in {}", problems.len(), dir.display())?;
                Ok(ExitCode::FAILURE)
            }
            Err(e) => Err(e.into()),
        },
        Command::Explain { pack, text } => {
            let pack = pack.load()?;
            let matcher = Matcher::new(&pack)?;
            let d = matcher.decide(&text);
            writeln!(out, "input:      {text}")?;
            writeln!(out, "normalised: {}", d.normalised)?;
            if d.corrected != d.normalised {
                writeln!(out, "corrected:  {}", d.corrected)?;
            }
            writeln!(
                out,
                "decision:   {} (layer {}, score {:.3}, threshold {:.2})",
                d.best.intent, d.best.layer, d.best.score, pack.settings.confidence_threshold
            )?;
            print_layers(&mut out, &d.best)?;
            for (k, v) in &d.best.captures {
                writeln!(out, "  capture {k} = {v:?}")?;
            }
            if !d.runners_up.is_empty() {
                writeln!(out, "runners-up:")?;
                for m in &d.runners_up {
                    writeln!(out, "  {:<22} {:.3} ({})", m.intent, m.score, m.layer)?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval {
            pack,
            data,
            kfold,
            noise,
            json,
        } => {
            let pack = pack.load()?;
            let report = match (data, kfold) {
                (_, Some(k)) => {
                    let noise = if noise {
                        Noise::ChatLanguage
                    } else {
                        Noise::None
                    };
                    eval::cross_validate(&pack, k, noise)?
                }
                (Some(path), None) => {
                    let samples = eval::read_samples(&path)?;
                    let matcher = Matcher::new(&pack)?;
                    let bar = indicatif::ProgressBar::new(samples.len() as u64);
                    if samples.len() < 2_000 || !std::io::stderr().is_terminal() {
                        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
                    }
                    let report = eval::evaluate(&matcher, &samples, |n| bar.set_position(n as u64));
                    bar.finish_and_clear();
                    report
                }
                (None, None) => anyhow::bail!("give --data FILE or --kfold K"),
            };
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
            } else {
                print_report(&mut out, &report)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_layers(out: &mut impl Write, m: &layan::Match) -> std::io::Result<()> {
    for (layer, score) in &m.layers {
        writeln!(out, "  {layer:<11} {score:.3}")?;
    }
    Ok(())
}

fn print_report(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    writeln!(
        out,
        "accuracy {:.1}% ({}/{}), macro-F1 {:.3}\n",
        r.accuracy * 100.0,
        r.correct,
        r.total,
        r.macro_f1
    )?;
    writeln!(
        out,
        "{:<22} {:>7} {:>9} {:>7} {:>6}",
        "intent", "support", "precision", "recall", "f1"
    )?;
    for (id, s) in &r.per_intent {
        writeln!(
            out,
            "{id:<22} {:>7} {:>9.3} {:>7.3} {:>6.3}",
            s.support, s.precision, s.recall, s.f1
        )?;
    }
    if !r.confusions.is_empty() {
        writeln!(out, "\nmost frequent confusions (expected → predicted):")?;
        for c in r.confusions.iter().take(10) {
            let example = c.examples.first().map_or("", String::as_str);
            writeln!(
                out,
                "  {:>3}× {} → {}   e.g. {example:?}",
                c.count, c.expected, c.predicted
            )?;
        }
    }
    Ok(())
}
