//! The TUI's state and its I/O-free `update(state, msg) -> effects` (the Elm pattern): keys,
//! pastes, stream events and timer ticks come in as `Msg`; what must touch the outside world
//! (start or cancel a stream, save, open $EDITOR, copy, quit) goes out as `Effect`s that the
//! loop in `mod.rs` executes, feeding results back as messages.

use super::attachments::{self, Attachments};
use super::theme::Theme;
use crate::catalog::ModelRow;
use crate::conversation::{Conversation, Summary};
use crate::presets::Preset;
use crate::provider::{ChatRequest, StreamEvent};
use crate::session::{Applied, Session};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use ratatui_textarea::TextArea;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

mod overlay;
use overlay::overlay_key;
pub use overlay::{Overlay, fuzzy_score};

#[derive(Debug, Clone)]
pub enum Msg {
    Key(KeyEvent),
    Paste(String),
    Mouse(MouseEvent),
    Resize,
    Stream(u64, StreamEvent),
    Tick,
    /// A frame is due (the loop takes the queued stream events, then draws).
    Frame,
    /// $EDITOR returned the edited text (or failed).
    Edited(EditTarget, Result<String, String>),
    Saved(Result<SaveDone, String>),
    /// A provider's own model list arrived (or failed).
    Models(String, Result<Vec<String>, String>),
    /// Saved conversations for the browser (already filtered by the search words).
    Conversations(Vec<Summary>),
    /// The price dataset is decoded: the model list and estimates can use it.
    PricesReady,
    /// Conversation files that cannot be read (shown in the browser by name, left untouched).
    Unreadable(Vec<crate::conversation::Broken>),
    Opened(Result<Box<Conversation>, String>),
    Exported(Result<String, String>),
    /// Files read for attaching (each a part, or why not, naming the path).
    Attached(Vec<Result<crate::attach::Loaded, String>>),
    /// A paste that is the path of an existing file: (path, the pasted text).
    PastedPath(String, String),
    /// Paths completing the word being typed after /attach.
    Completed {
        word: String,
        candidates: Vec<String>,
    },
    /// What the approval dialog shows for each call of batch `u64`: (call id, review).
    Reviewed(u64, Vec<(String, String)>),
    /// The allowed calls of batch `u64` ran: their results, in order.
    ToolsDone(u64, Vec<crate::parts::ToolResult>),
    /// An MCP server was started, with its tools (or why not).
    McpConnected(String, Result<Vec<crate::tools::Offered>, String>),
    /// A click on message `.0` of the transcript (the loop knows where each one is drawn).
    Select(usize),
    /// Something done in the background to tell (an "always allow" that could not be saved).
    Note(Level, String),
    /// What collection `.0` holds, (files, passages), or why it cannot be opened.
    CollectionChecked(String, Result<(usize, usize), String>),
    /// The passages for a question to send: (question, its parts, the context or why not).
    Retrieved(
        String,
        Vec<crate::parts::Part>,
        Result<crate::parts::Context, String>,
    ),
}

/// What a background save wrote.
#[derive(Debug, Clone)]
pub struct SaveDone {
    /// The conversation's id when the save was asked for, and how many messages it had then.
    pub asked_id: String,
    pub asked_len: usize,
    /// What was written: another process's appended turns merged in, the final id and origin.
    pub written: Box<Conversation>,
    pub merged: usize,
}

/// What an $EDITOR session edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditTarget {
    Draft,
    System,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    StartStream {
        request_id: u64,
        provider: String,
        request: ChatRequest,
    },
    /// Cancel every stream.
    CancelStream,
    /// Cancel one stream (a compared pane).
    CancelRequest(u64),
    Save(Box<Conversation>),
    OpenEditor {
        text: String,
        target: EditTarget,
    },
    /// Ask these providers for their model lists (in the background).
    FetchModels(Vec<String>),
    /// List saved conversations matching these words (empty: all).
    ListConversations(String),
    OpenConversation(String),
    DeleteConversation(String),
    Export {
        conv: Box<Conversation>,
        markdown: bool,
        path: String,
    },
    /// Write this OSC 52 sequence (already built) to the terminal.
    Copy(String),
    /// Read these paths as attachments (checked against `target`).
    Attach {
        paths: Vec<String>,
        target: crate::attach::Target,
    },
    /// List the paths that complete this word.
    CompletePath(String),
    /// Read what the approval dialog shows for these calls (diffs read the files).
    ReviewCalls {
        batch: u64,
        calls: Vec<crate::parts::ToolCall>,
    },
    /// Run these allowed calls (cancelled by `CancelTools`).
    RunTools {
        batch: u64,
        calls: Vec<(crate::tools::Offered, crate::parts::ToolCall)>,
    },
    CancelTools,
    /// Save this tool as always allowed (`approvals.toml`).
    AlwaysAllow(String),
    /// Start this MCP server and list its tools.
    ConnectMcp(String),
    /// Open collection `.0` to say what it holds (`Msg::CollectionChecked`).
    CheckCollection(String),
    /// Look up the passages of `collection` for a question, then send it (`Msg::Retrieved`).
    Retrieve {
        collection: String,
        question: String,
        parts: Vec<crate::parts::Part>,
        context_window: Option<u64>,
    },
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
    pub overlay: Overlay,
    /// Every known model (price table, config, fetched lists), for the picker.
    pub models: Vec<ModelRow>,
    /// Providers' own lists as fetched, and fetch errors shown inline in the picker.
    pub remote: BTreeMap<String, Vec<String>>,
    pub remote_errors: BTreeMap<String, String>,
    pub models_fetched: bool,
    pub presets: BTreeMap<String, Preset>,
    /// The browser's rows (from the last ListConversations).
    pub conversations: Vec<Summary>,
    pub unreadable: Vec<crate::conversation::Broken>,
    /// Questions still to re-ask in a `/replay` running in this screen, with their attachments.
    pub replay_queue: VecDeque<(String, Vec<crate::parts::Part>)>,
    /// Files and images to go with the next message.
    pub attachments: Attachments,
    /// Attached files are shown expanded in the transcript (F4).
    pub show_attachments: bool,
    /// Re-asks left for an answer that does not conform to the conversation's schema.
    pub schema_retries_left: u32,
    /// The draft replaces the last question (after /edit, or Up then Ctrl-E).
    pub editing_last: bool,
    /// The draft is the last question recalled with Up (Enter asks it again as a new turn;
    /// Ctrl-E turns the recall into an edit of that question).
    pub recalled: bool,

    /// The model picker was opened to choose the model of a replay (F6), not to switch.
    pub picker_for_replay: bool,
    /// The tool calls of the step in flight (approval, running).
    pub tool_batch: Option<super::tools::Batch>,
    /// A comparison on screen: one pane per model (see `tui/compare.rs`).
    pub compare: Option<super::compare::Panes>,
    /// The models `/compare` marked: the next question goes to all of them.
    pub compare_models: Vec<crate::config::ModelRef>,
    /// The message selected in the transcript (Alt-Up / Alt-Down, a click).
    pub selection: Option<Selection>,
    /// Scroll so that this message is on screen (the loop does it after the next frame).
    pub scroll_to: Option<usize>,
    /// Models marked in the picker (Tab) for a comparison.
    pub picker_marks: Vec<String>,
}

/// A selected message, and which of its alternatives is shown in its place (←/→).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub index: usize,
    pub alternative: Option<usize>,
}

/// The input, styled once (the view draws its border and title around it every frame).
fn new_input(theme: &Theme) -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text("Ask anything · Enter sends · Alt-Enter newline · ? help");
    t.set_cursor_line_style(ratatui::style::Style::default());
    t.set_style(theme.text);
    t.set_placeholder_style(theme.dim);
    t
}

impl App {
    /// Takes in what a background save wrote: the file's id and origin, and the turns another
    /// charla process appended, when nothing changed here since (else the next save merges
    /// them again: nothing is lost either way).
    pub fn saved(&mut self, done: SaveDone) {
        let streaming = self.session.is_streaming();
        let conv = &mut self.session.conv;
        if conv.id != done.asked_id {
            return; // another conversation is open now
        }
        conv.id = done.written.id.clone();
        if done.merged == 0 {
            conv.origin = done.written.origin.clone();
            return;
        }
        if !streaming && conv.messages.len() == done.asked_len {
            conv.messages = done.written.messages.clone();
            conv.origin = done.written.origin.clone();
            self.notify(
                format!(
                    "{} message(s) another charla process added to this conversation are shown",
                    done.merged
                ),
                Level::Info,
            );
        } else {
            conv.origin.path = done.written.origin.path.clone();
        }
    }

    pub fn new(mut session: Session, theme: Theme, model_reason: String) -> App {
        session.load_tokenizer = false;
        // The config's conversation budget, unless the caller set the caps (the loop sets them
        // all, with the history's spend for the day and month caps).
        if session.caps.is_empty() {
            session.caps.conversation = session.cfg.file.max_cost_per_session.filter(|b| *b > 0.0);
        }
        App {
            session,
            input: new_input(&theme),
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
            overlay: Overlay::None,
            models: Vec::new(),
            remote: BTreeMap::new(),
            remote_errors: BTreeMap::new(),
            models_fetched: false,
            presets: BTreeMap::new(),
            conversations: Vec::new(),
            unreadable: Vec::new(),
            replay_queue: VecDeque::new(),
            attachments: Attachments::default(),
            show_attachments: false,
            tool_batch: None,
            compare: None,
            compare_models: Vec::new(),
            selection: None,
            scroll_to: None,
            picker_marks: Vec::new(),
            schema_retries_left: 0,
            editing_last: false,
            recalled: false,
            picker_for_replay: false,
        }
        .with_catalogue()
    }

    fn with_catalogue(mut self) -> Self {
        self.models =
            crate::catalog::model_names(&self.session.cfg, &self.remote, crate::pricing::try_db());
        self
    }

    /// Models matching the picker's filter, best first.
    pub fn picker_rows(&self, filter: &str) -> Vec<&ModelRow> {
        let mut rows: Vec<(i64, usize, &ModelRow)> = self
            .models
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                fuzzy_score(filter, &format!("{}/{}", r.provider, r.model)).map(|s| (s, i, r))
            })
            .collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        rows.into_iter().map(|(_, _, r)| r).collect()
    }

    pub fn preset_rows(&self, filter: &str) -> Vec<&Preset> {
        let mut rows: Vec<(i64, &Preset)> = self
            .presets
            .values()
            .filter_map(|p| {
                fuzzy_score(filter, &format!("{} {}", p.name, p.description)).map(|s| (s, p))
            })
            .collect();
        rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.name.cmp(&b.1.name)));
        rows.into_iter().map(|(_, p)| p).collect()
    }

    /// Providers whose model list can be fetched (a key, a key command, or local).
    fn fetchable(&self) -> Vec<String> {
        self.session
            .cfg
            .providers
            .values()
            .filter(|p| p.can_list_models())
            .map(|p| p.name.clone())
            .collect()
    }

    fn open_model_picker(&mut self, filter: &str) -> Vec<Effect> {
        self.picker_for_replay = false;
        self.overlay = Overlay::ModelPicker {
            filter: filter.to_string(),
            selected: 0,
        };
        if self.models_fetched {
            return vec![];
        }
        self.models_fetched = true;
        let providers = self.fetchable();
        if providers.is_empty() {
            vec![]
        } else {
            vec![Effect::FetchModels(providers)]
        }
    }

    /// The wire format of the current model (for token rules).
    pub fn kind(&self) -> crate::provider::Kind {
        self.session.kind().unwrap_or(crate::provider::Kind::Openai)
    }

    fn switch_model(&mut self, m: crate::config::ModelRef) {
        let warn = crate::pricing::warning(&self.session.cfg, &m);
        self.notify(
            format!(
                "model: {m}{}",
                warn.map(|w| format!(" ({w})")).unwrap_or_default()
            ),
            Level::Info,
        );
        self.session.set_model(m);
        self.model_reason.clear();
    }

    /// Replaces the current conversation. An answer still streaming is cancelled, kept and
    /// saved (the returned effects do that).
    #[must_use]
    fn new_session(&mut self, conv: Option<Conversation>) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.session.is_streaming() {
            effects.extend(self.cancel_turn());
        }
        let cfg = self.session.cfg.clone();
        let model = match conv
            .as_ref()
            .and_then(model_of)
            .and_then(|m| cfg.resolve_model(&m).ok())
        {
            Some(m) => m,
            None => self.session.model.clone(),
        };
        let old = std::mem::replace(
            &mut self.session.conv,
            Conversation::new(String::new(), String::new()),
        );
        let caps = self.session.caps.clone();
        let allowed = std::mem::take(&mut self.session.session_allowed);
        let fresh = conv.is_none();
        self.session = match conv {
            Some(c) => Session::with_conversation(cfg, c, model),
            None => Session::new(cfg, model),
        };
        // "For this session" lasts as long as this screen, across conversations.
        self.session.session_allowed = allowed;
        self.tool_batch = None;
        if fresh && let Some(d) = self.session.cfg.file.default_tools.clone() {
            self.session.conv.tools = d;
        }
        effects.extend(self.enable_tools());
        // The caps carry over; what the day and month caps count moves with the conversation.
        self.session.caps = caps.carried(&old, &self.session.conv, &crate::util::today());
        self.session.load_tokenizer = false;
        self.scroll = 0;
        self.selection = None;
        self.editing_last = false;
        self.replay_queue.clear();
        effects
    }

    /// The passages the last answer was given (the context of the question before it).
    pub fn last_sources(&self) -> Option<&crate::parts::Context> {
        let msgs = &self.session.conv.messages;
        let i = msgs
            .iter()
            .rposition(|m| m.answer.is_some() && !m.example)?;
        msgs.get(i.checked_sub(1)?)?
            .parts
            .iter()
            .find_map(|p| match p {
                crate::parts::Part::Context(c) => Some(c),
                _ => None,
            })
    }

    /// Opens source `n` (1-based) of the last answer.
    fn open_source(&mut self, n: usize) {
        let count = self.last_sources().map_or(0, |c| c.passages.len());
        if n == 0 || n > count {
            self.notify(
                if count == 0 {
                    "the last answer had no retrieved sources".to_string()
                } else {
                    format!("the last answer had sources [1] to [{count}]")
                },
                Level::Warn,
            );
            return;
        }
        self.overlay = Overlay::Source { n, scroll: 0 };
    }

    /// What the tools popup lists: every tool that can be offered, then `mcp:SERVER` for
    /// each configured MCP server.
    pub fn tool_names(&self) -> Vec<String> {
        let mut v = crate::tools::available(&self.session.cfg);
        v.extend(self.session.cfg.file.mcp.keys().map(|k| format!("mcp:{k}")));
        v
    }

    /// Whether a tool (or `mcp:SERVER`) is offered in this conversation.
    pub fn tool_enabled(&self, name: &str) -> bool {
        match name.strip_prefix("mcp:") {
            Some(server) => self.session.conv.mcp.iter().any(|m| m == server),
            None => self.session.conv.tools.iter().any(|t| t == name),
        }
    }

    /// Turns a tool (or an MCP server's tools) on or off for this conversation.
    pub fn toggle_tool(&mut self, name: &str) -> Vec<Effect> {
        let on = !self.tool_enabled(name);
        if let Some(server) = name.strip_prefix("mcp:") {
            if !self.session.cfg.file.mcp.contains_key(server) {
                self.notify(
                    format!("no MCP server {server} in the config ([mcp.{server}])"),
                    Level::Error,
                );
                return vec![];
            }
            if on {
                self.notify(format!("starting MCP server {server}…"), Level::Info);
                return vec![Effect::ConnectMcp(server.to_string())];
            }
            self.session.conv.mcp.retain(|m| m != server);
            self.session.tools.retain(
                |o| !matches!(&o.source, crate::tools::Source::Mcp { server: s, .. } if s == server),
            );
            self.notify(format!("MCP server {server}: tools off"), Level::Info);
            return vec![Effect::Save(Box::new(self.session.conv.clone()))];
        }
        if on {
            match crate::tools::resolve(&self.session.cfg, &[name.to_string()]) {
                Ok(t) => {
                    self.session.tools.extend(t);
                    self.session.conv.tools.push(name.to_string());
                    self.notify(format!("tool {name} on"), Level::Info);
                }
                Err(e) => {
                    self.notify(e, Level::Error);
                    return vec![];
                }
            }
        } else {
            self.session.conv.tools.retain(|t| t != name);
            self.session.tools.retain(|o| o.spec.name != name);
            self.notify(format!("tool {name} off"), Level::Info);
        }
        if self.session.conv.messages.is_empty() {
            vec![]
        } else {
            vec![Effect::Save(Box::new(self.session.conv.clone()))]
        }
    }

    /// Offers the conversation's tools to the model: built-in and config tools at once, MCP
    /// servers once started.
    pub fn enable_tools(&mut self) -> Vec<Effect> {
        match crate::tools::resolve(&self.session.cfg, &self.session.conv.tools) {
            Ok(t) => {
                self.session
                    .tools
                    .retain(|o| matches!(o.source, crate::tools::Source::Mcp { .. }));
                self.session.tools.extend(t);
            }
            Err(e) => self.notify(e, Level::Error),
        }
        self.session
            .conv
            .mcp
            .iter()
            .filter(|m| {
                !self.session.tools.iter().any(
                    |o| matches!(&o.source, crate::tools::Source::Mcp { server, .. } if server == *m),
                )
            })
            .map(|m| Effect::ConnectMcp(m.clone()))
            .collect()
    }

    /// Applies a preset: system prompt, few-shot examples, default model. A conversation that
    /// already has turns is left alone: the preset starts a new one.
    fn apply_preset(&mut self, name: &str, vars: &BTreeMap<String, String>) -> Vec<Effect> {
        let mut effects = Vec::new();
        let Some(p) = self.presets.get(name).cloned() else {
            self.notify(format!("no preset named '{name}'"), Level::Error);
            return vec![];
        };
        let r = match p.render(vars) {
            Ok(r) => r,
            Err(e) => {
                self.notify(e.to_string(), Level::Error);
                return vec![];
            }
        };
        if self.session.conv.messages.iter().any(|m| !m.example) || self.session.is_streaming() {
            if self.session.is_streaming() {
                self.notify(
                    "wait for the answer (or Esc) before changing preset",
                    Level::Warn,
                );
                return vec![];
            }
            effects = self.new_session(None);
        }
        let model = r.apply(&mut self.session.conv);
        if let Some(m) = model.and_then(|m| self.session.cfg.resolve_model(&m).ok()) {
            self.switch_model(m);
        }
        effects.extend(self.enable_tools());
        self.notify(format!("preset {name} applied"), Level::Info);
        effects
    }

    fn start_preset(&mut self, name: &str) -> Vec<Effect> {
        let Some(p) = self.presets.get(name) else {
            self.notify(
                format!("no preset named '{name}' · /preset lists them"),
                Level::Error,
            );
            return vec![];
        };
        let names: Vec<String> = p.variables.keys().cloned().collect();
        if names.is_empty() {
            self.overlay = Overlay::None;
            return self.apply_preset(name, &BTreeMap::new());
        }
        let values: Vec<String> = names
            .iter()
            .map(|n| p.variables.get(n).cloned().unwrap_or_default())
            .collect();
        let input = values[0].clone();
        self.overlay = Overlay::PresetVars {
            preset: name.to_string(),
            names,
            values,
            index: 0,
            input,
        };
        vec![]
    }

    /// Sends `text` (a spend cap is checked by the session: a request it cannot fit is
    /// refused with the draft kept, one it can is bounded to fit).
    pub(super) fn send_now(&mut self, text: String) -> Vec<Effect> {
        self.recalled = false;
        if self.editing_last {
            self.editing_last = false;
            return self.replace_last_question(text);
        }
        self.send(text)
    }

    /// Replaces the last question and regenerates its answer; the old exchange is kept as an
    /// alternative on the new answer.
    fn replace_last_question(&mut self, text: String) -> Vec<Effect> {
        let msgs = &mut self.session.conv.messages;
        let Some(qi) = msgs
            .iter()
            .rposition(|m| m.role == crate::provider::Role::User && !m.example)
        else {
            return self.send(text);
        };
        let old_q = msgs[qi].content.clone();
        let old_parts = msgs[qi].parts.clone();
        let old_a = msgs.get(qi + 1).cloned();
        let removed: Vec<crate::conversation::Message> = msgs.drain(qi..).collect();
        // The edited question keeps its attachments (and gets any new ones).
        let pending = self.attachments.clone();
        self.attachments.restore(old_parts);
        let before = self.session.conv.messages.len();
        let effects = self.send(text);
        if self.session.conv.messages.len() == before {
            // Refused: the exchange stays as it was.
            self.attachments = pending;
            self.session.conv.messages.extend(removed);
            return effects;
        }
        if let (Some(old), Some(new)) = (
            old_a,
            self.session
                .conv
                .messages
                .last_mut()
                .and_then(|m| m.answer.as_mut()),
        ) {
            new.alternatives = old.into_alternatives(Some(old_q));
        }
        effects
    }

    /// Changes the theme (the input is restyled with it).
    pub fn set_theme(&mut self, theme: Theme) {
        self.input.set_style(theme.text);
        self.input.set_placeholder_style(theme.dim);
        self.theme = theme;
    }

    pub fn draft(&self) -> String {
        self.input.lines().join("\n")
    }

    pub(super) fn set_draft(&mut self, text: &str) {
        let mut t = new_input(&self.theme);
        t.insert_str(text);
        self.input = t;
    }

    pub fn notify(&mut self, text: impl Into<String>, level: Level) {
        self.notice = Some((text.into(), level, self.now));
    }

    /// Sends `text` with the pending attachments. A refusal (the model cannot see, an image
    /// over the provider's limits, a read-only conversation) keeps the draft and the
    /// attachments.
    fn send(&mut self, text: String) -> Vec<Effect> {
        self.schema_retries_left = SCHEMA_RETRIES;
        let parts = self.attachments.take();
        self.send_parts(text, parts)
    }

    /// Sends a question; with a collection on (`/rag`), its passages are looked up first
    /// (`Effect::Retrieve`, then `Msg::Retrieved` sends it).
    fn send_parts(&mut self, text: String, parts: Vec<crate::parts::Part>) -> Vec<Effect> {
        let has_context = parts
            .iter()
            .any(|p| matches!(p, crate::parts::Part::Context(_)));
        if let Some(collection) = self.session.conv.rag.clone().filter(|_| !has_context) {
            let context_window = self.session.estimate("").context_window;
            return vec![Effect::Retrieve {
                collection,
                question: text,
                parts,
                context_window,
            }];
        }
        self.begin_turn(text, parts)
    }

    /// The passages for a question came back (or why not): it is sent with them. A failed
    /// lookup sends nothing and gives the question back.
    fn retrieved(
        &mut self,
        text: String,
        mut parts: Vec<crate::parts::Part>,
        context: Result<crate::parts::Context, String>,
    ) -> Vec<Effect> {
        match context {
            Ok(c) if c.passages.is_empty() => {
                self.notify(
                    format!(
                        "no passage of {} matches: asked without context",
                        c.collection.as_deref().unwrap_or("")
                    ),
                    Level::Warn,
                );
                self.begin_turn(text, parts)
            }
            Ok(c) => {
                parts.insert(0, crate::parts::Part::Context(c));
                self.begin_turn(text, parts)
            }
            Err(e) => {
                self.attachments.restore(parts);
                if self.draft().is_empty() {
                    self.set_draft(&text);
                }
                self.notify(e, Level::Error);
                vec![]
            }
        }
    }

    fn begin_turn(&mut self, text: String, parts: Vec<crate::parts::Part>) -> Vec<Effect> {
        if !self.compare_models.is_empty() {
            let models = self.compare_models.clone();
            return self.begin_compare(&models, text, parts, vec![]);
        }
        let (request_id, request) = match self.session.begin_with(&text, parts) {
            Ok((id, req, warning)) => {
                if let Some(w) = warning {
                    self.notify(w, Level::Warn);
                }
                (id, req)
            }
            Err((e, parts)) => {
                self.attachments.restore(parts);
                if self.draft().is_empty() {
                    self.set_draft(&text);
                }
                // injection = "block": the same message sent again is the confirmation.
                self.session.injection_confirmed =
                    e.message.starts_with(crate::session::INJECTION_BLOCKED);
                self.notify(e.message, Level::Error);
                return vec![];
            }
        };
        self.scroll = 0;
        vec![Effect::StartStream {
            request_id,
            provider: self.session.model.provider.clone(),
            request,
        }]
    }

    /// Asks `text` of every model in `models` side by side; `kept` are answers it replaces.
    fn begin_compare(
        &mut self,
        models: &[crate::config::ModelRef],
        text: String,
        parts: Vec<crate::parts::Part>,
        kept: Vec<crate::conversation::Alternative>,
    ) -> Vec<Effect> {
        match super::compare::start(self, models, text.clone(), parts, kept) {
            Ok(eff) => {
                self.scroll = 0;
                eff
            }
            Err((e, parts)) => {
                self.attachments.restore(parts);
                if self.draft().is_empty() {
                    self.set_draft(&text);
                }
                self.notify(e, Level::Error);
                vec![]
            }
        }
    }

    /// A comparison still open when the screen closes keeps its first good answer (the others
    /// as alternatives): nothing that was paid for is lost.
    pub fn settle_compare(&mut self) -> Vec<Effect> {
        match self.compare.as_ref() {
            Some(p) => {
                let i = p.cmp.first_answered().unwrap_or(0);
                super::compare::pick(self, i)
            }
            None => vec![],
        }
    }

    /// `/compare A B [C D]`: the models the next question goes to (`/compare off` stops).
    pub(super) fn mark_compare(&mut self, arg: &str) -> Vec<Effect> {
        if arg == "off" {
            self.compare_models.clear();
            self.notify("questions go to one model again", Level::Info);
            return vec![];
        }
        if arg.is_empty() {
            let now = if self.compare_models.is_empty() {
                "off".to_string()
            } else {
                self.compare_models
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            self.notify(
                format!("/compare A B [C D] sends the next question to every model (now: {now}) · /compare off"),
                Level::Info,
            );
            return vec![];
        }
        let mut models = Vec::new();
        for name in arg.split([' ', ',']).filter(|s| !s.is_empty()) {
            match self.session.cfg.resolve_model(name) {
                Ok(m) if models.contains(&m) => {}
                Ok(m) => models.push(m),
                Err(e) => {
                    self.notify(e, Level::Error);
                    return vec![];
                }
            }
        }
        if models.len() < 2 || models.len() > crate::compare::MAX_MODELS {
            self.notify(
                format!(
                    "/compare takes 2 to {} models (got {})",
                    crate::compare::MAX_MODELS,
                    models.len()
                ),
                Level::Warn,
            );
            return vec![];
        }
        let names: Vec<String> = models.iter().map(|m| m.to_string()).collect();
        self.compare_models = models;
        self.notify(
            format!(
                "the next question goes to {} · Ctrl-R re-asks the last one on them · /compare off",
                names.join(", ")
            ),
            Level::Info,
        );
        vec![]
    }

    /// Re-asks the last question on every marked model; its answer is kept as an alternative.
    fn recompare(&mut self) -> Vec<Effect> {
        let msgs = &self.session.conv.messages;
        let n = msgs.len();
        let last_is_answer = msgs
            .last()
            .is_some_and(|m| m.role == crate::provider::Role::Assistant && !m.example);
        if n < 2 || !last_is_answer || msgs[n - 2].role != crate::provider::Role::User {
            self.notify("nothing to re-ask", Level::Warn);
            return vec![];
        }
        let answer = self.session.conv.messages.pop().expect("an answer");
        let question = self.session.conv.messages.pop().expect("a question");
        let models = self.compare_models.clone();
        let kept = answer.clone().into_alternatives(None);
        let eff = self.begin_compare(
            &models,
            question.content.clone(),
            question.parts.clone(),
            kept,
        );
        if self.compare.is_none() {
            // Refused: the exchange stays as it was.
            self.set_draft("");
            self.session.conv.messages.push(question);
            self.session.conv.messages.push(answer);
        }
        eff
    }

    /// `/fork [MODEL]`: a new conversation with the history up to the selected message (the
    /// whole conversation when none is), linked to this one; a selected question is left out
    /// and put in the input to be asked again.
    fn fork(&mut self, arg: &str) -> Vec<Effect> {
        let msgs = &self.session.conv.messages;
        if msgs.iter().all(|m| m.example) {
            self.notify("nothing to fork yet", Level::Warn);
            return vec![];
        }
        let model = if arg.is_empty() {
            None
        } else {
            match self.session.cfg.resolve_model(arg) {
                Ok(m) => Some(m),
                Err(e) => {
                    self.notify(e, Level::Error);
                    return vec![];
                }
            }
        };
        let at = self
            .selection
            .map(|s| s.index)
            .unwrap_or(msgs.len() - 1)
            .min(msgs.len() - 1);
        let (upto, draft) = match &msgs[at] {
            q if q.role == crate::provider::Role::User && !q.example => {
                (at.checked_sub(1), Some(q.content.clone()))
            }
            _ => (Some(at), None),
        };
        let origin = self.session.conv.clone();
        let mut fork = match upto {
            Some(u) => origin.fork(u, model.as_ref().map(|m| m.to_string())),
            None => {
                let mut f = origin.fork(0, model.as_ref().map(|m| m.to_string()));
                f.messages.clear();
                f.forked_from = None;
                f
            }
        };
        if fork.messages.is_empty() {
            fork.forked_from = Some(crate::conversation::ForkedFrom {
                id: origin.id.clone(),
                message: String::new(),
                turns: 0,
            });
        }
        let turns = fork.forked_from.as_ref().map_or(0, |f| f.turns);
        let mut eff = vec![Effect::Save(Box::new(origin.clone()))];
        eff.extend(self.new_session(Some(fork)));
        if let Some(m) = model {
            self.session.set_model(m);
        }
        self.selection = None;
        if let Some(d) = draft {
            self.set_draft(&d);
        }
        self.notify(
            format!(
                "forked at turn {turns} of \"{}\" on {} · the original is unchanged (Ctrl-O lists both)",
                origin.title, self.session.model
            ),
            Level::Info,
        );
        eff.push(Effect::Save(Box::new(self.session.conv.clone())));
        eff
    }

    /// Alt-Up / Alt-Down: selects the message before / after the selected one (from the last).
    fn select_step(&mut self, up: bool) {
        let msgs = &self.session.conv.messages;
        let visible = |i: usize| !msgs[i].example || self.show_examples;
        let n = msgs.len();
        if n == 0 {
            return;
        }
        let next = match (self.selection.map(|s| s.index), up) {
            (None, true) => (0..n).rev().find(|&i| visible(i)),
            (None, false) => None,
            (Some(i), true) => (0..i).rev().find(|&j| visible(j)).or(Some(i)),
            (Some(i), false) => (i + 1..n).find(|&j| visible(j)),
        };
        self.selection = next.map(|index| Selection {
            index,
            alternative: None,
        });
        if let Some(s) = self.selection {
            self.scroll_to = Some(s.index);
        }
    }

    /// ←/→ on the selected answer: shows its previous / next alternative in its place.
    fn flip(&mut self, back: bool) {
        let Some(sel) = self.selection else { return };
        let Some(a) = self
            .session
            .conv
            .messages
            .get(sel.index)
            .and_then(|m| m.answer.as_ref())
        else {
            return;
        };
        let n = a.alternatives.len();
        if n == 0 {
            self.notify(
                "this answer has no alternatives (/retry, /edit and /compare make them)",
                Level::Info,
            );
            return;
        }
        // Positions 0…n-1 are the alternatives, n is the answer itself.
        let at = sel.alternative.unwrap_or(n);
        let to = if back {
            (at + n) % (n + 1)
        } else {
            (at + 1) % (n + 1)
        };
        self.selection = Some(Selection {
            index: sel.index,
            alternative: (to < n).then_some(to),
        });
        let (model, cost) = match to {
            k if k < n => (
                a.alternatives[k].answer.model.clone(),
                a.alternatives[k].answer.cost_usd,
            ),
            _ => (a.model.clone(), a.cost_usd),
        };
        self.notify(
            format!(
                "answer {}/{} · {model} · {}",
                to + 1,
                n + 1,
                cost.map(crate::util::dollars)
                    .unwrap_or_else(|| "price unknown".into())
            ),
            Level::Info,
        );
    }

    /// Enter on a flipped answer: it becomes the conversation's path from there on (the one
    /// it replaces, with the turns that followed it, is kept as an alternative).
    fn choose_flipped(&mut self) -> Vec<Effect> {
        let Some(Selection {
            index,
            alternative: Some(k),
        }) = self.selection
        else {
            return vec![];
        };
        if self.session.is_streaming() {
            self.notify("an answer is still streaming · Esc cancels it", Level::Warn);
            return vec![];
        }
        if let Some(why) = self.session.conv.read_only() {
            self.notify(why, Level::Warn);
            return vec![];
        }
        if !self.session.conv.choose_alternative(index, k) {
            return vec![];
        }
        let model = self.session.conv.messages[index]
            .answer
            .as_ref()
            .map(|a| a.model.clone())
            .unwrap_or_default();
        if let Ok(m) = self.session.cfg.resolve_model(&model) {
            self.session.set_model(m);
        }
        self.selection = Some(Selection {
            index,
            alternative: None,
        });
        self.notify(
            format!("continuing from {model}'s answer; the one it replaced is kept"),
            Level::Info,
        );
        vec![Effect::Save(Box::new(self.session.conv.clone()))]
    }

    /// Keys while a message is selected: None when the key is not for the selection (it
    /// then goes to the input, and the selection ends).
    fn selection_key(&mut self, k: KeyEvent) -> Option<Vec<Effect>> {
        let sel = self.selection?;
        let alt = k.modifiers.contains(KeyModifiers::ALT);
        let plain = !k
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        let eff = match k.code {
            KeyCode::Up | KeyCode::Char('k') if plain || alt => {
                self.select_step(true);
                vec![]
            }
            KeyCode::Down | KeyCode::Char('j') if plain || alt => {
                self.select_step(false);
                vec![]
            }
            KeyCode::Left | KeyCode::Char('h') if plain => {
                self.flip(true);
                vec![]
            }
            KeyCode::Right | KeyCode::Char('l') if plain => {
                self.flip(false);
                vec![]
            }
            KeyCode::Enter if sel.alternative.is_some() => self.choose_flipped(),
            KeyCode::Enter => {
                self.selection = None;
                vec![]
            }
            KeyCode::Esc => {
                self.selection = None;
                vec![]
            }
            KeyCode::Char('y') | KeyCode::Char('c') if plain => {
                let text = match sel.alternative {
                    Some(k) => self
                        .session
                        .conv
                        .messages
                        .get(sel.index)
                        .and_then(|m| m.answer.as_ref())
                        .and_then(|a| a.alternatives.get(k))
                        .map(|a| a.content.clone()),
                    None => self
                        .session
                        .conv
                        .messages
                        .get(sel.index)
                        .map(|m| m.content.clone()),
                };
                let text = text.unwrap_or_default();
                self.notify(
                    format!("copied {} characters via OSC 52", text.chars().count()),
                    Level::Info,
                );
                vec![Effect::Copy(osc52(&text))]
            }
            KeyCode::Char('f') if plain => self.fork(""),
            KeyCode::Char('r') if plain => {
                let last = self.session.conv.messages.len().saturating_sub(1);
                if sel.index != last || self.session.is_streaming() {
                    self.notify(
                        "r retries the last answer (f forks here to ask again)",
                        Level::Warn,
                    );
                    vec![]
                } else {
                    self.selection = None;
                    self.retry()
                }
            }
            KeyCode::Char('e') if plain => {
                let msgs = &self.session.conv.messages;
                let last_q = msgs
                    .iter()
                    .rposition(|m| m.role == crate::provider::Role::User && !m.example);
                let is_last_q = Some(sel.index) == last_q
                    || (sel.index + 1 == msgs.len() && last_q == sel.index.checked_sub(1));
                if !is_last_q || self.session.is_streaming() {
                    self.notify(
                        "e edits the last question (f forks here to edit an earlier one)",
                        Level::Warn,
                    );
                    vec![]
                } else {
                    self.selection = None;
                    if let Some(p) = self.last_prompt() {
                        self.set_draft(&p);
                    }
                    self.editing_last = true;
                    vec![]
                }
            }
            _ => return None,
        };
        Some(eff)
    }

    /// wait for the approval dialog (their reviews are read first).
    fn tool_step(&mut self) -> Vec<Effect> {
        let batch = super::tools::Batch::new(&self.session);
        let mut eff = vec![Effect::Save(Box::new(self.session.conv.clone()))];
        let review = batch.to_review();
        let id = batch.id;
        self.tool_batch = Some(batch);
        if review.is_empty() {
            eff.extend(self.run_batch());
        } else {
            eff.push(Effect::ReviewCalls {
                batch: id,
                calls: review,
            });
        }
        eff
    }

    /// Every call is decided: the allowed ones run.
    pub(super) fn run_batch(&mut self) -> Vec<Effect> {
        let Some(b) = self.tool_batch.as_mut() else {
            return vec![];
        };
        b.running = true;
        let id = b.id;
        let calls = b.to_run(&self.session);
        if calls.is_empty() {
            return self.tools_done(id, vec![]);
        }
        vec![Effect::RunTools { batch: id, calls }]
    }

    /// The batch's calls ran (or none did): their results go back and the next step starts.
    fn tools_done(&mut self, id: u64, ran: Vec<crate::parts::ToolResult>) -> Vec<Effect> {
        let b = match self.tool_batch.take() {
            Some(b) if b.id == id => b,
            other => {
                self.tool_batch = other;
                return vec![];
            }
        };
        if self.overlay == Overlay::Approve {
            self.overlay = Overlay::None;
        }
        let (calls, results) = b.finish(ran);
        match self.session.resume(calls, results) {
            Ok((request_id, request)) => vec![
                Effect::Save(Box::new(self.session.conv.clone())),
                Effect::StartStream {
                    request_id,
                    provider: self.session.model.provider.clone(),
                    request,
                },
            ],
            Err(Applied::TurnEnded { .. }) => {
                if let Some(e) = self.session.last_answer().and_then(|a| a.error.clone()) {
                    self.notify(e, Level::Error);
                }
                vec![Effect::Save(Box::new(self.session.conv.clone()))]
            }
            Err(_) => vec![],
        }
    }

    /// Cancels the turn in flight (its stream, or its tools waiting or running); what was
    /// written is kept and saved.
    pub(super) fn cancel_turn(&mut self) -> Vec<Effect> {
        self.session.cancel();
        let running = self.tool_batch.take().is_some_and(|b| b.running);
        if self.overlay == Overlay::Approve {
            self.overlay = Overlay::None;
        }
        let mut eff = vec![Effect::CancelStream];
        if running {
            eff.push(Effect::CancelTools);
        }
        eff.push(Effect::Save(Box::new(self.session.conv.clone())));
        eff
    }

    /// The last real question (for Up-recall).
    fn last_prompt(&self) -> Option<String> {
        self.session.conv.questions().last().map(|s| s.to_string())
    }

    /// The effect that reads `paths` as attachments for the current model.
    pub(super) fn attach_effect(&mut self, paths: Vec<String>) -> Vec<Effect> {
        if paths.is_empty() {
            self.notify(
                "/attach PATH… (Tab completes paths; files and png/jpeg/gif/webp images)",
                Level::Warn,
            );
            return vec![];
        }
        let e = self.session.estimate("");
        let target = crate::attach::Target {
            kind: self.session.kind().unwrap_or(crate::provider::Kind::Openai),
            context_window: e.context_window,
        };
        vec![Effect::Attach { paths, target }]
    }

    /// Inserts pasted text into the draft (line endings normalised, the text kept exactly).
    pub(super) fn paste_text(&mut self, text: &str) {
        self.input
            .insert_str(text.replace("\r\n", "\n").replace('\r', "\n"));
    }

    /// The word being typed after `/attach` (for Tab), if the draft is such a command.
    fn attach_word(&self) -> Option<String> {
        let d = self.draft();
        let rest = d.strip_prefix("/attach ")?;
        if d.contains('\n') {
            return None;
        }
        if rest.is_empty() || rest.ends_with(' ') && !rest.ends_with("\\ ") {
            return Some(String::new());
        }
        attachments::split_args(rest).pop()
    }

    /// Replaces the word being completed with `with`.
    fn complete_word(&mut self, word: &str, with: &str) {
        let d = self.draft();
        let escaped = attachments::escape_arg(word);
        let base = d
            .strip_suffix(&escaped)
            .or_else(|| d.strip_suffix(word))
            .unwrap_or(&d)
            .to_string();
        self.set_draft(&format!("{base}{}", attachments::escape_arg(with)));
    }

    pub(super) fn command(&mut self, line: &str) -> Vec<Effect> {
        let mut parts = line.trim().splitn(2, ' ');
        let cmd = parts.next().unwrap_or("");
        let arg = parts.next().unwrap_or("").trim();
        match cmd {
            "/q" | "/quit" | "/exit" => {
                self.quit = true;
                let mut eff = self.settle_compare();
                eff.push(Effect::Quit);
                eff
            }
            "/help" | "/?" => {
                self.help = true;
                vec![]
            }
            // `/model provider/name` switches directly (any model, listed or not);
            // `/model [filter]` opens the picker.
            "/model" if arg.contains('/') => match self.session.cfg.resolve_model(arg) {
                Ok(m) => {
                    self.switch_model(m);
                    vec![]
                }
                Err(_) => self.open_model_picker(arg),
            },
            "/model" => self.open_model_picker(arg),
            "/system" if arg.is_empty() => vec![Effect::OpenEditor {
                text: self.session.conv.system_prompt.clone().unwrap_or_default(),
                target: EditTarget::System,
            }],
            "/system" => {
                self.session.conv.system_prompt = Some(arg.to_string());
                self.show_system = true;
                self.notify("system prompt set", Level::Info);
                vec![Effect::Save(Box::new(self.session.conv.clone()))]
            }
            "/preset" if arg.is_empty() => {
                self.overlay = Overlay::PresetPicker {
                    filter: String::new(),
                    selected: 0,
                };
                vec![]
            }
            "/preset" => self.start_preset(arg),
            "/new" => {
                let effects = self.new_session(None);
                self.notify("new conversation", Level::Info);
                effects
            }
            "/open" => {
                self.overlay = Overlay::Browser {
                    filter: arg.to_string(),
                    selected: 0,
                    confirm_delete: None,
                };
                vec![Effect::ListConversations(arg.to_string())]
            }
            "/title" if !arg.is_empty() => {
                self.session.conv.title = arg.to_string();
                self.notify(format!("renamed to \"{arg}\""), Level::Info);
                vec![Effect::Save(Box::new(self.session.conv.clone()))]
            }
            "/title" => {
                self.notify(
                    format!("title: {} · /title NEW renames", self.session.conv.title),
                    Level::Info,
                );
                vec![]
            }
            "/retry" if !arg.is_empty() => match self.session.cfg.resolve_model(arg) {
                Ok(m) => {
                    self.switch_model(m);
                    self.retry()
                }
                Err(e) => {
                    self.notify(e, Level::Error);
                    vec![]
                }
            },
            "/retry" => self.retry(),
            "/compare" => self.mark_compare(arg),
            "/fork" => self.fork(arg),
            "/edit" => {
                match self.last_prompt() {
                    Some(p) => {
                        self.set_draft(&p);
                        self.editing_last = true;
                    }
                    None => self.notify("no question to edit yet", Level::Warn),
                }
                vec![]
            }
            "/copy" => self.copy(arg),
            "/export" => {
                let mut words = arg.split_whitespace();
                let fmt = words.next().unwrap_or("md");
                let markdown = match fmt {
                    "md" | "markdown" => true,
                    "json" => false,
                    other => {
                        self.notify(
                            format!("/export md|json [path], not {other:?}"),
                            Level::Error,
                        );
                        return vec![];
                    }
                };
                let ext = if markdown { "md" } else { "json" };
                let path = words
                    .next()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("charla-{}.{ext}", self.session.conv.id));
                vec![Effect::Export {
                    conv: Box::new(self.session.conv.clone()),
                    markdown,
                    path,
                }]
            }
            "/replay" => self.replay(arg),
            "/schema" => {
                match arg {
                    "" => {
                        let text = match &self.session.conv.schema {
                            Some(s) => format!("schema: {s} · /schema off removes it"),
                            None => {
                                "no schema · /schema 'title, year int' (or JSON) sets one".into()
                            }
                        };
                        self.notify(text, Level::Info);
                    }
                    "off" | "none" => {
                        self.session.conv.schema = None;
                        self.notify("schema removed", Level::Info);
                        return vec![Effect::Save(Box::new(self.session.conv.clone()))];
                    }
                    spec => match crate::schema::parse_inline(spec, false) {
                        Ok(s) => {
                            self.session.conv.schema = Some(s);
                            self.notify(
                                "schema set: every answer is asked for it and checked",
                                Level::Info,
                            );
                            return vec![Effect::Save(Box::new(self.session.conv.clone()))];
                        }
                        Err(e) => self.notify(format!("/schema: {e}"), Level::Error),
                    },
                }
                vec![]
            }
            "/tools" if arg.is_empty() => {
                self.overlay = Overlay::Tools { selected: 0 };
                vec![]
            }
            "/tools" => {
                let mut words = arg.split_whitespace();
                let on = match words.next() {
                    Some("on" | "enable") => true,
                    Some("off" | "disable") => false,
                    _ => {
                        self.notify(
                            "/tools lists them; /tools on NAME… or /tools off NAME… (mcp:SERVER for an MCP server)",
                            Level::Warn,
                        );
                        return vec![];
                    }
                };
                let mut eff = Vec::new();
                for n in words {
                    if self.tool_enabled(n) != on {
                        eff.extend(self.toggle_tool(n));
                    }
                }
                eff
            }
            "/rag" if arg.is_empty() => {
                let on = self.session.conv.rag.as_deref().unwrap_or("off");
                self.notify(
                    format!("retrieval: {on} · /rag NAME answers from a collection (charla rag add NAME PATH…), /rag off stops"),
                    Level::Info,
                );
                vec![]
            }
            "/rag" if arg == "off" => {
                self.session.conv.rag = None;
                self.notify("retrieval off", Level::Info);
                vec![]
            }
            // On at once; the collection is opened off the UI task, and turned off again if
            // it cannot be.
            "/rag" => {
                self.session.conv.rag = Some(arg.to_string());
                vec![Effect::CheckCollection(arg.to_string())]
            }
            "/source" => {
                match arg.trim_matches(['[', ']']).parse::<usize>() {
                    Ok(n) => self.open_source(n),
                    Err(_) => self.notify(
                        "/source N shows passage [N] of the last answer",
                        Level::Warn,
                    ),
                }
                vec![]
            }
            "/attach" => self.attach_effect(attachments::split_args(arg)),
            "/detach" => {
                match arg {
                    "" | "all" => {
                        let n = self.attachments.take().len();
                        self.notify(format!("{n} attachment(s) removed"), Level::Info);
                    }
                    n => match n
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| self.attachments.remove(n))
                    {
                        Some(p) => self.notify(
                            format!("removed {}", crate::attach::describe(&p, self.kind())),
                            Level::Info,
                        ),
                        None => self.notify(
                            format!(
                                "no attachment {n} ({} attached) · /detach N or /detach all",
                                self.attachments.len()
                            ),
                            Level::Warn,
                        ),
                    },
                }
                vec![]
            }
            "/budget" => {
                match arg {
                    "" => {
                        let text = match self.session.caps.conversation {
                            Some(b) => format!(
                                "budget {} · spent {} · /budget off removes it",
                                crate::util::dollars(b),
                                crate::util::dollars(self.session.totals().cost_usd)
                            ),
                            None => "no budget · /budget 0.50 sets one".to_string(),
                        };
                        self.notify(text, Level::Info);
                    }
                    "off" | "0" | "none" => {
                        self.session.caps.conversation = None;
                        self.notify("budget removed", Level::Info);
                    }
                    v => match v.trim_start_matches('$').parse::<f64>() {
                        Ok(b) if b > 0.0 && b.is_finite() => {
                            self.session.caps.conversation = Some(b);
                            self.notify(
                                format!("budget {} for this conversation", crate::util::dollars(b)),
                                Level::Info,
                            );
                        }
                        _ => self.notify(
                            format!("/budget takes dollars, e.g. /budget 0.50 (not {v:?})"),
                            Level::Error,
                        ),
                    },
                }
                vec![]
            }
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
        if !self.compare_models.is_empty() {
            return self.recompare();
        }
        let msgs = &mut self.session.conv.messages;
        let Some(last) = msgs.last() else {
            return vec![];
        };
        if last.role != crate::provider::Role::Assistant || last.example {
            self.notify("nothing to retry", Level::Warn);
            return vec![];
        }
        match self.session.check_send("", &[]) {
            Err(e) => {
                self.notify(e.message, Level::Error);
                return vec![];
            }
            Ok(Some(w)) => self.notify(w, Level::Warn),
            Ok(None) => {}
        }
        let msgs = &mut self.session.conv.messages;
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
            new.alternatives = old.into_alternatives(None);
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
            let blocks = super::markdown::code_blocks(&msg.content);
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
            format!(
                "copied {} characters via OSC 52 (nothing arrived? allow clipboard access in your terminal; in tmux: set -g set-clipboard on)",
                text.chars().count()
            ),
            Level::Info,
        );
        vec![Effect::Copy(osc52(&text))]
    }
}

impl App {
    /// Re-asks every question of this conversation on `model` in a new conversation shown here.
    fn replay(&mut self, arg: &str) -> Vec<Effect> {
        if arg.is_empty() {
            self.notify("/replay provider/model", Level::Warn);
            return vec![];
        }
        let model = match self.session.cfg.resolve_model(arg) {
            Ok(m) => m,
            Err(e) => {
                self.notify(e, Level::Error);
                return vec![];
            }
        };
        if self.session.is_streaming() {
            self.notify("wait for the answer (or Esc) first", Level::Warn);
            return vec![];
        }
        let orig = self.session.conv.clone();
        let questions: VecDeque<(String, Vec<crate::parts::Part>)> = orig
            .question_messages()
            .into_iter()
            .map(|m| (m.content.clone(), m.parts.clone()))
            .collect();
        if questions.is_empty() {
            self.notify("nothing to replay yet", Level::Warn);
            return vec![];
        }
        let mut effects = self.new_session(Some(orig.replay_copy()));
        // A replay is one model's: questions no longer go to the /compare models.
        self.compare_models.clear();
        self.session.set_model(model.clone());
        self.replay_queue = questions;
        self.notify(
            format!("replaying {} questions on {model}", self.replay_queue.len()),
            Level::Info,
        );
        if let Some((q, parts)) = self.replay_queue.pop_front() {
            effects.extend(self.send_parts(q, parts));
        }
        effects
    }
}

/// A paste at least this long is offered as an attachment (untrusted text).
pub const LONG_PASTE: usize = 2000;

/// How often the chat screen re-asks an answer that does not conform to the schema.
pub const SCHEMA_RETRIES: u32 = 1;

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
        Msg::Resize | Msg::Frame => vec![],
        Msg::Stream(id, ev)
            if app
                .compare
                .as_ref()
                .is_some_and(|p| p.cmp.pane_of(id).is_some()) =>
        {
            super::compare::stream(app, id, ev).unwrap_or_default()
        }
        Msg::Select(i) => {
            if app.compare.is_none() && i < app.session.conv.messages.len() {
                app.selection = Some(Selection {
                    index: i,
                    alternative: None,
                });
            }
            vec![]
        }
        Msg::Stream(id, ev) => match app.session.apply(id, ev) {
            Applied::CapReached => {
                app.replay_queue.clear();
                let e = app
                    .session
                    .last_answer()
                    .and_then(|a| a.error.clone())
                    .unwrap_or_default();
                app.notify(e, Level::Warn);
                vec![
                    Effect::CancelStream,
                    Effect::Save(Box::new(app.session.conv.clone())),
                ]
            }
            Applied::ToolCalls => app.tool_step(),
            Applied::TurnEnded { interrupted } => {
                if interrupted && !app.replay_queue.is_empty() {
                    app.replay_queue.clear();
                    app.notify("replay stopped; the finished turns are saved", Level::Warn);
                }
                if interrupted
                    && let Some(e) = app.session.last_answer().and_then(|a| a.error.clone())
                    && e != "cancelled"
                {
                    app.notify(e, Level::Error);
                } else if let Some(g) = app.session.last_answer().and_then(|a| a.guards.first()) {
                    app.notify(
                        format!("possible system prompt leak: {}", g.detail),
                        Level::Warn,
                    );
                }
                let mut eff = vec![Effect::Save(Box::new(app.session.conv.clone()))];
                // An answer that does not conform to the schema is re-asked with its errors.
                if !interrupted
                    && let Some(c) = app.session.last_answer().and_then(|a| a.schema.clone())
                    && !c.valid
                    && app.schema_retries_left > 0
                {
                    app.schema_retries_left -= 1;
                    app.notify(
                        "the answer does not conform to the schema: asking again",
                        Level::Warn,
                    );
                    let parts = vec![];
                    eff.extend(app.send_parts(crate::schema::retry_prompt(&c), parts));
                    return eff;
                }
                if !interrupted && let Some((q, parts)) = app.replay_queue.pop_front() {
                    eff.extend(app.send_parts(q, parts));
                }
                eff
            }
            _ => vec![],
        },
        Msg::Reviewed(id, reviews) => {
            if let Some(b) = app.tool_batch.as_mut().filter(|b| b.id == id) {
                b.reviewed(reviews);
                app.overlay = Overlay::Approve;
            }
            vec![]
        }
        Msg::ToolsDone(id, ran) => app.tools_done(id, ran),
        Msg::McpConnected(name, Ok(list)) => {
            let n = list.len();
            app.session
                .tools
                .retain(|o| !matches!(&o.source, crate::tools::Source::Mcp { server, .. } if *server == name));
            app.session.tools.extend(list);
            if !app.session.conv.mcp.contains(&name) {
                app.session.conv.mcp.push(name.clone());
            }
            app.notify(format!("MCP server {name}: {n} tools on"), Level::Info);
            vec![]
        }
        Msg::McpConnected(name, Err(e)) => {
            app.session.conv.mcp.retain(|m| *m != name);
            app.notify(e, Level::Error);
            vec![]
        }
        Msg::Retrieved(text, parts, context) => app.retrieved(text, parts, context),
        Msg::CollectionChecked(name, Ok((files, passages))) => {
            app.notify(
                format!(
                    "retrieval: {name} ({files} files, {passages} passages): its passages go with every question"
                ),
                Level::Info,
            );
            vec![]
        }
        Msg::CollectionChecked(name, Err(e)) => {
            if app.session.conv.rag.as_deref() == Some(name.as_str()) {
                app.session.conv.rag = None;
            }
            app.notify(e, Level::Error);
            vec![]
        }
        Msg::Note(level, text) => {
            app.notify(text, level);
            vec![]
        }
        Msg::Models(provider, Ok(list)) => {
            app.remote_errors.remove(&provider);
            app.remote.insert(provider, list);
            app.models = crate::catalog::model_names(
                &app.session.cfg,
                &app.remote,
                crate::pricing::try_db(),
            );
            vec![]
        }
        Msg::Models(provider, Err(e)) => {
            app.remote_errors.insert(provider, e);
            vec![]
        }
        Msg::PricesReady => {
            app.models = crate::catalog::model_names(
                &app.session.cfg,
                &app.remote,
                crate::pricing::try_db(),
            );
            vec![]
        }
        Msg::Unreadable(list) => {
            app.unreadable = list;
            vec![]
        }
        Msg::Conversations(list) => {
            app.conversations = forks_under_origins(list);
            if let Overlay::Browser { selected, .. } = &mut app.overlay {
                *selected = (*selected).min(app.conversations.len().saturating_sub(1));
            }
            vec![]
        }
        Msg::Opened(Ok(conv)) => {
            let title = conv.title.clone();
            let effects = app.new_session(Some(*conv));
            app.overlay = Overlay::None;
            match app.session.conv.read_only() {
                Some(why) => app.notify(why, Level::Warn),
                None => app.notify(
                    format!("opened \"{title}\" on {}", app.session.model),
                    Level::Info,
                ),
            }
            effects
        }
        Msg::Opened(Err(e)) | Msg::Exported(Err(e)) => {
            app.notify(e, Level::Error);
            vec![]
        }
        Msg::Exported(Ok(path)) => {
            app.notify(format!("exported to {path}"), Level::Info);
            vec![]
        }
        Msg::Saved(Ok(done)) => {
            app.saved(done);
            // The browser, if it is open, lists what was just written too.
            match &app.overlay {
                Overlay::Browser { filter, .. } => vec![Effect::ListConversations(filter.clone())],
                _ => vec![],
            }
        }
        Msg::Saved(Err(e)) => {
            app.notify(format!("could not save: {e}"), Level::Error);
            vec![]
        }
        Msg::Edited(EditTarget::Draft, Ok(text)) => {
            app.set_draft(text.trim_end_matches('\n'));
            vec![]
        }
        Msg::Edited(EditTarget::System, Ok(text)) => {
            let text = text.trim_end().to_string();
            app.notify(
                if text.is_empty() {
                    "system prompt cleared"
                } else {
                    "system prompt set"
                },
                Level::Info,
            );
            app.session.conv.system_prompt = (!text.is_empty()).then_some(text);
            app.show_system = true;
            vec![Effect::Save(Box::new(app.session.conv.clone()))]
        }
        Msg::Edited(_, Err(e)) => {
            app.notify(e, Level::Error);
            vec![]
        }
        Msg::Paste(text) if app.overlay != Overlay::None => {
            for c in text.chars().filter(|c| !c.is_control()) {
                overlay_key(app, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
            }
            vec![]
        }
        // A long paste is most often a document: offered as an attachment, labelled as data.
        Msg::Paste(text) if text.chars().count() >= LONG_PASTE => {
            app.overlay = Overlay::OfferPaste { text };
            vec![]
        }
        Msg::Paste(text) => {
            app.paste_text(&text);
            vec![]
        }
        Msg::PastedPath(path, text) if app.overlay == Overlay::None => {
            app.overlay = Overlay::OfferAttach { path, text };
            vec![]
        }
        Msg::PastedPath(_, text) => update(app, Msg::Paste(text)),
        Msg::Attached(results) => {
            let mut added = Vec::new();
            let mut problems = Vec::new();
            let kind = app.kind();
            for r in results {
                match r {
                    Ok(l) => {
                        if let Some(n) = l.note {
                            problems.push(n);
                        }
                        let label = crate::attach::describe_short(&l.part, kind);
                        if app.attachments.add(l.part) {
                            added.push(label);
                        } else {
                            problems.push(format!("{label}: already attached"));
                        }
                    }
                    Err(e) => problems.push(e),
                }
            }
            match (added.len(), problems.is_empty()) {
                (_, false) => app.notify(problems.join(" · "), Level::Error),
                (1, true) => app.notify(format!("attached {}", added[0]), Level::Info),
                (_, true) => app.notify(
                    format!(
                        "attached {}",
                        added
                            .iter()
                            .map(|l| l.split(" · ").next().unwrap_or(l))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    Level::Info,
                ),
            }
            vec![]
        }
        Msg::Completed { word, candidates } => {
            if app.attach_word().as_deref() != Some(word.as_str()) {
                return vec![]; // the draft changed meanwhile
            }
            match candidates.as_slice() {
                [] => app.notify(format!("nothing matches {word:?}"), Level::Warn),
                [one] => {
                    let one = one.clone();
                    app.complete_word(&word, &one);
                    if !one.ends_with('/') {
                        app.input.insert_char(' ');
                    }
                }
                many => {
                    let common = attachments::common_prefix(many);
                    if common.len() > word.len() {
                        app.complete_word(&word, &common);
                    }
                    let names: Vec<&str> = many
                        .iter()
                        .take(8)
                        .map(|c| {
                            c.rsplit_once('/')
                                .map(|(_, n)| n)
                                .filter(|n| !n.is_empty())
                                .unwrap_or(c)
                        })
                        .collect();
                    let more = if many.len() > 8 {
                        format!(" … +{}", many.len() - 8)
                    } else {
                        String::new()
                    };
                    app.notify(format!("{}{more}", names.join("  ")), Level::Info);
                }
            }
            vec![]
        }
        // The wheel scrolls the focused pane of a comparison.
        Msg::Mouse(m) if app.compare.is_some() => {
            if let Some(p) = app.compare.as_mut() {
                let f = p.focus;
                match m.kind {
                    MouseEventKind::ScrollUp => p.scroll[f] += 3,
                    MouseEventKind::ScrollDown => p.scroll[f] = p.scroll[f].saturating_sub(3),
                    _ => {}
                }
            }
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
    if app.overlay != Overlay::None && !(ctrl && k.code == KeyCode::Char('c')) {
        return overlay_key(app, k);
    }
    // The comparison's panes take the keys while they are open (Ctrl-C with nothing
    // streaming still quits).
    if let Some(p) = &app.compare
        && !(ctrl && k.code == KeyCode::Char('c') && p.cmp.streaming() == 0)
    {
        app.ctrl_c_at = None;
        return super::compare::key(app, k);
    }
    // The selection's keys work while the input is empty; a command typed then (`/fork
    // MODEL`) acts on the selection too, any other typing ends it.
    if app.selection.is_some() && app.draft().is_empty() {
        match app.selection_key(k) {
            Some(eff) => return eff,
            None if k.code == KeyCode::Char('/') => {}
            None => app.selection = None,
        }
    }
    if alt && matches!(k.code, KeyCode::Up | KeyCode::Down) {
        app.select_step(k.code == KeyCode::Up);
        return vec![];
    }
    if ctrl && k.code == KeyCode::Char('c') {
        if app.session.is_streaming() {
            let eff = app.cancel_turn();
            app.notify("cancelled · Ctrl-C again to quit", Level::Info);
            app.ctrl_c_at = Some(app.now);
            return eff;
        }
        if app
            .ctrl_c_at
            .is_some_and(|t| app.now.duration_since(t) < Duration::from_secs(2))
            || app.draft().is_empty() && app.ctrl_c_at.is_some()
        {
            app.quit = true;
            let mut eff = app.settle_compare();
            eff.push(Effect::Quit);
            return eff;
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
            let eff = app.cancel_turn();
            app.notify("cancelled · the partial answer is kept", Level::Info);
            return eff;
        }
        KeyCode::Esc => {
            app.notice = None;
            app.selection = None;
            app.recalled = false;
            if app.editing_last {
                app.editing_last = false;
                app.set_draft("");
            }
            return vec![];
        }
        KeyCode::F(2) => return app.open_model_picker(""),
        KeyCode::F(3) => {
            return vec![Effect::OpenEditor {
                text: app.session.conv.system_prompt.clone().unwrap_or_default(),
                target: EditTarget::System,
            }];
        }
        KeyCode::F(5) => {
            app.set_draft("/export md ");
            return vec![];
        }
        KeyCode::F(6) => {
            let eff = app.open_model_picker("");
            app.picker_for_replay = true;
            return eff;
        }
        KeyCode::F(7) => {
            app.set_draft("/budget ");
            return vec![];
        }
        KeyCode::F(4) => {
            app.show_attachments = !app.show_attachments;
            return vec![];
        }
        // Alt-1…9 on an empty input: the last answer's source N.
        KeyCode::Char(c @ '1'..='9') if alt && app.draft().is_empty() => {
            app.open_source(c as usize - '0' as usize);
            return vec![];
        }
        KeyCode::Tab if !ctrl && !alt => {
            if let Some(word) = app.attach_word() {
                return vec![Effect::CompletePath(word)];
            }
        }
        KeyCode::Backspace if app.draft().is_empty() && !app.attachments.is_empty() => {
            if let Some(p) = app.attachments.pop() {
                app.notify(
                    format!("removed {}", crate::attach::describe(&p, app.kind())),
                    Level::Info,
                );
            }
            return vec![];
        }
        KeyCode::Char('y') if ctrl => return app.copy(""),
        KeyCode::Char('o') if ctrl => {
            app.overlay = Overlay::Browser {
                filter: String::new(),
                selected: 0,
                confirm_delete: None,
            };
            return vec![Effect::ListConversations(String::new())];
        }
        KeyCode::Char('p') if ctrl => {
            app.overlay = Overlay::PresetPicker {
                filter: String::new(),
                selected: 0,
            };
            return vec![];
        }
        KeyCode::Enter if alt || shift => {
            app.input.insert_newline();
            return vec![];
        }
        KeyCode::Enter => {
            let text = app.draft();
            if text.trim().is_empty() && app.attachments.is_empty() {
                return vec![];
            }
            if matches!(text.trim(), ":q" | ":quit" | ":q!" | ":wq") {
                app.quit = true;
                let mut eff = app.settle_compare();
                eff.push(Effect::Quit);
                return eff;
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
            return app.send_now(text);
        }
        KeyCode::Char('?') if app.draft().is_empty() => {
            app.help = true;
            return vec![];
        }
        KeyCode::Char('e') if ctrl => {
            if std::mem::take(&mut app.recalled) {
                app.editing_last = true;
            }
            return vec![Effect::OpenEditor {
                text: app.draft(),
                target: EditTarget::Draft,
            }];
        }
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
                app.recalled = true;
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

/// The browser's rows with each fork right under the conversation it came from (forks of
/// forks under theirs), the order otherwise kept.
pub fn forks_under_origins(list: Vec<Summary>) -> Vec<Summary> {
    let ids: std::collections::HashSet<String> = list.iter().map(|s| s.id.clone()).collect();
    let parent = |s: &Summary| {
        s.forked_from
            .as_ref()
            .map(|f| f.id.clone())
            .filter(|p| ids.contains(p) && *p != s.id)
    };
    let mut children: BTreeMap<String, Vec<Summary>> = BTreeMap::new();
    let mut roots = Vec::new();
    for s in list {
        match parent(&s) {
            Some(p) => children.entry(p).or_default().push(s),
            None => roots.push(s),
        }
    }
    fn push(
        s: Summary,
        children: &mut BTreeMap<String, Vec<Summary>>,
        out: &mut Vec<Summary>,
        depth: usize,
    ) {
        let id = s.id.clone();
        out.push(s);
        if depth > 16 {
            return;
        }
        for c in children.remove(&id).unwrap_or_default() {
            push(c, children, out, depth + 1);
        }
    }
    let mut out = Vec::new();
    for r in roots {
        push(r, &mut children, &mut out, 0);
    }
    // A cycle of forks (a hand-edited file) has no root: its rows are kept anyway.
    for (_, rest) in children {
        out.extend(rest);
    }
    out
}

/// The model of the conversation's last answer, for reopening.
pub fn model_of(conv: &Conversation) -> Option<String> {
    conv.continue_model()
}
