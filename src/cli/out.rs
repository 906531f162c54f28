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

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// One column of [`Columns`]: a title, the text so far, and a status line.
pub struct Column<'a> {
    pub title: String,
    pub text: &'a str,
    pub status: String,
    pub done: bool,
}

/// Live columns drawn in place at the bottom of a terminal (ratatui's inline viewport on
/// stdout), for `charla compare` on a TTY: each model's latest lines side by side. Every cell
/// is sanitised text; [`Columns::finish`] clears the area, so what stays in the scrollback is
/// what is printed after it.
pub struct Columns {
    terminal: ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
    drawn: Option<std::time::Instant>,
}

/// Narrowest a live column may be.
pub const MIN_COLUMN: u16 = 30;

impl Columns {
    /// Columns for `n` models when stdout is a terminal wide enough for them (None otherwise:
    /// the answers are printed as each ends).
    pub fn open(n: usize) -> Option<Columns> {
        if n == 0 || !stdout_is_terminal() {
            return None;
        }
        let (w, h) = crossterm::terminal::size().ok()?;
        if w / (n as u16) < MIN_COLUMN || h < 10 {
            return None;
        }
        let height = (h / 2).clamp(8, 16);
        let terminal = ratatui::Terminal::with_options(
            ratatui::backend::CrosstermBackend::new(std::io::stdout()),
            ratatui::TerminalOptions {
                viewport: ratatui::Viewport::Inline(height),
            },
        )
        .ok()?;
        Some(Columns {
            terminal,
            drawn: None,
        })
    }

    /// Draws the columns (at most ten times a second unless `now`).
    pub fn draw(&mut self, cols: &[Column<'_>], now: bool) {
        use ratatui::layout::{Constraint, Layout};
        use ratatui::text::{Line, Span};
        use ratatui::widgets::{Block, Borders, Paragraph};
        if !now
            && self
                .drawn
                .is_some_and(|t| t.elapsed() < std::time::Duration::from_millis(100))
        {
            return;
        }
        self.drawn = Some(std::time::Instant::now());
        let _ = self.terminal.draw(|f| {
            let areas =
                Layout::horizontal(vec![Constraint::Ratio(1, cols.len() as u32); cols.len()])
                    .split(f.area());
            for (c, area) in cols.iter().zip(areas.iter()) {
                let block = Block::default()
                    .borders(Borders::ALL)
                    .title(format!(
                        "{}{}",
                        if c.done { " ✓" } else { "" },
                        crate::sanitize::sanitize(&c.title)
                    ))
                    .title_bottom(crate::sanitize::sanitize(&c.status));
                let inner = block.inner(*area);
                let width = inner.width as usize;
                // Only the last lines are shown: each source line is a row or more, so the
                // last `height` of them are all that is wrapped.
                let h = inner.height as usize;
                let tail: Vec<&str> = c.text.rsplit('\n').take(h).collect();
                let mut lines: Vec<Line<'static>> = Vec::new();
                for l in tail
                    .iter()
                    .rev()
                    .map(|l| crate::sanitize::sanitize(l.strip_suffix('\r').unwrap_or(l)))
                {
                    lines.extend(crate::tui::markdown::wrap(
                        &[Span::raw(l.to_string())],
                        width,
                        &[],
                        &[],
                    ));
                }
                let skip = lines.len().saturating_sub(h);
                let shown: Vec<Line<'static>> = lines.into_iter().skip(skip).collect();
                f.render_widget(Paragraph::new(shown).block(block), *area);
            }
        });
    }

    /// Clears the columns' area; printing continues where it began.
    pub fn finish(mut self) {
        let area = self.terminal.get_frame().area();
        let _ = self.terminal.clear();
        let _ = self.terminal.set_cursor_position((0, area.y));
        let _ = self.terminal.show_cursor();
        let _ = std::io::Write::flush(&mut std::io::stdout());
    }
}
