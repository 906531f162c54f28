//! The TUI's state and its I/O-free `update(state, msg) -> effects` (the Elm pattern): keys,
//! pastes, stream events and timer ticks come in as `Msg`; what must touch the outside world
//! (start or cancel a stream, save, open $EDITOR, copy, quit) goes out as `Effect`s that the
//! loop in `mod.rs` executes, feeding results back as messages.

use super::theme::Theme;
use crate::conversation::Conversation;
use crate::provider::{ChatRequest, StreamEvent};
use crate::session::{Applied, Session};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui_textarea::TextArea;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    Resize,
    Stream(u64, StreamEvent),
    Tick,
    /// $EDITOR returned the edited draft (or failed).
    Edited(Result<String, String>),
    Saved(Result<String, String>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StartStream {
        request_id: u64,
        provider: String,
        request: ChatRequest,
    },
    CancelStream,
    Save(Box<Conversation>),
    OpenEditor(String),
    /// Write this OSC 52 sequence (already built) to the terminal.
    Copy(String),
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

pub struct App {
    pub session: Session,
    pub input: TextArea<'static>,
    pub theme: Theme,
    /// Lines scrolled up from the bottom; 0 follows the stream.
    pub scroll: usize,
    pub help: bool,
    pub notice: Option<(String, Level, Instant)>,
    pub ctrl_c_at: Option<Instant>,
    pub quit: bool,
    /// Why this model was picked (shown for the demo: how to add a key).
    pub model_reason: String,
    pub show_examples: bool,
    pub show_reasoning: bool,
    pub show_system: bool,
    pub tick: u64,
    pub now: Instant,
    /// Rows of the transcript area at the last frame (for paging).
    pub page: usize,
}

fn new_input() -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text("Ask anything · Enter sends · Alt-Enter newline · ? help");
    t.set_cursor_line_style(ratatui::style::Style::default());
    t
}

impl App {
    pub fn new(mut session: Session, theme: Theme, model_reason: String) -> App {
        session.load_tokenizer = false;
        App {
            session,
            input: new_input(),
            theme,
            scroll: 0,
            help: false,
            notice: None,
            ctrl_c_at: None,
            quit: false,
            model_reason,
            show_examples: false,
            show_reasoning: false,
            show_system: false,
            tick: 0,
            now: Instant::now(),
            page: 20,
        }
    }

    pub fn draft(&self) -> String {
        self.input.lines().join("\n")
    }

    fn set_draft(&mut self, text: &str) {
        let mut t = new_input();
        t.insert_str(text);
        self.input = t;
    }

    pub fn notify(&mut self, text: impl Into<String>, level: Level) {
        self.notice = Some((text.into(), level, self.now));
    }

    fn send(&mut self, text: String) -> Vec<Effect> {
        let (request_id, request) = self.session.begin(&text);
        self.scroll = 0;
        vec![Effect::StartStream {
            request_id,
            provider: self.session.model.provider.clone(),
            request,
        }]
    }

    /// The last real question (for Up-recall).
    fn last_prompt(&self) -> Option<String> {
        self.session.conv.questions().last().map(|s| s.to_string())
    }

    fn command(&mut self, line: &str) -> Vec<Effect> {
        let mut parts = line.trim().splitn(2, ' ');
        let cmd = parts.next().unwrap_or("");
        let arg = parts.next().unwrap_or("").trim();
        match cmd {
            "/q" | "/quit" | "/exit" => {
                self.quit = true;
                vec![Effect::Quit]
            }
            "/help" | "/?" => {
                self.help = true;
                vec![]
            }
            "/model" if !arg.is_empty() => match self.session.cfg.resolve_model(arg) {
                Ok(m) => {
                    let warn = crate::session::price_entry(&self.session.cfg, &m)
                        .and_then(|e| e.warning());
                    self.notify(
                        format!(
                            "model: {m}{}",
                            warn.map(|w| format!(" ({w})")).unwrap_or_default()
                        ),
                        Level::Info,
                    );
                    self.session.set_model(m);
                    self.model_reason.clear();
                    vec![]
                }
                Err(e) => {
                    self.notify(e, Level::Error);
                    vec![]
                }
            },
            "/model" => {
                self.notify(
                    format!(
                        "model: {} · /model provider/name switches (charla models lists them)",
                        self.session.model
                    ),
                    Level::Info,
                );
                vec![]
            }
            "/system" => {
                self.session.conv.system_prompt = (!arg.is_empty()).then(|| arg.to_string());
                self.show_system = true;
                self.notify(
                    if arg.is_empty() {
                        "system prompt cleared"
                    } else {
                        "system prompt set"
                    },
                    Level::Info,
                );
                vec![Effect::Save(Box::new(self.session.conv.clone()))]
            }
            "/new" => {
                let model = self.session.model.clone();
                self.session = Session::new(self.session.cfg.clone(), model);
                self.session.load_tokenizer = false;
                self.scroll = 0;
                self.notify("new conversation", Level::Info);
                vec![]
            }
            "/retry" => self.retry(),
            "/copy" => self.copy(arg),
            _ => {
                self.notify(
                    format!("unknown command {cmd} · press ? for help"),
                    Level::Warn,
                );
                vec![]
            }
        }
    }

    /// Regenerates the last answer with the current model; the old one is kept as an alternative.
    fn retry(&mut self) -> Vec<Effect> {
        let msgs = &mut self.session.conv.messages;
        let Some(last) = msgs.last() else {
            return vec![];
        };
        if last.role != crate::provider::Role::Assistant || last.example {
            self.notify("nothing to retry", Level::Warn);
            return vec![];
        }
        let old = msgs.pop();
        let (request_id, request) = self.session.begin_answer();
        if let (Some(old), Some(new)) = (
            old,
            self.session
                .conv
                .messages
                .last_mut()
                .and_then(|m| m.answer.as_mut()),
        ) {
            let mut alts = old
                .answer
                .as_ref()
                .map(|a| a.alternatives.clone())
                .unwrap_or_default();
            alts.push(crate::conversation::Alternative {
                content: old.content.clone(),
                model: old
                    .answer
                    .as_ref()
                    .map(|a| a.model.clone())
                    .unwrap_or_default(),
                cost_usd: old.answer.as_ref().and_then(|a| a.cost_usd),
            });
            new.alternatives = alts;
        }
        self.scroll = 0;
        vec![Effect::StartStream {
            request_id,
            provider: self.session.model.provider.clone(),
            request,
        }]
    }

    fn copy(&mut self, arg: &str) -> Vec<Effect> {
        let Some(msg) = self
            .session
            .conv
            .messages
            .iter()
            .rev()
            .find(|m| m.answer.is_some())
        else {
            self.notify("no answer to copy yet", Level::Warn);
            return vec![];
        };
        let text = if arg.is_empty() {
            msg.content.clone()
        } else {
            let blocks = super::markdown::render(&msg.content, 1000, &self.theme).code_blocks;
            match arg
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| blocks.get(i))
            {
                Some(b) => b.clone(),
                None => {
                    self.notify(
                        format!(
                            "no code block {arg} in the last answer ({} blocks)",
                            blocks.len()
                        ),
                        Level::Warn,
                    );
                    return vec![];
                }
            }
        };
        self.notify(
            format!("copied {} characters (OSC 52)", text.chars().count()),
            Level::Info,
        );
        vec![Effect::Copy(osc52(&text))]
    }
}

/// The OSC 52 "set clipboard" sequence for `text` (inside tmux, tmux forwards it when
/// `set-clipboard` is on).
pub fn osc52(text: &str) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 12);
    out.push_str("\x1b]52;c;");
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out.push('\x07');
    out
}

/// The single entry point: applies `msg` and returns what the loop must do.
pub fn update(app: &mut App, msg: Msg) -> Vec<Effect> {
    match msg {
        Msg::Tick => {
            app.tick += 1;
            app.now = Instant::now();
            if app.notice.as_ref().is_some_and(|(_, l, t)| {
                *l == Level::Info && app.now.duration_since(*t) > Duration::from_secs(4)
            }) {
                app.notice = None;
            }
            vec![]
        }
        Msg::Resize => vec![],
        Msg::Stream(id, ev) => match app.session.apply(id, ev) {
            Applied::TurnEnded { interrupted } => {
                if interrupted
                    && let Some(e) = app.session.last_answer().and_then(|a| a.error.clone())
                    && e != "cancelled"
                {
                    app.notify(e, Level::Error);
                }
                vec![Effect::Save(Box::new(app.session.conv.clone()))]
            }
            _ => vec![],
        },
        Msg::Saved(Ok(_)) => vec![],
        Msg::Saved(Err(e)) => {
            app.notify(format!("could not save: {e}"), Level::Error);
            vec![]
        }
        Msg::Edited(Ok(text)) => {
            app.set_draft(text.trim_end_matches('\n'));
            vec![]
        }
        Msg::Edited(Err(e)) => {
            app.notify(e, Level::Error);
            vec![]
        }
        Msg::Paste(text) => {
            // Normalise line endings; keep the text exactly otherwise.
            app.input
                .insert_str(text.replace("\r\n", "\n").replace('\r', "\n"));
            vec![]
        }
        Msg::Mouse(m) => {
            match m.kind {
                MouseEventKind::ScrollUp => app.scroll += 3,
                MouseEventKind::ScrollDown => app.scroll = app.scroll.saturating_sub(3),
                _ => {}
            }
            vec![]
        }
        Msg::Key(k) => key(app, k),
    }
}

fn key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    if k.kind == KeyEventKind::Release {
        return vec![];
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let alt = k.modifiers.contains(KeyModifiers::ALT);
    let shift = k.modifiers.contains(KeyModifiers::SHIFT);
    if app.help {
        app.help = false;
        return vec![];
    }
    if ctrl && k.code == KeyCode::Char('c') {
        if app.session.is_streaming() {
            app.session.cancel();
            app.notify("cancelled · Ctrl-C again to quit", Level::Info);
            app.ctrl_c_at = Some(app.now);
            return vec![
                Effect::CancelStream,
                Effect::Save(Box::new(app.session.conv.clone())),
            ];
        }
        if app
            .ctrl_c_at
            .is_some_and(|t| app.now.duration_since(t) < Duration::from_secs(2))
            || app.draft().is_empty() && app.ctrl_c_at.is_some()
        {
            app.quit = true;
            return vec![Effect::Quit];
        }
        if !app.draft().is_empty() {
            app.set_draft("");
        }
        app.ctrl_c_at = Some(app.now);
        app.notify("press Ctrl-C again to quit", Level::Info);
        return vec![];
    }
    app.ctrl_c_at = None;
    match k.code {
        KeyCode::Esc if app.session.is_streaming() => {
            app.session.cancel();
            app.notify("cancelled · the partial answer is kept", Level::Info);
            return vec![
                Effect::CancelStream,
                Effect::Save(Box::new(app.session.conv.clone())),
            ];
        }
        KeyCode::Esc => {
            app.notice = None;
            return vec![];
        }
        KeyCode::Enter if alt || shift => {
            app.input.insert_newline();
            return vec![];
        }
        KeyCode::Enter => {
            let text = app.draft();
            if text.trim().is_empty() {
                return vec![];
            }
            if text.trim_start().starts_with('/') && !text.contains('\n') {
                app.set_draft("");
                return app.command(&text);
            }
            if app.session.is_streaming() {
                app.notify("an answer is still streaming · Esc cancels it", Level::Warn);
                return vec![];
            }
            app.set_draft("");
            return app.send(text);
        }
        KeyCode::Char('?') if app.draft().is_empty() => {
            app.help = true;
            return vec![];
        }
        KeyCode::Char('e') if ctrl => return vec![Effect::OpenEditor(app.draft())],
        KeyCode::Char('r') if ctrl => {
            return if app.session.is_streaming() {
                vec![]
            } else {
                app.retry()
            };
        }
        KeyCode::Char('n') if ctrl => return app.command("/new"),
        KeyCode::Char('t') if ctrl => {
            app.show_reasoning = !app.show_reasoning;
            return vec![];
        }
        KeyCode::Char('x') if ctrl => {
            app.show_examples = !app.show_examples;
            app.show_system = app.show_examples;
            return vec![];
        }
        KeyCode::Up if app.draft().is_empty() => {
            if let Some(p) = app.last_prompt() {
                app.set_draft(&p);
            }
            return vec![];
        }
        KeyCode::PageUp => {
            app.scroll += app.page.max(2) - 1;
            return vec![];
        }
        KeyCode::PageDown => {
            app.scroll = app.scroll.saturating_sub(app.page.max(2) - 1);
            return vec![];
        }
        KeyCode::Home if ctrl || app.draft().is_empty() => {
            app.scroll = usize::MAX / 2;
            return vec![];
        }
        KeyCode::End if ctrl || app.draft().is_empty() => {
            app.scroll = 0;
            return vec![];
        }
        _ => {}
    }
    app.input.input(k);
    vec![]
}

/// The model of the conversation's last answer, for reopening.
pub fn model_of(conv: &Conversation) -> Option<String> {
    conv.answers().last().map(|a| a.model.clone())
}
