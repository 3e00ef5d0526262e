//! layan-core: the heart of Layan, a chatbot engine for Indonesian
//! public-service offices.
//!
//! A citizen's message ([`Inbound`]) goes through the [`Normaliser`] (chat
//! slang, typos, letter runs), the layered [`Matcher`] (commands, keywords,
//! patterns, example similarity, fallback), and the [`Engine`] answers with
//! [`Reply`] values that a channel renders for what it can show
//! ([`render::render`]). Offices describe what their bot knows in an intent
//! [`Pack`]: plain TOML files, validated with every problem reported.
//!
//! ```
//! use layan_core::{Engine, Inbound, Pack};
//!
//! let pack = Pack::from_files([
//!     ("pack.toml", r#"
//!         [pack]
//!         id = "contoh"
//!         name = "Contoh"
//!         version = "1.0.0"
//!         language = "id"
//!         [office]
//!         name = "Dinas Contoh"
//!     "#),
//!     ("intents/izin.toml", r#"
//!         [[intent]]
//!         id = "izin_usaha"
//!         keywords = ["izin usaha", "nib"]
//!         examples = ["bagaimana cara membuat izin usaha", "syarat daftar NIB apa saja"]
//!         reply = "Daftar NIB gratis di oss.go.id. Info: {office.name}."
//!     "#),
//! ])?;
//! let engine = Engine::builder().pack(pack).build()?;
//!
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let replies = rt.block_on(engine.handle(Inbound::text("terminal", "warga-1", "gmn cr bkin ijin usaha?")))?;
//! assert_eq!(replies[0].text(), "Daftar NIB gratis di oss.go.id. Info: Dinas Contoh.");
//! # Ok::<(), layan_core::Error>(())
//! ```
#![forbid(unsafe_code)]

mod engine;
mod error;
mod message;
mod pack;

pub mod channel;
pub mod clock;
pub mod eval;
pub mod http;
pub mod matcher;
pub mod normalise;
pub mod packtest;
pub mod pipeline;
pub mod privacy;
pub mod render;
pub mod session;
pub mod slots;
pub mod store;

pub use channel::{Channel, Media, SendError, Sent};
pub use engine::{
    ActionContext, ActionError, ActionFuture, ActionOutput, CsatStats, CustomAction, Engine,
    EngineBuilder, Outcome, Stats, TicketStats,
};
pub use error::{Error, PackProblem, Result};
pub use matcher::{Decision, Layer, Match, Matcher};
pub use message::{Button, Capabilities, Content, Inbound, ListRow, Reply};
pub use normalise::{Dictionary, Normaliser};
pub use pack::{
    Action, FALLBACK, Form, Intent, IntentButton, Keyword, OFFICE_VARIABLES, Office, Pack,
    PackMeta, Settings, Slot, SlotKind, Source, Template, TemplateError,
};
pub use pipeline::{Pipeline, PipelineConfig, Submitted};
pub use render::Outgoing;
pub use session::{FormState, HandoffMode, SaveOutcome, Session, SessionKey};
#[cfg(feature = "sled")]
pub use store::SledStore;
pub use store::{
    Changes, DeadLetter, Delivery, Direction, Handoff, HandoffState, HandoffTimes, InboxItem,
    JournalOptions, JournalStore, MemoryStore, OutboxMessage, OutboxUpdate, RedbStore,
    StatusChange, Store, Ticket, TicketStatus, TranscriptEntry,
};

/// The names most programs need: `use layan_core::prelude::*;`.
pub mod prelude {
    pub use crate::{Capabilities, Engine, Inbound, Pack, Reply};
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn memory_store_passes_the_store_suite() {
        crate::store::suite::run(crate::MemoryStore::new).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redb_store_passes_the_store_suite() {
        let dirs = std::sync::Mutex::new(Vec::new());
        crate::store::suite::run(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = crate::RedbStore::open(dir.path()).unwrap();
            dirs.lock().unwrap().push(dir);
            store
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn journal_store_passes_the_store_suite() {
        let dirs = std::sync::Mutex::new(Vec::new());
        crate::store::suite::run(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = crate::JournalStore::open(dir.path()).unwrap();
            dirs.lock().unwrap().push(dir);
            store
        })
        .await;
    }

    #[cfg(feature = "sled")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sled_store_passes_the_store_suite() {
        let dirs = std::sync::Mutex::new(Vec::new());
        crate::store::suite::run(|| {
            let dir = tempfile::tempdir().unwrap();
            let store = crate::store::SledStore::open(dir.path()).unwrap();
            dirs.lock().unwrap().push(dir);
            store
        })
        .await;
    }

    #[test]
    fn public_types_are_send_and_sync() {
        fn is<T: Send + Sync>() {}
        is::<super::Engine>();
        is::<super::Pack>();
        is::<super::Matcher>();
        is::<super::Decision>();
        is::<super::Reply>();
        is::<super::Inbound>();
        is::<super::MemoryStore>();
        is::<super::RedbStore>();
        is::<super::JournalStore>();
        is::<super::Error>();
    }
}
