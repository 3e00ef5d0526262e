//! Layan's end-to-end tests: one binary, one module per area (as ripgrep
//! does, so a 2-core machine links once).

mod accuracy;
mod admin;
mod browser;
mod channels;
mod cli;
mod conversations;
mod crash;
mod engine;
mod http_action;
mod mock;
mod pack_loading;
mod pipeline;
mod properties;
mod util;
