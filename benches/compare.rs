//! `cargo bench --bench compare`: the chat screen comparing four models, each streaming a
//! 20,000-token answer at full speed into its own pane, against one such stream in the main
//! view (the real binary in a 200×50 tmux pane, the fake server, medians of 5; never asserted:
//! these machines are shared and noisy). Then a key typed into the input while four paced
//! streams draw, until it is on screen.

mod common;
#[path = "../tests/support/fake_server.rs"]
mod fake_server;

use common::{Tmux, bin, cpu_of, median_f64 as median};
use std::process::Command;
use std::time::{Duration, Instant};

/// charla in a 200×50 pane on a provider `bench` serving `opts` (stats to `home/stats.json`);
/// `compare` marks four of its models first. Returns the tmux server and charla's pid.
fn launch(
    server: &fake_server::FakeServer,
    opts: &str,
    home: &std::path::Path,
    tag: &str,
    compare: bool,
) -> Option<(Tmux, String)> {
    std::fs::write(
        home.join("config.toml"),
        format!(
            "[providers.bench]\nkind = \"openai\"\nbase_url = \"{}/v1\"\nlocal = true\n",
            server.url(opts)
        ),
    )
    .expect("config");
    let cmd = format!(
        "exec env CHARLA_HOME={} CHARLA_TUI_STATS={} TERM=xterm-256color {} -m bench/m",
        home.display(),
        home.join("stats.json").display(),
        bin()
    );
    let t = Tmux::launch(format!("charla-cmp-{}-{tag}", std::process::id()), &cmd);
    if !t.wait_for("type a question", 10) {
        println!("charla did not start");
        return None;
    }
    let pid = t
        .run(&["display-message", "-p", "-t", "b", "#{pane_pid}"])
        .trim()
        .to_string();
    if compare {
        t.run(&[
            "send-keys",
            "-t",
            "b",
            "-l",
            "/compare bench/a bench/b bench/c bench/d",
        ]);
        t.run(&["send-keys", "-t", "b", "Enter"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    Some((t, pid))
}

struct Run {
    cpu_ms: f64,
    frames: f64,
    max_fps: f64,
}

/// charla with a provider `bench` on `opts`; `compare` marks four of its models first.
fn run(server: &fake_server::FakeServer, opts: &str, compare: bool, tag: &str) -> Option<Run> {
    let home = tempfile::tempdir().expect("tmp");
    let stats = home.path().join("stats.json");
    let (t, pid) = launch(server, opts, home.path(), tag, compare)?;
    let c0 = cpu_of(&pid);
    t.run(&["send-keys", "-t", "b", "go", "Enter"]);
    let done = if compare {
        "4 answers"
    } else {
        "bench/m · in "
    };
    if !t.wait_for(done, 180) {
        println!("the streams did not finish");
        return None;
    }
    let cpu = cpu_of(&pid) - c0;
    if compare {
        t.run(&["send-keys", "-t", "b", "1"]);
    }
    t.run(&["send-keys", "-t", "b", "C-c"]);
    t.run(&["send-keys", "-t", "b", "C-c"]);
    let w = Instant::now();
    while !stats.exists() && w.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats).unwrap_or_default())
            .unwrap_or_default();
    Some(Run {
        cpu_ms: cpu * 1000.0,
        frames: s["frames"].as_f64().unwrap_or(0.0),
        max_fps: s["max_frames_in_1s"].as_f64().unwrap_or(0.0),
    })
}

fn medians(server: &fake_server::FakeServer, opts: &str, compare: bool) -> Option<(f64, f64, f64)> {
    let mut runs = Vec::new();
    for i in 0..5 {
        runs.push(run(server, opts, compare, &format!("{compare}{i}"))?);
    }
    Some((
        median(runs.iter().map(|r| r.cpu_ms).collect()),
        median(runs.iter().map(|r| r.frames).collect()),
        median(runs.iter().map(|r| r.max_fps).collect()),
    ))
}

/// A key typed into the input while four panes stream (1,000 chunks a second each).
fn key_latency(server: &fake_server::FakeServer) {
    let home = tempfile::tempdir().expect("tmp");
    let Some((t, _)) = launch(server, "md=20000,slow=1", home.path(), "keys", true) else {
        return;
    };
    t.run(&["send-keys", "-t", "b", "go", "Enter"]);
    std::thread::sleep(Duration::from_millis(300));
    let (med, max, n) = common::key_latency(&t, "4 answers");
    println!(
        "a key typed while 4 panes stream Markdown at 1,000 chunks/s each: on screen after {:.0} ms median, {:.0} ms max ({} keys; includes tmux's capture)",
        med, max, n
    );
}

fn main() {
    println!("binary: {}", bin());
    if Command::new("tmux").arg("-V").output().is_err() {
        println!("tmux not installed: nothing to measure");
        return;
    }
    let server = fake_server::FakeServer::start();
    // Markdown with fenced Rust blocks (`md`), and one 20,000-token paragraph (`big`, the
    // worst case: its open block is the whole answer).
    for (opts, what) in [
        ("md=20000", "Markdown with code"),
        ("big=20000", "one paragraph"),
    ] {
        let Some((one, f1, fps1)) = medians(&server, opts, false) else {
            return;
        };
        println!(
            "one 20,000-token stream ({what}), main view, 200x50: {one:.0} ms CPU, {f1:.0} frames, at most {fps1:.0} frames in any second (median of 5)"
        );
        let Some((four, f4, fps4)) = medians(&server, opts, true) else {
            return;
        };
        println!(
            "four 20,000-token streams ({what}) in 4 panes, 200x50: {four:.0} ms CPU ({:.2}x one stream; 4x would be linear), {f4:.0} frames, at most {fps4:.0} frames in any second (median of 5)",
            four / one
        );
    }
    key_latency(&server);
}
