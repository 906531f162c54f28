//! Conversations: the versioned file format, the store, and exports.

pub mod blobs;
pub mod export;
pub mod history;
pub mod model;
pub mod store;

pub use model::{Alternative, Answer, Conversation, ForkedFrom, Message};
pub use store::{Broken, Saved, Store, StoreError, Summary};
