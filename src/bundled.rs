//! The reference pack `intents/perindag`, embedded in the binary so that
//! `layan chat` works from any folder with no files around it.

use layan_core::{Pack, Result};

/// The pack's files as `(relative path, contents)`.
pub const FILES: &[(&str, &str)] = &[
    ("pack.toml", include_str!("../intents/perindag/pack.toml")),
    (
        "intents/diluar.toml",
        include_str!("../intents/perindag/intents/diluar.toml"),
    ),
    (
        "intents/ikm.toml",
        include_str!("../intents/perindag/intents/ikm.toml"),
    ),
    (
        "intents/perdagangan.toml",
        include_str!("../intents/perindag/intents/perdagangan.toml"),
    ),
    (
        "intents/perizinan.toml",
        include_str!("../intents/perindag/intents/perizinan.toml"),
    ),
    (
        "intents/umum.toml",
        include_str!("../intents/perindag/intents/umum.toml"),
    ),
    (
        "forms/aduan.toml",
        include_str!("../intents/perindag/forms/aduan.toml"),
    ),
    (
        "forms/rekomendasi.toml",
        include_str!("../intents/perindag/forms/rekomendasi.toml"),
    ),
];

/// The bundled Perindag pack, loaded and validated.
///
/// # Errors
/// Only if the embedded files were broken at build time (a test guards this).
pub fn pack() -> Result<Pack> {
    Pack::from_files(FILES.iter().copied())
}
