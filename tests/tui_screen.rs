//! The chat screen's frames as a terminal shows them: `Screen::draw` writes escape sequences
//! (its diff, the scrolls of a followed stream, the rows it does not compare) into a small
//! terminal model, and after every frame the model's text must be the full render's.

use charla::config::Config;
use charla::provider::StreamEvent;
use charla::session::Session;
use charla::tui::app::{self, App, Effect, Msg};
use charla::tui::{screen::Screen, theme::Theme, view};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::{CrosstermBackend, TestBackend};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use unicode_width::UnicodeWidthChar;

/// The text a terminal shows after the bytes it was sent: cursor moves, scroll regions and
/// line feeds at their bottom, erases, and printed characters (styles are ignored).
struct Model {
    w: usize,
    h: usize,
    rows: Vec<Vec<String>>,
    x: usize,
    y: usize,
    top: usize,
    bottom: usize,
}

impl Model {
    fn new(w: usize, h: usize) -> Self {
        Model {
            w,
            h,
            rows: vec![vec![" ".to_string(); w]; h],
            x: 0,
            y: 0,
            top: 0,
            bottom: h - 1,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        let s = std::str::from_utf8(bytes).expect("utf-8 to the terminal");
        let mut it = s.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '\x1b' => {
                    assert_eq!(it.next(), Some('['), "only CSI sequences are sent");
                    let mut params = String::new();
                    let fin = loop {
                        let c = it.next().expect("a whole sequence");
                        if c.is_ascii_digit() || c == ';' || c == '?' {
                            params.push(c);
                        } else {
                            break c;
                        }
                    };
                    let n: Vec<usize> = params
                        .trim_start_matches('?')
                        .split(';')
                        .filter(|p| !p.is_empty())
                        .map(|p| p.parse().expect("number"))
                        .collect();
                    match fin {
                        'H' => {
                            self.y = n.first().copied().unwrap_or(1) - 1;
                            self.x = n.get(1).copied().unwrap_or(1) - 1;
                        }
                        'r' => {
                            (self.top, self.bottom) = match n[..] {
                                [a, b] => (a - 1, b - 1),
                                _ => (0, self.h - 1),
                            };
                            (self.x, self.y) = (0, 0);
                        }
                        'J' if n.first() == Some(&2) => {
                            self.rows = vec![vec![" ".to_string(); self.w]; self.h]
                        }
                        'K' => {
                            for x in self.x..self.w {
                                self.rows[self.y][x] = " ".into();
                            }
                        }
                        'm' | 'h' | 'l' => {}
                        other => panic!("unexpected sequence {params}{other}"),
                    }
                }
                '\n' => {
                    if self.y == self.bottom {
                        self.rows.remove(self.top);
                        self.rows.insert(self.bottom, vec![" ".to_string(); self.w]);
                    } else {
                        self.y += 1;
                    }
                }
                '\r' => self.x = 0,
                c => {
                    let cw = c.width().unwrap_or(0);
                    if cw == 0 {
                        if self.x > 0 {
                            self.rows[self.y][self.x - 1].push(c);
                        }
                        continue;
                    }
                    if self.x < self.w {
                        let row = &mut self.rows[self.y];
                        // Writing over half of a wide character blanks its other half (as
                        // xterm and tmux do).
                        for x in self.x..(self.x + cw).min(self.w) {
                            if row[x].is_empty() && x > 0 {
                                row[x - 1] = " ".into();
                            }
                            if x + 1 < self.w && row[x + 1].is_empty() {
                                row[x + 1] = " ".into();
                            }
                        }
                        row[self.x] = c.to_string();
                        if cw == 2 && self.x + 1 < self.w {
                            row[self.x + 1] = String::new();
                        }
                    }
                    self.x += cw;
                }
            }
        }
    }

    fn text(&self) -> String {
        self.rows
            .iter()
            .map(|r| r.concat().trim_end().to_string() + "\n")
            .collect()
    }
}

#[derive(Clone, Default)]
struct Sink(Rc<RefCell<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// The full render of `a` (the reference), as text.
fn reference(a: &App, cache: &mut view::ViewCache, w: u16, h: u16) -> String {
    let mut t = ratatui::Terminal::new(TestBackend::new(w, h)).expect("terminal");
    t.draw(|f| view::render(a, cache, f)).expect("draw");
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        let mut x = 0;
        while x < w {
            let sym = buf[(x, y)].symbol();
            line.push_str(sym);
            // A wide character's second column shows nothing of its own.
            x += (unicode_width::UnicodeWidthStr::width(sym) as u16).max(1);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

const ANSWER: &str = "## Reading a config file\n\nThe idea is simple: read the file, parse it \
with **serde**, and report errors with the path and the line — 日本語の説明も — so that a user \
knows *where* to look.\n\n```rust\nuse std::path::Path;\n\nfn load(path: &Path) -> \
Result<Config, String> {\n    let text = std::fs::read_to_string(path)?;\n    \
toml::from_str(&text).map_err(|e| e.to_string())\n}\n```\n\n- the error names the file;\n- \
`retries` has no default;\n- it returns early with `?`.\n\n> Tip: keep the parsing apart.\n\n";

/// Streams a long answer frame by frame through `Screen` at `w`×`h`, scrolling back, opening
/// the help and closing it on the way; after every frame the terminal shows the full render.
fn frames_match(w: u16, h: u16) {
    let cfg = Arc::new(Config::builtin());
    let m = cfg.resolve_model("demo/charla-demo").expect("model");
    let mut a = App::new(Session::new(cfg, m), Theme::fallback(true), String::new());
    for c in "go".chars() {
        app::update(&mut a, key(KeyCode::Char(c)));
    }
    let eff = app::update(&mut a, key(KeyCode::Enter));
    let Some(Effect::StartStream { request_id: id, .. }) = eff.first().cloned() else {
        panic!("no stream: {eff:?}")
    };
    app::update(&mut a, Msg::Stream(id, StreamEvent::Started));
    let sink = Sink::default();
    let mut term = ratatui::Terminal::with_options(
        CrosstermBackend::new(sink.clone()),
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, w, h)),
        },
    )
    .expect("terminal");
    let mut model = Model::new(w as usize, h as usize);
    let mut cache = view::ViewCache::default();
    let mut screen = Screen::new();
    let pieces: Vec<&str> = ANSWER
        .split_inclusive([' ', '\n'])
        .cycle()
        .take(1500)
        .collect();
    let mut skipped = 0;
    for (i, chunk) in pieces.chunks(3).enumerate() {
        for p in chunk {
            app::update(
                &mut a,
                Msg::Stream(id, StreamEvent::TextDelta(p.to_string())),
            );
        }
        // Read back for a while, then the help over it, then the end again.
        match i {
            150 | 151 => {
                app::update(&mut a, key(KeyCode::PageUp));
            }
            170 => {
                app::update(&mut a, key(KeyCode::Char('?')));
            }
            175 => {
                app::update(&mut a, key(KeyCode::Esc));
            }
            180 => {
                app::update(&mut a, key(KeyCode::End));
            }
            _ => {}
        }
        screen.draw(&mut term, &a, &mut cache).expect("draw");
        skipped += screen.unchanged_rows();
        model.feed(&sink.0.take());
        assert_eq!(
            model.text(),
            reference(&a, &mut cache, w, h),
            "frame {i} at {w}x{h}: the terminal does not show the frame"
        );
    }
    // Most rows of a followed stream are not compared at all.
    let frames = pieces.len().div_ceil(3);
    assert!(
        skipped > frames * (h as usize / 2),
        "{skipped} rows skipped in {frames} frames"
    );
}

#[test]
fn a_streamed_answer_through_the_screen_is_what_the_terminal_shows_at_80x24() {
    frames_match(80, 24);
}

#[test]
fn a_streamed_answer_through_the_screen_is_what_the_terminal_shows_at_200x50() {
    frames_match(200, 50);
}
