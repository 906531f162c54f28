//! charla: a terminal chat client for large language models.
//!
//! Layers (see ARCHITECTURE.md): `provider` turns every wire format into one stream of
//! `StreamEvent`s; `session::Session` is the engine every front end drives; `cli` and `tui` are
//! the front ends. Nothing above `provider` knows a wire format.

pub mod attach;
pub mod catalog;
pub mod cli;
pub mod compare;
pub mod config;
pub mod conversation;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
pub mod log;
pub mod parts;
pub mod presets;
pub mod pricing;
pub mod provider;
pub mod rag;
pub mod redact;
pub mod sanitize;
pub mod schema;
pub mod session;
pub mod spend;
pub mod tokens;
pub mod tools;
pub mod tui;
pub mod util;
