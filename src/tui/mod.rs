//! The TUI front end: terminal set-up and restore, and the event loop that feeds `app::update`
//! and executes its effects. Redraws are coalesced: events mark the screen dirty and the loop
//! draws at most every 16 ms, so a fast stream never costs a frame per token.

pub mod app;
pub mod attachments;
pub mod compare;
mod keys;
pub mod markdown;
pub mod screen;
pub mod theme;
pub mod tools;
pub mod view;

use crate::config::Config;
use crate::conversation::Store;
use crate::provider::stream;
use crate::session::Session;
use app::{App, Effect, Msg};
use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture, Event,
};
use futures::StreamExt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

const FRAME: Duration = Duration::from_millis(16);
/// Frames that only show more of a streaming answer come at most this often: 12.5 a second
/// reads as a steady flow of words (a model at a human pace types 3-4 tokens per frame), and a
/// frame (rendering and diffing the whole screen) is then paid for by several tokens. A key,
/// paste, resize, the first text of an answer and the end of a turn are drawn at the `FRAME`
/// cadence.
const STREAM_FRAME: Duration = Duration::from_millis(80);
/// How long after a text frame is due the timer draws it, if no stream event drew it first.
const STREAM_SLACK: Duration = Duration::from_millis(40);
/// The spinner's step, and how often an expired notice is looked for.
const TICK: Duration = Duration::from_millis(100);

/// Loads the theme named in the config (or `dark`); errors name the file.
pub fn load_theme(cfg: &Config) -> Result<theme::Theme, String> {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    theme::Theme::load(
        cfg.file.theme.as_deref().unwrap_or("dark"),
        &cfg.paths.themes_dir(),
        no_color,
    )
}

/// Bracketed paste always; mouse capture unless `mouse = false`.
fn enter_modes(mouse: bool) {
    let _ = crossterm::execute!(std::io::stdout(), EnableBracketedPaste);
    if mouse {
        let _ = crossterm::execute!(std::io::stdout(), EnableMouseCapture);
    }
}

fn restore_terminal() {
    let _ = crossterm::execute!(
        std::io::stdout(),
        DisableBracketedPaste,
        DisableMouseCapture
    );
    ratatui::restore();
}

pub async fn run(cfg: Arc<Config>, model: Option<String>, open: Option<String>) -> i32 {
    // Everything that can fail is checked before raw mode.
    let theme = match load_theme(&cfg) {
        Ok(t) => t,
        Err(e) => {
            crate::cli::ask::err(e);
            return crate::cli::EXIT_USAGE;
        }
    };
    let store = Store::new(cfg.paths.conversations_dir());
    let conv = match open.as_deref().map(|id| store.find(id)) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            crate::cli::ask::err(e);
            return crate::cli::EXIT_USAGE;
        }
        None => None,
    };
    let (model, reason) = match model.or_else(|| conv.as_ref().and_then(app::model_of)) {
        Some(m) => match cfg.resolve_model(&m) {
            Ok(r) => (r, String::new()),
            Err(e) => {
                crate::cli::ask::err(e);
                return crate::cli::EXIT_USAGE;
            }
        },
        None => cfg.default_model(),
    };
    let session = match conv {
        Some(c) => Session::with_conversation(cfg.clone(), c, model),
        None => Session::new(cfg.clone(), model),
    };
    // Resolve the current provider's key now, before raw mode: an api_key_cmd that asks for a
    // passphrase gets a normal terminal, and a missing key is said at once.
    let key_problem = cfg.endpoint(&session.model.provider).err();
    let mut session = session;
    // Spend caps, with what the saved history spent today and this month.
    session.caps = crate::spend::caps_from_config(&cfg, &session.conv);
    let fresh = session.conv.messages.is_empty();
    let mut app = App::new(session, theme, reason);
    if fresh && let Some(d) = cfg.file.default_tools.clone() {
        app.session.conv.tools = d;
    }
    let first_effects = app.enable_tools();
    let toolbox = crate::tools::run::Toolbox::new(cfg.clone());
    if let Some(e) = key_problem {
        app.notify(e.message, app::Level::Warn);
    }
    if let Some(why) = app.session.conv.read_only() {
        app.notify(why, app::Level::Warn);
    }
    let (presets, preset_errors) = crate::presets::load_all(&cfg.paths.presets_dir());
    app.presets = presets;
    if let Some(e) = preset_errors.first() {
        app.notify(e.to_string(), app::Level::Warn);
    }
    // Heavy lazy loads happen off the UI task, after the first frame.
    tokio::task::spawn_blocking(markdown::warm);
    // No tokenizer warm-up: o200k costs ~47 MB and ~200 ms; the TUI estimates with the
    // approximation (shown as an estimate) unless something else loaded it.

    // Last check before raw mode (after the config, theme and conversation are known good).
    {
        use std::io::IsTerminal;
        if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
            crate::cli::ask::err(
                "the chat screen needs a terminal; for pipes and scripts use `charla ask`",
            );
            return crate::cli::EXIT_USAGE;
        }
    }
    let prev_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        prev_hook(info);
    }));
    let mut terminal = ratatui::init();
    enter_modes(app.session.cfg.file.mouse.unwrap_or(true));
    let mut stats = FrameStats::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let (saves, saver) = Saver::start(store.clone(), tx.clone());
    for eff in first_effects {
        if let Effect::ConnectMcp(name) = eff {
            connect_mcp(&toolbox, name, &tx);
        }
    }
    let code = event_loop(
        &mut terminal,
        &mut app,
        &store,
        &saves,
        &toolbox,
        (tx, &mut rx),
        &mut stats,
    )
    .await;
    restore_terminal();
    // MCP servers run in process groups of their own: they are ended here, not left behind.
    toolbox.shutdown().await;
    stats.write();
    // Whatever ended the loop (quit, a lost terminal, SIGHUP/SIGTERM), the conversation is
    // saved as it stands, with an answer still streaming kept and marked interrupted. The
    // background saver finishes first (its result is taken in: a new file's id), then this
    // last save runs here, synchronously, before the process exits.
    drop(saves);
    let _ = saver.await;
    while let Ok(m) = rx.try_recv() {
        if matches!(m, Msg::Saved(_)) {
            app::update(&mut app, m);
        }
    }
    if app.session.is_streaming() {
        app.session.cancel();
    }
    // A comparison still open keeps its first good answer, the others as alternatives.
    let _ = app.settle_compare();
    if app.session.conv.messages.iter().any(|m| !m.example)
        && let Err(e) = store.save(&mut app.session.conv)
    {
        crate::cli::ask::err(format!("could not save the conversation: {e}"));
    }
    code
}

/// The one task that saves conversations: saves never overlap, and a burst of saves of one
/// conversation (a quick `/title a`, `/title b`) writes only the latest.
struct Saver;

impl Saver {
    fn start(
        store: Store,
        tx: mpsc::UnboundedSender<Msg>,
    ) -> (
        mpsc::UnboundedSender<Box<crate::conversation::Conversation>>,
        tokio::task::JoinHandle<()>,
    ) {
        let (stx, mut srx) = mpsc::unbounded_channel::<Box<crate::conversation::Conversation>>();
        let task = tokio::spawn(async move {
            while let Some(first) = srx.recv().await {
                // Only the newest snapshot of each conversation queued so far.
                let mut batch = vec![first];
                while let Ok(c) = srx.try_recv() {
                    batch.retain(|b| b.id != c.id);
                    batch.push(c);
                }
                for conv in batch {
                    let store = store.clone();
                    let asked_id = conv.id.clone();
                    let asked_len = conv.messages.len();
                    let r = tokio::task::spawn_blocking(move || {
                        let mut conv = conv;
                        store.save(&mut conv).map(|s| (conv, s.merged))
                    })
                    .await;
                    let msg = match r {
                        Ok(Ok((written, merged))) => Ok(app::SaveDone {
                            asked_id,
                            asked_len,
                            written,
                            merged,
                        }),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    let _ = tx.send(Msg::Saved(msg));
                }
            }
        });
        (stx, task)
    }
}

/// Frame timings for `CHARLA_TUI_STATS=FILE` (diagnostics and the benchmark): written as JSON
/// when charla exits.
struct FrameStats {
    file: Option<std::ffi::OsString>,
    first_frame_ms: Option<f64>,
    /// When each frame was drawn, ms after start.
    frames: Vec<f64>,
    /// How long each took to draw, µs.
    draw_us: Vec<f64>,
}

impl FrameStats {
    fn new() -> Self {
        FrameStats {
            file: std::env::var_os("CHARLA_TUI_STATS"),
            first_frame_ms: None,
            frames: Vec::new(),
            draw_us: Vec::new(),
        }
    }

    fn start(&self) -> Option<std::time::Instant> {
        self.file.is_some().then(std::time::Instant::now)
    }

    fn frame(&mut self, started: Option<std::time::Instant>) {
        let Some(started) = started else {
            return;
        };
        self.draw_us.push(started.elapsed().as_secs_f64() * 1e6);
        let t = crate::util::mark_start().elapsed().as_secs_f64() * 1000.0;
        self.first_frame_ms.get_or_insert(t);
        self.frames.push(t);
    }

    fn write(&self) {
        let Some(path) = &self.file else {
            return;
        };
        // The most frames drawn in any one-second window.
        let mut max_fps = 0;
        let mut j = 0;
        for i in 0..self.frames.len() {
            while self.frames[i] - self.frames[j] > 1000.0 {
                j += 1;
            }
            max_fps = max_fps.max(i - j + 1);
        }
        let mut draw = self.draw_us.clone();
        draw.sort_by(f64::total_cmp);
        let draw_median = draw.get(draw.len() / 2).copied();
        let draw_max = draw.last().copied();
        let v = serde_json::json!({"first_frame_ms": self.first_frame_ms, "frames": self.frames.len(), "max_frames_in_1s": max_fps, "draw_us_median": draw_median, "draw_us_max": draw_max});
        let _ = std::fs::write(path, v.to_string());
    }
}

/// Starts MCP server `name` in the background; its tools arrive as `Msg::McpConnected`.
fn connect_mcp(
    toolbox: &Arc<crate::tools::run::Toolbox>,
    name: String,
    tx: &mpsc::UnboundedSender<Msg>,
) {
    let (tb, tx) = (toolbox.clone(), tx.clone());
    tokio::spawn(async move {
        let r = tb.connect(&name).await;
        let _ = tx.send(Msg::McpConnected(name, r));
    });
}

#[allow(clippy::too_many_arguments)]
async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    store: &Store,
    saves: &mpsc::UnboundedSender<Box<crate::conversation::Conversation>>,
    toolbox: &Arc<crate::tools::run::Toolbox>,
    (tx, rx): (
        mpsc::UnboundedSender<Msg>,
        &mut mpsc::UnboundedReceiver<Msg>,
    ),
    stats: &mut FrameStats,
) -> i32 {
    let mut events = keys::Keys::new();
    let mut hangup = signal(tokio::signal::unix::SignalKind::hangup());
    let mut terminate = signal(tokio::signal::unix::SignalKind::terminate());
    let mut cache = view::ViewCache::default();
    // What the terminal shows.
    let mut screen = screen::Screen::new();
    // One token per stream in flight (a comparison runs several), by request id.
    let mut cancel: std::collections::HashMap<u64, CancellationToken> = Default::default();
    let mut tools_cancel: Option<CancellationToken> = None;
    let searches = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut dirty = true;
    // The streams read on at the frame cadence (see `provider::pace`).
    let pace = Arc::new(crate::provider::pace::Pace::default());
    let mut last_draw = tokio::time::Instant::now() - FRAME;
    let mut last_total = 0usize;
    let mut urgent = true;
    let mut prices_asked = crate::pricing::try_db().is_some();
    // Whether the model or the overlay may have changed since `needs_prices` was asked (not
    // after a text delta, a tick or a frame: the question is not asked once per token).
    let mut ask_prices = true;
    // The spinner's and notices' clock: a tick every TICK while something animates. It rides
    // on the frames a stream draws anyway (taken just before one, when due); the timer wakes
    // the loop for it only when no frame came for TICK (a model that is thinking, a notice).
    let mut last_tick = tokio::time::Instant::now();
    loop {
        let interval = if urgent { FRAME } else { STREAM_FRAME };
        // The price dataset (tens of ms, ~19 MB) decodes off the UI task once something needs
        // it: a priced model, or the model picker. Estimates say "pricing…" until then.
        if !prices_asked && std::mem::take(&mut ask_prices) && needs_prices(app) {
            prices_asked = true;
            let tx = tx.clone();
            tokio::task::spawn_blocking(move || {
                crate::pricing::warm();
                let _ = tx.send(Msg::PricesReady);
            });
        }
        if dirty && last_draw.elapsed() >= interval {
            if last_tick.elapsed() >= TICK && animates(app) {
                app::update(app, Msg::Tick);
                last_tick = tokio::time::Instant::now();
            }
            let started = stats.start();
            if screen.draw(terminal, app, &mut cache).is_err() {
                return 1;
            }
            stats.frame(started);
            // Keep the view still while the user reads back and new lines arrive.
            if app.scroll > 0 && cache.total > last_total {
                app.scroll += cache.total - last_total;
            }
            app.scroll = app.scroll.min(cache.max_scroll());
            // A message selected off screen is scrolled to (drawn again at once).
            if let Some(to) = app
                .scroll_to
                .take()
                .and_then(|i| cache.scroll_for(i, app.scroll))
            {
                app.scroll = to;
                urgent = true;
                last_total = cache.total;
                last_draw = tokio::time::Instant::now() - FRAME;
                continue;
            }
            app.page = cache.height;
            last_total = cache.total;
            last_draw = tokio::time::Instant::now();
            pace.hold_until(last_draw + STREAM_FRAME);
            dirty = false;
            urgent = false;
        }
        let busy = animates(app);
        // A text frame is drawn on the wake-up of the first stream event that finds it due
        // (a paced stream reads again when the frame is due, so its events bring the frame);
        // the timer draws it only when no event comes within STREAM_SLACK of it. A wake-up of
        // its own per frame cost more than the frame's drawing saved.
        let next_draw = last_draw + interval + if urgent { Duration::ZERO } else { STREAM_SLACK };
        let msg = tokio::select! {
            // Keys first: a fast stream never queues what the user types behind its events.
            biased;
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) => Msg::Key(k),
                // A pasted (or dropped) path of an existing file is offered as an attachment.
                Some(Ok(Event::Paste(p))) => match crate::attach::pasted_path(&p) {
                    Some(path) => Msg::PastedPath(path.display().to_string(), p),
                    None => Msg::Paste(p),
                },
                Some(Ok(Event::Mouse(m))) => Msg::Mouse(m),
                Some(Ok(Event::Resize(..))) => {
                    screen.resized();
                    Msg::Resize
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return 1,
            },
            // While an urgent frame is pending, stream events wait in the channel and are
            // taken all at once when it is drawn.
            Some(m) = rx.recv(), if !dirty || !urgent => m,
            _ = recv_signal(&mut hangup) => return 129,
            _ = recv_signal(&mut terminate) => return 143,
            _ = tokio::time::sleep_until(next_draw), if dirty => Msg::Frame,
            _ = tokio::time::sleep_until(last_tick.max(last_draw) + TICK), if busy => {
                last_tick = tokio::time::Instant::now();
                Msg::Tick
            }
        };
        let mut pending = vec![msg];
        // Drain everything already queued before drawing again.
        while let Ok(m) = rx.try_recv() {
            pending.push(m);
        }
        for m in pending {
            if !matches!(m, Msg::Tick | Msg::Frame) {
                app.now = std::time::Instant::now();
            }
            ask_prices |= !matches!(
                m,
                Msg::Tick
                    | Msg::Frame
                    | Msg::Stream(
                        _,
                        crate::provider::StreamEvent::TextDelta(_)
                            | crate::provider::StreamEvent::ReasoningDelta(_)
                    )
            );
            if let Msg::Stream(
                id,
                crate::provider::StreamEvent::Finished { .. }
                | crate::provider::StreamEvent::Error(_),
            ) = &m
            {
                cancel.remove(id);
            }
            // A click on a message selects it (the view knows where each one is drawn).
            let m = match m {
                Msg::Mouse(crossterm::event::MouseEvent {
                    kind:
                        crossterm::event::MouseEventKind::Down(crossterm::event::MouseButton::Left),
                    row,
                    ..
                }) => match cache.message_at(row) {
                    Some(i) => Msg::Select(i),
                    None => continue,
                },
                m => m,
            };
            let more_text = matches!(
                m,
                Msg::Tick
                    | Msg::Frame
                    | Msg::Stream(
                        _,
                        crate::provider::StreamEvent::TextDelta(_)
                            | crate::provider::StreamEvent::ReasoningDelta(_)
                            | crate::provider::StreamEvent::Usage(_)
                    )
            );
            // The first text of an answer is drawn at once: that is when the user sees it start.
            let first_text = matches!(
                m,
                Msg::Stream(
                    _,
                    crate::provider::StreamEvent::TextDelta(_)
                        | crate::provider::StreamEvent::ReasoningDelta(_)
                )
            ) && app
                .session
                .in_flight
                .as_ref()
                .is_some_and(|f| f.first_token.is_none());
            urgent |= !more_text || first_text;
            for eff in app::update(app, m) {
                match eff {
                    Effect::Quit => {
                        // A tool still running is stopped (its process group killed) before
                        // charla exits: nothing it started is left behind.
                        if let Some(c) = tools_cancel.take() {
                            c.cancel();
                            let wait = tokio::time::sleep(Duration::from_secs(2));
                            tokio::pin!(wait);
                            loop {
                                tokio::select! {
                                    m = rx.recv() => match m {
                                        Some(Msg::ToolsDone(..)) | None => break,
                                        // What a save wrote is taken in (the last save needs it).
                                        Some(m @ Msg::Saved(_)) => {
                                            app::update(app, m);
                                        }
                                        Some(_) => {}
                                    },
                                    _ = &mut wait => break,
                                }
                            }
                        }
                        return 0;
                    }
                    Effect::StartStream {
                        request_id,
                        provider,
                        request,
                    } => {
                        let token = CancellationToken::new();
                        cancel.insert(request_id, token.clone());
                        let tx = tx.clone();
                        let cfg = app.session.cfg.clone();
                        let pace = pace.clone();
                        // Resolving the endpoint may run api_key_cmd: not on the UI task.
                        tokio::spawn(async move {
                            let ep =
                                tokio::task::spawn_blocking(move || cfg.endpoint(&provider)).await;
                            let ep = match ep {
                                Ok(Ok(ep)) => ep,
                                Ok(Err(e)) => {
                                    let _ = tx.send(Msg::Stream(
                                        request_id,
                                        crate::provider::StreamEvent::Error(e),
                                    ));
                                    return;
                                }
                                Err(e) => {
                                    let e = crate::provider::ProviderError::new(
                                        crate::provider::ErrorKind::Config,
                                        e.to_string(),
                                    );
                                    let _ = tx.send(Msg::Stream(
                                        request_id,
                                        crate::provider::StreamEvent::Error(e),
                                    ));
                                    return;
                                }
                            };
                            let mut rx =
                                stream::spawn_paced(Arc::new(ep), request, token, Some(pace));
                            while let Some(ev) = rx.recv().await {
                                if tx.send(Msg::Stream(request_id, ev)).is_err() {
                                    break;
                                }
                            }
                        });
                    }
                    Effect::Attach { paths, target } => {
                        let tx = tx.clone();
                        let cfg = app.session.cfg.clone();
                        tokio::task::spawn_blocking(move || {
                            let blobs = crate::attach::blobs(&cfg);
                            let limits = crate::attach::Limits::of(&cfg);
                            let r = paths
                                .iter()
                                .map(|p| crate::attach::load(p, &blobs, &limits, target))
                                .collect();
                            let _ = tx.send(Msg::Attached(r));
                        });
                    }
                    Effect::CompletePath(word) => {
                        let tx = tx.clone();
                        tokio::task::spawn_blocking(move || {
                            let candidates = attachments::complete_path(&word);
                            let _ = tx.send(Msg::Completed { word, candidates });
                        });
                    }
                    Effect::CancelStream => {
                        for (_, c) in cancel.drain() {
                            c.cancel();
                        }
                    }
                    Effect::CancelRequest(id) => {
                        if let Some(c) = cancel.remove(&id) {
                            c.cancel();
                        }
                    }
                    Effect::ReviewCalls { batch, calls } => {
                        let (tb, tx) = (toolbox.clone(), tx.clone());
                        tokio::task::spawn_blocking(move || {
                            let r = calls.iter().map(|c| (c.id.clone(), tb.review(c))).collect();
                            let _ = tx.send(Msg::Reviewed(batch, r));
                        });
                    }
                    Effect::RunTools { batch, calls } => {
                        let token = CancellationToken::new();
                        tools_cancel = Some(token.clone());
                        let (tb, tx) = (toolbox.clone(), tx.clone());
                        tokio::spawn(async move {
                            let r = tb.run_all(calls, token).await;
                            let _ = tx.send(Msg::ToolsDone(batch, r));
                        });
                    }
                    Effect::CancelTools => {
                        if let Some(c) = tools_cancel.take() {
                            c.cancel();
                        }
                    }
                    Effect::AlwaysAllow(name) => {
                        let (paths, tx) = (app.session.cfg.paths.clone(), tx.clone());
                        tokio::task::spawn_blocking(move || {
                            let note = match crate::config::save_always(&paths, &name) {
                                Ok(()) => (
                                    app::Level::Info,
                                    format!("{name} is always allowed (approvals.toml)"),
                                ),
                                Err(e) => (
                                    app::Level::Error,
                                    format!("could not save \"always allow\": {e}"),
                                ),
                            };
                            let _ = tx.send(Msg::Note(note.0, note.1));
                        });
                    }
                    Effect::ConnectMcp(name) => connect_mcp(toolbox, name, &tx),
                    Effect::CheckCollection(name) => {
                        let (data, tx) = (app.session.cfg.paths.data_dir.clone(), tx.clone());
                        tokio::task::spawn_blocking(move || {
                            let r = crate::rag::Collection::open(&data, &name)
                                .map(|c| (c.meta.files.len(), c.meta.passages()));
                            let _ = tx.send(Msg::CollectionChecked(name, r));
                        });
                    }
                    Effect::Retrieve {
                        collection,
                        question,
                        parts,
                        context_window,
                    } => {
                        let (cfg, tx) = (app.session.cfg.clone(), tx.clone());
                        tokio::spawn(async move {
                            let s = crate::rag::Settings::of(&cfg);
                            let (c2, data) = (collection.clone(), cfg.paths.data_dir.clone());
                            let opened = tokio::task::spawn_blocking(move || {
                                crate::rag::Collection::open(&data, &c2)
                            })
                            .await
                            .unwrap_or_else(|e| Err(e.to_string()));
                            let r = match opened {
                                Ok(c) => c
                                    .retrieve(
                                        &cfg,
                                        &question,
                                        s,
                                        crate::rag::budget(s, context_window),
                                    )
                                    .await
                                    .map(|(ctx, _)| ctx),
                                Err(e) => Err(e),
                            };
                            let _ = tx.send(Msg::Retrieved(question, parts, r));
                        });
                    }
                    Effect::Save(conv) => {
                        let _ = saves.send(conv);
                    }
                    Effect::FetchModels(providers) => {
                        for p in providers {
                            let cfg = app.session.cfg.clone();
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                let r = crate::provider::list::fetch(&cfg, &p)
                                    .await
                                    .map_err(|e| e.to_string());
                                let _ = tx.send(Msg::Models(p, r));
                            });
                        }
                    }
                    Effect::ListConversations(words) => {
                        let store = store.clone();
                        let tx = tx.clone();
                        // Searches run as the user types: only the latest one's rows are shown.
                        let me = searches.fetch_add(1, Ordering::SeqCst) + 1;
                        let latest = searches.clone();
                        tokio::task::spawn_blocking(move || {
                            let list = if words.trim().is_empty() {
                                let (all, broken) = store.list();
                                let _ = tx.send(Msg::Unreadable(broken));
                                all
                            } else {
                                store.search(&words)
                            };
                            if latest.load(Ordering::SeqCst) == me {
                                let _ = tx.send(Msg::Conversations(list));
                            }
                        });
                    }
                    Effect::OpenConversation(id) => {
                        let store = store.clone();
                        let tx = tx.clone();
                        tokio::task::spawn_blocking(move || {
                            let _ = tx.send(Msg::Opened(
                                store.find(&id).map(Box::new).map_err(|e| e.to_string()),
                            ));
                        });
                    }
                    Effect::DeleteConversation(id) => {
                        // Off the runtime thread, but awaited: the ListConversations that
                        // follows must not see the deleted file.
                        let store = store.clone();
                        let r = tokio::task::spawn_blocking(move || {
                            store.find(&id).and_then(|c| store.delete(&c))
                        })
                        .await;
                        if let Ok(Err(e)) = r {
                            app.notify(e.to_string(), app::Level::Error);
                        }
                    }
                    Effect::Export {
                        conv,
                        markdown,
                        path,
                    } => {
                        let tx = tx.clone();
                        let data_dir = app.session.cfg.paths.data_dir.clone();
                        tokio::task::spawn_blocking(move || {
                            let text = if markdown {
                                crate::conversation::export::to_markdown_in(&conv, Some(&data_dir))
                            } else {
                                crate::conversation::export::to_json(&conv)
                            };
                            let r = std::fs::write(&path, text)
                                .map(|_| path.clone())
                                .map_err(|e| format!("{path}: {e}"));
                            let _ = tx.send(Msg::Exported(r));
                        });
                    }
                    Effect::Copy(seq) => {
                        let mut out = std::io::stdout();
                        let seq = if std::env::var_os("TMUX").is_some() {
                            // Raw OSC 52 (tmux takes it with `set-clipboard on`) and the same
                            // wrapped for passthrough (with `allow-passthrough on`).
                            format!("{seq}\x1bPtmux;{}\x1b\\", seq.replace('\x1b', "\x1b\x1b"))
                        } else {
                            seq
                        };
                        let _ = out.write_all(seq.as_bytes()).and_then(|_| out.flush());
                    }
                    Effect::OpenEditor { text, target } => {
                        // The editor owns the terminal: stop reading keys (crossterm's reader
                        // would steal the editor's input) and restore the screen. Streams keep
                        // running; their events wait in the channel.
                        drop(events);
                        restore_terminal();
                        let r = edit(&text).await;
                        events = keys::Keys::new();
                        *terminal = ratatui::init();
                        // A blank screen: the next frame is written whole.
                        screen.forget();
                        enter_modes(app.session.cfg.file.mouse.unwrap_or(true));
                        let _ = terminal.clear();
                        let _ = tx.send(Msg::Edited(target, r));
                    }
                }
            }
            if app.quit {
                return 0;
            }
        }
        dirty = true;
    }
}

/// Whether the screen changes with time alone: the spinner of a turn in flight, a notice that
/// expires.
fn animates(app: &App) -> bool {
    app.session.is_streaming() || app.notice.is_some()
}

/// Whether the screen needs the price dataset: the model is not free, or the picker is open.
fn needs_prices(app: &App) -> bool {
    matches!(app.overlay, app::Overlay::ModelPicker { .. })
        || app
            .session
            .cfg
            .provider(&app.session.model.provider)
            .is_some_and(|p| !crate::pricing::is_free(p))
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).ok()
}

/// Waits for `sig` (forever when it could not be installed).
async fn recv_signal(sig: &mut Option<tokio::signal::unix::Signal>) {
    match sig {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Runs $VISUAL or $EDITOR on `draft` in a temp file and returns the edited text.
async fn edit(draft: &str) -> Result<String, String> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let path = std::env::temp_dir().join(format!("charla-draft-{}.md", std::process::id()));
    std::fs::write(&path, draft).map_err(|e| format!("{}: {e}", path.display()))?;
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&path)
        .status()
        .await
        .map_err(|e| format!("cannot run {editor}: {e}"))?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()));
    let _ = std::fs::remove_file(&path);
    if !status.success() {
        return Err(format!(
            "{editor} exited with {status}; the draft is unchanged"
        ));
    }
    text
}
