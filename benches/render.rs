//! `cargo bench --bench render`: what the chat screen costs while an answer streams, medians
//! (never asserted: these machines are shared and noisy).
//!
//! 1. Paced: the real binary in a 200×50 tmux pane, the fake server typing Markdown with fenced
//!    Rust blocks at 50 tokens/s (2,000 tokens) and at 500 tokens/s (20,000 tokens): CPU per
//!    token overall and per quarter of the stream (flat quarters: the cost of a token does not
//!    grow with the answer). The 2,000-token stream also goes through `charla ask` (no screen),
//!    the line printer's cost on the same machine in the same minute, and the ratio.
//! 2. Key latency: a key typed while a fast stream draws, until it is on screen.
//! 3. Home on a 5,000-message conversation (TestBackend): time of that frame and memory added.
//! 4. Frames of a streaming answer, in process: the chat screen's own `Screen::draw` (render, diff,
//!    escape sequences) into a byte sink at 200×50, four Markdown tokens per frame as at
//!    50 tok/s, median time per frame by quarter of a 2,000-token answer.
//!    `cargo bench --bench render -- frames` runs only this one (quick, and steady under
//!    `valgrind --tool=callgrind` for instruction counts); `-- keys` only the key latency;
//!    `-- paced` only the 2,000-token paced case (TUI and `charla ask`).

mod common;
#[path = "../tests/support/fake_server.rs"]
mod fake_server;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Tmux, bin, cpu_of, median_f64 as median};

/// charla in a 200×50 pane against `url`; returns the tmux server and charla's pid.
fn start(name: &str, home: &std::path::Path, url: &str) -> (Tmux, String) {
    std::fs::write(
        home.join("config.toml"),
        format!("[providers.bench]\nkind = \"openai\"\nbase_url = \"{url}/v1\"\nlocal = true\n"),
    )
    .expect("config");
    let cmd = format!(
        "exec env CHARLA_HOME={} TERM=xterm-256color {} -m bench/m",
        home.display(),
        bin()
    );
    let t = Tmux::launch(format!("charla-render-{}-{name}", std::process::id()), &cmd);
    assert!(t.wait_for("Ask anything", 10), "charla did not start");
    let pid = t
        .run(&["display-message", "-p", "-t", "b", "#{pane_pid}"])
        .trim()
        .to_string();
    (t, pid)
}

/// CPU per token of the paced case in the TUI (returned, and printed with its quarters).
fn paced(server: &fake_server::FakeServer, tokens: usize, slow_ms: u64) -> f64 {
    let home = tempfile::tempdir().expect("tmp");
    let (t, pid) = start(
        &format!("paced{tokens}"),
        home.path(),
        &server.url(&format!("md={tokens},slow={slow_ms}")),
    );
    std::thread::sleep(Duration::from_millis(300));
    let c0 = cpu_of(&pid);
    let w0 = written(&pid);
    let start = Instant::now();
    t.run(&["send-keys", "-t", "b", "go", "Enter"]);
    let quarter = Duration::from_millis(tokens as u64 * slow_ms / 4);
    let mut marks = vec![c0];
    for q in 1..=4 {
        let until = start + quarter * q;
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        marks.push(cpu_of(&pid));
    }
    let done = t.wait_for("bench/m · in ", 60);
    let total = cpu_of(&pid) - c0;
    let bytes = written(&pid) - w0;
    let per_q: Vec<String> = marks
        .windows(2)
        .map(|w| format!("{:.2}", w[1] - w[0]))
        .collect();
    println!(
        "paced {tokens} tokens at {} tok/s, Markdown with Rust blocks, 200x50: {:.2} s CPU, {:.3} ms/token; per quarter {} s; {:.0} KB written to the terminal{}",
        1000 / slow_ms.max(1),
        total,
        total * 1000.0 / tokens as f64,
        per_q.join(" / "),
        bytes as f64 / 1024.0,
        if done {
            ""
        } else {
            " (the stream had not finished)"
        }
    );
    total * 1000.0 / tokens as f64
}

/// The same paced stream through `charla ask` to /dev/null: a line printer's cost on this
/// machine at this hour (every token still wakes the process and is read, parsed and written),
/// the floor the TUI's figure is to be read against.
fn paced_ask(server: &fake_server::FakeServer, tokens: usize, slow_ms: u64, tui: f64) {
    let home = tempfile::tempdir().expect("tmp");
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "[providers.bench]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nlocal = true\n",
            server.url(&format!("md={tokens},slow={slow_ms}"))
        ),
    )
    .expect("config");
    let mut cmd = Command::new(bin());
    cmd.args(["ask", "-m", "bench/m", "go"])
        .env("CHARLA_HOME", home.path());
    let (cpu, _, ok) = common::rusage_of(cmd);
    let per = cpu.as_secs_f64() * 1000.0 / tokens as f64;
    println!(
        "paced {tokens} tokens at {} tok/s through charla ask (no screen): {:.3} ms/token; the TUI costs {:.2}x that{}",
        1000 / slow_ms.max(1),
        per,
        tui / per,
        if ok { "" } else { " (ask failed)" }
    );
}

/// Bytes a running process has written (to the terminal, here), from /proc.
fn written(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn key_latency(server: &fake_server::FakeServer) {
    let home = tempfile::tempdir().expect("tmp");
    // A fast stream (1,000 chunks a second) that lasts long enough for twenty keys.
    let (t, _) = start("keys", home.path(), &server.url("md=20000,slow=1"));
    t.run(&["send-keys", "-t", "b", "go", "Enter"]);
    std::thread::sleep(Duration::from_millis(150));
    let (med, max, n) = common::key_latency(&t, "bench/m · in ");
    println!(
        "a key typed while Markdown streams at 1,000 chunks/s: on screen after {:.0} ms median, {:.0} ms max ({} keys; includes tmux's capture, a few ms)",
        med, max, n
    );
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn home_key() {
    use charla::conversation::Message;
    use charla::tui::{app::App, theme::Theme, view};
    use ratatui::{Terminal, backend::TestBackend};
    charla::tui::markdown::warm();
    let cfg = std::sync::Arc::new(charla::config::Config::builtin());
    let m = cfg.resolve_model("demo/charla-demo").expect("m");
    let mut s = charla::session::Session::new(cfg, m);
    for i in 0..2500 {
        s.conv.messages.push(Message::user(format!(
            "Question {i}: how do I parse JSON in Rust?"
        )));
        let mut a = Message::assistant("demo/charla-demo");
        a.content = format!(
            "## Answer {i}\n\nUse `serde_json`:\n\n```rust\nuse serde::Deserialize;\n#[derive(Deserialize)]\nstruct Point {{ x: i32, y: i32 }}\nfn main() {{\n    let p: Point = serde_json::from_str(r#\"{{\"x\":1,\"y\":2}}\"#).unwrap();\n    println!(\"{{}} {{}}\", p.x, p.y);\n}}\n```\n\n- fast\n- safe\n\n> A quote to finish, long enough to wrap across the line at two hundred columns or so, and then some more words.\n"
        );
        if let Some(x) = a.answer.as_mut() {
            x.duration_ms = Some(1000);
        }
        s.conv.messages.push(a);
    }
    let mut app = App::new(s, Theme::fallback(false), String::new());
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("t");
    let (mut times, mut mem) = (vec![], vec![]);
    for _ in 0..5 {
        let mut cache = view::ViewCache::default();
        app.scroll = 0;
        term.draw(|f| view::render(&app, &mut cache, f))
            .expect("draw");
        let before = rss_kb();
        app.scroll = usize::MAX / 2;
        let t = Instant::now();
        term.draw(|f| view::render(&app, &mut cache, f))
            .expect("draw");
        // The loop clamps the scroll after a frame; the next frame draws the top for real.
        app.scroll = cache.max_scroll();
        term.draw(|f| view::render(&app, &mut cache, f))
            .expect("draw");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        mem.push((rss_kb().saturating_sub(before)) as f64 / 1024.0);
    }
    println!(
        "Home on 5,000 messages at 200x50: {:.1} ms for its frames, {:.1} MB more memory (median of 5)",
        median(times),
        median(mem)
    );
}

/// Frames of a 2,000-token Markdown answer streamed four tokens per frame, drawn by the chat
/// screen's own `draw` into a byte sink at 200×50.
fn frames() {
    use charla::provider::StreamEvent;
    use charla::tui::{app, app::App, theme::Theme, view};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    charla::tui::markdown::warm();
    let cfg = std::sync::Arc::new(charla::config::Config::builtin());
    let m = cfg.resolve_model("demo/charla-demo").expect("m");
    let s = charla::session::Session::new(cfg, m);
    let mut a = App::new(s, Theme::fallback(false), String::new());
    for c in "go".chars() {
        app::update(
            &mut a,
            app::Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)),
        );
    }
    let eff = app::update(
        &mut a,
        app::Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
    );
    let Some(app::Effect::StartStream { request_id: id, .. }) = eff.first().cloned() else {
        panic!("no stream: {eff:?}")
    };
    app::update(&mut a, app::Msg::Stream(id, StreamEvent::Started));
    /// Counts what would go to the terminal.
    struct Sink(std::rc::Rc<std::cell::Cell<usize>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.set(self.0.get() + b.len());
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let written = std::rc::Rc::new(std::cell::Cell::new(0));
    let backend = ratatui::backend::CrosstermBackend::new(Sink(written.clone()));
    let mut term = ratatui::Terminal::with_options(
        backend,
        ratatui::TerminalOptions {
            viewport: ratatui::Viewport::Fixed(ratatui::layout::Rect::new(0, 0, 200, 50)),
        },
    )
    .expect("terminal");
    let mut cache = view::ViewCache::default();
    let mut screen = charla::tui::screen::Screen::new();
    let pieces: Vec<&str> = fake_server::MD_SAMPLE
        .split_inclusive([' ', '\n'])
        .cycle()
        .take(2000)
        .collect();
    let mut times = vec![];
    for chunk in pieces.chunks(4) {
        for p in chunk {
            app::update(
                &mut a,
                app::Msg::Stream(id, StreamEvent::TextDelta((*p).to_string())),
            );
        }
        let t = Instant::now();
        screen.draw(&mut term, &a, &mut cache).expect("draw");
        times.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let n = times.len();
    let q: Vec<String> = times
        .chunks(n / 4)
        .take(4)
        .map(|c| format!("{:.0}", median(c.to_vec())))
        .collect();
    println!(
        "frames of a streaming 2,000-token Markdown answer at 200x50, 4 tokens each: {:.0} µs median per frame (per quarter {} µs), {:.0} bytes per frame",
        median(times),
        q.join(" / "),
        written.get() as f64 / n as f64
    );
}

fn main() {
    if std::env::args().any(|a| a == "frames") {
        frames();
        return;
    }
    let server = fake_server::FakeServer::start();
    println!("binary: {}", bin());
    if std::env::args().any(|a| a == "keys") {
        key_latency(&server);
        return;
    }
    if std::env::args().any(|a| a == "paced") {
        let tui = paced(&server, 2000, 20);
        paced_ask(&server, 2000, 20, tui);
        return;
    }
    frames();
    home_key();
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("tmux not installed: the paced and key-latency cases are skipped");
        return;
    }
    key_latency(&server);
    let tui = paced(&server, 2000, 20);
    paced_ask(&server, 2000, 20, tui);
    paced(&server, 20000, 2);
}
