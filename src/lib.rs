//! Layan: a chatbot engine for Indonesian public-service offices.
//!
//! This facade re-exports [`layan_core`] and adds what the `layan` binary
//! is made of, as library calls an office can reuse: the bundled reference
//! pack ([`bundled`]) and the terminal conversation ([`chat`]).
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

pub use layan_core::*;

/// The README's code blocks, compiled and run as doc-tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
