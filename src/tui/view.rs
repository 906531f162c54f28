//! Rendering: a pure function of the app state. `ViewCache` memoises each finished message's
//! lines per width (render output only; it holds no state of its own), so a frame re-renders
//! only the message that is streaming.

use super::app::{App, Level};
use unicode_width::UnicodeWidthStr;

mod overlay;
use super::markdown;
use crate::conversation::{Message, export::answer_footer};
use crate::provider::Role;
use crate::sanitize::sanitize;
use crate::util::{dollars, thousands};
use overlay::overlay;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

/// What one transcript pane renders: a session's conversation (the main view's, or one
/// compared answer's), from message `from`, scrolled `scroll` lines up from its end.
pub struct Cx<'a> {
    pub app: &'a App,
    pub s: &'a crate::session::Session,
    /// The tool calls in flight (the main view's).
    pub batch: Option<&'a super::tools::Batch>,
    pub from: usize,
    pub scroll: usize,
    /// The selected message, and the alternative of it shown (see `App::selection`).
    pub selected: Option<(usize, Option<usize>)>,
    /// The main view: the system prompt above, the welcome when empty.
    pub main: bool,
}

impl Cx<'_> {
    fn kind(&self) -> crate::provider::Kind {
        self.s.kind().unwrap_or(crate::provider::Kind::Openai)
    }
}

#[derive(Clone, PartialEq)]
struct Key {
    width: usize,
    len: usize,
    reasoning: usize,
    flags: u8,
    /// What the footer shows: a regenerated answer of the same length must not reuse lines.
    answer: Option<(Option<u64>, u64, u64, usize, bool)>,
    /// The alternative shown instead of the answer (while it is selected).
    alt: Option<usize>,
}

#[derive(Default)]
pub struct ViewCache {
    entries: Vec<Option<(Key, Vec<Line<'static>>)>>,
    /// The theme the cached lines were rendered with (a change clears the cache).
    theme: String,
    /// Height estimates of messages not rendered yet, keyed by (content bytes, width).
    estimates: Vec<(usize, usize, usize)>,
    /// Total transcript lines and the viewport height at the last frame.
    pub total: usize,
    /// Estimated history tokens, keyed by (messages, bytes of the last message, model).
    history: Option<((usize, usize, String), u64)>,
    pub height: usize,
    /// The message being streamed, rendered incrementally.
    live: Option<Live>,
    /// The input's estimate and what it was computed for.
    estimate: Option<(EstimateKey, String, crate::session::Estimate)>,
    /// The compared answers' panes, one cache each.
    pub panes: Vec<ViewCache>,
    /// Where each message is in the transcript's lines, [start, end) from the top, and which
    /// of them is drawn on the area's first row (for clicks and scrolling to a message).
    pub spans: Vec<(usize, usize)>,
    pub top: usize,
    pub area_y: u16,
    /// The main transcript's rows as the last frame drew them.
    drawn: Option<Drawn>,
    /// How the screen is to scroll for this frame, and the rows it need not compare.
    pub unchanged: Unchanged,
}

/// Where a line of the transcript comes from.
#[derive(Clone, Copy)]
enum Src {
    Header,
    Head,
    Kept,
    Tail,
    Entry(usize),
}

/// The main transcript as a frame drew it: its area, its first line, each row's line (fewer
/// lines than rows: the rest blank), and whether anything was drawn over it.
struct Drawn {
    area: Rect,
    start: usize,
    lines: Vec<Line<'static>>,
    following: bool,
    covered: bool,
    badge: bool,
}

/// What the screen can spare of a frame. `k`: the main transcript followed the end in both
/// frames and its lines moved up k rows (less than its height; it spans the screen's width):
/// the screen scrolls `area` up k rows (DECSTBM) instead of writing every row again; 0 for no
/// scroll. `rows`: the rows of `area` whose cells are, by construction, the ones the terminal
/// shows there once that scroll is done (the same line on the same row, nothing drawn over it
/// in either frame); the screen does not compare them (a debug build checks that it need
/// not).
#[derive(Default, Debug, Clone, PartialEq)]
pub struct Unchanged {
    pub area: Rect,
    pub k: usize,
    pub rows: Vec<bool>,
}

/// (history tokens, draft bytes, model, max_tokens, prices loaded, attachments).
type EstimateKey = (u64, usize, String, Option<u32>, bool, (usize, u64));

/// The streaming message's rendering: its body's blocks before the last safe boundary are
/// rendered (and indented) once; only the tail is rendered per frame.
struct Live {
    request_id: u64,
    index: usize,
    body: markdown::Incremental,
    /// `body.kept()`, indented for the transcript.
    kept: Vec<Line<'static>>,
    /// Words of the reasoning, by its length (counted once per change).
    reasoning_words: (usize, usize),
}

impl ViewCache {
    pub fn max_scroll(&self) -> usize {
        self.total.saturating_sub(self.height)
    }

    /// The message drawn on screen row `y`, if one is.
    pub fn message_at(&self, y: u16) -> Option<usize> {
        let line = self.top + y.checked_sub(self.area_y)? as usize;
        self.spans.iter().position(|&(a, b)| a <= line && line < b)
    }

    /// The scroll that brings message `i` on screen when it is not, at `scroll`: its end at
    /// the bottom when it fits, else its start at the top. None when it is on screen already.
    pub fn scroll_for(&self, i: usize, scroll: usize) -> Option<usize> {
        let &(a, b) = self.spans.get(i)?;
        let bottom = self.total.saturating_sub(scroll);
        let top = bottom.saturating_sub(self.height);
        if a >= top && b <= bottom {
            return None;
        }
        let to = if b - a <= self.height {
            self.total.saturating_sub(b)
        } else {
            self.total.saturating_sub(a + self.height)
        };
        Some(to.min(self.max_scroll()))
    }
}

#[derive(Clone, Copy)]
enum Height {
    /// Before the pane's first message.
    Hidden,
    Live,
    Exact,
    Estimate(usize),
}

/// What a cached rendering of `m` depends on.
fn key_of(m: &Message, width: usize, flags: u8) -> Key {
    Key {
        width,
        len: m.content.len() + m.parts.len(),
        reasoning: m.answer.as_ref().map(|a| a.reasoning.len()).unwrap_or(0),
        flags: flags | u8::from(m.answer.as_ref().is_some_and(|a| a.duration_ms.is_some())) << 3,
        answer: m.answer.as_ref().map(|a| {
            (
                a.duration_ms,
                a.usage.input_tokens,
                a.usage.output_tokens,
                a.alternatives.len(),
                a.interrupted,
            )
        }),
        alt: None,
    }
}

/// Alternative `k` of the answer at `i`, as a message to render in its place.
fn alternative_message(
    conv: &crate::conversation::Conversation,
    i: usize,
    k: usize,
) -> Option<Message> {
    let m = conv.messages.get(i)?;
    let a = m.answer.as_ref()?;
    let alt = a.alternatives.get(k)?;
    Some(Message {
        id: m.id.clone(),
        role: m.role,
        content: alt.content.clone(),
        parts: alt.parts.clone(),
        example: false,
        flags: vec![],
        answer: Some(alt.answer.clone()),
    })
}

/// A cheap guess of a message's rendered height (before it is rendered).
fn estimate_height(cx: &Cx, i: usize, m: &Message, width: usize) -> usize {
    let app = cx.app;
    if m.example && !app.show_examples {
        let first = i == 0 || !cx.s.conv.messages[i - 1].example;
        return if first { 2 } else { 0 };
    }
    let w = width.saturating_sub(2).max(10);
    let body: usize = m.content.lines().map(|l| l.chars().count() / w + 1).sum();
    let parts: usize = m
        .parts
        .iter()
        .map(|p| match p {
            crate::parts::Part::File(f) if app.show_attachments => f.text.lines().count() + 3,
            _ => 1,
        })
        .sum();
    body + parts + 3
}

/// A message's parts in the transcript: a file as one labelled line (F4 expands it to its
/// text), an image as a line with its name, type, size and token estimate.
fn part_lines(cx: &Cx, m: &Message, width: usize) -> Vec<Line<'static>> {
    let app = cx.app;
    use crate::parts::Part;
    let t = &app.theme;
    let kind = cx.kind();
    let mut out = Vec::new();
    for p in &m.parts {
        let what = match p {
            Part::File(_) if app.show_attachments => "▾ file",
            Part::File(_) => "▸ file",
            Part::Image(_) => "▣ image",
            Part::Context(_) => "▸ context",
            Part::ToolCall(_) => "▸ tool call",
            Part::ToolResult(_) => "▸ tool result",
            Part::Text { .. } => "▸ text",
            Part::Unknown(_) => "▸ ?",
        };
        let hint = match p {
            Part::File(_) if !app.show_attachments => " · F4 shows",
            _ => "",
        };
        let label = format!(
            "  {what} {}{hint}",
            sanitize(&crate::attach::describe(p, kind))
        );
        out.extend(markdown::wrap(
            &[Span::styled(label, t.accent)],
            width,
            &[],
            &[Span::raw("    ")],
        ));
        let body = match p {
            Part::File(f) if app.show_attachments => Some(f.text.as_str()),
            Part::Text { text, .. } if app.show_attachments => Some(text.as_str()),
            _ => None,
        };
        if let Some(text) = body {
            let bar = vec![Span::styled("  │ ", t.dim)];
            for line in sanitize(text.strip_suffix('\n').unwrap_or(text)).split('\n') {
                out.extend(markdown::wrap(
                    &[Span::styled(line.to_string(), t.text)],
                    width,
                    &bar,
                    &bar,
                ));
            }
        }
    }
    out
}

/// The passages the question before answer `i` carried.
fn sources_of<'a>(cx: &Cx<'a>, i: usize) -> Option<&'a crate::parts::Context> {
    let q = cx.s.conv.messages.get(i.checked_sub(1)?)?;
    q.parts.iter().find_map(|p| match p {
        crate::parts::Part::Context(c) => Some(c),
        _ => None,
    })
}

/// `[n]` citations (n of the answer's sources) in `spans`, in `style` (bold), so they can be
/// told from the text; `/source n` opens the passage.
fn mark_citations(
    spans: Vec<Span<'static>>,
    count: usize,
    style: ratatui::style::Style,
) -> Vec<Span<'static>> {
    // The Markdown parser hands `[1]` over in pieces: runs of one style are joined first.
    let mut joined: Vec<Span<'static>> = Vec::with_capacity(spans.len());
    for sp in spans {
        match joined.last_mut() {
            Some(last) if last.style == sp.style => {
                last.content = format!("{}{}", last.content, sp.content).into();
            }
            _ => joined.push(sp),
        }
    }
    let mut out = Vec::with_capacity(joined.len());
    for sp in joined {
        let text = sp.content.as_ref();
        if !text.contains('[') {
            out.push(sp);
            continue;
        }
        let mut rest = text;
        let mut pieces: Vec<Span<'static>> = Vec::new();
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let close = after.find(']');
            let n = close.and_then(|c| after[..c].parse::<usize>().ok());
            match (close, n) {
                (Some(c), Some(n)) if (1..=count).contains(&n) => {
                    if open > 0 {
                        pieces.push(Span::styled(rest[..open].to_string(), sp.style));
                    }
                    pieces.push(Span::styled(
                        rest[open..open + c + 2].to_string(),
                        sp.style.patch(style).add_modifier(Modifier::BOLD),
                    ));
                    rest = &rest[open + c + 2..];
                }
                _ => {
                    pieces.push(Span::styled(rest[..open + 1].to_string(), sp.style));
                    rest = &rest[open + 1..];
                }
            }
        }
        if !rest.is_empty() {
            pieces.push(Span::styled(rest.to_string(), sp.style));
        }
        out.extend(pieces);
    }
    out
}

/// The sources an answer was given: the passages retrieved for the question before it, one
/// line each (`[1] handbook/travel.md lines 120-148 · 7.3`); F4 shows their text.
fn source_lines(cx: &Cx, i: usize, width: usize) -> Vec<Line<'static>> {
    let app = cx.app;
    let t = &app.theme;
    let mut out = Vec::new();
    if let Some(c) = sources_of(cx, i) {
        out.push(Line::styled(
            format!(
                "  sources · {}{}",
                sanitize(c.collection.as_deref().unwrap_or("retrieval")),
                if app.show_attachments {
                    ""
                } else {
                    " · F4 shows the passages"
                }
            ),
            t.dim,
        ));
        for (n, s) in c.passages.iter().enumerate() {
            out.extend(markdown::wrap(
                &[
                    Span::styled(format!("  [{}] ", n + 1), t.accent),
                    Span::styled(sanitize(&s.source), t.link),
                    Span::styled(
                        format!(
                            " {}{}",
                            sanitize(s.location.as_deref().unwrap_or("")),
                            s.score.map(|x| format!(" · {x}")).unwrap_or_default()
                        ),
                        t.dim,
                    ),
                ],
                width,
                &[],
                &[Span::raw("      ")],
            ));
            if app.show_attachments {
                let bar = vec![Span::styled("    │ ", t.dim)];
                for line in s.text.lines() {
                    out.extend(markdown::wrap(
                        &[Span::styled(sanitize(line), t.text)],
                        width,
                        &bar,
                        &bar,
                    ));
                }
            }
        }
    }
    out
}

/// The warning a flagged piece of untrusted content gets, indented by `indent`.
fn injection_line(
    cx: &Cx,
    f: &crate::guard::Flag,
    width: usize,
    indent: &str,
) -> Vec<Line<'static>> {
    let app = cx.app;
    markdown::wrap(
        &[Span::styled(
            format!(
                "{indent}⚠ possible prompt injection in {}; sent labelled as data",
                sanitize(&f.detail)
            ),
            app.theme.warning,
        )],
        width,
        &[],
        &[Span::raw(format!("{indent}  "))],
    )
}

/// The steps of an answer that used tools, in order: what the model said between calls, and
/// each call on one line with how it was approved and what it returned (F4 shows the output).
fn step_lines(cx: &Cx, m: &Message, width: usize) -> Vec<Line<'static>> {
    let app = cx.app;
    use crate::parts::Part;
    let t = &app.theme;
    let mut out = Vec::new();
    if !m.parts.iter().any(|p| matches!(p, Part::ToolCall(_))) {
        return out;
    }
    let body_w = width.saturating_sub(2).max(10);
    let indent = vec![Span::raw("  ")];
    for p in &m.parts {
        match p {
            Part::Text { text, source: None } => {
                for l in markdown::render(&sanitize(text), body_w, t).lines {
                    let mut spans = indent.clone();
                    spans.extend(l.spans.into_iter().map(|s| {
                        let st = s.style.patch(t.dim);
                        Span::styled(s.content, st)
                    }));
                    out.push(Line::from(spans));
                }
            }
            Part::ToolCall(c) => {
                let result = m.parts.iter().find_map(|q| match q {
                    Part::ToolResult(r) if r.call_id == c.id => Some(r),
                    _ => None,
                });
                let how = c.approval.as_deref().unwrap_or("");
                let (status, style) = match result {
                    Some(r) if how == "denied" => (
                        format!("denied: {}", r.text.lines().next().unwrap_or("")),
                        t.warning,
                    ),
                    Some(r) => {
                        let mut s = format!("{how} · {}", crate::tools::summary(r));
                        if let Some(d) = r.duration_ms {
                            s.push_str(&format!(" · {d} ms"));
                        }
                        if r.truncated_from.is_some() {
                            s.push_str(" · cut");
                        }
                        (s, if r.is_error { t.warning } else { t.dim })
                    }
                    None => (
                        cx.batch
                            .as_ref()
                            .and_then(|b| b.status(&c.id))
                            .unwrap_or("no result")
                            .to_string(),
                        t.accent,
                    ),
                };
                let hint = if result.is_some() && how != "denied" && !app.show_attachments {
                    " · F4 shows"
                } else {
                    ""
                };
                out.extend(markdown::wrap(
                    &[
                        Span::styled("  ⚙ ".to_string(), t.accent),
                        Span::styled(sanitize(&c.name), t.accent),
                        Span::styled(format!(" {}", crate::tools::short_args(c)), t.text),
                        Span::styled(format!(" · {}{hint}", sanitize(&status)), style),
                    ],
                    width,
                    &[],
                    &[Span::raw("    ")],
                ));
                let source = format!("output of tool {}:", c.name);
                for f in m.flags.iter().filter(|f| f.detail.starts_with(&source)) {
                    out.extend(injection_line(cx, f, width, "    "));
                }
                if let Some(r) = result.filter(|_| app.show_attachments) {
                    const SHOWN: usize = 20;
                    let bar = vec![Span::styled("  │ ", t.dim)];
                    let lines: Vec<&str> = r.text.lines().collect();
                    for line in lines.iter().take(SHOWN) {
                        out.extend(markdown::wrap(
                            &[Span::styled(sanitize(line), t.text)],
                            width,
                            &bar,
                            &bar,
                        ));
                    }
                    if lines.len() > SHOWN {
                        out.push(Line::styled(
                            format!(
                                "  │ … {} more lines (in the saved conversation: charla show)",
                                lines.len() - SHOWN
                            ),
                            t.dim,
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

const SPINNER: &[&str] = &["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// An answer's first lines: who wrote it, then its reasoning (shown, or a one-line summary;
/// `words` counts it only when the summary is drawn).
fn answer_head(
    cx: &Cx,
    m: &Message,
    a: &crate::conversation::Answer,
    width: usize,
    streaming: bool,
    words: impl FnOnce() -> usize,
) -> Vec<Line<'static>> {
    let app = cx.app;
    let t = &app.theme;
    let mut out = vec![Line::from(vec![Span::styled(
        format!("▌ {}", a.model),
        t.assistant,
    )])];
    if a.reasoning.is_empty() {
        return out;
    }
    if app.show_reasoning {
        let p = vec![Span::styled("  ┆ ", t.dim)];
        for para in sanitize(&a.reasoning).split('\n') {
            out.extend(markdown::wrap(
                &[Span::styled(
                    para.to_string(),
                    t.dim.add_modifier(Modifier::ITALIC),
                )],
                width,
                &p,
                &p,
            ));
        }
    } else {
        let label = if streaming && m.content.is_empty() {
            "thinking…"
        } else {
            "thought"
        };
        out.push(Line::styled(
            format!("  ▸ {label} ({} words) · Ctrl-T shows", words()),
            t.dim,
        ));
    }
    out
}

fn message_lines(
    cx: &Cx,
    i: usize,
    m: &Message,
    width: usize,
    streaming: bool,
) -> Vec<Line<'static>> {
    let app = cx.app;
    let t = &app.theme;
    let mut out = Vec::new();
    let body_w = width.saturating_sub(2).max(10);
    let indent = vec![Span::raw("  ")];
    let selected = cx.selected.filter(|s| s.0 == i);
    if m.example {
        if !app.show_examples {
            let prev_is_example = i > 0 && cx.s.conv.messages[i - 1].example;
            if !prev_is_example {
                let n = cx.s.conv.messages[i..]
                    .iter()
                    .take_while(|m| m.example)
                    .count()
                    / 2;
                out.push(Line::styled(
                    format!(
                        "▸ {n} few-shot example{} · Ctrl-X shows",
                        if n == 1 { "" } else { "s" }
                    ),
                    t.dim,
                ));
                out.push(Line::default());
            }
            return out;
        }
        let who = if m.role == Role::User {
            "example · you"
        } else {
            "example · assistant"
        };
        out.push(Line::styled(format!("▌ {who}"), t.dim));
        for l in markdown::wrap(
            &[Span::styled(sanitize(&m.content), t.dim)],
            body_w + 2,
            &indent,
            &indent,
        ) {
            out.push(l);
        }
        out.push(Line::default());
        return out;
    }
    match (&m.answer, m.role) {
        (None, _) | (_, Role::User) => {
            out.push(Line::styled("▌ you", t.user));
            out.extend(part_lines(cx, m, width));
            for f in &m.flags {
                out.extend(injection_line(cx, f, width, "  "));
            }
            for para in sanitize(&m.content).split('\n') {
                out.extend(markdown::wrap(
                    &[Span::styled(para.to_string(), t.text)],
                    width,
                    &indent,
                    &indent,
                ));
            }
        }
        (Some(a), Role::Assistant) => {
            let words = || a.reasoning.split_whitespace().count();
            out.extend(answer_head(cx, m, a, width, streaming, words));
            out.extend(step_lines(cx, m, width));
            // With on_leak = "redact", what leaked the system prompt is hidden on screen.
            let shown =
                if !a.guards.is_empty() && cx.s.cfg.file.on_leak.as_deref() == Some("redact") {
                    crate::guard::redact_spans(&m.content, &a.guards)
                } else {
                    m.content.clone()
                };
            let body = markdown::render(&sanitize(&shown), body_w, t);
            let cited = sources_of(cx, i).map_or(0, |c| c.passages.len());
            for l in body.lines {
                let mut spans = indent.clone();
                if cited > 0 {
                    spans.extend(mark_citations(l.spans, cited, t.accent));
                } else {
                    spans.extend(l.spans);
                }
                out.push(Line::from(spans));
            }
            if !streaming {
                out.extend(source_lines(cx, i, width));
            }
            if !streaming {
                if let Some(c) = &a.schema {
                    let (text, style) = if c.valid {
                        ("  schema ✓".to_string(), t.dim)
                    } else {
                        (
                            format!(
                                "  schema ✗ {} error{}: {}",
                                c.errors.len(),
                                if c.errors.len() == 1 { "" } else { "s" },
                                sanitize(
                                    &c.errors
                                        .iter()
                                        .take(3)
                                        .cloned()
                                        .collect::<Vec<_>>()
                                        .join(" · ")
                                )
                            ),
                            t.warning,
                        )
                    };
                    out.extend(markdown::wrap(
                        &[Span::styled(text, style)],
                        width,
                        &[],
                        &indent,
                    ));
                }
                for g in &a.guards {
                    out.extend(markdown::wrap(
                        &[Span::styled(
                            format!("  ⚠ possible system prompt leak: {}", sanitize(&g.detail)),
                            t.warning,
                        )],
                        width,
                        &[],
                        &indent,
                    ));
                }
                let style = if a.interrupted { t.warning } else { t.dim };
                let footer = format!("  {}", sanitize(&answer_footer(a)));
                out.extend(markdown::wrap(
                    &[Span::styled(footer, style)],
                    width,
                    &[],
                    &indent,
                ));
                // Counted on the conversation's answer: a flipped alternative shows in its place.
                let alts =
                    cx.s.conv
                        .messages
                        .get(i)
                        .and_then(|m| m.answer.as_ref())
                        .map_or(0, |a| a.alternatives.len());
                if alts > 0 {
                    // ‹ k/N ›: the alternatives are 1…N-1 (oldest first), the answer is N.
                    let n = alts + 1;
                    let k = selected.and_then(|s| s.1).map_or(n, |k| k + 1);
                    let how = if selected.is_some() {
                        if k == n {
                            " · ←/→ flips".to_string()
                        } else {
                            " · ←/→ flips · Enter continues from this one".to_string()
                        }
                    } else {
                        format!(
                            " · {} other answer{} · Alt-↑ selects, ←/→ flips",
                            n - 1,
                            if n == 2 { "" } else { "s" }
                        )
                    };
                    out.extend(markdown::wrap(
                        &[
                            Span::styled(format!("  ‹ {k}/{n} ›"), t.accent),
                            Span::styled(how, t.dim),
                        ],
                        width,
                        &[],
                        &indent,
                    ));
                }
            }
        }
    }
    if selected.is_some() {
        if let Some(first) = out.first_mut() {
            for sp in first.spans.iter_mut() {
                sp.style = sp.style.add_modifier(Modifier::REVERSED);
            }
        }
        out.extend(markdown::wrap(
            &[Span::styled(
                "  ↑/↓ moves · y copies · f forks here · r retries · e edits · Esc leaves",
                t.accent,
            )],
            width,
            &[],
            &indent,
        ));
    }
    out.push(Line::default());
    out
}

/// The streaming message `i` as (head, kept body lines in `cache.live`, tail): the same lines
/// as `message_lines(.., streaming = true)`, with the body rendered incrementally.
fn live_lines(
    cx: &Cx,
    cache: &mut ViewCache,
    i: usize,
    m: &Message,
    width: usize,
) -> (Vec<Line<'static>>, Vec<Line<'static>>) {
    let app = cx.app;
    let t = &app.theme;
    let request_id = cx.s.in_flight.as_ref().map(|f| f.request_id).unwrap_or(0);
    let mut live = match cache.live.take() {
        Some(l) if l.request_id == request_id && l.index == i => l,
        _ => Live {
            request_id,
            index: i,
            body: markdown::Incremental::default(),
            kept: Vec::new(),
            reasoning_words: (usize::MAX, 0),
        },
    };
    let Some(a) = m
        .answer
        .as_ref()
        .filter(|_| m.role == Role::Assistant && !m.example)
    else {
        cache.live = Some(live);
        return (message_lines(cx, i, m, width, true), Vec::new());
    };
    if live.reasoning_words.0 != a.reasoning.len() && !app.show_reasoning {
        live.reasoning_words = (a.reasoning.len(), a.reasoning.split_whitespace().count());
    }
    let words = live.reasoning_words.1;
    let mut head = answer_head(cx, m, a, width, true, || words);
    head.extend(step_lines(cx, m, width));
    let body_w = width.saturating_sub(2).max(10);
    let indent = |l: Line<'static>| {
        let mut spans = vec![Span::raw("  ")];
        spans.extend(l.spans);
        Line::from(spans)
    };
    let tail = live.body.update(&m.content, body_w, t);
    let kept = live.body.kept();
    // Kept lines only grow (their trailing blank lines may hide while the tail is empty).
    live.kept.truncate(kept.len());
    let new: Vec<Line<'static>> = kept[live.kept.len()..].to_vec();
    live.kept.extend(new.into_iter().map(indent));
    let mut tail: Vec<Line<'static>> = tail.into_iter().map(indent).collect();
    tail.push(Line::default());
    cache.live = Some(live);
    (head, tail)
}

pub fn transcript(cx: &Cx, cache: &mut ViewCache, area: Rect, f: &mut Frame) {
    let app = cx.app;
    let width = area.width as usize;
    let conv = &cx.s.conv;
    let streaming_idx = cx.s.in_flight.as_ref().map(|f| f.index);
    if cache.theme != app.theme.name {
        cache.entries.clear();
        cache.theme = app.theme.name.clone();
    }
    cache.entries.resize(conv.messages.len(), None);
    cache.entries.truncate(conv.messages.len());
    let mut header: Vec<Line<'static>> = Vec::new();
    if let Some(sys) = conv
        .system_prompt
        .as_deref()
        .filter(|s| !s.is_empty() && cx.main)
    {
        let t = &app.theme;
        if app.show_system {
            header.push(Line::styled("⚙ system prompt", t.accent));
            for para in sanitize(sys).split('\n') {
                header.extend(markdown::wrap(
                    &[Span::styled(para.to_string(), t.dim)],
                    width,
                    &[Span::raw("  ")],
                    &[Span::raw("  ")],
                ));
            }
        } else {
            let first: String = sanitize(sys)
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(width.saturating_sub(30))
                .collect();
            header.push(Line::styled(
                format!("⚙ system: {first}… · Ctrl-X shows"),
                t.dim,
            ));
        }
        header.push(Line::default());
    }
    let flags = u8::from(app.show_examples)
        | u8::from(app.show_reasoning) << 1
        | u8::from(markdown::highlighter_ready()) << 2
        | u8::from(app.show_attachments) << 4;
    // Heights, bottom-up: a message is rendered (and cached) only when it is on screen or
    // within a screen of it; the others count with an estimate. So reopening a huge
    // conversation, or jumping to its top, renders a few screenfuls, not every message.
    let h = area.height as usize;
    // Where the viewport is, from the bottom (Home asks for "as far up as it goes").
    let scroll = cx.scroll.min(cache.total.saturating_sub(h).max(h));
    let (lo, hi) = (scroll.saturating_sub(h), scroll.saturating_add(h * 2));
    let mut heights: Vec<Height> = vec![Height::Estimate(0); conv.messages.len()];
    let mut acc = 0usize;
    let (live_head, live_tail) = match streaming_idx {
        Some(i) => live_lines(cx, cache, i, &conv.messages[i], width),
        None => {
            cache.live = None;
            (vec![], vec![])
        }
    };
    let live_kept_len = match (&cache.live, streaming_idx) {
        (Some(l), Some(_)) => l.kept.len(),
        _ => 0,
    };
    let live_len = live_head.len() + live_kept_len + live_tail.len();
    // The selected answer may be showing one of its alternatives instead.
    let flipped = cx
        .selected
        .and_then(|(i, k)| Some((i, alternative_message(conv, i, k?)?)));
    let shown = |i: usize| -> &Message {
        match &flipped {
            Some((j, m)) if *j == i => m,
            _ => &conv.messages[i],
        }
    };
    // A selected message (and the alternative it shows) is rendered apart from the others.
    let key_for = |i: usize, m: &Message| {
        let sel = cx.selected.filter(|s| s.0 == i);
        let mut key = key_of(m, width, flags | u8::from(sel.is_some()) << 5);
        key.alt = sel.and_then(|s| s.1);
        key
    };
    for i in (0..conv.messages.len()).rev() {
        if i < cx.from {
            heights[i] = Height::Hidden;
            continue;
        }
        let m = shown(i);
        if Some(i) == streaming_idx {
            heights[i] = Height::Live;
            acc += live_len;
            continue;
        }
        let key = key_for(i, m);
        let fresh = cache.entries[i].as_ref().is_some_and(|(k, _)| *k == key);
        let est = if fresh {
            0
        } else {
            match cache.estimates.get(i) {
                Some(&(len, w, est)) if len == m.content.len() + m.parts.len() && w == width => est,
                _ => {
                    let est = estimate_height(cx, i, m, width);
                    if cache.estimates.len() <= i {
                        cache
                            .estimates
                            .resize(conv.messages.len(), (usize::MAX, 0, 0));
                    }
                    cache.estimates[i] = (m.content.len() + m.parts.len(), width, est);
                    est
                }
            }
        };
        // Near the viewport: render it now (cached for the next frames).
        if !fresh && acc < hi && acc + est.max(1) > lo {
            cache.entries[i] = Some((key, message_lines(cx, i, m, width, false)));
        }
        let n = match &cache.entries[i] {
            Some((k, l)) if fresh || k.width == width && acc < hi && acc + est.max(1) > lo => {
                heights[i] = Height::Exact;
                l.len()
            }
            _ => {
                heights[i] = Height::Estimate(est);
                est
            }
        };
        acc += n;
    }
    let total = header.len() + acc;
    cache.total = total;
    cache.height = h;
    let scroll = cx.scroll.min(total.saturating_sub(h));
    let end = total - scroll;
    let start = end.saturating_sub(h);
    // The lines in [start, end), as pieces of their sources (taken by reference once every
    // message they need is rendered: no line is copied per frame).
    let mut pieces: Vec<(Src, usize, usize)> = Vec::new();
    let mut pos = 0usize;
    let take = |src: Src, len: usize, pos: &mut usize, pieces: &mut Vec<(Src, usize, usize)>| {
        let (a, b) = (*pos, *pos + len);
        if b > start && a < end {
            pieces.push((src, start.saturating_sub(a), (end - a).min(len)));
        }
        *pos = b;
    };
    take(Src::Header, header.len(), &mut pos, &mut pieces);
    // Where every message is (the ones below the screen too, for scrolling to them).
    cache.spans.clear();
    let mut at = header.len();
    for (i, hgt) in heights.iter().enumerate() {
        let n = match *hgt {
            Height::Hidden => 0,
            Height::Live => live_len,
            Height::Exact => cache.entries[i].as_ref().map_or(0, |(_, l)| l.len()),
            Height::Estimate(n) => n,
        };
        cache.spans.push((at, at + n));
        at += n;
    }
    cache.top = start;
    cache.area_y = area.y;
    for (i, hgt) in heights.iter().enumerate() {
        if pos >= end {
            break;
        }
        match *hgt {
            Height::Live => {
                take(Src::Head, live_head.len(), &mut pos, &mut pieces);
                if let Some(l) = cache.live.as_ref() {
                    take(Src::Kept, l.kept.len(), &mut pos, &mut pieces);
                }
                take(Src::Tail, live_tail.len(), &mut pos, &mut pieces);
            }
            Height::Exact => {
                if let Some((_, l)) = &cache.entries[i] {
                    take(Src::Entry(i), l.len(), &mut pos, &mut pieces);
                }
            }
            Height::Hidden => {}
            Height::Estimate(n) if pos + n <= start => pos += n,
            Height::Estimate(_) => {
                // Scrolled into a part not rendered yet: render it now (cached for next time).
                let m = shown(i);
                let l = message_lines(cx, i, m, width, false);
                take(Src::Entry(i), l.len(), &mut pos, &mut pieces);
                cache.entries[i] = Some((key_for(i, m), l));
            }
        }
    }
    // Nothing said yet: the system prompt (if any) and how to start.
    let welcome_lines: Vec<Line<'static>> = if conv.messages.is_empty() && cx.main {
        header.iter().cloned().chain(welcome(app, width)).collect()
    } else {
        vec![]
    };
    let mut lines: Vec<&Line<'static>> = Vec::with_capacity(h);
    if conv.messages.is_empty() && cx.main {
        lines.extend(welcome_lines.iter());
    } else {
        for (src, from, to) in pieces {
            let all: &[Line<'static>] = match src {
                Src::Header => &header,
                Src::Head => &live_head,
                Src::Kept => cache.live.as_ref().map_or(&[][..], |l| &l.kept),
                Src::Tail => &live_tail,
                Src::Entry(i) => cache.entries[i].as_ref().map_or(&[][..], |(_, l)| l),
            };
            lines.extend(&all[from.min(all.len())..to.min(all.len())]);
        }
    }
    lines.truncate(h);
    // Each line straight into the buffer (a Paragraph would restyle every cell of the area
    // and re-measure each line first: a third of a streaming frame).
    let buf = f.buffer_mut();
    for (y, line) in lines.iter().enumerate() {
        put_line(buf, area.x, area.y + y as u16, line, area.width);
    }
    if cx.main {
        let badge = scroll > 0 && area.height > 0;
        let mut before = cache.drawn.take();
        let full = f.area();
        let u = unchanged(
            before.as_ref(),
            area,
            full,
            start,
            scroll == 0,
            &lines,
            badge,
        );
        // What the next frame compares with: an unchanged row's line is the one kept from the
        // last frame (moved, not copied); only the others are copied.
        let kept = lines
            .iter()
            .enumerate()
            .map(|(y, l)| match before.as_mut() {
                Some(d) if u.rows.get(y) == Some(&true) && y + u.k < d.lines.len() => {
                    std::mem::take(&mut d.lines[y + u.k])
                }
                _ => (*l).clone(),
            })
            .collect();
        cache.unchanged = u;
        cache.drawn = Some(Drawn {
            area,
            start,
            lines: kept,
            following: scroll == 0,
            covered: false,
            badge,
        });
    }
    // Scrolled up: say how much is below (and that an answer is still arriving).
    if scroll > 0 && area.height > 0 {
        let live = if streaming_idx.is_some() {
            " · streaming"
        } else {
            ""
        };
        let text = format!(" ↓ {scroll} more lines{live} · End ");
        let w = (text.chars().count() as u16).min(area.width);
        let r = Rect {
            x: area.x + area.width - w,
            y: area.y + area.height - 1,
            width: w,
            height: 1,
        };
        f.render_widget(
            Paragraph::new(Span::styled(
                text,
                app.theme.accent.add_modifier(Modifier::REVERSED),
            )),
            r,
        );
    }
}

fn welcome(app: &App, _width: usize) -> Vec<Line<'static>> {
    let t = &app.theme;
    let mut l = vec![
        Line::default(),
        Line::styled("  charla", t.accent.add_modifier(Modifier::BOLD)),
        Line::styled(
            format!(
                "  {} · type a question and press Enter · ? for keys",
                app.session.model
            ),
            t.dim,
        ),
    ];
    if app.session.model.provider == "demo" {
        l.push(Line::default());
        l.push(Line::styled(
            "  You are on the offline demo model (no API key found). To use a real provider:",
            t.warning,
        ));
        l.push(Line::styled("    export OPENAI_API_KEY=…  (or ANTHROPIC_API_KEY, GEMINI_API_KEY, OPENROUTER_API_KEY)", t.text));
        l.push(Line::styled("    or switch now: /model anthropic/claude-haiku-4-5 · `charla models` lists models and prices", t.text));
    }
    l
}

fn status(app: &App, area: Rect, f: &mut Frame) {
    let t = &app.theme;
    let mut tot = app.session.totals();
    // Answers a comparison re-asking the last question holds until one is picked still count.
    if let Some(p) = &app.compare {
        for k in &p.kept {
            tot.add_aside(&k.answer);
        }
    }
    let mut parts: Vec<Span<'static>> = vec![Span::styled(
        format!(" {} ", app.session.model),
        t.status.add_modifier(Modifier::BOLD),
    )];
    let unknown = if tot.unpriced_turns > 0 { "+?" } else { "" };
    parts.push(Span::styled(
        format!(
            " Σ {} tok {}{} ",
            thousands(tot.usage.input_tokens + tot.usage.output_tokens),
            dollars(tot.cost_usd),
            unknown
        ),
        t.status,
    ));
    // The tightest spend cap: the conversation's budget, or what today / this month may still take.
    if !app.session.caps.is_empty()
        && let Some(h) = app
            .session
            .caps
            .headroom(&app.session.conv, &crate::util::today())
    {
        let st = if h.left <= 0.0 {
            t.status.patch(t.error)
        } else {
            t.status
        };
        let text = if h.what.starts_with("the conversation") {
            format!("of {} budget ", dollars(h.limit))
        } else {
            let period = h.what.split(' ').next().unwrap_or("");
            format!("· {period} {} of {} ", dollars(h.spent), dollars(h.limit))
        };
        parts.push(Span::styled(text, st));
    }
    if let Some(r) = &app.session.conv.rag {
        parts.push(Span::styled(format!("rag {} ", sanitize(r)), t.status));
    }
    if app.compare.is_none() && !app.compare_models.is_empty() {
        parts.push(Span::styled(
            format!("compare ×{} ", app.compare_models.len()),
            t.status,
        ));
    }
    if let Some(p) = &app.compare {
        let (cost, unknown) = p.cost();
        let n = p.cmp.panes.len();
        let live = p.cmp.streaming();
        let spin = SPINNER[(app.tick as usize) % SPINNER.len()];
        let text = if live > 0 {
            format!(
                " {spin} comparing {n} models · {live} streaming · {}{} so far · Esc cancels all ",
                dollars(cost),
                if unknown { "+?" } else { "" }
            )
        } else {
            format!(
                " {n} answers · {}{} · 1–{n} continues with one ",
                dollars(cost),
                if unknown { "+?" } else { "" }
            )
        };
        parts.push(Span::styled(text, t.status.add_modifier(Modifier::BOLD)));
    } else if let Some(f) = &app.session.in_flight {
        let el = app.now.saturating_duration_since(f.started).as_secs_f64();
        let spin = SPINNER[(app.tick as usize) % SPINNER.len()];
        let text = if f.awaiting_tools {
            match &app.tool_batch {
                Some(b) if b.running => format!(" {spin} running tools · Esc cancels "),
                Some(b) if b.waiting() > 0 => format!(
                    " ⚙ {} call{} to approve ",
                    b.waiting(),
                    if b.waiting() == 1 { "" } else { "s" }
                ),
                _ => format!(" {spin} tools "),
            }
        } else {
            match progress(f, &app.session.conv.messages[f.index], app.now) {
                Progress::Retrying(note) => format!(" {spin} {note} "),
                Progress::Streaming { rate, .. } => {
                    format!(" {spin} {rate:.0} tok/s · {el:.1}s ")
                }
                Progress::Waiting => format!(" {spin} waiting {el:.1}s · Esc cancels "),
            }
        };
        parts.push(Span::styled(text, t.status.add_modifier(Modifier::BOLD)));
    } else if let Some(a) = app.session.last_answer() {
        let c = a
            .cost_usd
            .map(dollars)
            .unwrap_or_else(|| "price unknown".into());
        parts.push(Span::styled(format!(" last {c} "), t.status));
    }
    let left_w: usize = parts.iter().map(|s| s.width()).sum();
    let right = match &app.notice {
        Some((text, level, _)) => {
            let st = match level {
                Level::Info => t.status,
                Level::Warn => t.status.patch(t.warning),
                Level::Error => t.status.patch(t.error),
            };
            Some(Span::styled(format!(" {} ", sanitize(text)), st))
        }
        None if app.session.model.provider == "demo" => Some(Span::styled(
            " demo model · set OPENAI_API_KEY (or another key) for a real one ",
            t.status,
        )),
        None => Some(Span::styled(" ? help ", t.status)),
    };
    if let Some(r) = right {
        let rw = r.width();
        // A warning or error that does not fit beside the figures takes the whole bar: it is
        // what the user must read now (the figures are back when it goes).
        let urgent = matches!(&app.notice, Some((_, l, _)) if *l != Level::Info);
        if urgent && left_w + rw > area.width as usize {
            parts.clear();
        }
        let left_w: usize = parts.iter().map(|s| s.width()).sum();
        let pad = (area.width as usize).saturating_sub(left_w + rw);
        parts.push(Span::styled(" ".repeat(pad), t.status));
        parts.push(r);
    }
    // One line, written straight into the buffer (a Paragraph measures every grapheme).
    let buf = f.buffer_mut();
    buf.set_style(area, t.status);
    put_line(buf, area.x, area.y, &Line::from(parts), area.width);
}

/// What a turn in flight is doing, for a status line (the main view's, a compared pane's).
pub(super) enum Progress {
    /// "rate limited, retrying in 3 s (attempt 2)"
    Retrying(String),
    /// Tokens so far (estimated from the text and reasoning, 4 bytes a token), per second.
    Streaming {
        tokens: f64,
        rate: f64,
    },
    Waiting,
}

pub(super) fn progress(
    f: &crate::session::InFlight,
    m: &Message,
    now: std::time::Instant,
) -> Progress {
    if let Some((attempt, wait, reason, at)) = &f.retry {
        let left = wait.as_secs_f64() - now.saturating_duration_since(*at).as_secs_f64();
        // "rate limited (HTTP 429): Rate limit reached for …" → its first part.
        let short = reason.split(':').next().unwrap_or(reason);
        return Progress::Retrying(format!(
            "{short}, retrying in {:.0} s (attempt {attempt})",
            left.max(0.0).ceil()
        ));
    }
    match f.first_token {
        Some(ft) => {
            let bytes = m.content.len() + m.answer.as_ref().map_or(0, |a| a.reasoning.len());
            let tokens = bytes as f64 / 4.0;
            let el = now.saturating_duration_since(f.started).as_secs_f64();
            let generating = (el - ft.as_secs_f64()).max(0.001);
            Progress::Streaming {
                tokens,
                rate: tokens / generating,
            }
        }
        None => Progress::Waiting,
    }
}

fn help(app: &App, area: Rect, f: &mut Frame) {
    let t = &app.theme;
    let rows: &[(&str, &str)] = &[
        (
            "Enter · Alt-Enter · Ctrl-E",
            "send · new line · draft in $EDITOR",
        ),
        (
            "Up · Up then Ctrl-E, /edit",
            "recall · edit the last question",
        ),
        ("Esc · Ctrl-C twice, /q", "cancel the answer (kept) · quit"),
        ("Ctrl-R, /retry [model]", "regenerate the last answer"),
        (
            "F2, /model [filter|p/name]",
            "pick a model (prices) or switch",
        ),
        ("F3, /system [TEXT]", "system prompt (no text: editor)"),
        (
            "Ctrl-P, /preset [name]",
            "presets: system prompt + examples",
        ),
        ("Ctrl-O, /open [words]", "saved conversations (search)"),
        ("Ctrl-N, /new · /title NEW", "new conversation · rename it"),
        ("Ctrl-Y, /copy [N]", "copy the last answer or code block N"),
        (
            "F5, /export md|json [path]",
            "write this conversation to a file",
        ),
        (
            "F6, /replay provider/model",
            "re-ask every question on a model",
        ),
        (
            "F7, /budget [0.50|off] · /schema",
            "spend cap · schema-checked answers",
        ),
        (
            "PgUp/PgDn, wheel, Home/End",
            "scroll; End follows the stream",
        ),
        (
            "Ctrl-T / Ctrl-X / F4",
            "reasoning / system + examples / files",
        ),
        (
            "/attach PATH…, paste · /detach N",
            "attach files, images · remove one",
        ),
        (
            "/compare A B [C D] · off",
            "next question to all, side by side",
        ),
        ("Alt-↑/↓, click", "select: ←/→ alternatives, Enter keeps"),
        ("f · /fork [model]", "new conversation up to the selected"),
    ];
    // The key column is as wide as the widest key: a key never runs into its description.
    // Descriptions wrap at word boundaries when the screen is too narrow for them.
    let key_w = rows.iter().map(|(k, _)| k.width()).max().unwrap_or(0) + 3;
    let desc_w = rows.iter().map(|(_, d)| d.width()).max().unwrap_or(0);
    let w = ((key_w + desc_w + 3) as u16).min(area.width.saturating_sub(2));
    let inner = (w as usize).saturating_sub(2);
    let mut lines: Vec<Line> = Vec::new();
    for (k, d) in rows {
        // Too narrow for two columns: the description goes under its key.
        let (indent, room) = if inner >= key_w + 12 {
            (key_w, inner - key_w)
        } else {
            lines.push(Line::from(Span::styled(format!(" {k}"), t.accent)));
            (3, inner.saturating_sub(3).max(1))
        };
        let mut first = indent == key_w;
        for chunk in wrap_words(d, room) {
            let head = if first {
                format!(" {k:<width$}", width = key_w - 1)
            } else {
                " ".repeat(indent)
            };
            first = false;
            lines.push(Line::from(vec![
                Span::styled(head, t.accent),
                Span::styled(chunk, t.text),
            ]));
        }
    }
    let h = (lines.len() as u16 + 2).min(area.height.saturating_sub(2));
    let r = Rect {
        x: area.x + (area.width.saturating_sub(w)) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border)
                .title(" keys · any key closes "),
        ),
        r,
    );
}

/// `text` in lines of at most `width` columns, broken between words (a word longer than the
/// line is cut).
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        loop {
            let need = if line.is_empty() { 0 } else { 1 } + word.width();
            if line.width() + need <= width {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&word);
                break;
            }
            if line.is_empty() {
                // A word wider than the line: cut it.
                let mut head = String::new();
                let mut rest = String::new();
                for c in word.chars() {
                    if rest.is_empty() && head.width() + c.to_string().width() <= width {
                        head.push(c);
                    } else {
                        rest.push(c);
                    }
                }
                out.push(head);
                word = rest;
                if word.is_empty() {
                    break;
                }
            } else {
                out.push(std::mem::take(&mut line));
            }
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

/// Renders the whole chat screen into `f`'s buffer, every cell made terminal-safe.
pub fn render(app: &App, cache: &mut ViewCache, f: &mut Frame) {
    render_unchecked(app, cache, f);
    terminal_safe(f.buffer_mut());
}

/// `render` without the last pass over every cell: for `screen::Screen`, which makes each
/// cell safe as it compares it with the screen, so only cells that changed are looked at.
pub fn render_unchecked(app: &App, cache: &mut ViewCache, f: &mut Frame) {
    cache.unchanged = Unchanged::default();
    // Only the main transcript keeps what it drew (not a comparison's panes).
    let drawn = cache.drawn.take();
    cache.drawn = drawn.filter(|_| app.compare.is_none());
    let area = f.area();
    let input_h = (app.input.lines().len() as u16 + 2).clamp(3, (area.height / 3).max(3));
    // The attachments waiting to be sent, as chips just above the input.
    let mut chips = app
        .attachments
        .lines(app.kind(), area.width as usize, &app.theme);
    chips.truncate((area.height / 4) as usize);
    let [chat, chips_area, input, bar] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(chips.len() as u16),
        Constraint::Length(input_h),
        Constraint::Length(1),
    ])
    .areas(area);
    match &app.compare {
        Some(c) => super::compare::render(app, c, cache, chat, f),
        None => {
            // The last comparison's pane caches go with it.
            cache.panes.clear();
            let cx = Cx {
                app,
                s: &app.session,
                batch: app.tool_batch.as_ref(),
                from: 0,
                scroll: app.scroll,
                selected: app.selection.map(|s| (s.index, s.alternative)),
                main: true,
            };
            transcript(&cx, cache, chat, f);
        }
    }
    if !chips.is_empty() {
        f.render_widget(Paragraph::new(chips), chips_area);
    }
    let conv = &app.session.conv;
    // While an answer streams, the next request's history is not final: the estimate keeps
    // the one from before (counting the history is proportional to the conversation).
    let streaming = app.session.is_streaming();
    let upto = conv.messages.len().saturating_sub(usize::from(streaming));
    let key = (
        upto,
        conv.messages[..upto]
            .last()
            .map(|m| m.content.len())
            .unwrap_or(0),
        app.session.model.to_string(),
    );
    let hist = match &cache.history {
        Some((k, n)) if *k == key => *n,
        _ => {
            let n = app.session.history_tokens();
            cache.history = Some((key, n));
            n
        }
    };
    // The estimate changes with the draft, the history, the model and the price data: it is
    // computed again only when one of them did.
    let draft = app.draft();
    let attached = app.attachments.key();
    let est_key = (
        hist,
        draft.len(),
        app.session.model.to_string(),
        app.session.max_tokens,
        crate::pricing::try_db().is_some(),
        attached,
    );
    let est = match &cache.estimate {
        Some((k, d, e)) if *k == est_key && *d == draft => *e,
        _ => {
            let e = app
                .session
                .estimate_with(hist + app.attachments.tokens(app.kind()), &draft);
            cache.estimate = Some((est_key, draft, e));
            e
        }
    };
    let cost = match est.input_cost_usd {
        Some(c) => format!("~{} in", dollars(c)),
        None if !est.pricing_ready => "pricing…".into(),
        None => "price unknown".into(),
    };
    // The most this request could cost with its answer (max_tokens, else the rest of the
    // context, at the output price): after the gauge, so a narrow screen cuts it first.
    let worst = match (est.input_cost_usd, est.worst_case_usd()) {
        (Some(c), Some(w)) if w > c && est.capped => {
            format!("≤{} with the answer (bounded by the cap) ", dollars(w))
        }
        (Some(c), Some(w)) if w > c => format!("≤{} with the answer ", dollars(w)),
        _ => String::new(),
    };
    let compare_hint = app.compare.as_ref().map(|p| {
        format!(
            "1–{} continues with that answer · Tab moves · x cancels a pane · Esc cancels all ",
            p.cmp.panes.len()
        )
    });
    let editing = if !app.compare_models.is_empty() {
        "to every /compare model · "
    } else if app.editing_last {
        "editing last question (Enter replaces, Esc stops) · "
    } else if app.recalled {
        "recalled (Enter asks again, Ctrl-E edits it) · "
    } else {
        ""
    };
    // How much of the model's context the next request fills; a warning when it would not fit.
    let (ctx, ctx_style) = match est.context_window {
        Some(w) if est.input_tokens > w => (
            format!(" · over the {}-token context", thousands(w)),
            app.theme.error,
        ),
        Some(w) if w > 0 => {
            let pct = est.input_tokens as f64 * 100.0 / w as f64;
            let style = if pct >= 80.0 {
                app.theme.warning
            } else {
                app.theme.dim
            };
            (format!(" · {pct:.0}% of context"), style)
        }
        _ => (String::new(), app.theme.dim),
    };
    let title = if let Some(h) = &compare_hint {
        Line::styled(format!(" {h}"), app.theme.accent)
    } else {
        Line::from(vec![
            Span::styled(
                format!(
                    " {editing}message · ~{} tok · {cost}",
                    thousands(est.input_tokens)
                ),
                app.theme.dim,
            ),
            Span::styled(format!("{ctx} "), ctx_style),
            Span::styled(
                if worst.is_empty() {
                    worst
                } else {
                    format!("· {worst}")
                },
                app.theme.dim,
            ),
        ])
    };
    // The border and title drawn around the input, which is drawn as it is (no clone of it
    // per frame: a 100 KB draft cost a copy each time).
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(app.theme.border)
        .title(title);
    let inner = block.inner(input);
    f.render_widget(block, input);
    f.render_widget(&app.input, inner);
    status(app, bar, f);
    overlay(app, area, f);
    if app.help {
        help(app, area, f);
    }
    // Whatever is drawn over the transcript (a dialog, the help) changes its rows' cells: none
    // of them is unchanged in this frame or the next.
    if !matches!(app.overlay, super::app::Overlay::None) || app.help {
        cache.unchanged.rows.clear();
        if let Some(d) = cache.drawn.as_mut() {
            d.covered = true;
        }
    }
}

/// The scroll and the unchanged rows (see `Unchanged`) of the main transcript, drawn in `area`
/// of the screen `full` from line `start` (`following`: at the end), after `before`.
fn unchanged(
    before: Option<&Drawn>,
    area: Rect,
    full: Rect,
    start: usize,
    following: bool,
    lines: &[&Line<'static>],
    badge: bool,
) -> Unchanged {
    let h = area.height as usize;
    let Some(d) = before.filter(|d| d.area == area) else {
        return Unchanged::default();
    };
    // A scroll region is whole rows: the transcript must span the screen's width.
    let k = if following
        && d.following
        && area.x == full.x
        && area.width == full.width
        && d.start < start
        && start - d.start < h
    {
        start - d.start
    } else {
        0
    };
    // Without a scroll, the rows show the same lines only when the first line did not move.
    if d.covered || k == 0 && d.start != start {
        return Unchanged {
            area,
            k,
            rows: vec![],
        };
    }
    let rows = (0..h)
        .map(|y| {
            let now = lines.get(y).copied();
            if y + k >= h {
                // Scrolled in blank at the bottom.
                return false;
            }
            let then = d.lines.get(y + k);
            // The badge sits on the last row.
            let badged = (badge || d.badge) && (y == h - 1 || y + k == h - 1);
            !badged && now == then
        })
        .collect();
    Unchanged { area, k, rows }
}

/// `Buffer::set_line` with a fast path for printable ASCII spans (nearly all of a transcript):
/// their bytes go straight into the row's cells, without grapheme segmentation and width
/// look-ups (those were a third of a streaming frame). Other spans take `set_stringn`. The
/// cells come out the same either way (a test checks it).
pub fn put_line(
    buf: &mut ratatui::buffer::Buffer,
    x: u16,
    y: u16,
    line: &Line<'_>,
    max_width: u16,
) -> (u16, u16) {
    let mut x = x;
    let right = buf.area.right().min(x.saturating_add(max_width));
    for span in line {
        if x >= right {
            break;
        }
        let style = line.style.patch(span.style);
        let text = span.content.as_ref();
        if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            let n = text.len().min((right - x) as usize);
            let start = buf.index_of(x, y);
            let mut tmp = [0u8; 4];
            for (cell, b) in buf.content[start..start + n].iter_mut().zip(text.bytes()) {
                cell.set_symbol((b as char).encode_utf8(&mut tmp))
                    .set_style(style);
            }
            x += n as u16;
        } else {
            let (nx, _) = buf.set_stringn(x, y, text, (right - x) as usize, style);
            x = nx;
        }
    }
    (x, y)
}

/// The last line of defence: no cell reaches the terminal with a control or bidi character,
/// whatever path its text took (ratatui drops C0/C1 controls itself, not bidi overrides).
fn terminal_safe(buf: &mut ratatui::buffer::Buffer) {
    for cell in buf.content.iter_mut() {
        let sym = cell.symbol();
        // Printable ASCII (nearly every cell) needs no look.
        let plain = sym.len() == 1 && (0x20..0x7f).contains(&sym.as_bytes()[0]);
        if !plain && sym.chars().any(crate::sanitize::is_unsafe) {
            cell.set_symbol("\u{fffd}");
        }
    }
}

#[cfg(test)]
mod put_line_tests {
    use super::*;
    use ratatui::buffer::Buffer;
    use ratatui::style::{Color, Style};

    #[test]
    fn the_fast_path_writes_the_same_cells_as_set_line() {
        let lines = [
            Line::from("plain ascii text that is longer than the area, by far, yes"),
            Line::from(vec![
                Span::styled("  ", Style::default()),
                Span::styled("bold", Style::default().fg(Color::Red)),
                Span::raw(" 日本語 wide and é combining e\u{301} "),
                Span::styled("tail", Style::default().bg(Color::Blue)),
            ]),
            Line::from(vec![Span::raw("tab\there"), Span::raw("💥 emoji")])
                .style(Style::default().fg(Color::Green)),
            Line::from(""),
        ];
        for line in &lines {
            for (x, w) in [(0u16, 40u16), (3, 10), (0, 0), (39, 5), (10, 1), (5, 200)] {
                let area = ratatui::layout::Rect::new(0, 0, 40, 1);
                let mut a = Buffer::empty(area);
                let mut b = Buffer::empty(area);
                let ra = a.set_line(x, 0, line, w);
                let rb = put_line(&mut b, x, 0, line, w);
                assert_eq!(a, b, "{line:?} at {x} width {w}");
                assert_eq!(ra, rb);
            }
        }
    }
}
