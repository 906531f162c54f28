//! Drawing the popups.

use super::markdown;
use crate::sanitize::sanitize;
use crate::tui::app::{App, Overlay};
use crate::util::dollars;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

fn popup(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2)).max(10);
    let h = h.min(area.height.saturating_sub(2)).max(3);
    Rect {
        x: area.x + (area.width.saturating_sub(w)) / 2,
        y: area.y + (area.height.saturating_sub(h)) / 2,
        width: w,
        height: h,
    }
}

/// A list window of `visible` rows that keeps `selected` in view.
fn window(len: usize, selected: usize, visible: usize) -> std::ops::Range<usize> {
    let start = selected
        .saturating_sub(visible.saturating_sub(1))
        .min(len.saturating_sub(visible));
    start..(start + visible).min(len)
}

fn price(x: Option<f64>) -> String {
    match x {
        Some(0.0) => "free".into(),
        Some(v) => format!("${v}"),
        None => "?".into(),
    }
}

pub(super) fn overlay(app: &App, area: Rect, f: &mut Frame) {
    let t = &app.theme;
    let sel = t.accent.add_modifier(Modifier::REVERSED);
    let block = |title: String| {
        Block::default()
            .borders(Borders::ALL)
            .border_style(t.border)
            .title(Span::styled(title, t.accent))
    };
    match &app.overlay {
        Overlay::None => {}
        Overlay::Approve => approve(app, area, f),
        Overlay::Source { n, scroll } => {
            let Some(c) = app.last_sources() else {
                return;
            };
            let Some(p) = c.passages.get(n.saturating_sub(1)) else {
                return;
            };
            let r = popup(area, 100, area.height.saturating_sub(4));
            let inner = r.width.saturating_sub(2) as usize;
            let mut lines = vec![Line::from(vec![
                Span::styled(format!(" [{n}] "), t.accent),
                Span::styled(sanitize(&p.source), t.link),
                Span::styled(
                    format!(
                        " {}{}",
                        sanitize(p.location.as_deref().unwrap_or("")),
                        p.score.map(|s| format!(" · score {s}")).unwrap_or_default()
                    ),
                    t.dim,
                ),
            ])];
            let room = (r.height as usize).saturating_sub(4);
            let text: Vec<&str> = p.text.lines().collect();
            let start = (*scroll).min(text.len().saturating_sub(room));
            for l in text.iter().skip(start).take(room) {
                lines.extend(markdown::wrap(
                    &[Span::styled(sanitize(l), t.text)],
                    inner,
                    &[Span::raw(" ")],
                    &[Span::raw(" ")],
                ));
            }
            lines.truncate(room + 1);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(lines).block(block(format!(
                    " source {n} of {} · ←/→ other sources · ↑/↓ scroll · Esc ",
                    c.passages.len()
                ))),
                r,
            );
        }
        Overlay::Tools { selected } => {
            let names = app.tool_names();
            let r = popup(area, 100, names.len() as u16 + 4);
            let visible = (r.height as usize).saturating_sub(3);
            let mut lines = Vec::new();
            for i in window(names.len(), *selected, visible) {
                let n = &names[i];
                let on = app.tool_enabled(n);
                let (how, what) = match n.strip_prefix("mcp:") {
                    Some(server) => {
                        let count = app
                            .session
                            .tools
                            .iter()
                            .filter(|o| matches!(&o.source, crate::tools::Source::Mcp { server: s, .. } if s == server))
                            .count();
                        (
                            "asks".to_string(),
                            if on {
                                format!("MCP server: {count} tools")
                            } else {
                                "MCP server".into()
                            },
                        )
                    }
                    None => {
                        let o = crate::tools::command_tool(&app.session.cfg, n)
                            .or_else(|| crate::tools::builtin(&app.session.cfg, n));
                        (
                            o.as_ref()
                                .map(|o| crate::tools::approval_words(o).to_string())
                                .unwrap_or_default(),
                            o.map(|o| o.spec.description.lines().next().unwrap_or("").to_string())
                                .unwrap_or_default(),
                        )
                    }
                };
                let text = format!(
                    " [{}] {:<22} {:<32} {}",
                    if on { "x" } else { " " },
                    sanitize(n),
                    how,
                    sanitize(&what)
                );
                let text: String = text
                    .chars()
                    .take(r.width.saturating_sub(2) as usize)
                    .collect();
                lines.push(Line::styled(
                    text,
                    if i == *selected { sel } else { t.text },
                ));
            }
            lines.push(Line::styled(
                " read-only tools may be marked approve = \"auto\"; every other call asks first",
                t.dim,
            ));
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(lines).block(block(" tools · Space turns on/off · Esc ".into())),
                r,
            );
        }
        Overlay::ModelPicker { filter, selected } => {
            let r = popup(area, 96, area.height.saturating_sub(4));
            let rows = app.picker_rows(filter);
            let visible = (r.height as usize).saturating_sub(4 + app.remote_errors.len());
            let mut lines = vec![Line::from(vec![
                Span::styled(" filter: ", t.dim),
                Span::styled(format!("{filter}▏"), t.text),
            ])];
            for (i, row) in rows
                .iter()
                .enumerate()
                .take(window(rows.len(), *selected, visible).end)
                .skip(window(rows.len(), *selected, visible).start)
            {
                // Only the rows on screen are priced (the dataset has thousands of models).
                let row = &crate::catalog::priced(&app.session.cfg, row, crate::pricing::try_db());
                let name = format!("{}/{}", row.provider, row.model);
                let current = name == app.session.model.to_string();
                let prices = match (row.input, row.output) {
                    (Some(_), Some(_)) => {
                        format!("in {:>7} out {:>7}", price(row.input), price(row.output))
                    }
                    _ => "price unknown".to_string(),
                };
                let ctx = crate::catalog::fmt_context(row.context);
                let warn = row
                    .warning
                    .as_deref()
                    .map(|w| format!("  {w}"))
                    .unwrap_or_default();
                let marked = app.picker_marks.contains(&name);
                let text = format!(
                    " {}{:<44} {:<24} ctx {:>6}{}",
                    if marked {
                        "✓ "
                    } else if current {
                        "● "
                    } else {
                        "  "
                    },
                    name,
                    prices,
                    ctx,
                    warn
                );
                lines.push(Line::styled(
                    text,
                    if i == *selected {
                        sel
                    } else if row.warning.is_some() {
                        t.dim
                    } else {
                        t.text
                    },
                ));
            }
            if rows.is_empty() {
                let hint = if filter.contains('/') {
                    " Enter uses it as typed"
                } else {
                    " no match · type provider/name to use any model"
                };
                lines.push(Line::styled(hint, t.dim));
            }
            for (p, e) in &app.remote_errors {
                lines.push(Line::styled(
                    format!(" {p}: model list unavailable: {}", sanitize(e)),
                    t.warning,
                ));
            }
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(lines).block(block(format!(
                    " {} · {} · ↑↓ Enter · Tab marks to compare · Esc · prices per 1M tokens ",
                    if app.picker_for_replay {
                        "replay every question on"
                    } else {
                        "models"
                    },
                    rows.len()
                ))),
                r,
            );
        }
        Overlay::PresetPicker { filter, selected } => {
            let rows = app.preset_rows(filter);
            let r = popup(
                area,
                area.width.saturating_sub(4).min(130),
                (rows.len() as u16 + 4).max(6),
            );
            let mut lines = vec![Line::from(vec![
                Span::styled(" filter: ", t.dim),
                Span::styled(format!("{filter}▏"), t.text),
            ])];
            let visible = (r.height as usize).saturating_sub(3);
            let win = window(rows.len(), *selected, visible);
            for (i, p) in rows.iter().enumerate().take(win.end).skip(win.start) {
                let extra = if p.examples.is_empty() {
                    String::new()
                } else {
                    format!(" ({} examples)", p.examples.len())
                };
                let text = format!(" {:<20} {}{}", p.name, p.description, extra);
                lines.push(Line::styled(
                    text,
                    if i == *selected { sel } else { t.text },
                ));
            }
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(lines).block(block(" presets · Enter applies · Esc ".into())),
                r,
            );
        }
        Overlay::PresetVars {
            preset,
            names,
            index,
            input,
            ..
        } => {
            let r = popup(area, 70, 5);
            let lines = vec![
                Line::styled(
                    format!(
                        " {preset}: value for {{{{{}}}}} ({} of {})",
                        names[*index],
                        index + 1,
                        names.len()
                    ),
                    t.dim,
                ),
                Line::styled(format!(" {input}▏"), t.text),
                Line::styled(" Enter accepts · Esc cancels", t.dim),
            ];
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(lines).block(block(" preset variables ".into())),
                r,
            );
        }
        Overlay::Browser {
            filter,
            selected,
            confirm_delete,
        } => {
            let r = popup(area, 110, area.height.saturating_sub(4));
            let mut lines = vec![Line::from(vec![
                Span::styled(" search: ", t.dim),
                Span::styled(format!("{filter}▏"), t.text),
            ])];
            let visible = (r.height as usize).saturating_sub(4);
            let win = window(app.conversations.len(), *selected, visible);
            for (i, c) in app
                .conversations
                .iter()
                .enumerate()
                .take(win.end)
                .skip(win.start)
            {
                let cost = if c.unpriced_turns > 0 {
                    format!("{}+?", dollars(c.cost_usd))
                } else {
                    dollars(c.cost_usd)
                };
                // A fork is drawn under its origin (the rows are in that order).
                let fork = c
                    .forked_from
                    .as_ref()
                    .filter(|f| app.conversations[..i].iter().any(|o| o.id == f.id));
                let title: String = match fork {
                    Some(f) => format!(" └ {} (turn {})", sanitize(&c.title), f.turns),
                    None => sanitize(&c.title),
                }
                .chars()
                .take(40)
                .collect();
                let text = format!(
                    " {:<40} {:<16} {:>3} turns {:>10}  {}{}",
                    title,
                    c.updated.get(..16).unwrap_or(&c.updated).replace('T', " "),
                    c.turns,
                    cost,
                    c.models.join(", "),
                    if c.newer_version.is_some() {
                        "  (read-only)"
                    } else {
                        ""
                    }
                );
                lines.push(Line::styled(
                    text,
                    if i == *selected { sel } else { t.text },
                ));
            }
            if app.conversations.is_empty() {
                lines.push(Line::styled(" no saved conversation matches", t.dim));
            }
            for b in &app.unreadable {
                let name = b.path.file_name().map(|n| n.to_string_lossy().into_owned());
                lines.push(Line::styled(
                    sanitize(&format!(
                        " ⚠ {}: cannot be read ({}); left untouched",
                        name.unwrap_or_default(),
                        b.error
                    )),
                    t.warning,
                ));
            }
            if let Some(id) = confirm_delete {
                lines.push(Line::styled(
                    format!(" delete {id}? y deletes · any other key keeps it"),
                    t.error,
                ));
            }
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(lines).block(block(format!(
                    " conversations · {} · Enter opens · Ctrl-D deletes · Esc ",
                    app.conversations.len()
                ))),
                r,
            );
        }
        Overlay::OfferPaste { text } => {
            let w = area.width.saturating_sub(4).min(80);
            let lines = vec![
                Line::styled(
                    format!(
                        " A long paste ({} characters).",
                        crate::util::thousands(text.chars().count() as u64)
                    ),
                    t.text,
                ),
                Line::styled(
                    " Enter attaches it as text, sent labelled as data · Esc pastes it inline",
                    t.accent,
                ),
            ];
            let r = popup(area, w, lines.len() as u16 + 2);
            f.render_widget(Clear, r);
            f.render_widget(Paragraph::new(lines).block(block(" paste ".into())), r);
        }
        Overlay::OfferAttach { path, .. } => {
            let w = area.width.saturating_sub(4).min(80);
            let mut lines = markdown::wrap(
                &[Span::styled(
                    format!(" {} is a file.", crate::sanitize::sanitize(path)),
                    t.text,
                )],
                w.saturating_sub(2) as usize,
                &[],
                &[],
            );
            lines.push(Line::styled(
                " Enter attaches it · Esc pastes the text instead",
                t.accent,
            ));
            let r = popup(area, w, lines.len() as u16 + 2);
            f.render_widget(Clear, r);
            f.render_widget(Paragraph::new(lines).block(block(" attach? ".into())), r);
        }
    }
}

/// The approval dialog: which tool, from where, what it would do (the diff of an edit, the
/// full command of a shell), and the keys.
fn approve(app: &App, area: Rect, f: &mut Frame) {
    let t = &app.theme;
    let Some(b) = app.tool_batch.as_ref() else {
        return;
    };
    let Some(slot) = b.asking() else {
        return;
    };
    let w = area.width.saturating_sub(4).min(110);
    let inner = w.saturating_sub(2) as usize;
    let name = sanitize(&slot.call.name);
    let from = match app.session.offered(&slot.call.name).map(|o| &o.source) {
        Some(crate::tools::Source::Mcp { server, .. }) => {
            format!(" (MCP server {})", sanitize(server))
        }
        Some(crate::tools::Source::Command(_)) => " (a command from your config)".into(),
        _ => String::new(),
    };
    let mut lines = markdown::wrap(
        &[
            Span::styled(" The model wants to run ", t.text),
            Span::styled(name.clone(), t.accent.add_modifier(Modifier::BOLD)),
            Span::styled(from, t.dim),
        ],
        inner,
        &[],
        &[],
    );
    lines.push(Line::default());
    let review = slot
        .review
        .clone()
        .unwrap_or_else(|| crate::tools::describe_call(&slot.call));
    let keys_h = 3;
    let room = (area.height as usize)
        .saturating_sub(4 + lines.len() + keys_h)
        .max(3);
    let all: Vec<&str> = review.lines().collect();
    let start = b.scroll.min(all.len().saturating_sub(room));
    for l in all.iter().skip(start).take(room) {
        let style = if l.starts_with('+') && !l.starts_with("+++") {
            t.accent
        } else if l.starts_with('-') && !l.starts_with("---") {
            t.warning
        } else {
            t.text
        };
        let l: String = l.chars().take(inner.saturating_sub(1)).collect();
        lines.push(Line::styled(format!(" {l}"), style));
    }
    if all.len() > room {
        lines.push(Line::styled(
            format!(
                " … lines {}-{} of {} · PageUp/PageDown scroll",
                start + 1,
                (start + room).min(all.len()),
                all.len()
            ),
            t.dim,
        ));
    }
    lines.push(Line::default());
    match &b.reason {
        Some(r) => lines.push(Line::styled(
            format!(" reason: {}▏ · Enter denies with it · Esc back", sanitize(r)),
            t.accent,
        )),
        None => lines.extend(markdown::wrap(
            &[Span::styled(
                format!(
                    " y/Enter allow once · s allow {name} for this session · a always allow · n/Esc deny · r deny with a reason"
                ),
                t.accent,
            )],
            inner,
            &[],
            &[Span::raw(" ")],
        )),
    }
    let waiting = b.waiting();
    let title = if waiting > 1 {
        format!(" approve a tool call · {waiting} waiting ")
    } else {
        " approve a tool call ".to_string()
    };
    let r = popup(area, w, lines.len() as u16 + 2);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.warning)
                .title(Span::styled(title, t.warning)),
        ),
        r,
    );
}
