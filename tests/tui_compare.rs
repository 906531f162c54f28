//! The chat screen's comparison, selection, alternatives and forks, driven through `update()`
//! and drawn on ratatui's TestBackend.

use charla::config::Config;
use charla::provider::{ErrorKind, ProviderError, StreamEvent, Usage};
use charla::session::Session;
use charla::tui::app::{self, App, Effect, Msg};
use charla::tui::{theme::Theme, view};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::{Terminal, backend::TestBackend};
use std::sync::Arc;
use std::time::Duration;

fn app() -> App {
    charla::pricing::warm();
    let cfg = Arc::new(Config::builtin());
    let m = cfg.resolve_model("openai/gpt-4o-mini").expect("model");
    App::new(Session::new(cfg, m), Theme::fallback(true), String::new())
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn alt(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::ALT))
}

fn type_line(a: &mut App, s: &str) -> Vec<Effect> {
    for c in s.chars() {
        app::update(a, key(KeyCode::Char(c)));
    }
    app::update(a, key(KeyCode::Enter))
}

fn screen(a: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let mut cache = view::ViewCache::default();
    t.draw(|f| view::render(a, &mut cache, f)).expect("draw");
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Streams `text` into compared pane `i` with fixed timings (TTFT 0.4 s, 1 s in all).
fn finish_pane(a: &mut App, i: usize, text: &str, out: u64) {
    let p = a.compare.as_mut().expect("panes");
    let s = &mut p.cmp.panes[i];
    let f = s.in_flight.as_ref().expect("streaming");
    let (id, t0) = (f.request_id, f.started);
    s.apply_at(id, StreamEvent::Started, t0);
    s.apply_at(
        id,
        StreamEvent::TextDelta(text.into()),
        t0 + Duration::from_millis(400),
    );
    s.apply_at(
        id,
        StreamEvent::Usage(Usage {
            input_tokens: 12,
            output_tokens: out,
            ..Default::default()
        }),
        t0 + Duration::from_millis(900),
    );
    s.apply_at(
        id,
        StreamEvent::Finished {
            reason: "stop".into(),
        },
        t0 + Duration::from_millis(1000),
    );
}

fn started(eff: &[Effect]) -> Vec<u64> {
    eff.iter()
        .filter_map(|e| match e {
            Effect::StartStream { request_id, .. } => Some(*request_id),
            _ => None,
        })
        .collect()
}

const MODELS: &str = "openai/gpt-4o-mini anthropic/claude-haiku-4-5 gemini/gemini-2.5-flash";

#[test]
fn compare_shows_a_pane_per_model_and_continues_with_the_one_picked() {
    let mut a = app();
    assert!(type_line(&mut a, &format!("/compare {MODELS}")).is_empty());
    let ids = started(&type_line(&mut a, "Explain CRDTs in 5 lines"));
    assert_eq!(ids.len(), 3, "one request per model");
    // Events reach their pane (through update, as the loop feeds them).
    app::update(
        &mut a,
        Msg::Stream(ids[0], StreamEvent::TextDelta("A CRDT is".into())),
    );
    finish_pane(&mut a, 2, "Conflict-free replicated data types merge.", 9);
    let s = screen(&a, 120, 24);
    assert!(s.contains("▌ you Explain CRDTs in 5 lines"), "{s}");
    // Side by side: the three titles on one row.
    let row = s
        .lines()
        .find(|l| l.contains("1 · openai/gpt-4o-mini"))
        .expect("titles");
    assert!(
        row.contains("2 · anthropic/claude-haiku-4-5")
            && row.contains("3 · gemini/gemini-2.5-flash"),
        "{s}"
    );
    assert!(s.contains("A CRDT is"), "{s}");
    assert!(s.contains("3 continues with it"), "{s}");
    assert!(s.contains("comparing 3 models · 2 streaming"), "{s}");
    // Too narrow for three columns: stacked, each pane under the other.
    let narrow = screen(&a, 60, 36);
    let rows: Vec<usize> = ["1 · ", "2 · ", "3 · "]
        .iter()
        .map(|t| narrow.lines().position(|l| l.contains(t)).expect("title"))
        .collect();
    assert!(rows[0] < rows[1] && rows[1] < rows[2], "{narrow}");

    // x cancels the focused pane only; Tab moves the focus.
    let eff = app::update(&mut a, key(KeyCode::Char('x')));
    assert_eq!(eff, vec![Effect::CancelRequest(ids[0])]);
    app::update(&mut a, key(KeyCode::Tab));
    assert_eq!(a.compare.as_ref().map(|p| p.focus), Some(1));
    app::update(
        &mut a,
        Msg::Stream(
            ids[1],
            StreamEvent::Error(ProviderError::new(ErrorKind::RateLimited, "rate limited")),
        ),
    );
    let done = screen(&a, 120, 24);
    assert!(done.contains("3 answers"), "{done}");
    assert!(done.contains("1–3 continues with that answer"), "{done}");
    insta::assert_snapshot!("compare_done", done);

    // 3 continues with gemini's answer; the others are its alternatives.
    let eff = app::update(&mut a, key(KeyCode::Char('3')));
    assert!(a.compare.is_none());
    assert!(matches!(eff.last(), Some(Effect::Save(_))), "{eff:?}");
    let last = a.session.conv.messages.last().expect("answer");
    let ans = last.answer.as_ref().expect("answer");
    assert_eq!(ans.model, "gemini/gemini-2.5-flash");
    let alts: Vec<&str> = ans
        .alternatives
        .iter()
        .map(|x| x.answer.model.as_str())
        .collect();
    assert_eq!(alts, ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]);
    assert_eq!(a.session.model.to_string(), "gemini/gemini-2.5-flash");
    // The follow-up goes to that model, with that answer in its history.
    app::update(&mut a, key(KeyCode::Esc));
    type_line(&mut a, "/compare off");
    let eff = type_line(&mut a, "and in one line?");
    let Some(Effect::StartStream {
        provider, request, ..
    }) = eff.first()
    else {
        panic!("{eff:?}")
    };
    assert_eq!(provider, "gemini");
    assert_eq!(
        request.messages[1].content,
        "Conflict-free replicated data types merge."
    );
}

#[test]
fn alternatives_flip_on_a_selected_answer_and_one_can_be_kept() {
    let mut a = app();
    type_line(&mut a, &format!("/compare {MODELS}"));
    type_line(&mut a, "q");
    for (i, text) in ["from openai", "from anthropic", "from gemini"]
        .iter()
        .enumerate()
    {
        finish_pane(&mut a, i, text, 2);
    }
    app::update(&mut a, key(KeyCode::Char('1')));
    let total = a.session.totals().cost_usd;
    let s = screen(&a, 80, 24);
    assert!(s.contains("‹ 3/3 › · 2 other answers"), "{s}");
    // Alt-Up selects the answer; ← shows the one before it in its place.
    app::update(&mut a, alt(KeyCode::Up));
    app::update(&mut a, key(KeyCode::Left));
    let s = screen(&a, 80, 24);
    assert!(
        s.contains("from gemini") && !s.contains("from openai"),
        "{s}"
    );
    assert!(
        s.contains("‹ 2/3 › · ←/→ flips · Enter continues from this one"),
        "{s}"
    );
    insta::assert_snapshot!("alternative_flipped", s);
    // Enter keeps it: the conversation's path is gemini's answer now, nothing is lost.
    let eff = app::update(&mut a, key(KeyCode::Enter));
    assert!(matches!(eff.last(), Some(Effect::Save(_))));
    let last = a.session.conv.messages.last().expect("answer");
    assert_eq!(last.content, "from gemini");
    assert_eq!(a.session.model.to_string(), "gemini/gemini-2.5-flash");
    assert!((a.session.totals().cost_usd - total).abs() < 1e-12);
    // Esc leaves the selection; typing goes to the input again.
    app::update(&mut a, key(KeyCode::Esc));
    assert!(a.selection.is_none());
}

#[test]
fn fork_at_a_selected_message_starts_a_linked_conversation() {
    let mut a = app();
    for q in ["one", "two", "three"] {
        type_line(&mut a, q);
        let f = a.session.in_flight.clone().expect("streaming");
        a.session
            .apply(f.request_id, StreamEvent::TextDelta(format!("answer {q}")));
        a.session.apply(
            f.request_id,
            StreamEvent::Finished {
                reason: "stop".into(),
            },
        );
    }
    let origin = a.session.conv.clone();
    // Select the answer of turn 2 (Alt-Up from the bottom: answer 3, question 3, answer 2).
    for _ in 0..3 {
        app::update(&mut a, alt(KeyCode::Up));
    }
    assert_eq!(a.selection.map(|s| s.index), Some(3));
    let s = screen(&a, 80, 30);
    assert!(s.contains("f forks here"), "{s}");
    let eff = app::update(&mut a, key(KeyCode::Char('f')));
    let saves: Vec<&Effect> = eff
        .iter()
        .filter(|e| matches!(e, Effect::Save(_)))
        .collect();
    assert_eq!(saves.len(), 2, "the origin and the fork: {eff:?}");
    let c = &a.session.conv;
    assert_ne!(c.id, origin.id);
    assert_eq!(c.messages.len(), 4);
    let from = c.forked_from.as_ref().expect("linked");
    assert_eq!((from.id.as_str(), from.turns), (origin.id.as_str(), 2));
    assert_eq!(from.message, origin.messages[3].id);
    // A selected question forks before it, with the question in the input to ask again.
    for _ in 0..2 {
        app::update(&mut a, alt(KeyCode::Up));
    }
    assert_eq!(a.selection.map(|s| s.index), Some(2));
    app::update(&mut a, key(KeyCode::Char('f')));
    assert_eq!(a.session.conv.messages.len(), 2);
    assert_eq!(a.draft(), "two");
}

#[test]
fn the_browser_draws_a_fork_under_its_origin() {
    use charla::conversation::{ForkedFrom, Summary};
    let row = |id: &str, title: &str, fork: Option<&str>| Summary {
        id: id.into(),
        title: title.into(),
        created: "2026-12-01T10:00:00Z".into(),
        updated: "2026-12-01T10:00:00Z".into(),
        models: vec!["openai/gpt-4o-mini".into()],
        turns: 3,
        cost_usd: 0.0,
        unpriced_turns: 0,
        path: std::path::PathBuf::new(),
        modified: None,
        newer_version: None,
        forked_from: fork.map(|f| ForkedFrom {
            id: f.into(),
            message: "m".into(),
            turns: 2,
        }),
    };
    let mut a = app();
    app::update(
        &mut a,
        Msg::Key(KeyEvent::new(KeyCode::Char('o'), KeyModifiers::CONTROL)),
    );
    // Newest first, as listed: the fork is newer than its origin but drawn under it.
    app::update(
        &mut a,
        Msg::Conversations(vec![
            row("c3", "the fork", Some("c1")),
            row("c2", "another", None),
            row("c1", "the origin", None),
        ]),
    );
    let ids: Vec<&str> = a.conversations.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["c2", "c1", "c3"]);
    let s = screen(&a, 120, 20);
    let origin = s
        .lines()
        .position(|l| l.contains("the origin"))
        .expect("origin");
    let fork = s
        .lines()
        .position(|l| l.contains("└ the fork (turn 2)"))
        .expect("fork");
    assert_eq!(fork, origin + 1, "{s}");
}

#[test]
fn a_follow_up_typed_while_the_panes_stream_goes_with_the_focused_answer() {
    let mut a = app();
    type_line(&mut a, &format!("/compare {MODELS}"));
    type_line(&mut a, "q");
    // Typed while they stream: into the input (digits too, once something is typed).
    for c in "why 2?".chars() {
        app::update(&mut a, key(KeyCode::Char(c)));
    }
    assert_eq!(a.draft(), "why 2?");
    assert!(a.compare.is_some());
    let eff = app::update(&mut a, key(KeyCode::Enter));
    assert!(eff.is_empty(), "not while they stream: {eff:?}");
    for (i, text) in ["from openai", "from anthropic", "from gemini"]
        .iter()
        .enumerate()
    {
        finish_pane(&mut a, i, text, 2);
    }
    app::update(&mut a, key(KeyCode::Tab));
    let eff = app::update(&mut a, key(KeyCode::Enter));
    let Some(Effect::StartStream {
        provider, request, ..
    }) = eff.iter().find(|e| matches!(e, Effect::StartStream { .. }))
    else {
        panic!("{eff:?}")
    };
    // Anthropic's answer is kept; /compare is still on, so the follow-up is compared too,
    // with that answer in its history.
    let kept = &a.session.conv.messages[1];
    assert_eq!(kept.content, "from anthropic");
    assert_eq!(provider, "openai");
    assert_eq!(request.messages[1].content, "from anthropic");
    assert_eq!(request.messages[2].content, "why 2?");
    assert_eq!(a.compare.as_ref().map(|p| p.cmp.panes.len()), Some(3));
}

#[test]
fn the_model_picker_marks_models_to_compare_and_a_click_selects_a_message() {
    let mut a = app();
    app::update(&mut a, key(KeyCode::F(2)));
    for c in "claude-haiku-4-5".chars() {
        app::update(&mut a, key(KeyCode::Char(c)));
    }
    app::update(&mut a, key(KeyCode::Tab));
    assert_eq!(a.picker_marks, ["anthropic/claude-haiku-4-5"]);
    for _ in 0.."claude-haiku-4-5".len() {
        app::update(&mut a, key(KeyCode::Backspace));
    }
    for c in "gpt-4o-mini".chars() {
        app::update(&mut a, key(KeyCode::Char(c)));
    }
    app::update(&mut a, key(KeyCode::Tab));
    let s = screen(&a, 120, 30);
    assert!(
        s.contains("✓ openai/gpt-4o-mini"),
        "marked rows are ticked:\n{s}"
    );
    app::update(&mut a, key(KeyCode::Enter));
    assert_eq!(a.compare_models.len(), 2, "{:?}", a.picker_marks);
    // A click: the loop maps the row to a message from where the view drew it.
    type_line(&mut a, "/compare off");
    type_line(&mut a, "first");
    let f = a.session.in_flight.clone().expect("streaming");
    a.session
        .apply(f.request_id, StreamEvent::TextDelta("an answer".into()));
    a.session.apply(
        f.request_id,
        StreamEvent::Finished {
            reason: "stop".into(),
        },
    );
    let mut t = Terminal::new(TestBackend::new(80, 24)).expect("terminal");
    let mut cache = view::ViewCache::default();
    t.draw(|f| view::render(&a, &mut cache, f)).expect("draw");
    let buf = t.backend().buffer().clone();
    let row = (0..24u16)
        .find(|&y| {
            (0..80u16)
                .map(|x| buf[(x, y)].symbol())
                .collect::<String>()
                .contains("an answer")
        })
        .expect("drawn");
    let i = cache.message_at(row).expect("a message there");
    assert_eq!(i, 1);
    app::update(&mut a, Msg::Select(i));
    assert_eq!(a.selection.map(|s| s.index), Some(1));
}
