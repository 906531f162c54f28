//! Popups (model picker, preset picker and variables, conversation browser, the offer to
//! attach a pasted path): their state, fuzzy matching, and the keys while one is open.

use super::{App, Effect, Level};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;

/// A popup that takes the keys while it is open.
#[derive(Debug, Clone, PartialEq)]
pub enum Overlay {
    None,
    ModelPicker {
        filter: String,
        selected: usize,
    },
    PresetPicker {
        filter: String,
        selected: usize,
    },
    /// Asking a preset's variables one by one.
    PresetVars {
        preset: String,
        names: Vec<String>,
        values: Vec<String>,
        index: usize,
        input: String,
    },
    Browser {
        filter: String,
        selected: usize,
        confirm_delete: Option<String>,
    },
    /// A pasted (or dropped) text is the path of a file: attach it, or paste the text?
    OfferAttach {
        path: String,
        text: String,
    },
    /// A long paste: attach it as untrusted text (labelled as data), or paste it inline?
    OfferPaste {
        text: String,
    },
    /// A tool call waits for the person (the call is `App::tool_batch`'s `asking`).
    Approve,
    /// The tools that can be offered, with a mark on the ones that are (Space toggles).
    Tools {
        selected: usize,
    },
    /// Passage `n` (1-based) the last answer was given, scrolled by `scroll` lines.
    Source {
        n: usize,
        scroll: usize,
    },
}

/// Case-insensitive subsequence match; higher is better (contiguous runs and early starts).
pub fn fuzzy_score(needle: &str, hay: &str) -> Option<i64> {
    if needle.is_empty() {
        return Some(0);
    }
    let hay_l: Vec<char> = hay.to_lowercase().chars().collect();
    let mut score = 0i64;
    let mut pos = 0usize;
    let mut last: Option<usize> = None;
    for n in needle.to_lowercase().chars().filter(|c| !c.is_whitespace()) {
        let found = hay_l[pos..].iter().position(|c| *c == n)? + pos;
        score += if last == Some(found.wrapping_sub(1)) {
            5
        } else {
            1
        };
        if found == 0
            || matches!(
                hay_l.get(found.wrapping_sub(1)),
                Some('/' | '-' | ' ' | ':' | '.')
            )
        {
            score += 3;
        }
        last = Some(found);
        pos = found + 1;
    }
    Some(score * 100 - hay_l.len() as i64)
}

/// Keys while a popup is open.
pub(super) fn overlay_key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let overlay = std::mem::replace(&mut app.overlay, Overlay::None);
    // Shared list navigation: returns the new selection.
    let nav = |sel: usize, len: usize, code: KeyCode| -> usize {
        match code {
            KeyCode::Up => sel.saturating_sub(1),
            KeyCode::Down => (sel + 1).min(len.saturating_sub(1)),
            KeyCode::PageUp => sel.saturating_sub(10),
            KeyCode::PageDown => (sel + 10).min(len.saturating_sub(1)),
            _ => sel,
        }
    };
    let edit = |filter: &mut String, code: KeyCode| -> bool {
        match code {
            KeyCode::Char(c) if !ctrl => {
                filter.push(c);
                true
            }
            KeyCode::Backspace => filter.pop().is_some(),
            _ => false,
        }
    };
    // Typing edits the filter (and goes back to the first row); arrows move the selection.
    let step = |filter: &mut String, selected: usize, len: usize, code: KeyCode| -> usize {
        if edit(filter, code) {
            0
        } else {
            nav(selected, len, code)
        }
    };
    match overlay {
        Overlay::None => vec![],
        Overlay::ModelPicker {
            mut filter,
            selected,
        } => {
            let len = app.picker_rows(&filter).len();
            match k.code {
                KeyCode::Esc => {
                    app.picker_for_replay = false;
                    app.picker_marks.clear();
                    vec![]
                }
                // Tab marks models for a comparison; Enter then sends the next question to them.
                KeyCode::Tab => {
                    if let Some(name) = app
                        .picker_rows(&filter)
                        .get(selected)
                        .map(|r| format!("{}/{}", r.provider, r.model))
                    {
                        match app.picker_marks.iter().position(|m| *m == name) {
                            Some(i) => {
                                app.picker_marks.remove(i);
                            }
                            None => app.picker_marks.push(name),
                        }
                    }
                    app.overlay = Overlay::ModelPicker {
                        filter,
                        selected: nav(selected, len, KeyCode::Down),
                    };
                    vec![]
                }
                KeyCode::Enter if !app.picker_marks.is_empty() => {
                    let marks = std::mem::take(&mut app.picker_marks).join(" ");
                    app.picker_for_replay = false;
                    app.mark_compare(&marks)
                }
                KeyCode::Enter => {
                    let pick = app
                        .picker_rows(&filter)
                        .get(selected)
                        .map(|r| format!("{}/{}", r.provider, r.model));
                    let typed = filter.contains('/').then(|| filter.clone());
                    let replay = std::mem::take(&mut app.picker_for_replay);
                    match pick.or(typed).map(|m| app.session.cfg.resolve_model(&m)) {
                        Some(Ok(m)) if replay => return app.replay(&m.to_string()),
                        Some(Ok(m)) => app.switch_model(m),
                        Some(Err(e)) => app.notify(e, Level::Error),
                        None => app.notify("no model matches", Level::Warn),
                    }
                    vec![]
                }
                code => {
                    let sel = step(&mut filter, selected, len, code);
                    app.overlay = Overlay::ModelPicker {
                        filter,
                        selected: sel,
                    };
                    vec![]
                }
            }
        }
        Overlay::PresetPicker {
            mut filter,
            selected,
        } => {
            let len = app.preset_rows(&filter).len();
            match k.code {
                KeyCode::Esc => vec![],
                KeyCode::Enter => match app
                    .preset_rows(&filter)
                    .get(selected)
                    .map(|p| p.name.clone())
                {
                    Some(name) => app.start_preset(&name),
                    None => vec![],
                },
                code => {
                    let sel = step(&mut filter, selected, len, code);
                    app.overlay = Overlay::PresetPicker {
                        filter,
                        selected: sel,
                    };
                    vec![]
                }
            }
        }
        Overlay::PresetVars {
            preset,
            names,
            mut values,
            mut index,
            mut input,
        } => match k.code {
            KeyCode::Esc => vec![],
            KeyCode::Enter => {
                values[index] = input.clone();
                index += 1;
                if index < names.len() {
                    let input = values[index].clone();
                    app.overlay = Overlay::PresetVars {
                        preset,
                        names,
                        values,
                        index,
                        input,
                    };
                    vec![]
                } else {
                    let vars: BTreeMap<String, String> = names.into_iter().zip(values).collect();
                    app.apply_preset(&preset, &vars)
                }
            }
            code => {
                edit(&mut input, code);
                app.overlay = Overlay::PresetVars {
                    preset,
                    names,
                    values,
                    index,
                    input,
                };
                vec![]
            }
        },
        Overlay::Browser {
            mut filter,
            selected,
            confirm_delete,
        } => {
            if let Some(id) = confirm_delete {
                if matches!(k.code, KeyCode::Char('y') | KeyCode::Char('Y')) {
                    app.overlay = Overlay::Browser {
                        filter: filter.clone(),
                        selected,
                        confirm_delete: None,
                    };
                    app.notify("conversation deleted", Level::Info);
                    let mut effects = Vec::new();
                    if id == app.session.conv.id {
                        // Deleting the open conversation: cancel its stream, but do not save
                        // it back.
                        effects.extend(
                            app.new_session(None)
                                .into_iter()
                                .filter(|e| !matches!(e, Effect::Save(_))),
                        );
                    }
                    effects.push(Effect::DeleteConversation(id));
                    effects.push(Effect::ListConversations(filter));
                    return effects;
                }
                app.overlay = Overlay::Browser {
                    filter,
                    selected,
                    confirm_delete: None,
                };
                return vec![];
            }
            let len = app.conversations.len();
            match k.code {
                KeyCode::Esc => vec![],
                KeyCode::Enter => match app.conversations.get(selected) {
                    Some(s) => vec![Effect::OpenConversation(s.id.clone())],
                    None => {
                        app.overlay = Overlay::Browser {
                            filter,
                            selected,
                            confirm_delete: None,
                        };
                        vec![]
                    }
                },
                KeyCode::Delete | KeyCode::Char('d') if ctrl || k.code == KeyCode::Delete => {
                    let id = app.conversations.get(selected).map(|s| s.id.clone());
                    app.overlay = Overlay::Browser {
                        filter,
                        selected,
                        confirm_delete: id,
                    };
                    vec![]
                }
                code => {
                    if edit(&mut filter, code) {
                        app.overlay = Overlay::Browser {
                            filter: filter.clone(),
                            selected: 0,
                            confirm_delete: None,
                        };
                        vec![Effect::ListConversations(filter)]
                    } else {
                        app.overlay = Overlay::Browser {
                            filter,
                            selected: nav(selected, len, code),
                            confirm_delete: None,
                        };
                        vec![]
                    }
                }
            }
        }
        Overlay::OfferPaste { text } => match k.code {
            KeyCode::Enter | KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Char('a') => {
                let n = text.chars().count();
                app.attachments.add(crate::parts::Part::Text {
                    text,
                    source: Some("pasted text".into()),
                });
                app.notify(
                    format!("{n} pasted characters attached as text (sent labelled as data)"),
                    Level::Info,
                );
                vec![]
            }
            KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Char('p') => {
                app.paste_text(&text);
                vec![]
            }
            _ => {
                app.overlay = Overlay::OfferPaste { text };
                vec![]
            }
        },
        Overlay::Approve => approve_key(app, k),
        Overlay::Source { n, scroll } => {
            let count = app.last_sources().map_or(0, |c| c.passages.len());
            app.overlay = match k.code {
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => Overlay::None,
                KeyCode::Down | KeyCode::Char('j') => Overlay::Source {
                    n,
                    scroll: scroll + 1,
                },
                KeyCode::Up | KeyCode::Char('k') => Overlay::Source {
                    n,
                    scroll: scroll.saturating_sub(1),
                },
                KeyCode::PageDown => Overlay::Source {
                    n,
                    scroll: scroll + 10,
                },
                KeyCode::PageUp => Overlay::Source {
                    n,
                    scroll: scroll.saturating_sub(10),
                },
                // Left/Right (or the digit) move between the sources.
                KeyCode::Right | KeyCode::Tab => Overlay::Source {
                    n: (n % count.max(1)) + 1,
                    scroll: 0,
                },
                KeyCode::Left | KeyCode::BackTab => Overlay::Source {
                    n: if n <= 1 { count.max(1) } else { n - 1 },
                    scroll: 0,
                },
                KeyCode::Char(c @ '1'..='9') if (c as usize - '0' as usize) <= count => {
                    Overlay::Source {
                        n: c as usize - '0' as usize,
                        scroll: 0,
                    }
                }
                _ => Overlay::Source { n, scroll },
            };
            vec![]
        }
        Overlay::Tools { selected } => {
            let names = app.tool_names();
            match k.code {
                KeyCode::Esc | KeyCode::Char('q') => vec![],
                KeyCode::Char(' ') | KeyCode::Enter => {
                    let eff = names
                        .get(selected)
                        .map(|n| app.toggle_tool(n))
                        .unwrap_or_default();
                    app.overlay = Overlay::Tools { selected };
                    eff
                }
                code => {
                    app.overlay = Overlay::Tools {
                        selected: nav(selected, names.len(), code),
                    };
                    vec![]
                }
            }
        }
        Overlay::OfferAttach { path, text } => match k.code {
            KeyCode::Enter | KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Char('a') => {
                app.attach_effect(vec![path])
            }
            KeyCode::Esc | KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Char('p') => {
                app.paste_text(&text);
                vec![]
            }
            _ => {
                app.overlay = Overlay::OfferAttach { path, text };
                vec![]
            }
        },
    }
}

/// Keys of the approval dialog: y/Enter once, s this tool for the session, a always, n/Esc
/// deny, r deny with a reason (typed, then Enter), PageUp/PageDown scroll the review.
fn approve_key(app: &mut App, k: KeyEvent) -> Vec<Effect> {
    use crate::tools::Decision;
    let Some(b) = app.tool_batch.as_mut() else {
        return vec![];
    };
    if let Some(reason) = b.reason.as_mut() {
        match k.code {
            KeyCode::Enter => {
                let r = reason.trim().to_string();
                return decided(app, Decision::Deny(Some(r).filter(|r| !r.is_empty())));
            }
            KeyCode::Esc => b.reason = None,
            KeyCode::Backspace => {
                reason.pop();
            }
            KeyCode::Char(c) if !k.modifiers.contains(KeyModifiers::CONTROL) => reason.push(c),
            _ => {}
        }
        app.overlay = Overlay::Approve;
        return vec![];
    }
    let d = match k.code {
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => Decision::Once,
        KeyCode::Char('s') | KeyCode::Char('S') => Decision::Session,
        KeyCode::Char('a') | KeyCode::Char('A') => Decision::Always,
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => Decision::Deny(None),
        KeyCode::Char('r') | KeyCode::Char('R') => {
            b.reason = Some(String::new());
            app.overlay = Overlay::Approve;
            return vec![];
        }
        KeyCode::PageDown | KeyCode::Down | KeyCode::Char('j') => {
            b.scroll += if k.code == KeyCode::PageDown { 10 } else { 1 };
            app.overlay = Overlay::Approve;
            return vec![];
        }
        KeyCode::PageUp | KeyCode::Up | KeyCode::Char('k') => {
            b.scroll = b
                .scroll
                .saturating_sub(if k.code == KeyCode::PageUp { 10 } else { 1 });
            app.overlay = Overlay::Approve;
            return vec![];
        }
        _ => {
            app.overlay = Overlay::Approve;
            return vec![];
        }
    };
    decided(app, d)
}

/// A decision taken: the next call is asked about, or the allowed calls run.
fn decided(app: &mut App, d: crate::tools::Decision) -> Vec<Effect> {
    let Some(b) = app.tool_batch.as_mut() else {
        return vec![];
    };
    let mut eff = Vec::new();
    if let Some(name) = b.decide(d, &mut app.session) {
        eff.push(Effect::AlwaysAllow(name));
    }
    if b.ready() {
        eff.extend(app.run_batch());
    } else {
        app.overlay = Overlay::Approve;
    }
    eff
}
