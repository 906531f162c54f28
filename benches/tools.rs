//! `cargo bench --bench tools`: what the agent loop costs per step beyond the tools' own time,
//! medians (never asserted: these machines are shared and noisy).
//!
//! 1. The real binary: `charla ask --tools current_time` against the fake provider's `loop`
//!    scenario (the model calls a tool at every step), with `max_steps` 1 and 11: the CPU
//!    (user + system, wait4) of the 11-step run less the 1-step run, over 10, is what one more
//!    step costs: a request built and sent, a stream decoded, a call approved and run, the
//!    answer so far kept.
//! 2. The engine alone: a Session through 10 steps (stream events, resume, the next request
//!    and its OpenAI body), in-process, per step.

mod common;
#[path = "../tests/support/fake_server.rs"]
mod fake_server;

use common::{median_f64, rusage_of};
use std::process::Command;
use std::time::Instant;

fn binary_case(server: &fake_server::FakeServer) {
    let home = tempfile::tempdir().expect("tmp");
    let base = server.url("tool=loop");
    let run = |steps: u32| -> f64 {
        std::fs::write(
            home.path().join("config.toml"),
            format!(
                "max_steps = {steps}\n[providers.openai]\nbase_url = \"{base}/v1\"\napi_key_env = \"BENCH_KEY\"\n"
            ),
        )
        .expect("config");
        let mut c = Command::new(common::bin());
        c.args([
            "-m",
            "openai/gpt-4o-mini",
            "ask",
            "--no-save",
            "--tools",
            "current_time",
            "what time is it?",
        ])
        .current_dir(home.path())
        .env("CHARLA_HOME", home.path())
        .env("BENCH_KEY", "k")
        .env("CHARLA_TTY", "/nonexistent");
        let (cpu, _, _) = rusage_of(c);
        cpu.as_secs_f64() * 1000.0
    };
    let (mut one, mut eleven) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        one.push(run(1));
        eleven.push(run(11));
    }
    let (a, b) = (median_f64(one), median_f64(eleven));
    println!(
        "ask, CPU: 1 step {a:.1} ms, 11 steps {b:.1} ms → {:.2} ms per added step (7 runs, medians)",
        (b - a) / 10.0
    );
}

fn engine_case() {
    use charla::provider::StreamEvent;
    let cfg = std::sync::Arc::new(charla::config::Config::builtin());
    let m = cfg.resolve_model("openai/gpt-4o-mini").expect("m");
    let mut per_step = Vec::new();
    for _ in 0..20 {
        let mut s = charla::session::Session::new(cfg.clone(), m.clone());
        s.tools = charla::tools::resolve(&cfg, &["current_time".into(), "read_file".into()])
            .expect("tools");
        s.max_steps = 100;
        let (mut id, _) = s.begin("what time is it?");
        let t = Instant::now();
        for step in 0..10 {
            s.apply(id, StreamEvent::TextDelta("Checking the time.".into()));
            let call = charla::parts::ToolCall {
                id: format!("c{step}"),
                name: "current_time".into(),
                arguments: serde_json::json!({}),
                signature: None,
                approval: None,
            };
            s.apply(id, StreamEvent::ToolCall(call));
            s.apply(
                id,
                StreamEvent::Finished {
                    reason: "tool_calls".into(),
                },
            );
            let mut c = s.pending_calls()[0].clone();
            c.approval = Some("auto".into());
            let mut r = charla::parts::ToolResult::error(&c, "2026-12-01T12:00:00Z");
            r.is_error = false;
            let (next, req) = s.resume(vec![c], vec![r]).expect("step");
            std::hint::black_box(charla::provider::openai::body(&req));
            id = next;
        }
        per_step.push(t.elapsed().as_secs_f64() * 1000.0 / 10.0);
    }
    println!(
        "engine: {:.3} ms per step (10 steps with the next request's body, 20 runs, median)",
        median_f64(per_step)
    );
}

fn main() {
    let server = fake_server::FakeServer::start();
    engine_case();
    binary_case(&server);
}
