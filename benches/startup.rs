//! `cargo bench --bench startup`: what starting costs, medians of several runs (never asserted).
//!
//! 1. `charla ask --json` on a priced model against the local fake server: time to first token
//!    as charla reports it, and the whole process's wall time (the price dataset decodes in
//!    parallel with the request and is needed only to price the finished turn).
//! 2. The chat screen in a 200×50 tmux pane: time from process start to the first frame.
//!
//! `CHARLA_BENCH_BIN=path/to/charla` measures another build (e.g. an older commit) the same way.

mod common;
#[path = "../tests/support/fake_server.rs"]
mod fake_server;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Tmux, bin, median_f64 as median};

fn ask_bench(server: &fake_server::FakeServer) {
    let home = tempfile::tempdir().expect("tmp");
    std::fs::write(
        home.path().join("config.toml"),
        format!(
            "[providers.openai]\nbase_url = \"{}/v1\"\napi_key_env = \"BENCH_KEY\"\nlocal = false\n",
            server.url("echo")
        ),
    )
    .expect("config");
    let (mut ttft, mut wall) = (vec![], vec![]);
    for _ in 0..15 {
        let t = Instant::now();
        let o = Command::new(bin())
            .args([
                "ask",
                "--json",
                "--no-save",
                "-m",
                "openai/gpt-4o-mini",
                "hello there",
            ])
            .env("CHARLA_HOME", home.path())
            .env("BENCH_KEY", "sk-bench")
            .output()
            .expect("run");
        wall.push(t.elapsed().as_secs_f64() * 1000.0);
        let out = String::from_utf8_lossy(&o.stdout);
        if let Some(v) = out
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["type"] == "done")
        {
            ttft.push(v["ttft_ms"].as_f64().unwrap_or(f64::NAN));
            assert!(
                v["cost_usd"].as_f64().is_some_and(|c| c > 0.0),
                "priced: {v}"
            );
        }
    }
    println!(
        "ask on a priced model: TTFT {:.1} ms, whole process {:.1} ms (median of 15)",
        median(ttft),
        median(wall)
    );
}

fn first_frame_bench() {
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("first frame: tmux not installed, skipped");
        return;
    }
    let mut firsts = vec![];
    for run in 0..9 {
        let home = tempfile::tempdir().expect("tmp");
        let stats = home.path().join("stats.json");
        let cmd = format!(
            "exec env CHARLA_HOME={} CHARLA_TUI_STATS={} TERM=xterm-256color {}",
            home.path().display(),
            stats.display(),
            bin()
        );
        let t = Tmux::launch(format!("charla-startup-{}-{run}", std::process::id()), &cmd);
        let w = Instant::now();
        while !t
            .run(&["capture-pane", "-t", "b", "-p"])
            .contains("Ask anything")
            && w.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        t.run(&["send-keys", "-t", "b", "C-c"]);
        t.run(&["send-keys", "-t", "b", "C-c"]);
        let w = Instant::now();
        while !stats.exists() && w.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap_or_default())
                .unwrap_or_default();
        if let Some(ms) = s["first_frame_ms"].as_f64() {
            firsts.push(ms);
        }
    }
    if firsts.is_empty() {
        println!("first frame: charla did not start");
        return;
    }
    println!(
        "chat screen: first frame {:.1} ms after start (median of {})",
        median(firsts.clone()),
        firsts.len()
    );
}

fn main() {
    let server = fake_server::FakeServer::start();
    println!("binary: {}", bin());
    ask_bench(&server);
    first_frame_bench();
}
