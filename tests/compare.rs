//! `charla compare` and `charla fork` through the real binary against the fake provider: three
//! models at once (one fast, one slow, one rate-limited once and then answering), the table,
//! the `--json` events tagged by model, errors that do not hold back the others, and forks.

mod support;

use support::*;

/// Providers `fast` (OpenAI format), `slow` (Anthropic, paced) and `flaky` (Gemini, a 429
/// first), each under options of its own (`tag` keeps the tests' faults apart).
fn three(tag: &str, flaky: &str) -> Home {
    let s = server();
    let extra = format!(
        r#"
[providers.fast]
kind = "openai"
base_url = "{}/v1"
api_key_env = "CHARLA_TEST_KEY"
local = false

[providers.slow]
kind = "anthropic"
base_url = "{}/v1"
api_key_env = "CHARLA_TEST_KEY"
local = false

[providers.flaky]
kind = "gemini"
base_url = "{}/v1beta"
api_key_env = "CHARLA_TEST_KEY"
local = false
"#,
        s.url(&format!("echo,tag={tag}")),
        s.url(&format!("echo,words=40,chunk=64,slow=25,tag={tag}")),
        s.url(&format!("{flaky},tag={tag}")),
    );
    Home::with_extra("echo", &extra)
}

const MODELS: [&str; 6] = [
    "-m",
    "fast/gpt-4o-mini",
    "-m",
    "slow/claude-haiku-4-5",
    "-m",
    "flaky/gemini-2.5-flash",
];

fn args<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["compare"];
    a.extend_from_slice(&MODELS);
    a.extend_from_slice(rest);
    a
}

#[test]
fn three_models_answer_at_once_and_the_fast_one_is_printed_first() {
    let h = three("c1", "echo,status=429,ra-ms=300,times=1");
    let o = h.run(&args(&["Explain CRDTs in 5 lines"]));
    assert_eq!(o.code, 0, "{}\n{}", o.stdout, o.stderr);
    let at = |m: &str| {
        o.stdout
            .find(&format!("━━ {m} ━━"))
            .unwrap_or_else(|| panic!("{m} printed:\n{}", o.stdout))
    };
    // Streamed concurrently: the fast one first, the rate-limited one after its retry, the
    // slow one last (run one after the other, the order would be the order given).
    assert!(at("fast/gpt-4o-mini") < at("flaky/gemini-2.5-flash"));
    assert!(at("flaky/gemini-2.5-flash") < at("slow/claude-haiku-4-5"));
    assert!(
        o.stdout.contains("echo: Explain CRDTs in 5 lines"),
        "{}",
        o.stdout
    );
    assert!(
        o.stderr.contains("flaky/gemini-2.5-flash: rate limited"),
        "the retry is told with its model: {}",
        o.stderr
    );
    // The table: a row per model, with its figures, and the total.
    let table: Vec<&str> = o
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("model "))
        .collect();
    assert!(table[0].contains("ttft") && table[0].contains("tok/s") && table[0].contains("cost"));
    for m in [
        "fast/gpt-4o-mini",
        "slow/claude-haiku-4-5",
        "flaky/gemini-2.5-flash",
    ] {
        let row = table
            .iter()
            .find(|l| l.starts_with(m))
            .unwrap_or_else(|| panic!("row for {m}: {table:?}"));
        assert!(row.ends_with("ok"), "{row}");
        assert!(row.contains('$'), "{row}");
    }
    assert!(table.iter().any(|l| l.starts_with("total")), "{table:?}");
    // Saved: the first answer that finished is the answer, the others its alternatives, and
    // the conversation's cost is all three.
    let saved = h.saved();
    assert_eq!(saved.len(), 1);
    let msgs = saved[0]["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["model"], "fast/gpt-4o-mini");
    let alts = msgs[1]["alternatives"].as_array().expect("alternatives");
    let models: Vec<&str> = alts.iter().filter_map(|a| a["model"].as_str()).collect();
    assert_eq!(models, ["slow/claude-haiku-4-5", "flaky/gemini-2.5-flash"]);
    assert!(
        alts.iter()
            .all(|a| a["usage"]["output_tokens"].as_u64() > Some(0))
    );
    let sum: f64 = std::iter::once(&msgs[1])
        .chain(alts.iter())
        .filter_map(|a| a["cost_usd"].as_f64())
        .sum();
    let list = h.run(&["list", "--json"]);
    let row: serde_json::Value =
        serde_json::from_str(list.stdout.lines().next().expect("row")).expect("json");
    assert!(approx(&row["cost_usd"], sum), "{row} vs {sum}");
    o.assert_no_key();
}

#[test]
fn json_events_are_tagged_with_their_model() {
    let h = three("c2", "echo,status=429,ra-ms=50,times=1");
    let o = h.run(&args(&["--json", "--no-save", "hello"]));
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines = o.lines();
    let start = o.one("start");
    assert_eq!(start["models"].as_array().map(Vec::len), Some(3));
    let deltas = o.of_type("delta");
    for m in [
        "fast/gpt-4o-mini",
        "slow/claude-haiku-4-5",
        "flaky/gemini-2.5-flash",
    ] {
        assert!(deltas.iter().any(|d| d["model"] == m), "deltas of {m}");
    }
    assert!(deltas.iter().all(|d| d["model"].is_string()));
    let retry = o.one("retry");
    assert_eq!(retry["model"], "flaky/gemini-2.5-flash");
    let results = o.of_type("result");
    assert_eq!(results.len(), 3, "{lines:?}");
    for r in &results {
        assert!(
            r["ttft_ms"].is_u64() && r["output_tokens"].as_u64() > Some(0),
            "{r}"
        );
        assert!(r["error"].is_null(), "{r}");
    }
    let summary = o.one("summary");
    assert_eq!(summary["answered"], 3);
    assert!(summary["conversation"].is_null(), "--no-save");
    assert!(h.saved().is_empty());
}

#[test]
fn a_failing_model_does_not_hold_back_the_others() {
    let h = three("c3", "status=400,noretry");
    let o = h.run(&args(&["hello"]));
    assert_eq!(o.code, 0, "one answered: {}", o.stderr);
    let row = o
        .stdout
        .lines()
        .find(|l| l.starts_with("flaky/gemini-2.5-flash"))
        .expect("row");
    assert!(!row.ends_with("ok") && row.contains("400"), "{row}");
    assert!(o.stdout.contains("━━ slow/claude-haiku-4-5 ━━"));
    // Nobody answered: exit 1, every error in the table.
    let bad = Home::new("status=400,noretry,tag=c3b");
    let o = bad.run(&[
        "compare",
        "-m",
        "openai/gpt-4o-mini",
        "-m",
        "anthropic/claude-haiku-4-5",
        "hi",
    ]);
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    let rows = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("openai/") || l.starts_with("anthropic/"))
        .filter(|l| l.contains("HTTP 400"))
        .count();
    assert_eq!(rows, 2, "{}", o.stdout);
}

#[test]
fn compare_needs_two_models_and_other_commands_take_one() {
    let h = Home::new("echo");
    let o = h.run(&["compare", "-m", "openai/gpt-4o-mini", "hi"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("two models"), "{}", o.stderr);
    let o = h.run(&[
        "ask",
        "-m",
        "openai/gpt-4o-mini",
        "-m",
        "openai/gpt-4o",
        "hi",
    ]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("-m is given once"), "{}", o.stderr);
}

#[test]
fn a_fork_at_turn_two_continues_on_another_model_and_both_stay_intact() {
    let h = Home::new("echo,tag=fork");
    let first = h.run(&["ask", "--new", "-m", "openai/gpt-4o-mini", "turn one"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    for n in ["two", "three", "four", "five"] {
        let o = h.run(&["ask", "-c", &format!("turn {n}")]);
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    let origin = h.saved()[0].clone();
    let id = origin["id"].as_str().expect("id").to_string();
    assert_eq!(origin["messages"].as_array().map(Vec::len), Some(10));

    let o = h.run(&["fork", &id, "--at", "9"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("5 turns"), "{}", o.stderr);

    let o = h.run(&["fork", &id, "--at", "2", "-m", "anthropic/claude-haiku-4-5"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let fork_id = o.stdout.trim().to_string();
    assert_ne!(fork_id, id);
    // Listed with its link; its cost is its own (the inherited turns were paid in the origin).
    let list = h.run(&["list"]);
    let row = list
        .stdout
        .lines()
        .find(|l| l.starts_with(&fork_id))
        .expect("fork listed");
    assert!(row.contains(&format!("(fork of {id} at turn 2)")), "{row}");
    assert!(row.contains("$0 "), "{row}");
    let json = h.run(&["list", "--json"]);
    let fr: serde_json::Value = json
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .find(|v| v["id"] == fork_id.as_str())
        .expect("fork row");
    assert_eq!(fr["forked_from"]["id"], id.as_str());
    assert_eq!(fr["forked_from"]["turns"], 2);

    // Continued: the fork's next answer comes from the other model, with two turns of history.
    let o = h.run(&[
        "ask",
        "--conversation",
        &fork_id,
        "--json",
        "turn three again",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.one("start")["model"], "anthropic/claude-haiku-4-5");
    let req = last_request("echo,tag=fork", |r| r.path.ends_with("/messages"));
    let body: serde_json::Value = serde_json::from_str(&req.body).expect("body");
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(5), "{body}");
    assert!(
        !req.body.contains("turn three\""),
        "turn 3 of the origin is not in the fork"
    );

    // Both intact: the origin still has its five turns.
    let saved = h.saved();
    let origin_now = saved
        .iter()
        .find(|c| c["id"] == id.as_str())
        .expect("origin");
    assert_eq!(origin_now["messages"], origin["messages"]);
    let fork = saved
        .iter()
        .find(|c| c["id"] == fork_id.as_str())
        .expect("fork");
    assert_eq!(fork["messages"].as_array().map(Vec::len), Some(6));
    assert_eq!(
        fork["forked_from"]["message"], origin["messages"][3]["id"],
        "linked to the message it was forked at"
    );
    assert!(fork.get("model").is_none(), "cleared once it answered");
    let show = h.run(&["show", &fork_id]);
    assert!(
        show.stdout.contains(&format!("forked from {id} at turn 2")),
        "{}",
        show.stdout
    );
}
