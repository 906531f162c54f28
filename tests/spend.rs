//! Spend caps that hold, through the real binary: a request that cannot fit is never sent, an
//! answer is bounded to fit, a stream is stopped within a chunk of the cap with its text kept,
//! and the day cap counts every conversation's answers by when they were sent.

mod support;

use support::{Home, server};

#[test]
fn a_request_over_the_cap_is_never_sent() {
    let o = "echo,t=overcap";
    let h = Home::new(o);
    let before = server().requests_for(o).len();
    let r = h.run(&[
        "ask",
        "--json",
        "-m",
        "openai/gpt-4o-mini",
        "--max-cost",
        "0.000001",
        "a question of some words that costs more than a millionth of a dollar to read",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the request's $0.000001 cap (--max-cost)"),
        "{}",
        r.stderr
    );
    let e = r.one("error");
    assert_eq!(e["kind"], "budget");
    assert_eq!(server().requests_for(o).len(), before, "nothing was sent");
    assert!(h.saved().is_empty());
    // An unknown price cannot be capped: refused, saying why.
    let r = h.run(&["ask", "-m", "openai/some-new-model", "--max-cost", "1", "q"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("price of openai/some-new-model is unknown"),
        "{}",
        r.stderr
    );
    assert_eq!(server().requests_for(o).len(), before);
}

#[test]
fn an_answer_is_bounded_to_fit_and_a_stream_is_stopped_at_the_cap() {
    let o = "md=20000,t=stopcap";
    let h = Home::new(o);
    let r = h.run(&[
        "ask",
        "--json",
        "-m",
        "openai/gpt-4o-mini",
        "--max-cost",
        "0.001",
        "write a lot",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    // The request carried a max_tokens that fits the cap ($0.001 at $0.60 per 1M output).
    let body = support::last_request(o, |r| r.path.ends_with("/chat/completions")).json();
    let n = body["max_tokens"].as_u64().expect("bounded");
    assert!((1600..1667).contains(&n), "{n}");
    assert!(r.stderr.contains("bounds this answer at"), "{}", r.stderr);
    // This server ignores max_tokens: the running cost stopped it.
    let e = r.one("error");
    assert_eq!(e["kind"], "budget");
    let cost = e["cost_usd"].as_f64().expect("priced");
    assert!(
        cost > 0.0009 && cost <= 0.001 * 1.01,
        "within a chunk of the cap: {cost}"
    );
    assert!(!r.text().is_empty(), "the partial answer was printed");
    let saved = h.saved();
    let ans = &saved[0]["messages"][1];
    assert_eq!(ans["interrupted"], true);
    assert!(
        ans["error"]
            .as_str()
            .is_some_and(|s| s.contains("stopped at about")),
        "{ans}"
    );
    assert!(ans["content"].as_str().is_some_and(|s| s.len() > 1000));
    assert!(ans["sent_at"].as_str().is_some_and(|s| s.starts_with("20")));
}

#[test]
fn the_day_cap_counts_every_conversation_by_when_it_was_sent() {
    let o = "echo,t=daycap";
    let h = Home::new(o);
    h.prepend_config("max_cost_per_day = 0.01");
    // Another conversation spent $0.0099 today and $5 long ago.
    let r = h.run(&["ask", "-m", "openai/gpt-4o-mini", "--new", "first"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let path = std::fs::read_dir(h.conversations())
        .expect("dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("saved");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let sent = v["messages"][1]["sent_at"]
        .as_str()
        .expect("sent_at")
        .to_string();
    let yesterday = "2000-01-01T00:00:00Z";
    v["messages"][1]["cost_usd"] = 0.0099.into();
    let mut old = v["messages"][1].clone();
    old["sent_at"] = yesterday.into();
    old["cost_usd"] = 5.0.into();
    old["id"] = "old-answer".into();
    let mut q = v["messages"][0].clone();
    q["id"] = "old-question".into();
    let msgs = v["messages"].as_array_mut().expect("messages");
    msgs.insert(0, old);
    msgs.insert(0, q);
    std::fs::write(&path, serde_json::to_string_pretty(&v).expect("json")).expect("write");
    assert!(sent.len() >= 10);
    // A new conversation today: $0.0001 left of the day's cap is enough for a short answer
    // only, bounded to fit.
    let r = h.run(&["ask", "-m", "openai/gpt-4o-mini", "hello"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("today's $0.0100 cap"), "{}", r.stderr);
    let body = support::last_request(o, |r| r.path.ends_with("/chat/completions")).json();
    let n = body["max_tokens"].as_u64().expect("bounded");
    assert!(n < 200, "{n}");
    // Spent to the cent: refused, whatever the conversation.
    v["messages"][3]["cost_usd"] = 0.01.into();
    std::fs::write(&path, serde_json::to_string_pretty(&v).expect("json")).expect("write");
    let before = server().requests_for(o).len();
    let r = h.run(&["ask", "-m", "openai/gpt-4o-mini", "one more"]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(r.stderr.contains("is spent"), "{}", r.stderr);
    assert_eq!(server().requests_for(o).len(), before, "nothing was sent");
    // A free model is never held back by a cap.
    let r = h.run(&["ask", "-m", "demo/charla-demo", "free?"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn exact_estimates_use_the_providers_count_and_fall_back_to_the_local_one() {
    // The counting endpoint says the question is 2,000,000 tokens: $2 of input on Haiku 4.5,
    // over a $1 cap, where the local estimate (a few tokens) would have gone.
    let o = "echo,count=2000000,t=exact";
    let h = Home::new(o);
    h.prepend_config("exact_estimates = true");
    let r = h.run(&[
        "ask",
        "-m",
        "anthropic/claude-haiku-4-5",
        "--max-cost",
        "1",
        "hello",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let counted = support::last_request(o, |r| r.path.ends_with("/messages/count_tokens")).json();
    assert_eq!(counted["messages"][0]["content"], "hello");
    assert!(counted.get("stream").is_none() && counted.get("max_tokens").is_none());
    let chats = server()
        .requests_for(o)
        .iter()
        .filter(|r| r.path.ends_with("/v1/messages"))
        .count();
    assert_eq!(chats, 0, "the request itself was never sent");
    // Gemini's countTokens too.
    let r = h.run(&[
        "ask",
        "-m",
        "gemini/gemini-2.5-flash",
        "--max-cost",
        "0.1",
        "hello",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        server()
            .requests_for(o)
            .iter()
            .any(|r| r.path.contains(":countTokens"))
    );
    // A failed count leaves the local estimate in use, with a note.
    let o = "echo,status=500,times=1,t=exactfail";
    let h = Home::new(o);
    h.prepend_config("exact_estimates = true");
    let r = h.run(&[
        "ask",
        "-m",
        "anthropic/claude-haiku-4-5",
        "--max-cost",
        "1",
        "hello",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("could not count the input exactly"),
        "{}",
        r.stderr
    );
}
