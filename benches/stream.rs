//! `cargo bench`: speed and memory, reported as medians (never asserted: machines are noisy).
//!
//! 1. 20,000 OpenAI-format chunks from the local fake server through `charla ask` to /dev/null,
//!    next to `curl -N` of the same stream: user+system CPU time and peak RSS of each (wait4).
//! 2. Frame render time of a 5,000-message conversation (~2 MB of Markdown with code) on a
//!    200×50 TestBackend: first frame, then p50/p99 of scrolled frames.
//!
//! `CHARLA_BENCH_BIN=path` runs the TUI cases on another build.

mod common;
#[path = "../tests/support/fake_server.rs"]
mod fake_server;
use common::{Tmux, rusage_of};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
    v.sort();
    v[v.len() / 2]
}

fn stream_bench() {
    let server = fake_server::FakeServer::start();
    let base = server.url("big=20000");
    let home = tempfile::tempdir().expect("tmp");
    std::fs::write(
        home.path().join("config.toml"),
        format!("[providers.bench]\nkind = \"openai\"\nbase_url = \"{base}/v1\"\nlocal = true\n"),
    )
    .expect("config");
    let body = r#"{"model":"m","messages":[{"role":"user","content":"go"}],"stream":true}"#;
    let (mut c_cpu, mut c_rss, mut k_cpu, mut k_rss) = (vec![], vec![], vec![], vec![]);
    for _ in 0..7 {
        let mut charla = Command::new(env!("CARGO_BIN_EXE_charla"));
        charla
            .args(["ask", "--no-save", "-m", "bench/m", "go"])
            .env("CHARLA_HOME", home.path());
        let (cpu, rss, ok) = rusage_of(charla);
        assert!(ok, "charla ask failed");
        c_cpu.push(cpu);
        c_rss.push(rss);
        let mut curl = Command::new("curl");
        curl.args([
            "-sN",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
            "-d",
            body,
            &format!("{base}/v1/chat/completions"),
        ]);
        let (cpu, rss, _) = rusage_of(curl);
        k_cpu.push(cpu);
        k_rss.push(rss);
    }
    let (cc, kc) = (median(c_cpu), median(k_cpu));
    println!(
        "stream 20,000 chunks: charla ask cpu {:.1} ms, peak RSS {:.1} MB | curl -N cpu {:.1} ms, peak RSS {:.1} MB | cpu ratio {:.2}x (median of 7)",
        cc.as_secs_f64() * 1e3,
        median(c_rss) as f64 / 1024.0,
        kc.as_secs_f64() * 1e3,
        median(k_rss) as f64 / 1024.0,
        cc.as_secs_f64() / kc.as_secs_f64().max(1e-9)
    );
}

fn render_bench() {
    use charla::tui::{app::App, theme::Theme, view};
    use ratatui::{Terminal, backend::TestBackend};
    charla::tui::markdown::warm();
    let s = big_conversation();
    let bytes: usize = s.conv.messages.iter().map(|m| m.content.len()).sum();
    let mut app = App::new(s, Theme::fallback(false), String::new());
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("t");
    let mut cache = view::ViewCache::default();
    let t0 = Instant::now();
    term.draw(|f| view::render(&app, &mut cache, f))
        .expect("draw");
    let first = t0.elapsed();
    let mut times = Vec::new();
    for i in 0..300 {
        app.scroll = (i * 37) % cache.max_scroll().max(1);
        let t = Instant::now();
        term.draw(|f| view::render(&app, &mut cache, f))
            .expect("draw");
        times.push(t.elapsed());
    }
    times.sort();
    // Paging up from the bottom, as a reader does (PgUp = 49 lines at this size).
    let mut app2 = app;
    app2.scroll = 0;
    let mut cache2 = view::ViewCache::default();
    term.draw(|f| view::render(&app2, &mut cache2, f))
        .expect("draw");
    let mut paging = Vec::new();
    for _ in 0..300 {
        app2.scroll += 49;
        let t = Instant::now();
        term.draw(|f| view::render(&app2, &mut cache2, f))
            .expect("draw");
        paging.push(t.elapsed());
    }
    paging.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "render 5,000 messages ({:.1} MB markdown) at 200x50: first frame {:.0} ms; random jumps p50 {:.2} ms p99 {:.2} ms; paging up p50 {:.2} ms p99 {:.2} ms",
        bytes as f64 / 1e6,
        ms(first),
        ms(times[times.len() / 2]),
        ms(times[times.len() * 99 / 100]),
        ms(paging[paging.len() / 2]),
        ms(paging[paging.len() * 99 / 100])
    );
}

fn big_conversation() -> charla::session::Session {
    use charla::config::Config;
    use charla::conversation::Message;
    use charla::session::Session;
    use std::sync::Arc;
    let cfg = Arc::new(Config::builtin());
    let m = cfg.resolve_model("openai/gpt-4o-mini").expect("model");
    let mut s = Session::new(cfg, m);
    for i in 0..2500 {
        s.conv.messages.push(Message::user(format!(
            "Question {i}: how do I parse **JSON** in Rust?"
        )));
        let mut a = Message::assistant("openai/gpt-4o-mini");
        a.content = format!(
            "## Answer {i}\n\nUse `serde_json`. Here is an example with *emphasis* and a [link](https://docs.rs):\n\n```rust\nuse serde::Deserialize;\n#[derive(Deserialize)]\nstruct Point {{ x: i32, y: i32 }}\nfn main() {{\n    let p: Point = serde_json::from_str(r#\"{{\"x\":1,\"y\":2}}\"#).unwrap();\n    println!(\"{{}} {{}}\", p.x, p.y);\n}}\n```\n\n- fast\n- safe\n- {i}\n\n> A quote to finish, long enough to wrap across the line at two hundred columns or so, and then some more words.\n"
        );
        if let Some(ans) = a.answer.as_mut() {
            ans.duration_ms = Some(1000);
            ans.cost_usd = Some(0.0001);
        }
        s.conv.messages.push(a);
    }
    s
}

/// `charla list` and `charla list --search` over 1,000 saved conversations of 10 messages.
fn list_bench() {
    use charla::conversation::{Conversation, Message, Store};
    let home = tempfile::tempdir().expect("tmp");
    let store = Store::new(home.path().join("data").join("conversations"));
    let mut bytes = 0u64;
    for i in 0..1000 {
        let mut c = Conversation::new(
            format!("20261130-{i:06}-beef"),
            format!("2026-11-30T00:{:02}:{:02}.000Z", i / 60 % 60, i % 60),
        );
        for t in 0..5 {
            c.messages.push(Message::user(format!(
                "question {t} {}",
                "lorem ipsum ".repeat(100)
            )));
            let mut a = Message::assistant("openai/gpt-4o-mini");
            a.content = format!("answer {t} {}", "dolor sit amet ".repeat(300));
            if let Some(x) = a.answer.as_mut() {
                x.cost_usd = Some(0.0001);
                x.duration_ms = Some(1000);
            }
            c.messages.push(a);
        }
        c.ensure_title();
        bytes += std::fs::metadata(store.save(&mut c).expect("save").path)
            .map(|m| m.len())
            .unwrap_or(0);
    }
    let time = |args: &[&str]| {
        let mut v = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let ok = Command::new(env!("CARGO_BIN_EXE_charla"))
                .args(args)
                .env("CHARLA_HOME", home.path())
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "charla {args:?} failed");
            v.push(t.elapsed());
        }
        median(v)
    };
    let list = time(&["list"]);
    let search = time(&["list", "--search", "amet 999"]);
    println!(
        "list 1,000 conversations ({:.0} MB): charla list {:.0} ms, list --search {:.0} ms (median of 5, wall time)",
        bytes as f64 / 1e6,
        list.as_secs_f64() * 1e3,
        search.as_secs_f64() * 1e3
    );
}

fn main() {
    list_bench();
    stream_bench();
    render_bench();
    tui_bench();
}

/// CPU seconds (utime + stime) and VmHWM (KB) of a running process, from /proc.
fn proc_usage(pid: &str) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let cpu = (f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
        / tick;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0))
        .unwrap_or(0);
    (cpu, hwm)
}

/// The TUI in a 200×50 tmux pane: a 20,000-token answer at full speed, and a 5,000-message
/// conversation reopened and paged through.
fn tui_bench() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("tui: tmux not installed, skipped");
        return;
    }
    let server = fake_server::FakeServer::start();
    let (mut cpus, mut frames, mut fps, mut firsts, mut rss_stream, mut walls) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for run in 0..5 {
        let home = tempfile::tempdir().expect("tmp");
        std::fs::write(
            home.path().join("config.toml"),
            format!(
                "[providers.bench]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nlocal = true\n",
                server.url("big=20000")
            ),
        )
        .expect("config");
        let stats = home.path().join("stats.json");
        let cmd = format!(
            "exec env CHARLA_HOME={} CHARLA_TUI_STATS={} TERM=xterm-256color {} -m bench/m",
            home.path().display(),
            stats.display(),
            common::bin()
        );
        let t = Tmux::launch(format!("charla-bench-{}-{run}", std::process::id()), &cmd);
        if !t.wait_for("type a question", 10) {
            println!("tui: charla did not start");
            return;
        }
        let pid = t
            .run(&["display-message", "-p", "-t", "b", "#{pane_pid}"])
            .trim()
            .to_string();
        let (cpu0, _) = proc_usage(&pid);
        let sent = Instant::now();
        t.run(&["send-keys", "-t", "b", "go", "Enter"]);
        if !t.wait_for("bench/m · in ", 120) {
            println!("tui: the stream did not finish");
            return;
        }
        walls.push(sent.elapsed().as_millis() as u64);
        let (cpu1, hwm) = proc_usage(&pid);
        t.run(&["send-keys", "-t", "b", "C-c"]);
        t.run(&["send-keys", "-t", "b", "C-c"]);
        let w = Instant::now();
        while !stats.exists() && w.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap_or_default())
                .unwrap_or_default();
        cpus.push(((cpu1 - cpu0) * 1000.0) as u64);
        frames.push(s["frames"].as_u64().unwrap_or(0));
        fps.push(s["max_frames_in_1s"].as_u64().unwrap_or(0));
        firsts.push((s["first_frame_ms"].as_f64().unwrap_or(0.0) * 10.0) as u64);
        rss_stream.push(hwm);
    }
    println!(
        "tui 20,000-token answer at 200x50: charla cpu {} ms for the stream, on screen whole after {} ms, {} frames in all, at most {} frames in any second, peak RSS {:.1} MB; first frame {:.1} ms after start (median of 5)",
        median(cpus),
        median(walls),
        median(frames),
        median(fps),
        median(rss_stream) as f64 / 1024.0,
        median(firsts) as f64 / 10.0
    );

    // A 5,000-message conversation, reopened and paged through.
    let home = tempfile::tempdir().expect("tmp");
    let store = charla::conversation::Store::new(home.path().join("data").join("conversations"));
    store.save(&mut big_conversation().conv).expect("save");
    let stats = home.path().join("stats.json");
    let cmd = format!(
        "exec env CHARLA_HOME={} CHARLA_TUI_STATS={} TERM=xterm-256color {} --open last",
        home.path().display(),
        stats.display(),
        common::bin()
    );
    let t = Tmux::launch(format!("charla-bench-{}-big", std::process::id()), &cmd);
    t.wait_for("Answer 2499", 20);
    let pid = t
        .run(&["display-message", "-p", "-t", "b", "#{pane_pid}"])
        .trim()
        .to_string();
    for _ in 0..100 {
        t.run(&["send-keys", "-t", "b", "PageUp"]);
    }
    std::thread::sleep(Duration::from_millis(500));
    let (_, hwm) = proc_usage(&pid);
    t.run(&["send-keys", "-t", "b", "C-c"]);
    t.run(&["send-keys", "-t", "b", "C-c"]);
    std::thread::sleep(Duration::from_millis(300));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap_or_default())
            .unwrap_or_default();
    println!(
        "tui reopening 5,000 messages: first frame {:.0} ms after start, peak RSS {:.1} MB after paging up 100 screens",
        s["first_frame_ms"].as_f64().unwrap_or(f64::NAN),
        hwm as f64 / 1024.0
    );
}
