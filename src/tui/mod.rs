//! The TUI front end (issue 4 builds the full screen).
use crate::config::Config;
use std::sync::Arc;

pub async fn run(_cfg: Arc<Config>, _model: Option<String>, _open: Option<String>) -> i32 {
    eprintln!("charla: the chat screen is not built yet; use `charla ask`");
    2
}
