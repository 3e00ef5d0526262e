//! Layan: a chatbot engine for Indonesian public-service offices.
//!
//! This facade re-exports [`layan_core`] and adds what the `layan` binary
//! is made of, as library calls an office can reuse: the bundled reference
//! pack ([`bundled`]), the terminal conversation ([`chat`]) and the HTTP
//! server with every channel ([`serve`]).
//!
//! ```
//! use layan::{Engine, Inbound};
//!
//! let engine = Engine::builder().pack(layan::bundled::pack()?).build()?;
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let outcome = rt.block_on(engine.handle_outcome(Inbound::text("terminal", "warga", "ada bantuan alat utk IKM?")))?;
//! assert_eq!(outcome.intent, "bantuan_usaha");
//! # Ok::<(), layan::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod bundled;
pub mod chat;
pub mod serve;

use std::path::Path;
use std::sync::Arc;

/// The embedded store backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Backend {
    /// redb: the default (durable fsync commits, atomic transactions).
    #[default]
    Redb,
    /// sled: needs the `sled` cargo feature.
    Sled,
    /// The journal: every table in memory, each change appended to a log
    /// and synced before it is acknowledged; the fastest, for an office
    /// whose history fits in memory.
    Journal,
}

impl std::str::FromStr for Backend {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "redb" => Ok(Self::Redb),
            "sled" => Ok(Self::Sled),
            "journal" => Ok(Self::Journal),
            other => Err(format!("unknown backend `{other}` (redb, journal or sled)")),
        }
    }
}

/// The backend whose data folder `dir` is, if it holds Layan data.
#[must_use]
pub fn folder_backend(dir: &Path) -> Option<Backend> {
    layan_core::store::folder_backend(dir)?.parse().ok()
}

/// The backend asked for; without one, the backend folder `dir` already
/// holds (a data folder remembers its backend); for a new folder, redb.
#[must_use]
pub fn pick_backend(chosen: Option<Backend>, dir: &Path) -> Backend {
    chosen.or_else(|| folder_backend(dir)).unwrap_or_default()
}

/// Opens the embedded store `backend` in folder `dir`.
///
/// # Errors
/// The folder holds another backend's data, cannot be opened, or sled was
/// asked for in a build without the `sled` feature.
pub fn open_store(backend: Backend, dir: &Path) -> layan_core::Result<Arc<dyn layan_core::Store>> {
    match backend {
        Backend::Redb => Ok(Arc::new(layan_core::RedbStore::open(dir)?)),
        Backend::Journal => Ok(Arc::new(layan_core::JournalStore::open(dir)?)),
        #[cfg(feature = "sled")]
        Backend::Sled => Ok(Arc::new(layan_core::SledStore::open(dir)?)),
        #[cfg(not(feature = "sled"))]
        Backend::Sled => Err(layan_core::Error::Config(
            "this layan was built without sled: rebuild with `--features sled`".to_owned(),
        )),
    }
}

pub use layan_core::*;

/// The README's code blocks, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
