//! `cargo bench`: speed and memory, reported as medians (never asserted: machines are noisy).
//!
//! 1. 20,000 OpenAI-format chunks from the local fake server through `charla ask` to /dev/null,
//!    next to `curl -N` of the same stream: user+system CPU time and peak RSS of each (wait4).
//! 2. Frame render time of a 5,000-message conversation (~2 MB of Markdown with code) on a
//!    200×50 TestBackend: first frame, then p50/p99 of scrolled frames.

#[path = "../tests/support/fake_server.rs"]
mod fake_server;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rusage_of(mut cmd: Command) -> (Duration, u64, bool) {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter for wait4 on our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our child; pointers are valid for the call.
    unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let cpu = Duration::from_micros(
        (ru.ru_utime.tv_sec * 1_000_000
            + ru.ru_utime.tv_usec
            + ru.ru_stime.tv_sec * 1_000_000
            + ru.ru_stime.tv_usec) as u64,
    );
    std::mem::forget(child);
    (cpu, ru.ru_maxrss as u64, status == 0)
}

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
    use charla::config::Config;
    use charla::conversation::Message;
    use charla::session::Session;
    use charla::tui::{app::App, theme::Theme, view};
    use ratatui::{Terminal, backend::TestBackend};
    use std::sync::Arc;
    charla::tui::markdown::warm();
    let cfg = Arc::new(Config::builtin());
    let m = cfg.resolve_model("openai/gpt-4o-mini").expect("model");
    let mut s = Session::new(cfg, m);
    let mut bytes = 0;
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
        bytes += a.content.len() + 60;
        s.conv.messages.push(a);
    }
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
    println!(
        "render 5,000 messages ({:.1} MB markdown) at 200x50: first frame {:.0} ms, then p50 {:.2} ms, p99 {:.2} ms",
        bytes as f64 / 1e6,
        first.as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() * 99 / 100].as_secs_f64() * 1e3
    );
}

fn main() {
    stream_bench();
    render_bench();
}
