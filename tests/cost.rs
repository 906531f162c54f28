//! Cost truth: every case of the cost issue, priced from the genai-prices data. The hand-worked
//! figures use the providers' published prices (USD per 1M tokens), not charla's output.

mod support;
use charla::config::{Config, ModelRef};
use charla::pricing::{Outcome, turn_cost};
use charla::provider::{StreamEvent, Usage};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{Home, approx, server};

fn cfg() -> Config {
    Config::builtin()
}

fn model(s: &str) -> ModelRef {
    ModelRef::parse(s).expect("provider/model")
}

/// 2026-12-01 at `h`:`m` UTC.
fn at(h: u64, m: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_083_200 + h * 3600 + m * 60)
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-12)
}

/// A LiteLLM-style gateway on 127.0.0.1 in front of paid APIs is priced like the API it fronts;
/// an unknown model behind a loopback server is "price unknown"; only `local = true` is free.
#[test]
fn a_loopback_gateway_is_not_free() {
    let u = server().url("echo");
    let h = Home::with_extra(
        "echo",
        &format!(
            "[providers.litellm]\nkind = \"openai\"\nbase_url = \"{u}/v1\"\n\n[providers.llamacpp]\nkind = \"openai\"\nbase_url = \"{u}/v1\"\n\n[providers.mine]\nkind = \"openai\"\nbase_url = \"{u}/v1\"\nlocal = true\n"
        ),
    );
    // gpt-4o-mini: $0.15 in, $0.60 out. The echo server counts words: the question "one two
    // three" is 3 input tokens, the answer "echo: one two three" 4 output tokens.
    let o = h.run(&[
        "ask",
        "--json",
        "-m",
        "litellm/openai/gpt-4o-mini",
        "one two three",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let done = o.one("done");
    assert!(
        approx(&done["cost_usd"], (3.0 * 0.15 + 4.0 * 0.60) / 1e6),
        "{done}"
    );
    let o = h.run(&[
        "ask",
        "--json",
        "-m",
        "llamacpp/my-finetune-q4",
        "one two three",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.one("done")["cost_usd"].is_null(),
        "unknown, not $0: {}",
        o.stdout
    );
    let o = h.run(&["ask", "--json", "-m", "mine/gpt-4o-mini", "one two three"]);
    assert_eq!(o.one("done")["cost_usd"], 0.0);
}

/// A turn that failed before the provider accepted it costs a known $0 with zero tokens: no
/// key, an HTTP error before the stream, a connection refused.
#[test]
fn an_unsent_turn_costs_zero_and_is_not_estimated() {
    let h = Home::with_extra(
        "status=401",
        "[providers.closed]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key_env = \"CHARLA_TEST_KEY\"\nlocal = false\n",
    );
    let mut c = h.cmd(&["ask", "--json", "-m", "openai/gpt-4o-mini", "never sent"]);
    c.env_remove("CHARLA_TEST_KEY");
    let no_key = support::Out::from(c.output().expect("run"));
    let rejected = h.run(&[
        "ask",
        "--json",
        "-m",
        "anthropic/claude-haiku-4-5",
        "rejected",
    ]);
    let refused = h.run(&["ask", "--json", "-m", "closed/gpt-4o-mini", "refused"]);
    for (what, o) in [
        ("no key", &no_key),
        ("401", &rejected),
        ("refused", &refused),
    ] {
        assert_ne!(o.code, 0, "{what}");
        let usage = o.one("usage");
        assert_eq!(usage["input_tokens"], 0, "{what}: {usage}");
        assert_eq!(usage["estimated"], false, "{what}: {usage}");
        assert_eq!(usage["not_accepted"], true, "{what}: {usage}");
        assert_eq!(o.one("error")["cost_usd"], 0.0, "{what}");
    }
    for conv in h.saved() {
        let a = &conv["messages"][1];
        assert_eq!(a["cost_usd"], 0.0, "{a}");
        assert_eq!(a["usage_estimated"], false, "{a}");
        assert_eq!(a["not_accepted"], true, "{a}");
    }
}

/// xAI reports reasoning outside completion_tokens (total = prompt + completion + reasoning).
/// grok-4.3 ($1.25 in, $2.50 out): 100 in, 300 completion + 900 reasoning = 1,200 out:
/// 100 × 1.25 + 1200 × 2.50 = 3,125 per 1M → $0.003125 (charla used to bill 300 out: $0.000875).
#[test]
fn xai_reasoning_is_billed() {
    let mut d = charla::provider::decoder_for(charla::provider::Kind::Openai);
    let ev = d.feed(
        "",
        r#"{"id":"x","object":"chat.completion.chunk","model":"grok-4.3","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":300,"total_tokens":1300,"completion_tokens_details":{"reasoning_tokens":900}}}"#,
    );
    let Some(StreamEvent::Usage(u)) = ev.into_iter().next() else {
        panic!("a usage event")
    };
    assert_eq!((u.output_tokens, u.reasoning_tokens), (1200, 900));
    assert!(close(
        turn_cost(
            &cfg(),
            &model("xai/grok-4.3"),
            &u,
            at(10, 0),
            Outcome::Accepted
        ),
        0.003_125
    ));
    // OpenAI's convention (reasoning inside completion) is left alone.
    let mut d = charla::provider::decoder_for(charla::provider::Kind::Openai);
    let ev = d.feed(
        "",
        r#"{"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":300,"total_tokens":400,"completion_tokens_details":{"reasoning_tokens":200}}}"#,
    );
    assert!(matches!(ev.first(), Some(StreamEvent::Usage(u)) if u.output_tokens == 300));
}

/// Anthropic's `usage.cache_creation` splits writes: 5-minute at 1.25× input, 1-hour at 2×.
/// claude-sonnet-4-5 ($3 in, $3.75 5m write, $6 1h write, $15 out): 500 plain input, 1,000 5m
/// writes, 2,000 1h writes, 100 out: 1,500 + 3,750 + 12,000 + 1,500 = 18,750 → $0.01875.
#[test]
fn anthropic_one_hour_cache_writes() {
    let mut d = charla::provider::decoder_for(charla::provider::Kind::Anthropic);
    let ev = d.feed(
        "message_start",
        r#"{"type":"message_start","message":{"usage":{"input_tokens":500,"cache_creation_input_tokens":3000,"cache_read_input_tokens":0,"cache_creation":{"ephemeral_5m_input_tokens":1000,"ephemeral_1h_input_tokens":2000},"output_tokens":100}}}"#,
    );
    let Some(StreamEvent::Usage(u)) = ev.into_iter().next() else {
        panic!("usage")
    };
    assert_eq!(
        (
            u.input_tokens,
            u.cache_write_tokens,
            u.cache_write_1h_tokens
        ),
        (3500, 3000, 2000)
    );
    let c = turn_cost(
        &cfg(),
        &model("anthropic/claude-sonnet-4-5"),
        &u,
        at(10, 0),
        Outcome::Accepted,
    );
    assert!(close(c, 0.018_75), "{c:?}");
}

/// Tier boundaries as each provider states them. xAI grok-4.5 bills a prompt of ≥ 200K tokens
/// at $4 (else $2): 200,000 → $0.80; 199,999 → $0.399998. OpenAI gpt-6.1-sol bills above 272K
/// at $4 (else $2): 272,000 → $0.544; 272,001 → $1.088004.
#[test]
fn prompts_exactly_at_a_tier_boundary() {
    let input = |n| Usage {
        input_tokens: n,
        ..Usage::default()
    };
    let c = cfg();
    let cost = |m: &str, n| turn_cost(&c, &model(m), &input(n), at(10, 0), Outcome::Accepted);
    assert!(close(cost("xai/grok-4.5", 200_000), 0.80));
    assert!(close(cost("xai/grok-4.5", 199_999), 0.399_998));
    assert!(close(cost("openai/gpt-6.1-sol", 272_000), 0.544));
    assert!(close(cost("openai/gpt-6.1-sol", 272_001), 1.088_004));
}

/// DeepSeek's off-peak discount (16:30–00:30 UTC, half price): deepseek-chat input is $0.27
/// per 1M at 10:00 UTC and $0.135 at 20:00 UTC.
#[test]
fn deepseek_inside_and_outside_its_discount_hours() {
    let u = Usage {
        input_tokens: 1_000_000,
        ..Usage::default()
    };
    let c = cfg();
    let m = model("deepseek/deepseek-chat");
    assert!(close(
        turn_cost(&c, &m, &u, at(10, 0), Outcome::Accepted),
        0.27
    ));
    assert!(close(
        turn_cost(&c, &m, &u, at(20, 0), Outcome::Accepted),
        0.135
    ));
    assert!(close(
        turn_cost(&c, &m, &u, at(0, 15), Outcome::Accepted),
        0.135
    ));
}

/// The user's [[pricing]] wins over the dataset; charla's own table covers what the dataset
/// lacks; OpenRouter's reported cost is used as is.
#[test]
fn sources_in_order() {
    let h = Home::with_extra(
        "echo",
        "[[pricing]]\nprovider = \"openai\"\nid = \"gpt-4o-mini\"\ninput = 1000.0\noutput = 1000.0\n",
    );
    let o = h.run(&["ask", "--json", "-m", "openai/gpt-4o-mini", "one two three"]);
    assert!(
        approx(&o.one("done")["cost_usd"], 7.0 * 1000.0 / 1e6),
        "{}",
        o.stdout
    );
    // gpt-6.2-sol is not in the bundled dataset: charla's table prices it ($2 in up to 272K):
    // 100,000 × 2 / 1M = $0.20.
    let u = Usage {
        input_tokens: 100_000,
        ..Usage::default()
    };
    assert!(close(
        turn_cost(
            &cfg(),
            &model("openai/gpt-6.2-sol"),
            &u,
            at(10, 0),
            Outcome::Accepted
        ),
        0.20
    ));
    let reported = Usage {
        provider_cost_usd: Some(0.0123),
        ..u
    };
    assert!(close(
        turn_cost(
            &cfg(),
            &model("openrouter/openai/gpt-4o-mini"),
            &reported,
            at(10, 0),
            Outcome::Accepted
        ),
        0.0123
    ));
}

/// `charla prices update`: a good file is stored and used; a truncated file and a server error
/// leave the data in use as it was, and say why.
#[test]
fn prices_update_good_truncated_and_failing() {
    let h = Home::new("echo");
    let good = h.path().join("good.json");
    std::fs::write(&good, support::fake_server::PRICES_JSON).expect("w");
    let bad = h.path().join("bad.json");
    std::fs::write(&bad, &support::fake_server::PRICES_JSON[..100]).expect("w");
    let priced = |h: &Home| {
        let o = h.run(&["ask", "--json", "-m", "openai/gpt-4o", "one two three"]);
        assert_eq!(o.code, 0, "{}", o.stderr);
        o.one("done")["cost_usd"].as_f64().unwrap_or(-1.0)
    };
    let bundled = priced(&h);
    // gpt-4o: $2.50 in, $10 out: 3 × 2.5 + 4 × 10 = 47.5 per 1M.
    assert!((bundled - 47.5e-6).abs() < 1e-12, "{bundled}");

    let o = h.run(&["prices", "update", "--from", &good.display().to_string()]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let used = priced(&h);
    assert!(
        (used - 7.0 * 99.0 / 1e6).abs() < 1e-12,
        "the new data is used: {used}"
    );
    let o = h.run(&["prices"]);
    assert!(
        o.stdout.contains("downloaded from") && o.stdout.contains("good.json"),
        "{}",
        o.stdout
    );

    for from in [
        bad.display().to_string(),
        format!("{}/prices.json", server().url("truncate")),
        format!("{}/prices.json", server().url("status=500")),
    ] {
        let o = h.run(&["prices", "update", "--from", &from]);
        assert_eq!(o.code, 1, "{from}: {}", o.stderr);
        assert!(o.stderr.contains("was not changed"), "{}", o.stderr);
        assert!(
            (priced(&h) - used).abs() < 1e-15,
            "{from}: the old data stays"
        );
    }
    // From a URL, through the same client as the providers.
    let h2 = Home::new("echo");
    let o = h2.run(&[
        "prices",
        "update",
        "--from",
        &format!("{}/prices.json", server().url("ok")),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!((priced(&h2) - used).abs() < 1e-15);
}

/// The pre-send estimate carries a worst case: max_tokens at the output price.
/// gpt-4o-mini with max_tokens 1,000: 1,000 × $0.60 / 1M = $0.0006 beside the input.
#[test]
fn estimate_has_a_worst_case() {
    let c = std::sync::Arc::new(cfg());
    let mut s = charla::session::Session::new(c, model("openai/gpt-4o-mini"));
    s.max_tokens = Some(1000);
    let e = s.estimate("hello there");
    assert_eq!(e.max_output_tokens, Some(1000));
    assert!(close(e.worst_output_cost_usd, 0.0006), "{e:?}");
    assert!(e.worst_case_usd().is_some_and(|w| w > 0.0006));
    s.max_tokens = None;
    let e = s.estimate("hello there");
    // No limit given: the rest of the 128K context is the worst case.
    assert_eq!(e.max_output_tokens, Some(128_000 - e.input_tokens));
}
