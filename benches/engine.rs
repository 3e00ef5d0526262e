//! Layan's hot paths: normalisation, each matcher layer, `engine.handle`,
//! and how matching and loading scale with the number of intents.
//!
//! Run with `cargo bench --bench engine`; results are recorded in
//! `benches/RESULTS.md`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use layan::{Engine, Inbound, Matcher, Normaliser, Pack};

mod synthetic;
use synthetic::{Rng, generated_pack, query};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn normalise(c: &mut Criterion) {
    let n = Normaliser::bundled();
    let mut g = c.benchmark_group("normalise");
    g.bench_function("chat sentence", |b| {
        b.iter(|| {
            n.normalise(black_box(
                "Gmn caraaa bkin ijin usaha min?? sy udh pny ktp 🙏",
            ))
        })
    });
    g.finish();
}

fn matcher_layers(c: &mut Criterion) {
    let pack = layan::bundled::pack().unwrap();
    let m = Matcher::new(&pack).unwrap();
    let mut g = c.benchmark_group("matcher");
    let inputs = [
        ("command", "#status ADU-2026-000123"),
        ("keyword", "sy mau lapor timbangan pedagang curang"),
        (
            "similarity",
            "kalau mau jualan keripik harus urus apa dulu ya",
        ),
        ("typos", "srtifikat halal grtis msh ada ga"),
        ("fallback", "jadwal bioskop hari ini"),
    ];
    for (name, text) in inputs {
        g.bench_function(name, |b| b.iter(|| m.decide(black_box(text))));
    }
    g.finish();
}

fn handle_perindag(c: &mut Criterion) {
    let rt = runtime();
    let engine = Engine::builder()
        .pack(layan::bundled::pack().unwrap())
        .build()
        .unwrap();
    let mut g = c.benchmark_group("engine.handle");
    g.bench_function("perindag one line", |b| {
        b.to_async(&rt).iter(|| async {
            engine
                .handle(Inbound::text(
                    "bench",
                    "warga",
                    black_box("gmn cara bikin izin usaha?"),
                ))
                .await
                .unwrap()
        })
    });
    g.finish();
}

fn scale(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("scale");
    g.sample_size(20);
    for n in [10, 100, 1_000, 5_000] {
        let files = generated_pack(n);
        let pack = Pack::from_files(files.clone()).unwrap();
        let engine = Engine::builder().pack(pack).build().unwrap();
        let mut rng = Rng(42);
        let queries: Vec<String> = (0..64).map(|_| query(rng.below(n)).1).collect();
        let mut k = 0;
        g.bench_with_input(BenchmarkId::new("handle", n), &n, |b, _| {
            b.to_async(&rt).iter(|| {
                k = (k + 1) % queries.len();
                let q = queries[k].clone();
                let engine = &engine;
                async move {
                    engine
                        .handle(Inbound::text("bench", "warga", &q))
                        .await
                        .unwrap()
                }
            })
        });
        if n >= 1_000 {
            g.bench_with_input(BenchmarkId::new("load", n), &n, |b, _| {
                b.iter(|| {
                    let pack = Pack::from_files(files.clone()).unwrap();
                    Matcher::new(&pack).unwrap()
                })
            });
        }
    }
    g.finish();
}

fn durable(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    durable_on(
        c,
        "redb",
        layan::open_store(layan::Backend::Redb, dir.path()).unwrap(),
    );
    #[cfg(feature = "sled")]
    {
        let dir = tempfile::tempdir().unwrap();
        durable_on(
            c,
            "sled",
            layan::open_store(layan::Backend::Sled, dir.path()).unwrap(),
        );
    }
}

fn durable_on(c: &mut Criterion, backend: &str, store: std::sync::Arc<dyn layan::Store>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let engine = Engine::builder()
        .pack(layan::bundled::pack().unwrap())
        .shared_store(store.clone())
        .build()
        .unwrap();
    let mut g = c.benchmark_group(format!("durable {backend}"));
    g.sample_size(50);
    g.bench_function("handle lone citizen", |b| {
        b.to_async(&rt).iter(|| async {
            engine
                .handle(Inbound::text(
                    "bench",
                    "warga",
                    black_box("gmn cara bikin izin usaha?"),
                ))
                .await
                .unwrap()
        })
    });
    // A form turn: an invalid phone number, re-asked, never leaving the slot.
    rt.block_on(async {
        for t in ["#aduan", "Budi"] {
            engine
                .handle(Inbound::text("bench", "pelapor", t))
                .await
                .unwrap();
        }
    });
    g.bench_function("form turn", |b| {
        b.to_async(&rt).iter(|| async {
            engine
                .handle(Inbound::text("bench", "pelapor", black_box("12")))
                .await
                .unwrap()
        })
    });
    let key = layan::SessionKey::new("bench", "cas");
    g.bench_function("store CAS write", |b| {
        b.to_async(&rt).iter(|| async {
            let mut session = store.session(&key).await.unwrap().unwrap_or_default();
            session.last_seen_ms += 1;
            let changes = layan::Changes {
                session: Some((key.clone(), session)),
                ..layan::Changes::default()
            };
            store.commit(changes).await.unwrap()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    normalise,
    matcher_layers,
    handle_perindag,
    scale,
    durable
);
criterion_main!(benches);
