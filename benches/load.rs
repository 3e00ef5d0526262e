//! Load run: many citizens at once against `engine.handle` on the durable
//! redb store. Prints messages per second and latency percentiles.
//!
//! `cargo bench --bench load` (64 citizens, 5 s, redb); `LAYAN_LOAD_CITIZENS`,
//! `LAYAN_LOAD_SECONDS` and `LAYAN_LOAD_BACKEND=sled` (with `--features sled`)
//! change that. Results go in `benches/RESULTS.md`.

use std::time::{Duration, Instant};

use layan::{Engine, Inbound};

/// The allocator the `layan` binary uses (src/main.rs), so that the run
/// measures what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MESSAGES: &[&str] = &[
    "gmn cara bikin izin usaha?",
    "ada bantuan alat utk IKM?",
    "tera ulang bayar ga",
    "harga beras hari ini",
    "menu",
    "2",
    "makasih min",
];

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would run it briefly.
    let quick = !std::env::args().any(|a| a == "--bench");
    let citizens = env("LAYAN_LOAD_CITIZENS", 64) as usize;
    let seconds = if quick {
        1
    } else {
        env("LAYAN_LOAD_SECONDS", 5)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let backend: layan::Backend = std::env::var("LAYAN_LOAD_BACKEND")
        .unwrap_or_else(|_| "redb".to_owned())
        .parse()
        .unwrap();
    let store = layan::open_store(backend, dir.path()).unwrap();
    let engine = Engine::builder()
        .pack(layan::bundled::pack().unwrap())
        .shared_store(store)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let latencies = rt.block_on(async {
        let mut tasks = Vec::new();
        for c in 0..citizens {
            let engine: Engine = engine.clone();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut i = c;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    let msg =
                        Inbound::text("load", &format!("warga-{c}"), MESSAGES[i % MESSAGES.len()]);
                    engine.handle(msg).await.unwrap();
                    lat.push(t.elapsed());
                    i += 1;
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    });
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = latencies;
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "load ({backend:?}): {citizens} citizens, {} messages in {elapsed:.1} s = {:.0} messages/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        lat.len() as f64 / elapsed,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3,
    );
}
