//! An opt-in diagnostic log: `CHARLA_LOG=1` appends to `<data dir>/charla.log`, `CHARLA_LOG=PATH`
//! to PATH. One line per request, response, retry and end of stream (and a stream too fast to
//! read at the screen's pace): provider, model, URL path, HTTP status, timings and error kinds.
//! Never headers, bodies or keys.

use std::io::Write;
use std::sync::{Mutex, OnceLock};

static LOG: OnceLock<Option<Mutex<std::fs::File>>> = OnceLock::new();

/// Opens the log if `CHARLA_LOG` asks for one (`default_path` for "1"/"true").
pub fn init(default_path: &std::path::Path) {
    LOG.get_or_init(|| {
        let v = std::env::var("CHARLA_LOG")
            .ok()
            .filter(|v| !v.is_empty() && v != "0" && v != "false")?;
        let path = if v == "1" || v == "true" {
            default_path.to_path_buf()
        } else {
            std::path::PathBuf::from(v)
        };
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .ok()
            .map(Mutex::new)
    });
}

pub fn enabled() -> bool {
    LOG.get().is_some_and(Option::is_some)
}

/// Appends one line (a timestamp is added).
pub fn line(msg: impl AsRef<str>) {
    if let Some(Some(f)) = LOG.get()
        && let Ok(mut f) = f.lock()
    {
        let _ = writeln!(f, "{} {}", crate::util::now_rfc3339(), msg.as_ref());
    }
}

/// The path of a URL without its query string (where a key could hide, e.g. `?key=`).
pub fn url_path(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}
