//! The terminal side of a frame: what the screen shows, and the least that makes it show the
//! next frame.
//!
//! charla keeps the screen's last frame itself (`Screen::shown`) and writes only the cells that
//! differ from it. While the transcript follows a stream, new lines move every line above them
//! up: instead of rewriting them, the terminal scrolls the transcript's rows (a scroll region,
//! DECSTBM, and line feeds at its bottom) and the diff compares each row with the row the
//! terminal now shows there (the one k rows below it in the last frame, blank at the bottom).
//! The view says when (`view::Unchanged`: the scroll, and the rows it knows unchanged after it,
//! which are not compared at all). Whatever the guess, the diff runs against what the terminal shows, so the frame is always
//! right.
//!
//! The diff is ratatui's (`BufferDiff`: the same cells come out, wide characters and their
//! trailing columns included, a test checks it) with two changes: rows can be read shifted,
//! and a cell of one printable ASCII byte in both frames, nearly every cell, is compared
//! without width look-ups. Cells are made terminal-safe here, as they are compared: a cell that
//! is not plain ASCII loses any control or bidi character before it can reach the terminal.

use std::io::Write;

use ratatui::backend::{Backend, CrosstermBackend};
use ratatui::buffer::{Buffer, Cell, CellDiffOption, CellWidth};
use ratatui::style::{Color, Modifier};

use super::{app::App, view};

/// Rows `y0..y1` of the terminal were scrolled up `k` rows before the diff.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shift {
    pub y0: usize,
    pub y1: usize,
    pub k: usize,
}

#[derive(Default)]
pub struct Screen {
    /// What the terminal shows.
    shown: Buffer,
    /// The terminal's size is to be read again before the next frame (the first frame, a
    /// resize event). Reading it opens /dev/tty: not once per frame.
    resize: bool,
    /// The changed cells' indices (kept to reuse the allocation).
    changed: Vec<usize>,
    /// The rows not compared in this frame (`view::Unchanged`), by row of the screen.
    same: Vec<bool>,
}

impl Screen {
    pub fn new() -> Self {
        Screen {
            resize: true,
            ..Default::default()
        }
    }

    /// How many rows the last frame did not compare (the view knew them unchanged).
    pub fn unchanged_rows(&self) -> usize {
        self.same.iter().filter(|&&s| s).count()
    }

    /// The terminal was resized: its size is read again before the next frame.
    pub fn resized(&mut self) {
        self.resize = true;
    }

    /// The terminal was cleared (or handed to another program): the next frame is written
    /// whole.
    pub fn forget(&mut self) {
        self.shown = Buffer::default();
        self.resize = true;
    }

    /// Draws a frame of `app`.
    pub fn draw<W: Write>(
        &mut self,
        terminal: &mut ratatui::Terminal<CrosstermBackend<W>>,
        app: &App,
        cache: &mut view::ViewCache,
    ) -> std::io::Result<()> {
        if std::mem::take(&mut self.resize) {
            // A new size clears the screen (and ratatui's buffers).
            terminal.autoresize()?;
        }
        let area = terminal.current_buffer_mut().area;
        // A blank screen (the first frame, a new size, after the editor): no row is as the
        // view believes.
        let blank = self.shown.area != area;
        if blank {
            self.shown = Buffer::empty(area);
        }
        {
            let mut frame = terminal.get_frame();
            view::render_unchecked(app, cache, &mut frame);
        }
        // The view's scroll (the transcript followed the end and its lines moved up k rows)
        // and the rows it knows unchanged after it.
        let u = &cache.unchanged;
        let a = u.area;
        let (y0, y1) = (
            a.y.saturating_sub(area.y) as usize,
            (a.y + a.height).saturating_sub(area.y) as usize,
        );
        let fits = y1 <= area.height as usize;
        let mut shift = None;
        if u.k > 0 && fits {
            let seq = format!(
                "\x1b[0m\x1b[{};{}r\x1b[{};1H{}\x1b[r",
                a.y + 1,
                a.y + a.height,
                a.y + a.height,
                "\n".repeat(u.k)
            );
            terminal.backend_mut().write_all(seq.as_bytes())?;
            shift = Some(Shift { y0, y1, k: u.k });
        }
        self.same.clear();
        if !blank && fits && !u.rows.is_empty() {
            self.same.resize(area.height as usize, false);
            self.same[y0..y1].copy_from_slice(&u.rows);
        }
        let mut now = std::mem::take(terminal.current_buffer_mut());
        changes(&self.shown, &mut now, shift, &self.same, &mut self.changed);
        let w = area.width as usize;
        let cells = &now.content;
        terminal.backend_mut().draw(
            self.changed
                .iter()
                .map(|&i| (area.x + (i % w) as u16, area.y + (i / w) as u16, &cells[i])),
        )?;
        terminal.hide_cursor()?;
        Backend::flush(terminal.backend_mut())?;
        // `now` is the screen; the old frame's buffer, blanked, takes the next one.
        let mut next = std::mem::replace(&mut self.shown, now);
        next.reset();
        *terminal.current_buffer_mut() = next;
        Ok(())
    }
}

/// What the plain comparison says of a pair of cells: `Some(changed)` when both are one byte
/// (ASCII, width 1; the new one printable) with no diff option, `None` when the pair needs
/// ratatui's whole rules. Nearly every pair is plain: this is `Cell::eq` for them, without
/// its string comparison and the width look-ups.
#[allow(deprecated)] // `skip`: still honoured, as ratatui's own diff does
#[inline(always)]
fn plain_change(c: &Cell, p: &Cell) -> Option<bool> {
    let (a, b) = (c.symbol().as_bytes(), p.symbol().as_bytes());
    if a.len() != 1
        || b.len() != 1
        || !(0x20..0x7f).contains(&a[0])
        || c.skip
        || p.skip
        || !matches!(c.diff_option, CellDiffOption::None)
        || !matches!(p.diff_option, CellDiffOption::None)
    {
        return None;
    }
    Some(
        a[0] != b[0]
            || c.fg != p.fg
            || c.bg != p.bg
            || c.modifier != p.modifier
            || c.underline_color != p.underline_color,
    )
}

#[allow(deprecated)]
fn is_skip(c: &Cell) -> bool {
    matches!(c.diff_option, CellDiffOption::Skip)
        || (c.skip && matches!(c.diff_option, CellDiffOption::None))
}

const VISIBLE_ON_BLANK: Modifier = Modifier::REVERSED
    .union(Modifier::UNDERLINED)
    .union(Modifier::SLOW_BLINK)
    .union(Modifier::RAPID_BLINK)
    .union(Modifier::CROSSED_OUT);

/// No control or bidi character reaches the terminal, whatever path a cell's text took
/// (ratatui drops C0/C1 controls itself, not bidi overrides).
fn make_safe(c: &mut Cell) {
    if c.symbol().chars().any(crate::sanitize::is_unsafe) {
        c.set_symbol("\u{fffd}");
    }
}

/// The indices of the cells of `next` to write to a terminal that shows `shown` (scrolled by
/// `shift`), into `out`. Cells of `next` are made terminal-safe on the way. Rows `y` with
/// `same[y]` are known to equal the row the terminal shows: they are not compared (a debug
/// build checks them).
pub fn changes(
    shown: &Buffer,
    next: &mut Buffer,
    shift: Option<Shift>,
    same: &[bool],
    out: &mut Vec<usize>,
) {
    out.clear();
    let w = next.area.width as usize;
    let h = (next.area.height as usize).min(shown.area.height as usize);
    if w == 0 || shown.area.width as usize != w {
        // Nothing to compare with: every cell.
        for c in next.content.iter_mut() {
            make_safe(c);
        }
        out.extend(0..next.content.len());
        return;
    }
    let blank = [Cell::EMPTY];
    for y in 0..h {
        let from = match shift {
            Some(s) if (s.y0..s.y1).contains(&y) => (y + s.k < s.y1).then_some(y + s.k),
            _ => Some(y),
        };
        let prev: &[Cell] = match from {
            Some(r) => &shown.content[r * w..(r + 1) * w],
            None => &blank,
        };
        let row = &mut next.content[y * w..(y + 1) * w];
        if same.get(y) == Some(&true) {
            debug_assert!(
                row.iter().enumerate().all(|(x, c)| {
                    let mut c = c.clone();
                    make_safe(&mut c);
                    c == prev[if prev.len() == 1 { 0 } else { x }]
                }),
                "row {y} said unchanged differs from the terminal's"
            );
            continue;
        }
        row_changes(prev, row, y * w, out);
    }
    // Rows `shown` does not have (a taller screen): all of them.
    for c in next.content[h * w..].iter_mut() {
        make_safe(c);
    }
    out.extend(h * w..next.content.len());
}

/// One row's changes. `prev` is the row shown there, or one blank cell for a blank row.
fn row_changes(prev: &[Cell], row: &mut [Cell], base: usize, out: &mut Vec<usize>) {
    let len = row.len();
    // (A blank row is one cell, standing for all of them.)
    let at = |x: usize| if prev.len() == 1 { &prev[0] } else { &prev[x] };
    let mut x = 0;
    while x < len {
        let p = at(x);
        if let Some(changed) = plain_change(&row[x], p) {
            if changed {
                out.push(base + x);
            }
            x += 1;
            continue;
        }
        make_safe(&mut row[x]);
        let c = &row[x];
        let i = x;
        x += 1;
        match c.diff_option {
            CellDiffOption::Skip => {}
            _ if is_skip(c) => {}
            CellDiffOption::ForcedWidth(fw) => {
                x = x.saturating_add(fw.get().saturating_sub(1) as usize);
                if c != p {
                    out.push(base + i);
                }
            }
            CellDiffOption::None | CellDiffOption::AlwaysUpdate => {
                let cw = c.cell_width() as usize;
                if matches!(c.diff_option, CellDiffOption::None) && c == p {
                    x += cw.saturating_sub(1);
                    continue;
                }
                let pw = p.cell_width() as usize;
                let vs16 = cw > 1 && c.symbol().chars().any(|ch| ch == '\u{FE0F}');
                // Trailing cells to write too: (up to, forced).
                let trailing = if vs16 {
                    Some(((i + cw).min(len), false))
                } else if cw > 1 {
                    x += cw - 1;
                    None
                } else if pw > cw
                    && (p.bg != Color::Reset || p.modifier.intersects(VISIBLE_ON_BLANK))
                {
                    Some((i + pw, true))
                } else {
                    None
                };
                out.push(base + i);
                if let Some((mut end, force)) = trailing {
                    let mut j = i + 1;
                    while j < end {
                        make_safe(&mut row[j]);
                        let cj = &row[j];
                        let step = (cj.cell_width() as usize).max(1);
                        let k = j;
                        j += step;
                        end = end.max(j).min(len);
                        if !is_skip(cj) && (force || at(k).symbol() != cj.symbol()) {
                            out.push(base + k);
                        }
                    }
                    x = end;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::layout::Rect;
    use ratatui::style::Style;
    use ratatui::text::Line;

    fn buf(w: u16, rows: &[Line]) -> Buffer {
        let mut b = Buffer::empty(Rect::new(0, 0, w, rows.len() as u16));
        for (y, l) in rows.iter().enumerate() {
            b.set_line(0, y as u16, l, w);
        }
        b
    }

    /// ratatui's own diff, as indices.
    fn theirs(a: &Buffer, b: &Buffer) -> Vec<usize> {
        let w = a.area.width;
        a.diff_iter(b)
            .map(|(x, y, _)| y as usize * w as usize + x as usize)
            .collect()
    }

    fn ours(a: &Buffer, b: &Buffer) -> Vec<usize> {
        let mut b = b.clone();
        let mut out = vec![];
        changes(a, &mut b, None, &[], &mut out);
        out
    }

    #[test]
    fn the_same_cells_as_ratatuis_diff() {
        let red = Style::default().fg(Color::Red);
        let on_blue = Style::default().bg(Color::Blue);
        let texts: Vec<Vec<Line>> = vec![
            vec![Line::from("plain text"), Line::from("second row")],
            vec![Line::from("plain test"), Line::from("second row!")],
            vec![Line::styled("plain text", red), Line::from("日本語 wide")],
            vec![Line::from("日本 text"), Line::from("日x本語 wide")],
            vec![Line::from("👍️ emoji vs16"), Line::styled("全角", on_blue)],
            vec![Line::from("a👍️b"), Line::from("xy")],
            vec![Line::from(""), Line::styled("   ", on_blue)],
            vec![
                Line::from("e\u{301}combining"),
                Line::from(vec!["x".into(), "ﾞ".into(), "y".into()]),
            ],
        ];
        for a in &texts {
            for b in &texts {
                let (ba, bb) = (buf(14, a), buf(14, b));
                assert_eq!(ours(&ba, &bb), theirs(&ba, &bb), "{a:?} → {b:?}");
            }
        }
        // Skipped cells are never written; forced-width ones jump.
        let a = buf(14, &texts[0]);
        let mut b = buf(14, &texts[1]);
        b.content[3].set_diff_option(CellDiffOption::Skip);
        b.content[5].set_diff_option(CellDiffOption::AlwaysUpdate);
        assert_eq!(ours(&a, &b), theirs(&a, &b));
    }

    #[test]
    fn a_scrolled_region_is_compared_with_the_rows_that_moved_there() {
        let shown = buf(
            10,
            &[
                Line::from("one"),
                Line::from("two"),
                Line::from("three"),
                Line::from("status"),
            ],
        );
        // Rows 0..3 scrolled up 1: "two", "three", blank; then the new frame.
        let mut next = buf(
            10,
            &[
                Line::from("two"),
                Line::from("three"),
                Line::from("four"),
                Line::from("status"),
            ],
        );
        let mut out = vec![];
        changes(
            &shown,
            &mut next,
            Some(Shift { y0: 0, y1: 3, k: 1 }),
            &[],
            &mut out,
        );
        // Only "four" is written (its 4 cells; the rest of the row is blank on both).
        assert_eq!(out, vec![20, 21, 22, 23]);
    }

    #[test]
    fn unsafe_cells_are_replaced_before_they_are_written() {
        let shown = buf(6, &[Line::from("")]);
        let mut next = shown.clone();
        next.content[1].set_symbol("\u{202e}");
        next.content[2].set_symbol("a\u{2066}");
        let mut out = vec![];
        changes(&shown, &mut next, None, &[], &mut out);
        assert_eq!(out, vec![1, 2]);
        assert_eq!(next.content[1].symbol(), "\u{fffd}");
        assert_eq!(next.content[2].symbol(), "\u{fffd}");
        // A different size: everything, made safe too.
        let mut big = Buffer::empty(Rect::new(0, 0, 7, 1));
        big.content[0].set_symbol("\u{1b}");
        changes(&shown, &mut big, None, &[], &mut out);
        assert_eq!(out.len(), 7);
        assert_eq!(big.content[0].symbol(), "\u{fffd}");
    }
}
