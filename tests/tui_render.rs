//! The TUI without a terminal or a network: `update()` driven by messages, and `render()` into
//! ratatui's TestBackend with insta snapshots.

use charla::config::Config;
use charla::provider::{StreamEvent, Usage};
use charla::session::Session;
use charla::tui::app::{self, App, Effect, Msg};
use charla::tui::{theme::Theme, view};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::{Terminal, backend::TestBackend};
use std::sync::Arc;
use std::time::Duration;

fn app(model: &str) -> App {
    // Screens are drawn with the price dataset decoded (as after the first moments in the
    // real TUI), whatever order the tests run in.
    charla::pricing::warm();
    let cfg = Arc::new(Config::builtin());
    let m = cfg.resolve_model(model).expect("model");
    App::new(Session::new(cfg, m), Theme::fallback(true), String::new())
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn ctrl(c: char) -> Msg {
    Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

fn type_text(a: &mut App, s: &str) {
    for c in s.chars() {
        app::update(a, key(KeyCode::Char(c)));
    }
}

fn screen(a: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    let mut cache = view::ViewCache::default();
    t.draw(|f| view::render(a, &mut cache, f)).expect("draw");
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Sends a question and streams `text` with fixed timings (TTFT 0.5 s, 2 s in all).
fn answered(a: &mut App, q: &str, text: &str, usage: Option<Usage>) {
    type_text(a, q);
    let eff = app::update(a, key(KeyCode::Enter));
    let Some(Effect::StartStream { request_id, .. }) = eff.first() else {
        panic!("no stream started: {eff:?}")
    };
    let id = *request_id;
    let t0 = a.session.in_flight.as_ref().expect("in flight").started;
    a.session.apply_at(id, StreamEvent::Started, t0);
    a.session.apply_at(
        id,
        StreamEvent::TextDelta(text.into()),
        t0 + Duration::from_millis(500),
    );
    if let Some(u) = usage {
        a.session
            .apply_at(id, StreamEvent::Usage(u), t0 + Duration::from_millis(1900));
    }
    a.session.apply_at(
        id,
        StreamEvent::Finished {
            reason: "stop".into(),
        },
        t0 + Duration::from_millis(2000),
    );
}

#[test]
fn enter_sends_and_stream_events_fill_the_answer() {
    let mut a = app("openai/gpt-4o-mini");
    type_text(&mut a, "hello");
    let eff = app::update(&mut a, key(KeyCode::Enter));
    let Some(Effect::StartStream {
        request_id,
        provider,
        request,
    }) = eff.first().cloned()
    else {
        panic!("{eff:?}")
    };
    assert_eq!(provider, "openai");
    assert_eq!(request.messages.len(), 1);
    assert!(a.draft().is_empty());
    assert!(
        app::update(
            &mut a,
            Msg::Stream(request_id, StreamEvent::TextDelta("Hi".into()))
        )
        .is_empty()
    );
    // A stale request id changes nothing.
    app::update(
        &mut a,
        Msg::Stream(request_id + 7, StreamEvent::TextDelta("zzz".into())),
    );
    let eff = app::update(
        &mut a,
        Msg::Stream(
            request_id,
            StreamEvent::Finished {
                reason: "stop".into(),
            },
        ),
    );
    assert!(
        matches!(eff.as_slice(), [Effect::Save(_)]),
        "autosave after every turn"
    );
    assert_eq!(a.session.conv.messages[1].content, "Hi");
    // Up on an empty box recalls the last prompt.
    app::update(&mut a, key(KeyCode::Up));
    assert_eq!(a.draft(), "hello");
}

#[test]
fn esc_cancels_keeps_partial_and_app_stays() {
    let mut a = app("openai/gpt-4o-mini");
    type_text(&mut a, "q");
    let eff = app::update(&mut a, key(KeyCode::Enter));
    let Some(Effect::StartStream { request_id, .. }) = eff.first().cloned() else {
        panic!()
    };
    app::update(
        &mut a,
        Msg::Stream(request_id, StreamEvent::TextDelta("part".into())),
    );
    let eff = app::update(&mut a, key(KeyCode::Esc));
    assert!(
        matches!(eff.as_slice(), [Effect::CancelStream, Effect::Save(_)]),
        "{eff:?}"
    );
    let ans = a.session.last_answer().expect("answer");
    assert!(ans.interrupted);
    assert_eq!(a.session.conv.messages[1].content, "part");
    assert!(!a.quit);
    // The cancelled stream's late Cancelled error is ignored.
    assert!(
        app::update(
            &mut a,
            Msg::Stream(request_id, StreamEvent::TextDelta("late".into()))
        )
        .is_empty()
    );
}

#[test]
fn newline_paste_editor_and_quit_keys() {
    let mut a = app("demo/charla-demo");
    type_text(&mut a, "a");
    app::update(
        &mut a,
        Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::ALT)),
    );
    type_text(&mut a, "b");
    app::update(&mut a, Msg::Paste("line1\r\nline2".into()));
    assert_eq!(a.draft(), "a\nbline1\nline2");
    assert_eq!(
        app::update(&mut a, ctrl('e')),
        vec![Effect::OpenEditor {
            text: "a\nbline1\nline2".into(),
            target: app::EditTarget::Draft
        }]
    );
    app::update(
        &mut a,
        Msg::Edited(app::EditTarget::Draft, Ok("edited\n".into())),
    );
    assert_eq!(a.draft(), "edited");
    assert!(
        app::update(&mut a, ctrl('c')).is_empty(),
        "first Ctrl-C clears the draft"
    );
    assert_eq!(a.draft(), "");
    assert_eq!(app::update(&mut a, ctrl('c')), vec![Effect::Quit]);
    for q in ["/q", ":q", ":quit"] {
        let mut b = app("demo/charla-demo");
        type_text(&mut b, q);
        assert_eq!(
            app::update(&mut b, key(KeyCode::Enter)),
            vec![Effect::Quit],
            "{q}"
        );
    }
}

#[test]
fn model_switch_retry_and_copy() {
    let mut a = app("openai/gpt-4o-mini");
    answered(
        &mut a,
        "one",
        "first answer\n\n```sh\necho hi\n```",
        Some(Usage {
            input_tokens: 1000,
            output_tokens: 100,
            ..Default::default()
        }),
    );
    type_text(&mut a, "/model anthropic/claude-haiku-4-5");
    app::update(&mut a, key(KeyCode::Enter));
    assert_eq!(a.session.model.to_string(), "anthropic/claude-haiku-4-5");
    answered(
        &mut a,
        "two",
        "second",
        Some(Usage {
            input_tokens: 1000,
            output_tokens: 100,
            ..Default::default()
        }),
    );
    assert_eq!(
        a.session.conv.models(),
        vec!["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"]
    );
    // 1000×0.15+100×0.6 = 210 → $0.00021; 1000×1+100×5 = 1500 → $0.0015.
    assert!((a.session.totals().cost_usd - 0.001_71).abs() < 1e-12);
    let eff = app::update(&mut a, ctrl('r'));
    assert!(matches!(eff.first(), Some(Effect::StartStream { .. })));
    let alt = &a
        .session
        .conv
        .messages
        .last()
        .and_then(|m| m.answer.as_ref())
        .expect("answer")
        .alternatives;
    assert_eq!(alt.len(), 1);
    assert_eq!(alt[0].content, "second");
    a.session.cancel();
    type_text(&mut a, "/copy");
    let eff = app::update(&mut a, key(KeyCode::Enter));
    assert!(matches!(eff.as_slice(), [Effect::Copy(_)]), "{eff:?}");
    assert_eq!(app::osc52("hi"), "\x1b]52;c;aGk=\x07");
    assert_eq!(app::osc52("hello"), "\x1b]52;c;aGVsbG8=\x07");
}

#[test]
fn snapshot_empty_demo() {
    let a = app("demo/charla-demo");
    insta::assert_snapshot!(screen(&a, 80, 16));
}

#[test]
fn snapshot_finished_turn_with_footer_and_code() {
    let mut a = app("openai/gpt-5-mini");
    let u = Usage {
        input_tokens: 1187,
        output_tokens: 215,
        cached_input_tokens: 1024,
        reasoning_tokens: 192,
        ..Default::default()
    };
    answered(
        &mut a,
        "Show me Rust",
        "Here you go:\n\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\n- fast\n- **safe**",
        Some(u),
    );
    insta::assert_snapshot!(screen(&a, 80, 24));
}

#[test]
fn snapshot_streaming_unclosed_fence() {
    let mut a = app("anthropic/claude-sonnet-4-5");
    type_text(&mut a, "code please");
    let eff = app::update(&mut a, key(KeyCode::Enter));
    let Some(Effect::StartStream { request_id, .. }) = eff.first().cloned() else {
        panic!()
    };
    let t0 = a.session.in_flight.as_ref().expect("f").started;
    a.session.apply_at(
        request_id,
        StreamEvent::ReasoningDelta("Let me think about it".into()),
        t0 + Duration::from_millis(300),
    );
    a.session.apply_at(
        request_id,
        StreamEvent::TextDelta("Sure:\n\n```python\nprint('hi')\nfor i in".into()),
        t0 + Duration::from_millis(700),
    );
    a.now = t0 + Duration::from_millis(1700);
    insta::assert_snapshot!(screen(&a, 70, 16));
}

#[test]
fn snapshot_interrupted_and_unknown_price() {
    let mut a = app("openai/brand-new-model");
    type_text(&mut a, "q");
    let eff = app::update(&mut a, key(KeyCode::Enter));
    let Some(Effect::StartStream { request_id, .. }) = eff.first().cloned() else {
        panic!()
    };
    let t0 = a.session.in_flight.as_ref().expect("f").started;
    a.session.apply_at(
        request_id,
        StreamEvent::TextDelta("Half an ans".into()),
        t0 + Duration::from_millis(400),
    );
    let e = charla::provider::ProviderError::new(
        charla::provider::ErrorKind::Network,
        "connection reset",
    );
    a.session.apply_at(
        request_id,
        StreamEvent::Error(e),
        t0 + Duration::from_millis(900),
    );
    insta::assert_snapshot!(screen(&a, 80, 12));
}

#[test]
fn snapshot_narrow_terminal_with_wide_chars() {
    let mut a = app("ollama/qwen3:8b");
    answered(
        &mut a,
        "日本語で",
        "日本語のテキストと絵文字 👋🌍 が折り返されても壊れません。",
        None,
    );
    insta::assert_snapshot!(screen(&a, 30, 16));
}

#[test]
fn snapshot_help_overlay() {
    let mut a = app("demo/charla-demo");
    app::update(&mut a, key(KeyCode::Char('?')));
    assert!(a.help);
    insta::assert_snapshot!(screen(&a, 80, 24));
    app::update(&mut a, key(KeyCode::Char('x')));
    assert!(!a.help, "any key closes help");
}

#[test]
fn snapshot_examples_collapsed_and_switched_models() {
    let cfg = Arc::new(Config::builtin());
    let m = cfg.resolve_model("openai/gpt-4o-mini").expect("m");
    let mut s = Session::new(cfg.clone(), m);
    let mut conv = s.conv.clone();
    charla::cli::ask::apply_preset(&cfg, &mut conv, "review-genre", &[]).expect("preset");
    s.conv = conv;
    charla::pricing::warm();
    let mut a = App::new(s, Theme::fallback(true), String::new());
    answered(
        &mut a,
        "Car chases everywhere",
        r#"{"genre": "Action"}"#,
        Some(Usage {
            input_tokens: 120,
            output_tokens: 2,
            ..Default::default()
        }),
    );
    type_text(&mut a, "/model gemini/gemini-2.5-flash");
    app::update(&mut a, key(KeyCode::Enter));
    answered(
        &mut a,
        "A robot falls in love",
        r#"{"genre": "Sci-Fi"}"#,
        Some(Usage {
            input_tokens: 130,
            output_tokens: 3,
            ..Default::default()
        }),
    );
    a.notice = None;
    insta::assert_snapshot!(screen(&a, 90, 20));
}

#[test]
fn escape_sequences_render_as_visible_text() {
    let mut a = app("openai/gpt-4o-mini");
    answered(
        &mut a,
        "x",
        "a\x1b]0;pwned\x07b\x1b[2Jc\x1b]52;c;aGk=\x07d",
        None,
    );
    let s = screen(&a, 80, 10);
    assert!(s.contains("a␛]0;pwned␇b␛[2Jc␛]52;c;aGk=␇d"), "{s}");
    assert!(!s.contains('\x1b'));
}

#[test]
fn themes_colour_the_roles() {
    let mut a = app("openai/gpt-4o-mini");
    answered(&mut a, "x", "y", None);
    for name in Theme::shipped_names() {
        let t = Theme::load(name, std::path::Path::new("/nonexistent"), false).expect("theme");
        let user_fg = t.user.fg;
        a.set_theme(t);
        let mut term = Terminal::new(TestBackend::new(40, 20)).expect("t");
        let mut cache = view::ViewCache::default();
        term.draw(|f| view::render(&a, &mut cache, f))
            .expect("draw");
        let buf = term.backend().buffer().clone();
        // The "▌ you" header is in the user colour.
        let row = (0..20u16)
            .find(|y| buf[(2, *y)].symbol() == "y" && buf[(3, *y)].symbol() == "o")
            .expect("a `you` header");
        assert_eq!(buf[(2, row)].fg, user_fg.unwrap_or_default(), "{name}");
    }
}

#[test]
fn scrolling_and_resize() {
    let mut a = app("openai/gpt-4o-mini");
    let long: String = (0..80).map(|i| format!("line {i}\n\n")).collect();
    answered(&mut a, "long", &long, None);
    let bottom = screen(&a, 60, 20);
    assert!(bottom.contains("line 79"));
    app::update(&mut a, key(KeyCode::PageUp));
    let up = screen(&a, 60, 20);
    assert!(!up.contains("line 79"), "{up}");
    app::update(&mut a, key(KeyCode::End));
    assert!(screen(&a, 60, 20).contains("line 79"));
    app::update(&mut a, Msg::Resize);
    let narrow = screen(&a, 25, 16);
    assert!(narrow.contains("line 79"), "{narrow}");
}

#[test]
fn a_regenerated_answer_of_the_same_length_is_redrawn() {
    let mut a = app("openai/gpt-4o-mini");
    answered(
        &mut a,
        "q",
        "same",
        Some(Usage {
            input_tokens: 5,
            output_tokens: 1,
            ..Default::default()
        }),
    );
    let mut t = Terminal::new(TestBackend::new(80, 20)).expect("terminal");
    let mut cache = view::ViewCache::default();
    t.draw(|f| view::render(&a, &mut cache, f)).expect("draw");
    let eff = app::update(&mut a, ctrl('r'));
    let Some(Effect::StartStream { request_id, .. }) = eff.first().cloned() else {
        panic!("{eff:?}")
    };
    app::update(
        &mut a,
        Msg::Stream(request_id, StreamEvent::TextDelta("same".into())),
    );
    app::update(
        &mut a,
        Msg::Stream(
            request_id,
            StreamEvent::Usage(Usage {
                input_tokens: 9,
                output_tokens: 1,
                ..Default::default()
            }),
        ),
    );
    app::update(
        &mut a,
        Msg::Stream(
            request_id,
            StreamEvent::Finished {
                reason: "stop".into(),
            },
        ),
    );
    t.draw(|f| view::render(&a, &mut cache, f)).expect("draw");
    let buf = t.backend().buffer().clone();
    let text: String = (0..20u16)
        .map(|y| {
            (0..80u16)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
                + "\n"
        })
        .collect();
    assert!(text.contains("‹ 2/2 › · 1 other answer"), "{text}");
    assert!(
        text.contains("in 9 · out 1"),
        "the footer is the new answer's:\n{text}"
    );
}

#[test]
fn snapshot_each_theme_with_styles() {
    let mut a = app("openai/gpt-4o-mini");
    answered(
        &mut a,
        "hi",
        "**bold** `code`",
        Some(Usage {
            input_tokens: 3,
            output_tokens: 2,
            ..Default::default()
        }),
    );
    for name in Theme::shipped_names() {
        a.set_theme(Theme::load(name, std::path::Path::new("/nonexistent"), false).expect("theme"));
        let mut term = Terminal::new(TestBackend::new(48, 9)).expect("t");
        let mut cache = view::ViewCache::default();
        term.draw(|f| view::render(&a, &mut cache, f))
            .expect("draw");
        // The buffer's Debug form lists the style runs as well as the text.
        insta::assert_snapshot!(
            format!("theme_{name}"),
            format!("{:?}", term.backend().buffer())
        );
    }
}

#[test]
fn large_bracketed_paste_is_taken_whole() {
    let mut a = app("openai/gpt-4o-mini");
    let big: String = (0..4000)
        .map(|i| format!("line {i} of a large log file\n"))
        .collect();
    app::update(&mut a, Msg::Paste(big.clone()));
    // A long paste is offered as an attachment; Esc pastes it inline, whole.
    assert!(matches!(a.overlay, app::Overlay::OfferPaste { .. }));
    app::update(&mut a, key(KeyCode::Esc));
    assert_eq!(a.draft(), big);
    let s = screen(&a, 100, 30);
    assert!(s.contains("message · ~"), "{s}");
    let eff = app::update(&mut a, key(KeyCode::Enter));
    let Some(Effect::StartStream { request, .. }) = eff.first() else {
        panic!("{eff:?}")
    };
    assert_eq!(request.messages[0].content, big);
}

#[test]
fn status_bar_shows_retry_notice_then_live_rate() {
    let mut a = app("openai/gpt-4o-mini");
    type_text(&mut a, "q");
    let eff = app::update(&mut a, key(KeyCode::Enter));
    let Some(Effect::StartStream { request_id, .. }) = eff.first().cloned() else {
        panic!()
    };
    let t0 = a.session.in_flight.as_ref().expect("f").started;
    a.now = t0 + Duration::from_millis(800);
    let s = screen(&a, 100, 8);
    assert!(s.contains("waiting 0.8s · Esc cancels"), "{s}");
    a.session.apply_at(
        request_id,
        StreamEvent::Retry {
            attempt: 2,
            wait: Duration::from_secs(4),
            reason: "rate limited (HTTP 429): slow down".into(),
        },
        t0 + Duration::from_millis(900),
    );
    a.now = t0 + Duration::from_millis(1000);
    let s = screen(&a, 100, 8);
    assert!(
        s.contains("rate limited (HTTP 429), retrying in 4 s (attempt 2)"),
        "{s}"
    );
    a.session.apply_at(
        request_id,
        StreamEvent::TextDelta("x".repeat(400)),
        t0 + Duration::from_millis(5000),
    );
    a.now = t0 + Duration::from_millis(6000);
    let s = screen(&a, 100, 8);
    assert!(s.contains("100 tok/s · 6.0s"), "{s}");
}

#[test]
fn scrolled_up_indicator_and_context_gauge() {
    let mut a = app("openai/gpt-4o-mini");
    let long: String = (0..60).map(|i| format!("line {i}\n\n")).collect();
    answered(&mut a, "long", &long, None);
    app::update(&mut a, key(KeyCode::PageUp));
    let s = screen(&a, 80, 20);
    assert!(s.contains("more lines · End"), "{s}");
    assert!(s.contains("% of context"), "{s}");
    // A draft larger than the context window is flagged before it is sent.
    let big = "word ".repeat(130_000);
    app::update(&mut a, Msg::Paste(big));
    app::update(&mut a, key(KeyCode::Esc));
    let s = screen(&a, 120, 20);
    assert!(s.contains("over the 128,000-token context"), "{s}");
}

/// The help's keys never run into their descriptions, at any width the screen supports.
#[test]
fn help_columns_stay_apart_at_every_width() {
    let mut a = app("demo/charla-demo");
    app::update(&mut a, key(KeyCode::Char('?')));
    for w in [30u16, 40, 50, 60, 72, 80, 100, 120, 200] {
        let s = screen(&a, w, 50);
        for k in [
            "[filter|p/name]",
            "[path]",
            "provider/model",
            "Home/End",
            "Shift-Enter",
            ":q",
        ] {
            for line in s.lines().filter(|l| l.contains(k)) {
                let after = line[line.find(k).unwrap_or(0) + k.len()..].chars().next();
                assert!(
                    matches!(after, Some(' ') | Some('│') | None),
                    "width {w}: {k:?} runs into the next column: {line:?}\n{s}"
                );
            }
        }
        assert!(
            s.contains("regenerate"),
            "width {w}: descriptions shown\n{s}"
        );
    }
}
