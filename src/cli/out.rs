//! The only way the command-line front ends write to stdout and stderr.
//!
//! Everything printed passes through the sanitiser here, whatever it came from (model text,
//! a saved file's fields, a provider's model ids, an error body): a caller cannot forget it,
//! because there is no other printing path in `cli/` (a test greps for one). `--raw` output is
//! the one explicit exception ([`Out::raw`]). JSON lines are escaped with
//! [`crate::sanitize::json_safe`] so that they stay valid JSON and terminal-safe.

use crate::sanitize::{json_safe, sanitize_cow};
use std::fmt::Display;
use std::io::Write;

/// stdout, sanitised unless `raw`.
pub struct Out {
    raw: bool,
}

impl Out {
    pub fn new(raw: bool) -> Self {
        Out { raw }
    }

    pub fn safe() -> Self {
        Out { raw: false }
    }

    /// The user asked for output as it is (`--raw`).
    pub fn raw() -> Self {
        Out { raw: true }
    }

    /// Writes `text` with no newline and flushes. Err when stdout is closed.
    pub fn text(&self, text: &str) -> std::io::Result<()> {
        let mut o = std::io::stdout().lock();
        if self.raw {
            o.write_all(text.as_bytes())?;
        } else {
            o.write_all(sanitize_cow(text).as_bytes())?;
        }
        o.flush()
    }

    /// Writes one line.
    pub fn line(&self, text: impl Display) -> std::io::Result<()> {
        let mut s = text.to_string();
        s.push('\n');
        self.text(&s)
    }
}

/// One line on stdout, sanitised. A closed stdout is ignored (`charla list | head`).
pub fn line(text: impl Display) {
    let _ = Out::safe().line(text);
}

/// One JSON value as a line on stdout (escaped so that it is terminal-safe and still JSON).
pub fn json(v: &serde_json::Value) -> std::io::Result<()> {
    let s = v.to_string();
    let mut o = std::io::stdout().lock();
    o.write_all(json_safe(&s).as_bytes())?;
    o.write_all(b"\n")?;
    o.flush()
}

/// One line on stderr, sanitised.
pub fn eline(text: impl Display) {
    let s = text.to_string();
    let mut e = std::io::stderr().lock();
    let _ = writeln!(e, "{}", sanitize_cow(&s));
}

/// Text on stderr with no newline, sanitised (reasoning streamed as it comes).
pub fn etext(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(sanitize_cow(text).as_bytes());
    let _ = e.flush();
}

/// `charla: <message>` on stderr.
pub fn err(msg: impl Display) {
    eline(format!("charla: {msg}"));
}

/// A status line on a terminal's stderr, redrawn in place (`\r`, erase line): the text
/// sanitised, the control sequence ours. An empty text clears it.
pub fn estatus(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(b"\r\x1b[2K");
    let _ = e.write_all(sanitize_cow(text).as_bytes());
    let _ = e.flush();
}

/// Whether stderr is a terminal (a live status line may be drawn there).
pub fn stderr_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
