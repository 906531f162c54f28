//! Every provider's wire format and every fault, through the real binary (`charla ask --json`),
//! asserting the exact text, usage and error the user gets.

mod support;
use support::{Home, KEY, approx, server};

const OPENAI_TEXT: &str = "Bonjour! 👋 Le ciel est bleu à cause de la diffusion Rayleigh.";
const ANTHROPIC_TEXT: &str = "Je vérifie la météo à Paris… ☀️";
const GEMINI_TEXT: &str = "Le ciel est bleu parce que les molécules de l’air diffusent davantage la lumière bleue (courte longueur d’onde) : c’est la diffusion Rayleigh. 🌍";
const OLLAMA_TEXT: &str =
    "The sky looks blue because air scatters short (blue) wavelengths most — Rayleigh scattering.";

fn ask(opts: &str, model: &str) -> support::Out {
    let h = Home::new(opts);
    h.run(&["ask", "--json", "-m", model, "Why is the sky blue?"])
}

fn usage(o: &support::Out) -> (u64, u64, u64, u64, u64) {
    let u = o.one("usage");
    let g = |k: &str| u[k].as_u64().unwrap_or(u64::MAX);
    (
        g("input_tokens"),
        g("output_tokens"),
        g("cached_input_tokens"),
        g("cache_write_tokens"),
        g("reasoning_tokens"),
    )
}

#[test]
fn openai_transcript() {
    let o = ask("ok", "openai/gpt-5-mini");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.lines()[0]["type"], "start");
    assert_eq!(o.lines()[0]["model"], "openai/gpt-5-mini");
    assert_eq!(o.text(), OPENAI_TEXT);
    assert_eq!(usage(&o), (1187, 215, 1024, 0, 192));
    let done = o.one("done");
    assert_eq!(done["finish_reason"], "stop");
    // 163 × 0.25 + 1024 × 0.025 + 215 × 2 = 496.35 per 1M.
    assert!(approx(&done["cost_usd"], 0.000_496_35), "{done}");
    let req = server()
        .requests_for("ok")
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/v1/chat/completions"))
        .expect("request");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = req.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["messages"][0]["content"], "Why is the sky blue?");
}

#[test]
fn openai_text_mode_and_stats() {
    let h = Home::new("ok");
    let o = h.run(&["ask", "--stats", "-m", "openai/gpt-5-mini", "hi"]);
    assert_eq!(o.code, 0);
    assert_eq!(o.stdout, format!("{OPENAI_TEXT}\n"));
    let stats = o.stderr.lines().last().unwrap_or("");
    assert_eq!(
        stats,
        "openai/gpt-5-mini · in 1,187 (1,024 cached) · out 215 (192 reasoning) · $0.000496 · TTFT "
            .to_string()
            + stats.split("TTFT ").nth(1).unwrap_or("?")
    );
    assert!(
        stats.contains(" · in 1,187 (1,024 cached) · out 215 (192 reasoning) · $0.000496 · TTFT "),
        "{stats}"
    );
}

#[test]
fn openrouter_uses_reported_cost_and_skips_comments() {
    let o = ask("openrouter", "openrouter/openai/gpt-4o-mini");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.text(), "Hello! How can I help you today?");
    assert_eq!(usage(&o), (14, 9, 0, 0, 0));
    assert!(approx(&o.one("done")["cost_usd"], 0.000_007_5));
    let req = server().requests_for("openrouter").pop().expect("request");
    assert_eq!(req.path, "/openrouter/api/v1/chat/completions");
    assert_eq!(req.header("x-title"), Some("charla"));
    assert_eq!(req.json()["model"], "openai/gpt-4o-mini");
}

#[test]
fn anthropic_transcript() {
    let o = ask("ok", "anthropic/claude-sonnet-4-5");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.text(), ANTHROPIC_TEXT);
    assert_eq!(
        o.reasoning(),
        "The user asks about the weather in Paris. I should call get_weather with location \"Paris\"."
    );
    // 412 input + 2048 cache read = 2460 prompt tokens; thinking counted inside output.
    assert_eq!(usage(&o), (2460, 97, 2048, 0, 38));
    let done = o.one("done");
    assert_eq!(done["finish_reason"], "tool_use");
    assert!(approx(&done["cost_usd"], 0.003_305_4), "{done}");
    let req = server()
        .requests_for("ok")
        .into_iter()
        .rev()
        .find(|r| r.path.ends_with("/v1/messages"))
        .expect("request");
    assert_eq!(req.header("x-api-key"), Some(KEY));
    assert_eq!(req.header("anthropic-version"), Some("2023-06-01"));
    assert!(req.header("authorization").is_none());
}

#[test]
fn gemini_transcript_crlf() {
    let o = ask("ok", "gemini/gemini-2.5-flash");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.text(), GEMINI_TEXT);
    assert!(
        o.reasoning()
            .starts_with("**Explaining Rayleigh scattering**"),
        "{}",
        o.reasoning()
    );
    assert_eq!(usage(&o), (12, 118, 0, 0, 84));
    let done = o.one("done");
    assert_eq!(done["finish_reason"], "STOP");
    assert!(approx(&done["cost_usd"], 0.000_298_6), "{done}");
    let req = server()
        .requests_for("ok")
        .into_iter()
        .rev()
        .find(|r| r.path.contains(":streamGenerateContent"))
        .expect("request");
    assert_eq!(
        req.path,
        "/ok/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
    assert_eq!(req.header("x-goog-api-key"), Some(KEY));
}

#[test]
fn ollama_ndjson_is_free() {
    let o = ask("ok", "ollama/qwen3:8b");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.text(), OLLAMA_TEXT);
    assert_eq!(o.reasoning(), "The user asks why the sky is blue.");
    assert_eq!(usage(&o), (26, 282, 0, 0, 0));
    assert_eq!(o.one("done")["cost_usd"], 0.0);
}

#[test]
fn demo_model_offline_estimated_and_free() {
    let h = Home::new("ok");
    let o = h.run(&["ask", "--json", "-m", "demo/charla-demo", "What is SSE?"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.text().contains("> What is SSE?"), "{}", o.text());
    assert!(o.text().contains("OPENAI_API_KEY"));
    let u = o.one("usage");
    assert_eq!(u["estimated"], true);
    assert!(u["output_tokens"].as_u64().unwrap_or(0) > 50);
    assert_eq!(o.one("done")["cost_usd"], 0.0);
}

#[test]
fn awkward_chunk_boundaries_bom_and_no_final_blank_line() {
    for opts in [
        "chunk=1",
        "chunk=5",
        "chunk=13,bom",
        "bom,nofinal",
        "chunk=3,nofinal",
    ] {
        for (model, text) in [
            ("openai/gpt-5-mini", OPENAI_TEXT),
            ("anthropic/claude-sonnet-4-5", ANTHROPIC_TEXT),
            ("gemini/gemini-2.5-flash", GEMINI_TEXT),
            ("ollama/qwen3:8b", OLLAMA_TEXT),
        ] {
            if opts == "chunk=1" && !model.starts_with("openai") {
                continue; // one-byte writes are slow; one format is enough
            }
            let o = ask(opts, model);
            assert_eq!(o.code, 0, "{opts} {model}: {}", o.stderr);
            assert_eq!(o.text(), text, "{opts} {model}");
            assert_eq!(o.of_type("done").len(), 1, "{opts} {model}");
        }
    }
}

#[test]
fn unauthorized_is_not_retried_and_never_shows_the_key() {
    let o = ask("status=401", "openai/gpt-5-mini");
    assert_eq!(o.code, 1);
    let e = o.one("error");
    assert_eq!(e["kind"], "auth");
    assert_eq!(e["message"], "Incorrect API key provided: sk-te*******123.");
    assert_eq!(e["status"], 401);
    assert!(o.of_type("retry").is_empty());
    assert_eq!(server().requests_for("status=401").len(), 1);
    o.assert_no_key();
    let plain = Home::new("status=401").run(&["ask", "-m", "openai/gpt-5-mini", "hi"]);
    assert_eq!(
        plain.stderr.trim().lines().last().unwrap_or(""),
        "charla: authentication failed (HTTP 401): Incorrect API key provided: sk-te*******123."
    );
    plain.assert_no_key();
}

#[test]
fn rate_limited_with_retry_after_then_success() {
    let opts = "status=429,ra=1,times=1";
    let o = ask(opts, "openai/gpt-5-mini");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = o.one("retry");
    assert_eq!(r["attempt"], 2);
    assert_eq!(r["wait_ms"], 1000);
    assert!(
        r["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("rate limited (HTTP 429): Rate limit reached for gpt-5-mini"),
        "{r}"
    );
    assert_eq!(o.text(), OPENAI_TEXT);
    assert!(
        o.stderr.contains("retrying in 1.0 s (attempt 2 of 3)"),
        "{}",
        o.stderr
    );
    assert_eq!(server().requests_for(opts).len(), 2);
}

#[test]
fn retry_after_ms_and_http_date() {
    let o = ask("status=429,ra-ms=150,times=1", "anthropic/claude-haiku-4-5");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.one("retry")["wait_ms"], 150);
    let o = ask("status=503,ra-date=1,times=1", "gemini/gemini-2.5-flash");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let w = o.one("retry")["wait_ms"].as_u64().unwrap_or(0);
    assert!(w <= 1000, "{w}");
    assert_eq!(o.text(), GEMINI_TEXT);
}

#[test]
fn rate_limited_without_retry_after_backs_off_then_gives_up() {
    let opts = "status=429";
    let o = ask(opts, "openai/gpt-5-mini");
    assert_eq!(o.code, 1);
    let retries = o.of_type("retry");
    assert_eq!(retries.len(), 2, "3 tries in all");
    for r in &retries {
        let w = r["wait_ms"].as_u64().unwrap_or(0);
        assert!((10..=100).contains(&w), "backoff {w} ms");
    }
    let e = o.one("error");
    assert_eq!(e["kind"], "rate_limited");
    assert!(
        e["message"]
            .as_str()
            .unwrap_or("")
            .contains("Please try again in 299ms")
    );
    assert_eq!(server().requests_for(opts).len(), 3);
    assert!(o.text().is_empty());
}

#[test]
fn server_errors_500_and_529_are_retried() {
    let o = ask("status=500,times=1", "openai/gpt-5-mini");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.of_type("retry").len(), 1);
    assert_eq!(o.text(), OPENAI_TEXT);
    let o = ask("status=529,times=2", "anthropic/claude-sonnet-4-5");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = o.of_type("retry");
    assert_eq!(r.len(), 2);
    assert!(
        r[0]["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("provider overloaded (HTTP 529): Overloaded")
    );
    assert_eq!(o.text(), ANTHROPIC_TEXT);
}

#[test]
fn dropped_connection_mid_stream_keeps_partial_and_does_not_retry() {
    let h = Home::new("drop");
    let o = h.run(&["ask", "--json", "-m", "openai/gpt-5-mini", "q"]);
    assert_eq!(o.code, 1);
    assert_eq!(o.text(), "Bonjour");
    let e = o.one("error");
    assert_eq!(e["kind"], "network", "{e}");
    assert!(
        o.of_type("retry").is_empty(),
        "no silent retry after the first token"
    );
    let saved = h.saved();
    assert_eq!(saved.len(), 1);
    let ans = &saved[0]["messages"][1];
    assert_eq!(ans["content"], "Bonjour");
    assert_eq!(ans["interrupted"], true);
    assert!(
        ans["error"]
            .as_str()
            .unwrap_or("")
            .starts_with("network error"),
        "{ans}"
    );
}

#[test]
fn dropped_connection_before_any_token_is_retried() {
    // Anthropic: message_start arrives, then the connection drops before any text: nothing was
    // shown, so the request is retried.
    let opts = "dropearly,times=1";
    let o = ask(opts, "anthropic/claude-sonnet-4-5");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let r = o.one("retry");
    assert!(
        r["reason"]
            .as_str()
            .unwrap_or("")
            .starts_with("network error"),
        "{r}"
    );
    assert_eq!(o.text(), ANTHROPIC_TEXT);
    assert_eq!(server().requests_for(opts).len(), 2);
}

#[test]
fn malformed_chunk_ends_with_clear_error() {
    for (model, partial) in [
        ("openai/gpt-5-mini", "Bonjour"),
        ("anthropic/claude-sonnet-4-5", ""),
        ("ollama/qwen3:8b", ""),
    ] {
        let o = ask("malformed", model);
        assert_eq!(o.code, 1, "{model}");
        let e = o.one("error");
        assert_eq!(e["kind"], "malformed_stream", "{model}: {e}");
        assert!(
            e["message"]
                .as_str()
                .unwrap_or("")
                .contains("malformed JSON chunk"),
            "{e}"
        );
        if !partial.is_empty() {
            assert_eq!(o.text(), partial);
        }
    }
}

#[test]
fn stall_longer_than_idle_timeout() {
    let h = Home::new("stall=3000");
    let o = h.run(&["ask", "--json", "-m", "openai/gpt-5-mini", "q"]);
    assert_eq!(o.code, 1);
    assert_eq!(o.text(), "Bonjour");
    let e = o.one("error");
    assert_eq!(e["kind"], "timeout");
    assert_eq!(
        e["message"],
        "no data from the server for 1 s (idle timeout)"
    );
}

#[test]
fn first_token_timeout() {
    let o = ask("hold", "openai/gpt-5-mini");
    assert_eq!(o.code, 1);
    let e = o.one("error");
    assert_eq!(e["kind"], "timeout");
    assert_eq!(e["message"], "no answer within 3 s (first-token timeout)");
}

#[test]
fn invalid_utf8_becomes_replacement_characters() {
    let o = ask("badutf8", "openai/gpt-5-mini");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(
        o.text(),
        OPENAI_TEXT.replacen("Bonjour", "\u{FFFD}\u{FFFD}Bonjour", 1)
    );
}

#[test]
fn mid_stream_errors_per_provider() {
    let o = ask("midstream", "anthropic/claude-haiku-4-5");
    assert_eq!(o.code, 1);
    assert_eq!(o.text(), "Here is a long answer that gets cut");
    let e = o.one("error");
    assert_eq!(
        (e["kind"].as_str(), e["message"].as_str()),
        (Some("overloaded"), Some("Overloaded"))
    );
    assert!(o.of_type("retry").is_empty());

    let o = ask("midstream", "openai/gpt-5-mini");
    assert_eq!(o.text(), "Bonjour");
    assert_eq!(
        o.one("error")["message"],
        "The server had an error while processing your request."
    );

    let o = ask("midstream", "ollama/qwen3:8b");
    assert_eq!(
        o.one("error")["message"],
        "an error was encountered while running the model: unexpected EOF"
    );

    // Gemini's raw multi-line JSON error is not SSE: it is recovered from the body's non-SSE
    // lines when the stream ends without a finishReason.
    let o = ask("midstream", "gemini/gemini-2.5-flash");
    assert_eq!(o.code, 1);
    assert!(o.text().is_empty() || o.reasoning().starts_with("**Explaining"));
    let e = o.one("error");
    assert_eq!(e["kind"], "server");
    assert_eq!(e["message"], "The operation was cancelled.");
    // Truncated with no error at all: the truncation itself is the error.
    let o = ask("truncate", "gemini/gemini-2.5-flash");
    assert_eq!(o.code, 1);
    let e = o.one("error");
    assert_eq!(e["kind"], "malformed_stream");
    assert_eq!(
        e["message"],
        "the stream ended before a finishReason (connection closed early?)"
    );
}

#[test]
fn truncated_streams_are_errors() {
    // OpenAI without [DONE] but with a finish_reason is complete (ik_llama.cpp); Anthropic
    // without message_stop is not.
    let o = ask("truncate", "openai/gpt-5-mini");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.text(), OPENAI_TEXT);
    let o = ask("truncate", "anthropic/claude-sonnet-4-5");
    assert_eq!(o.code, 1);
    assert_eq!(
        o.one("error")["message"],
        "the stream ended before message_stop (connection closed early?)"
    );
}

#[test]
fn missing_key_is_a_usage_error() {
    let h = Home::new("ok");
    let mut c = h.cmd(&["ask", "-m", "openai/gpt-5-mini", "hi"]);
    c.env_remove("CHARLA_TEST_KEY");
    let o: support::Out = c.output().expect("run").into();
    assert_eq!(o.code, 2);
    assert_eq!(
        o.stderr.trim().lines().last().unwrap_or(""),
        "charla: authentication failed: no API key for provider 'openai': set CHARLA_TEST_KEY (or api_key_cmd in the config)"
    );
}

#[test]
fn api_key_cmd_and_proxy() {
    let u = server().url("ok");
    let extra = format!(
        "[providers.viaproxy]\nkind = \"openai\"\nbase_url = \"http://charla-test.invalid/ok/v1\"\nproxy = \"http://{}\"\napi_key_cmd = \"echo from-cmd-key\"\n",
        server().addr
    );
    let _ = u;
    let h = Home::with_extra("ok", &extra);
    let o = h.run(&["ask", "--json", "-m", "viaproxy/gpt-5-mini", "via proxy"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.text(), OPENAI_TEXT);
    let req = server()
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.header("authorization") == Some("Bearer from-cmd-key"))
        .expect("proxied request");
    assert_eq!(req.path, "/ok/v1/chat/completions");
    assert!(req.body.contains("via proxy"));
}

#[test]
fn server_saying_do_not_retry_is_believed() {
    let opts = "status=500,noretry";
    let o = ask(opts, "openai/gpt-5-mini");
    assert_eq!(o.code, 1);
    assert!(o.of_type("retry").is_empty());
    assert_eq!(o.one("error")["kind"], "server");
    assert_eq!(server().requests_for(opts).len(), 1);
}

#[test]
fn environment_proxy_and_no_proxy() {
    let extra = "[providers.far]\nkind = \"openai\"\nbase_url = \"http://charla-proxy-test.invalid/ok/v1\"\napi_key_env = \"CHARLA_TEST_KEY\"\nlocal = false\n";
    let h = Home::with_extra("ok", extra);
    let proxy = format!("http://{}", server().addr);
    let mut c = h.cmd(&[
        "ask",
        "--json",
        "-m",
        "far/gpt-5-mini",
        "through HTTP_PROXY",
    ]);
    c.env("HTTP_PROXY", &proxy);
    let o: support::Out = c.output().expect("run").into();
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.text(), OPENAI_TEXT);
    assert!(
        server()
            .requests()
            .iter()
            .any(|r| r.body.contains("through HTTP_PROXY"))
    );
    // NO_PROXY exempts the host: the request goes direct, and .invalid does not resolve.
    let mut c = h.cmd(&[
        "ask",
        "--json",
        "-m",
        "far/gpt-5-mini",
        "not through the proxy",
    ]);
    c.env("HTTP_PROXY", &proxy)
        .env("NO_PROXY", "charla-proxy-test.invalid");
    let o: support::Out = c.output().expect("run").into();
    assert_eq!(o.code, 1);
    assert_eq!(o.one("error")["kind"], "network");
    assert!(
        !server()
            .requests()
            .iter()
            .any(|r| r.body.contains("not through the proxy"))
    );
}

#[test]
fn opt_in_log_records_requests_and_errors_but_never_the_key() {
    let h = Home::new("status=429,times=1,tag=log");
    let log = h.path().join("debug.log");
    let mut c = h.cmd(&["ask", "-m", "openai/gpt-5-mini", "logged"]);
    c.env("CHARLA_LOG", &log);
    let o: support::Out = c.output().expect("run").into();
    assert_eq!(o.code, 0, "{}", o.stderr);
    let h2 = Home::new("status=401,tag=log");
    let mut c = h2.cmd(&["ask", "-m", "anthropic/claude-haiku-4-5", "logged"]);
    c.env("CHARLA_LOG", &log);
    let _ = c.output();
    let text = std::fs::read_to_string(&log).expect("log written");
    assert!(
        text.contains("request provider=openai model=gpt-5-mini messages=1 POST http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("response provider=openai status=429"),
        "{text}"
    );
    assert!(text.contains("retry provider=openai attempt=2"), "{text}");
    assert!(text.contains("done provider=openai"), "{text}");
    assert!(
        text.contains("error provider=anthropic model=claude-haiku-4-5 kind=auth status=Some(401)"),
        "{text}"
    );
    assert!(!text.contains(KEY), "the key is never logged");
    // Without CHARLA_LOG nothing is written.
    let quiet = Home::new("ok");
    quiet.run(&["ask", "-m", "openai/gpt-5-mini", "x"]);
    assert!(!quiet.path().join("data/charla.log").exists());
}

#[test]
fn connection_cut_after_a_complete_answer_is_not_an_error() {
    // Gemini has no [DONE]: its last chunk's finishReason says the answer is complete.
    let o = ask("dropend,truncate", "gemini/gemini-2.5-flash");
    assert_eq!(o.code, 1, "without the finishReason chunk it is truncated");
    let o = ask("dropend", "gemini/gemini-2.5-flash");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.text(), GEMINI_TEXT);
    assert_eq!(o.one("done")["finish_reason"], "STOP");
    // Anthropic needs message_stop: a cut before it is an error, keeping the text.
    let o = ask("dropend,truncate", "anthropic/claude-sonnet-4-5");
    assert_eq!(o.code, 1);
    assert_eq!(o.text(), ANTHROPIC_TEXT);
}
