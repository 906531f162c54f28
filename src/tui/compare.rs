//! The chat screen's comparison (`/compare A B [C D]`): the question goes to every marked
//! model at once, one pane per answer. A pane is the transcript component of the main view
//! (`view::transcript` over that answer's [`Session`](crate::session::Session)), so N panes are
//! N instances. The state and keys live here; [`crate::compare::Compare`] is the engine.
//!
//! Keys while it is open: `1`…`N` (or Enter on the focused pane) continue with that answer,
//! Tab / Shift-Tab move the focus, `x` cancels the focused pane, Esc cancels every pane still
//! streaming, PageUp / PageDown scroll the focused pane. Other keys go to the input: a
//! follow-up typed meanwhile is sent with Enter, on the focused answer, once all are in.

use super::app::{App, Effect, Level};
use super::view::{Cx, ViewCache, transcript};
use crate::compare::Compare;
use crate::config::ModelRef;
use crate::conversation::Alternative;
use crate::sanitize::sanitize;
use crate::util::{dollars, thousands};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

/// Narrowest a side-by-side pane may be; narrower screens stack the panes.
const MIN_COLUMN: u16 = 36;

pub struct Panes {
    pub cmp: Compare,
    pub focus: usize,
    /// Each pane's lines scrolled up from its end.
    pub scroll: Vec<usize>,
    /// Answers this comparison replaces (it re-asked the last question): kept as alternatives.
    pub kept: Vec<Alternative>,
    /// Each pane's retries before its answer started: (how many, the last reason).
    pub retries: Vec<(u32, String)>,
}

impl Panes {
    /// What the panes cost so far (the finished answers'), and whether a price is unknown.
    pub fn cost(&self) -> (f64, bool) {
        let mut t = crate::conversation::model::Totals::default();
        for a in (0..self.cmp.panes.len()).filter_map(|i| self.cmp.answer(i)?.answer.as_ref()) {
            t.add_aside(a);
        }
        (t.cost_usd, t.unpriced_turns > 0)
    }
}

/// Sends `text` with `parts` to every model in `models`, replacing the screen's transcript by
/// the panes. A refusal (a model cannot take an image, a spend cap) sends nothing.
pub(super) fn start(
    app: &mut App,
    models: &[ModelRef],
    text: String,
    parts: Vec<crate::parts::Part>,
    kept: Vec<Alternative>,
) -> Result<Vec<Effect>, (String, Vec<crate::parts::Part>)> {
    let (cmp, starts) = match Compare::begin(&mut app.session, models, &text, parts.clone(), None) {
        Ok(x) => x,
        Err(e) => return Err((e.message, parts)),
    };
    let n = cmp.panes.len();
    app.compare = Some(Panes {
        cmp,
        focus: 0,
        scroll: vec![0; n],
        kept,
        retries: vec![(0, String::new()); n],
    });
    app.selection = None;
    Ok(starts
        .into_iter()
        .map(|s| Effect::StartStream {
            request_id: s.request_id,
            provider: s.provider,
            request: s.request,
        })
        .collect())
}

/// A stream event for one of the panes (None: it is no pane's).
pub(super) fn stream(
    app: &mut App,
    id: u64,
    ev: crate::provider::StreamEvent,
) -> Option<Vec<Effect>> {
    let p = app.compare.as_mut()?;
    if let crate::provider::StreamEvent::Retry { reason, .. } = &ev
        && let Some(i) = p.cmp.pane_of(id)
    {
        p.retries[i].0 += 1;
        // "rate limited (HTTP 429): …" → "rate limited": the pane's title is narrow.
        p.retries[i].1 = reason
            .split([':', '('])
            .next()
            .unwrap_or(reason)
            .trim()
            .to_string();
    }
    let (_, applied) = p.cmp.apply(id, ev)?;
    let mut eff = Vec::new();
    if applied == crate::session::Applied::CapReached {
        eff.push(Effect::CancelRequest(id));
    }
    if p.cmp.done()
        && matches!(
            applied,
            crate::session::Applied::TurnEnded { .. } | crate::session::Applied::CapReached
        )
    {
        let n = p.cmp.panes.len();
        app.notify(
            format!("all {n} answers are in: 1–{n} continues with that one (the others are kept)"),
            Level::Info,
        );
    }
    Some(eff)
}

/// Continues with pane `i`'s answer: it goes into the conversation, the others (and any it
/// replaced) become its alternatives, and the screen is back to one transcript.
pub(super) fn pick(app: &mut App, i: usize) -> Vec<Effect> {
    let Some(p) = app.compare.take() else {
        return vec![];
    };
    let streaming = p.cmp.streaming() > 0;
    let model = p.cmp.panes.get(i).map(|s| s.model.to_string());
    let mut kept = p.kept;
    p.cmp.finish(&mut app.session, i);
    if let Some(a) = app
        .session
        .conv
        .messages
        .last_mut()
        .and_then(|m| m.answer.as_mut())
    {
        kept.append(&mut a.alternatives);
        a.alternatives = kept;
    }
    app.scroll = 0;
    app.notify(
        format!(
            "continuing with {}; the other answers are its alternatives (Alt-↑ selects it, ←/→ flips)",
            model.unwrap_or_default()
        ),
        Level::Info,
    );
    let mut eff = Vec::new();
    if streaming {
        eff.push(Effect::CancelStream);
    }
    eff.push(Effect::Save(Box::new(app.session.conv.clone())));
    eff
}

/// Keys while the panes are open.
pub(super) fn key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    let empty = app.draft().is_empty();
    let blank = app.draft().trim().is_empty();
    let Some(p) = app.compare.as_mut() else {
        return vec![];
    };
    let n = p.cmp.panes.len();
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    match k.code {
        KeyCode::Esc | KeyCode::Char('c') if k.code == KeyCode::Esc || ctrl => {
            if p.cmp.streaming() > 0 {
                p.cmp.cancel_all();
                app.notify(
                    format!("cancelled · what each pane wrote is kept · 1–{n} continues with one"),
                    Level::Info,
                );
                return vec![Effect::CancelStream];
            }
            app.notify(
                format!("1–{n} continues with that answer (Enter: the focused one)"),
                Level::Info,
            );
        }
        KeyCode::Char(c @ '1'..='9') if empty && !ctrl => {
            let i = c as usize - '1' as usize;
            if i < n {
                return pick(app, i);
            }
        }
        // With a follow-up typed (the input works while the panes stream): Enter continues
        // with the focused answer and sends it, once every answer is in.
        KeyCode::Enter if !blank => {
            if p.cmp.streaming() > 0 {
                app.notify(
                    format!("still streaming: 1–{n} (on an empty input) continues with one now"),
                    Level::Warn,
                );
                return vec![];
            }
            let (i, text) = (p.focus, app.draft());
            let mut eff = pick(app, i);
            app.set_draft("");
            // A command typed meanwhile (`/new`, `/fork …`) runs as a command.
            if text.trim_start().starts_with('/') && !text.contains('\n') {
                eff.extend(app.command(&text));
            } else {
                eff.extend(app.send_now(text));
            }
            return eff;
        }
        KeyCode::Enter => {
            let i = p.focus;
            return pick(app, i);
        }
        KeyCode::Tab => p.focus = (p.focus + 1) % n,
        KeyCode::BackTab => p.focus = (p.focus + n - 1) % n,
        KeyCode::Right | KeyCode::Down if k.modifiers.contains(KeyModifiers::ALT) => {
            p.focus = (p.focus + 1) % n
        }
        KeyCode::Char('x') if empty => {
            let i = p.focus;
            let id = p.cmp.panes[i].in_flight.as_ref().map(|f| f.request_id);
            if let Some(id) = id {
                p.cmp.cancel(i);
                let model = p.cmp.panes[i].model.to_string();
                app.notify(format!("{model} cancelled (kept)"), Level::Info);
                return vec![Effect::CancelRequest(id)];
            }
        }
        KeyCode::PageUp => {
            let f = p.focus;
            p.scroll[f] += app.page.max(2) / 2;
        }
        KeyCode::PageDown => {
            let f = p.focus;
            p.scroll[f] = p.scroll[f].saturating_sub(app.page.max(2) / 2);
        }
        KeyCode::End if empty => {
            let f = p.focus;
            p.scroll[f] = 0;
        }
        _ => {
            app.input.input(k);
        }
    }
    vec![]
}

/// The panes' areas: side by side when each gets `MIN_COLUMN` columns, else stacked.
pub fn layout(area: Rect, n: usize) -> Vec<Rect> {
    if n == 0 {
        return vec![];
    }
    let side = area.width / n as u16 >= MIN_COLUMN;
    let cons = vec![Constraint::Ratio(1, n as u32); n];
    if side {
        Layout::horizontal(cons).split(area).to_vec()
    } else {
        Layout::vertical(cons).split(area).to_vec()
    }
}

/// The question on the first row, then the panes.
pub fn render(app: &App, p: &Panes, cache: &mut ViewCache, area: Rect, f: &mut Frame) {
    let t = &app.theme;
    let [top, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let q = p
        .cmp
        .panes
        .first()
        .and_then(|s| s.conv.messages.get(p.cmp.question))
        .map(|m| sanitize(m.content.lines().next().unwrap_or("")))
        .unwrap_or_default();
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled("▌ you ", t.user),
            Span::styled(q, t.text),
        ])),
        top,
    );
    let areas = layout(rest, p.cmp.panes.len());
    cache
        .panes
        .resize_with(p.cmp.panes.len(), ViewCache::default);
    for (i, (s, r)) in p.cmp.panes.iter().zip(areas).enumerate() {
        let focused = i == p.focus;
        let border = if focused { t.accent } else { t.border };
        let mut title = vec![Span::styled(
            format!(" {} · {} ", i + 1, s.model),
            if focused {
                t.accent.add_modifier(Modifier::BOLD)
            } else {
                t.dim
            },
        )];
        // A pane that had to retry says so after its answer started (the wait is its TTFT).
        if let Some((n, why)) = p.retries.get(i).filter(|r| r.0 > 0) {
            title.push(Span::styled(
                format!(
                    " {} after {n} retr{} ",
                    sanitize(why),
                    if *n == 1 { "y" } else { "ies" }
                ),
                t.warning,
            ));
        }
        let title = Line::from(title);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_style(border)
            .title(title)
            .title_bottom(Line::styled(live_footer(app, p, i), t.dim));
        let inner = block.inner(r);
        f.render_widget(block, r);
        let cx = Cx {
            app,
            s,
            batch: None,
            from: p.cmp.question + 1,
            scroll: p.scroll[i],
            selected: None,
            main: false,
        };
        transcript(&cx, &mut cache.panes[i], inner, f);
    }
}

/// A pane's figures while it streams (tokens, speed, TTFT, a retry), or its outcome.
fn live_footer(app: &App, p: &Panes, i: usize) -> String {
    let s = &p.cmp.panes[i];
    let Some(m) = p.cmp.answer(i) else {
        return String::new();
    };
    let a = m.answer.as_ref();
    match &s.in_flight {
        Some(f) => match super::view::progress(f, m, app.now) {
            super::view::Progress::Retrying(note) => format!(" {note} "),
            super::view::Progress::Streaming { tokens, rate } => format!(
                " ~{} tok · {rate:.0} tok/s · TTFT {:.2}s ",
                thousands(tokens as u64),
                f.first_token.unwrap_or_default().as_secs_f64()
            ),
            super::view::Progress::Waiting => {
                let el = app.now.saturating_duration_since(f.started).as_secs_f64();
                format!(" waiting {el:.1}s · x cancels ")
            }
        },
        None => match a {
            Some(a) if a.error.as_deref() == Some("cancelled") => {
                format!(" cancelled · {} continues with it ", i + 1)
            }
            Some(a) if a.error.is_some() => " ended with an error ".to_string(),
            Some(a) => format!(
                " {} · {} continues with it ",
                a.cost_usd
                    .map(dollars)
                    .unwrap_or_else(|| "price unknown".into()),
                i + 1
            ),
            None => String::new(),
        },
    }
}
