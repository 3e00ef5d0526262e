//! The `layan` command: a thin shell over the library.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use layan::eval::{self, Noise, Report};
use layan::serve::admin::stats::{self, Range};
use layan::{Engine, Error, Inbound, Matcher, Pack};

/// mimalloc: under `layan serve`'s load, glibc's allocator spent most of
/// its time in arena-lock futex calls between the async workers and the
/// store's writer thread (see benches/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run the HTTP server: channel webhooks, the web chat at /chat, /healthz, /metrics.
    ///
    /// Without --config: the bundled pack, the store in ./data,
    /// 127.0.0.1:8080, web chat only. See layan.example.toml.
    Serve {
        /// The config file (layan.toml).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The operators' dashboard (/admin): make password hashes for layan.toml.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Talk to a pack in the terminal (or pipe messages in, one per line).
    Chat {
        #[command(flatten)]
        pack: PackArg,
        /// Who is speaking (sessions are per user), so a script can play two citizens.
        #[arg(long, default_value = "warga")]
        user: String,
        /// The embedded store's folder: conversations, tickets and the transcript live here.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The embedded store: redb, journal (everything in memory, faster) or sled (a build with
        /// `--features sled`); by default the folder's own, or redb for a new folder.
        #[arg(long)]
        backend: Option<layan::Backend>,
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
        /// A message the same citizen sent before, in order (repeat it for
        /// several): the message is then also answered in that conversation,
        /// as a follow-up is.
        #[arg(long, value_name = "MESSAGE")]
        after: Vec<String>,
        /// The message.
        text: String,
    },
    /// Counts: messages, intents, fallback rate, hand-offs, tickets, satisfaction.
    Stats {
        /// The embedded store's folder.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The embedded store: redb, journal or sled; by default the folder's own.
        #[arg(long)]
        backend: Option<layan::Backend>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Count only from this day (YYYY-MM-DD, office time; default 30
        /// days up to --to): the numbers the dashboard's statistics page
        /// shows for the same days. Without --from or --to, everything stored.
        #[arg(long)]
        from: Option<String>,
        /// Count only up to this day (YYYY-MM-DD, office time; default today).
        #[arg(long)]
        to: Option<String>,
    },
    /// The transcript, with NIK and phone numbers masked.
    Export {
        /// The embedded store's folder.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The embedded store: redb, journal or sled; by default the folder's own.
        #[arg(long)]
        backend: Option<layan::Backend>,
        /// csv or jsonl.
        #[arg(long, default_value = "jsonl")]
        format: ExportFormat,
        /// Only messages on or after this date (YYYY-MM-DD, office time).
        #[arg(long)]
        since: Option<String>,
        /// Show NIK and phone numbers unmasked (an operator's explicit request).
        #[arg(long)]
        unmasked: bool,
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
    /// Run the pack's conversation tests (tests/*.toml).
    Test {
        /// The pack folder.
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Print an argon2 hash of a password for `[[admin.users]] password_hash`.
    ///
    /// Asks twice without echo on a terminal; otherwise reads one line from stdin.
    HashPassword,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Csv,
    Jsonl,
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
    let cli = Cli::parse();
    // The terminal chat is a conversation, and the pack tools print their
    // own report: only warnings interrupt them (`chat --verbose` and
    // `explain` show how a message was understood). The server and the
    // store tools log Layan's own events too, such as unanswered questions.
    let default_filter = match cli.command {
        Command::Chat { .. }
        | Command::Pack { .. }
        | Command::Explain { .. }
        | Command::Eval { .. } => "warn",
        _ => "warn,layan=info,layan_core::pipeline=info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
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
        Command::Serve { config } => {
            let config = match config {
                Some(path) => layan::serve::Config::load(&path)?,
                None => layan::serve::Config::default(),
            };
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(layan::serve::run(config))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin {
            command: AdminCommand::HashPassword,
        } => {
            let password = if std::io::stdin().is_terminal() {
                let first = rpassword::prompt_password("Kata sandi baru: ")?;
                let again = rpassword::prompt_password("Ulangi kata sandi: ")?;
                if first != again {
                    anyhow::bail!("the two passwords differ");
                }
                first
            } else {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                line.trim_end_matches(['\r', '\n']).to_owned()
            };
            if password.chars().count() < 8 {
                anyhow::bail!("a dashboard password needs at least 8 characters");
            }
            writeln!(
                out,
                "{}",
                layan::serve::admin::auth::hash_password(&password)?
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Chat {
            pack,
            user,
            data,
            backend,
            verbose,
        } => {
            let pack = pack.load()?;
            let store = layan::open_store(layan::pick_backend(backend, &data), &data)
                .with_context(|| format!("cannot open the store in {}", data.display()))?;
            let engine = Engine::builder().pack(pack).shared_store(store).build()?;
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
        Command::Pack {
            command: PackCommand::Test { dir },
        } => {
            let pack = load_pack(&dir)?;
            let files = layan::packtest::read_tests(&dir)?;
            if files.is_empty() {
                anyhow::bail!("{} has no tests/*.toml", dir.display());
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let results = match rt.block_on(layan::packtest::run(&pack, &files)) {
                Err(Error::Pack(problems)) => {
                    for p in &problems {
                        writeln!(out, "{p}")?;
                    }
                    return Ok(ExitCode::FAILURE);
                }
                other => other?,
            };
            let failed = results.iter().filter(|r| !r.passed()).count();
            for r in &results {
                let mark = if r.passed() { "ok  " } else { "FAIL" };
                writeln!(
                    out,
                    "{mark} {} — {} ({} turns)",
                    r.file.display(),
                    r.name,
                    r.turns
                )?;
                for f in &r.failures {
                    writeln!(out, "     turn {}: expected {}", f.turn, f.expected)?;
                    for line in f.actual.lines() {
                        writeln!(out, "       | {line}")?;
                    }
                }
            }
            writeln!(out, "{} passed, {failed} failed", results.len() - failed)?;
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Stats {
            data,
            backend,
            json,
            from,
            to,
        } => {
            let engine = open_engine(backend, &data)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            if from.is_some() || to.is_some() {
                let days = rt.block_on(range_stats(&engine, from.as_deref(), to.as_deref()))?;
                if json {
                    writeln!(out, "{}", serde_json::to_string_pretty(&days.json())?)?;
                } else {
                    days.print(&mut out)?;
                }
                return Ok(ExitCode::SUCCESS);
            }
            let stats = rt.block_on(engine.stats())?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&stats)?)?;
            } else {
                print_stats(&mut out, &stats)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            data,
            backend,
            format,
            since,
            unmasked,
        } => {
            let engine = open_engine(backend, &data)?;
            let offset = engine.pack().office.utc_offset;
            let since_ms = match since {
                Some(d) => layan::clock::ms_of(day_arg("--since", &d)?, 0, offset),
                None => 0,
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let lines = rt.block_on(engine.store().transcript(since_ms))?;
            let clean = |s: &str| {
                if unmasked {
                    s.to_owned()
                } else {
                    layan::privacy::mask(s)
                }
            };
            if matches!(format, ExportFormat::Csv) {
                writeln!(
                    out,
                    "time,channel,user,direction,intent,score,layer,latency_us,author,text"
                )?;
            }
            for mut l in lines {
                l.text = clean(&l.text);
                l.user = clean(&l.user);
                match format {
                    ExportFormat::Jsonl => writeln!(out, "{}", serde_json::to_string(&l)?)?,
                    ExportFormat::Csv => {
                        let local = layan::clock::Local::at(l.time_ms, offset);
                        let time = format!(
                            "{} {:02}:{:02}",
                            local.iso_date(),
                            local.minute / 60,
                            local.minute % 60
                        );
                        let dir = match l.direction {
                            layan::Direction::In => "in",
                            layan::Direction::Out => "out",
                        };
                        let row = [
                            time,
                            l.channel,
                            l.user,
                            dir.to_owned(),
                            l.intent.unwrap_or_default(),
                            l.score.map(|s| format!("{s:.3}")).unwrap_or_default(),
                            l.layer.unwrap_or_default(),
                            l.latency_us.map(|v| v.to_string()).unwrap_or_default(),
                            l.author.unwrap_or_default(),
                            l.text,
                        ];
                        let row: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
                        writeln!(out, "{}", row.join(","))?;
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { pack, after, text } => {
            let pack = pack.load()?;
            let matcher = Matcher::new(&pack)?;
            let d = matcher.decide(&text);
            writeln!(out, "input:      {text}")?;
            writeln!(out, "normalised: {}", d.normalised)?;
            if d.corrected != d.normalised {
                writeln!(out, "corrected:  {}", d.corrected)?;
            }
            if !d.unknown.is_empty() {
                writeln!(
                    out,
                    "unknown:    {} (new to the pack: they lower every score)",
                    d.unknown.join(" ")
                )?;
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
            if !after.is_empty() {
                // The conversation as the engine holds it, in memory: what
                // a follow-up, a menu number or an open form makes of it.
                let engine = Engine::builder().pack(pack).build()?;
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let outcome = rt.block_on(async {
                    for earlier in &after {
                        engine
                            .handle_outcome(Inbound::text("explain", "warga", earlier))
                            .await?;
                    }
                    engine
                        .handle_outcome(Inbound::text("explain", "warga", &text))
                        .await
                })?;
                writeln!(
                    out,
                    "in context: {} (layer {}, score {:.3}) after {} earlier message(s)",
                    outcome.intent,
                    outcome.layer,
                    outcome.score,
                    after.len()
                )?;
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

/// An engine over the store in `data` with the bundled pack, for reading.
fn open_engine(backend: Option<layan::Backend>, data: &Path) -> anyhow::Result<Engine> {
    if !data.join(layan::store::BACKEND_MARKER).exists() {
        anyhow::bail!(
            "{} holds no Layan data (run `layan chat` or `layan serve` first, or give --data)",
            data.display()
        );
    }
    let store = layan::open_store(layan::pick_backend(backend, data), data)
        .with_context(|| format!("cannot open the store in {}", data.display()))?;
    Ok(Engine::builder()
        .pack(layan::bundled::pack()?)
        .shared_store(store)
        .build()?)
}

/// A day given on the command line as `YYYY-MM-DD`.
fn day_arg(flag: &str, text: &str) -> anyhow::Result<i64> {
    layan::clock::parse_iso_date(text)
        .with_context(|| format!("{flag} {text}: {}", layan::clock::iso_date_hint()))
}

/// `layan stats` for a range of days: the statistics page's report.
struct RangeStats {
    range: Range,
    report: stats::Report,
    unanswered: Vec<stats::Group>,
}

/// The report for the days `from`..=`to` (office time), with the
/// dashboard's defaults for a missing end.
async fn range_stats(
    engine: &Engine,
    from: Option<&str>,
    to: Option<&str>,
) -> anyhow::Result<RangeStats> {
    let offset = engine.pack().office.utc_offset;
    let now = layan::store::unix_ms(std::time::SystemTime::now());
    let today = layan::clock::Local::at(now, offset).day;
    let to = to.map(|t| day_arg("--to", t)).transpose()?.unwrap_or(today);
    let from = from
        .map(|f| day_arg("--from", f))
        .transpose()?
        .unwrap_or(to - 29);
    if from > to {
        anyhow::bail!(
            "--from {} is after --to {}: give the earlier day first",
            stats::iso(from),
            stats::iso(to)
        );
    }
    let range = Range { from, to };
    let report = stats::load(engine, range, now).await?;
    let unanswered = stats::group_unanswered(engine, &report.unanswered, stats::GROUP_THRESHOLD);
    Ok(RangeStats {
        range,
        report,
        unanswered,
    })
}

impl RangeStats {
    /// Messages in and out per day and channel, only days with messages
    /// (as the all-time [`layan::Stats::per_day`]).
    fn per_day(&self) -> PerDay {
        let mut days = PerDay::new();
        for ((day, channel), counts) in &self.report.messages {
            days.entry(day.clone())
                .or_default()
                .insert(channel.clone(), *counts);
        }
        days
    }

    fn json(&self) -> serde_json::Value {
        let r = &self.report;
        let (responses, average) = r.csat_mean();
        serde_json::json!({
            "from": stats::iso(self.range.from),
            "to": stats::iso(self.range.to),
            "messages_in": r.messages_in(),
            "messages_out": r.messages_out(),
            "fallback_rate": r.fallback_rate(),
            "per_day": self.per_day(),
            "per_intent": r.intents.iter().cloned().collect::<BTreeMap<String, i64>>(),
            "handoffs": {
                "requested": r.handoffs,
                "answered_by_person": r.handoffs_answered,
                "median_first_answer_s": r.median_first_answer_ms.map(|ms| ms / 1000),
            },
            "tickets": {
                "opened": r.tickets_opened(),
                "closed": r.closed.0,
                "closed_by_due_time": r.closed.1,
                "overdue_now": r.overdue_now,
            },
            "csat": {
                "responses": responses,
                "average": average,
                "distribution": r.csat,
            },
            "unanswered": self.unanswered.iter().map(|g| serde_json::json!({
                "count": g.count,
                "words": g.words,
                "examples": g.examples,
            })).collect::<Vec<_>>(),
        })
    }

    fn print(&self, out: &mut impl Write) -> std::io::Result<()> {
        let r = &self.report;
        writeln!(
            out,
            "{} to {} (office time)",
            stats::iso(self.range.from),
            stats::iso(self.range.to)
        )?;
        writeln!(
            out,
            "messages in {}, out {}; fallback rate {:.1}%",
            r.messages_in(),
            r.messages_out(),
            r.fallback_rate() * 100.0
        )?;
        write!(
            out,
            "hand-offs {} ({} answered by a person",
            r.handoffs, r.handoffs_answered
        )?;
        if let Some(ms) = r.median_first_answer_ms {
            write!(out, "; median first answer {} min", ms.div_ceil(60_000))?;
        }
        writeln!(out, ")")?;
        writeln!(
            out,
            "tickets opened {}, closed {} ({} by their due time); overdue now {}",
            r.tickets_opened(),
            r.closed.0,
            r.closed.1,
            r.overdue_now
        )?;
        let (responses, average) = r.csat_mean();
        if responses > 0 {
            writeln!(
                out,
                "satisfaction {average:.2}/5 from {responses} rating(s)"
            )?;
        }
        print_top_intents(out, r.intents.iter().map(|(i, n)| (i.as_str(), *n)))?;
        print_per_day(out, &self.per_day())?;
        if !self.unanswered.is_empty() {
            writeln!(out, "\nunanswered, grouped by similarity:")?;
            for g in self.unanswered.iter().take(15) {
                writeln!(out, "  {:>6}  {}", g.count, g.examples.join(" | "))?;
            }
        }
        Ok(())
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn print_stats(out: &mut impl Write, s: &layan::Stats) -> std::io::Result<()> {
    writeln!(
        out,
        "messages in {}, out {}; fallback rate {:.1}%",
        s.messages_in,
        s.messages_out,
        s.fallback_rate * 100.0
    )?;
    writeln!(out, "hand-offs {}", s.handoffs)?;
    let by_status: Vec<String> = s
        .tickets
        .by_status
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    writeln!(
        out,
        "tickets {} ({}), overdue {}",
        s.tickets.total,
        by_status.join(", "),
        s.tickets.overdue
    )?;
    if s.csat.responses > 0 {
        writeln!(
            out,
            "satisfaction {:.2}/5 from {} rating(s)",
            s.csat.average, s.csat.responses
        )?;
    }
    let mut intents: Vec<(&str, i64)> =
        s.per_intent.iter().map(|(i, n)| (i.as_str(), *n)).collect();
    intents.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    print_top_intents(out, intents.into_iter())?;
    print_per_day(out, &s.per_day)
}

/// Messages in and out, per day and channel.
type PerDay = BTreeMap<String, BTreeMap<String, (i64, i64)>>;

/// The first 15 of `intents` (most first) with their counts.
fn print_top_intents<'a>(
    out: &mut impl Write,
    intents: impl Iterator<Item = (&'a str, i64)>,
) -> std::io::Result<()> {
    writeln!(out, "\ntop intents:")?;
    for (intent, n) in intents.take(15) {
        writeln!(out, "  {n:>6}  {intent}")?;
    }
    Ok(())
}

fn print_per_day(out: &mut impl Write, days: &PerDay) -> std::io::Result<()> {
    writeln!(out, "\nper day (in/out):")?;
    for (day, channels) in days {
        let parts: Vec<String> = channels
            .iter()
            .map(|(c, (i, o))| format!("{c} {i}/{o}"))
            .collect();
        writeln!(out, "  {day}  {}", parts.join(", "))?;
    }
    Ok(())
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
