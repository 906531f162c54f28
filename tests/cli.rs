//! Conversations, presets, replay, config and safety, through the real binary.

mod support;
use support::{Home, KEY, server};

#[test]
fn new_then_continue_then_switch_model_mid_conversation() {
    let h = Home::new("echo");
    let o = h.run(&["ask", "--new", "-m", "openai/gpt-4o-mini", "Explain SSE"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "echo: Explain SSE\n");
    let id = o
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("conversation: "))
        .expect("id on stderr")
        .to_string();

    let o = h.run(&["ask", "-c", "And with HTTP/2?"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout, "echo: And with HTTP/2?\n");
    // The continued request carried the whole history, on the conversation's model.
    let req = support::last_request("echo", |r| r.body.contains("And with HTTP/2?"));
    let body = req.json();
    assert_eq!(body["model"], "gpt-4o-mini");
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["role"].as_str())
        .collect();
    assert_eq!(roles, vec!["user", "assistant", "user"]);

    let o = h.run(&[
        "ask",
        "--conversation",
        &id[..12],
        "-m",
        "anthropic/claude-sonnet-4-5",
        "Same question, your view?",
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let req = support::last_request("echo", |r| r.path.ends_with("/messages"));
    let body = req.json();
    assert_eq!(body["messages"].as_array().map(Vec::len), Some(5));
    assert_eq!(body["messages"][4]["content"], "Same question, your view?");

    let saved = h.saved();
    assert_eq!(saved.len(), 1);
    let c = &saved[0];
    assert_eq!(c["version"], 2);
    assert_eq!(c["title"], "Explain SSE");
    let models: Vec<&str> = c["messages"]
        .as_array()
        .expect("m")
        .iter()
        .filter_map(|m| m["model"].as_str())
        .collect();
    assert_eq!(
        models,
        vec![
            "openai/gpt-4o-mini",
            "openai/gpt-4o-mini",
            "anthropic/claude-sonnet-4-5"
        ]
    );
    let a = &c["messages"][1];
    for k in [
        "usage",
        "cost_usd",
        "usage_estimated",
        "ttft_ms",
        "duration_ms",
        "finish_reason",
        "interrupted",
    ] {
        assert!(a.get(k).is_some(), "answer lacks {k}: {a}");
    }
    // echo usage: input = words sent (2), output = words of "echo: Explain SSE" (3).
    assert_eq!(a["usage"]["input_tokens"], 2);
    assert_eq!(a["usage"]["output_tokens"], 3);
    // 2 × 0.15 + 3 × 0.60 = 2.1 per 1M
    assert!(
        (a["cost_usd"].as_f64().unwrap_or(0.0) - 0.000_002_1).abs() < 1e-15,
        "{a}"
    );

    // list / show / export
    let l = h.run(&["list"]);
    assert!(
        l.stdout.contains(&id)
            && l.stdout.contains("3 turns")
            && l.stdout
                .contains("openai/gpt-4o-mini, anthropic/claude-sonnet-4-5"),
        "{}",
        l.stdout
    );
    let l = h.run(&["list", "--json"]);
    let row = &l.lines()[0];
    assert_eq!(row["turns"], 3);
    let s = h.run(&["show", &id]);
    assert!(
        s.stdout.contains("anthropic/claude-sonnet-4-5 · in "),
        "{}",
        s.stdout
    );
    assert!(s.stdout.contains("total: 3 turns"));
    let md = h.run(&["export", &id, "--format", "md"]);
    assert!(md.stdout.starts_with("# Explain SSE\n"));
    assert!(
        md.stdout
            .contains("## Assistant (anthropic/claude-sonnet-4-5)")
    );
    let out = h.path().join("conv.json");
    let j = h.run(&[
        "export",
        &id,
        "--format",
        "json",
        "-o",
        out.to_str().unwrap_or(""),
    ]);
    assert_eq!(j.code, 0);
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("exported")).expect("json");
    assert_eq!(exported["id"], id.as_str());
    let found = h.run(&["list", "--search", "http/2"]);
    assert!(found.stdout.contains(&id));
    let none = h.run(&["list", "--search", "zebra"]);
    assert!(none.stdout.trim().is_empty());
}

#[test]
fn replay_on_another_model_saves_a_linked_conversation() {
    let h = Home::new("echo");
    let o = h.run(&["ask", "--new", "-m", "openai/gpt-4o-mini", "first question"]);
    let id = o
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("conversation: "))
        .expect("id")
        .to_string();
    h.run(&["ask", "-c", "second question"]);
    let r = h.run(&["replay", &id, "-m", "gemini/gemini-2.5-flash"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("openai/gpt-4o-mini") && r.stdout.contains("gemini/gemini-2.5-flash"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("first question") && r.stdout.contains("second question"));
    let saved = h.saved();
    assert_eq!(saved.len(), 2);
    let replay = saved
        .iter()
        .find(|c| c["replay_of"] == id.as_str())
        .expect("linked replay");
    let answers: Vec<&str> = replay["messages"]
        .as_array()
        .expect("m")
        .iter()
        .filter(|m| m["role"] == "assistant")
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(
        answers,
        vec!["echo: first question", "echo: second question"]
    );
    // The second replayed turn carried the new answers as history, in Gemini's format.
    let req = support::last_request("echo", |r| r.path.contains(":streamGenerateContent"));
    let body = req.json();
    assert_eq!(body["contents"][1]["role"], "model");
    assert_eq!(
        body["contents"][1]["parts"][0]["text"],
        "echo: first question"
    );
    let j = h.run(&["replay", &id, "-m", "ollama/qwen3:8b", "--json"]);
    let lines = j.lines();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["replay"]["model"], "ollama/qwen3:8b");
    assert_eq!(lines[2]["type"], "summary");
}

#[test]
fn interrupted_replay_keeps_finished_turns() {
    let h = Home::new("echo");
    let o = h.run(&["ask", "--new", "-m", "openai/gpt-4o-mini", "one"]);
    let id = o
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("conversation: "))
        .expect("id")
        .to_string();
    h.run(&["ask", "-c", "two"]);
    // Point anthropic at a server path that fails every request.
    h.write_config("echo", &format!("[providers.broken]\nkind = \"anthropic\"\nbase_url = \"{}/v1\"\napi_key_env = \"CHARLA_TEST_KEY\"\nlocal = false\n", server().url("status=400")));
    let r = h.run(&["replay", &id, "-m", "broken/claude-haiku-4-5"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("turn 1 failed"), "{}", r.stderr);
    let replay = h
        .saved()
        .into_iter()
        .find(|c| c["replay_of"] == id.as_str())
        .expect("saved replay");
    assert_eq!(replay["messages"][1]["interrupted"], true);
}

#[test]
fn presets_with_examples_variables_and_errors() {
    let h = Home::new("echo");
    let o = h.run(&["presets"]);
    for n in [
        "summarise-abstract",
        "review-genre",
        "code-review",
        "translate",
        "context-only",
    ] {
        assert!(o.stdout.contains(n), "{n}");
    }
    let o = h.run(&[
        "ask",
        "--json",
        "-m",
        "openai/gpt-4o-mini",
        "--preset",
        "review-genre",
        "A film full of car chases and explosions",
    ]);
    // The echo model does not answer in JSON: the preset's schema catches it (exit 5).
    assert_eq!(o.code, 5, "{}", o.stderr);
    // The first request (the second re-asks with the errors).
    let req = support::server()
        .requests_for("echo")
        .into_iter()
        .find(|r| r.body.contains("car chases and explosions"))
        .expect("request");
    let msgs = req.json()["messages"]
        .as_array()
        .cloned()
        .expect("messages");
    assert_eq!(msgs.len(), 1 + 8 + 1, "system + 4 example pairs + question");
    assert_eq!(msgs[0]["role"], "system");
    assert_eq!(msgs[2]["content"], r#"{"genre": "Action"}"#);
    // The preset's schema went with it, and the answer was checked.
    assert!(
        req.json()["response_format"]["json_schema"]["schema"]["properties"]["genre"].is_object()
    );
    assert_eq!(
        o.of_type("schema").len(),
        2,
        "checked, re-asked, checked: {}",
        o.stdout
    );
    let saved = h.saved();
    assert_eq!(saved[0]["preset"], "review-genre");
    assert_eq!(saved[0]["messages"][0]["example"], true);
    assert_eq!(
        saved[0]["title"],
        "A film full of car chases and explosions"
    );

    let o = h.run_stdin(
        &[
            "ask",
            "-m",
            "openai/gpt-4o-mini",
            "--preset",
            "summarise-abstract",
            "--var",
            "max_sentences=2",
        ],
        Some("We measured things."),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let req = support::last_request("echo", |r| r.body.contains("We measured things."));
    assert!(
        req.json()["messages"][0]["content"]
            .as_str()
            .unwrap_or("")
            .contains("at most 2 sentences")
    );

    let o = h.run(&["ask", "--preset", "nope", "x"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no preset named 'nope'"));
    std::fs::create_dir_all(h.path().join("presets")).expect("dir");
    std::fs::write(
        h.path().join("presets/broken.toml"),
        "name = \"broken\"\nsystem = [\n",
    )
    .expect("w");
    let o = h.run(&["presets"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("broken.toml"), "{}", o.stderr);
    assert!(
        o.stdout.contains("review-genre"),
        "the good presets still list"
    );
}

#[test]
fn stdin_and_system_prompt() {
    let h = Home::new("echo");
    let o = h.run_stdin(
        &[
            "ask",
            "-m",
            "anthropic/claude-haiku-4-5",
            "-s",
            "Summarise in one line",
            "summarise",
        ],
        Some("some text\n"),
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let req = support::last_request("echo", |r| r.body.contains("Summarise in one line"));
    let body = req.json();
    // The system prompt as sent ends with the conversation's canary line (tests/guards.rs).
    let system = body["system"].as_str().expect("system");
    assert!(
        system.starts_with("Summarise in one line\n\n(Internal reference cnry-"),
        "{system}"
    );
    assert_eq!(body["messages"][0]["content"], "summarise\n\nsome text\n");
    assert_eq!(body["max_tokens"], 8192);
}

#[test]
fn escape_sequences_from_the_model_are_neutralised() {
    let h = Home::new("echo");
    let evil = "hi \x1b]52;c;cHduZWQ=\x07\x1b[2J\x1b]0;title\x07 end";
    let o = h.run(&["ask", "-m", "openai/gpt-4o-mini", evil]);
    assert_eq!(o.code, 0);
    assert!(
        !o.stdout.contains('\x1b') && !o.stdout.contains('\x07'),
        "{:?}",
        o.stdout
    );
    assert_eq!(o.stdout, "echo: hi ␛]52;c;cHduZWQ=␇␛[2J␛]0;title␇ end\n");
    let raw = h.run(&["ask", "--raw", "-m", "openai/gpt-4o-mini", evil]);
    assert!(raw.stdout.contains("\x1b[2J"));
    let j = h.run(&["ask", "--json", "-m", "openai/gpt-4o-mini", evil]);
    assert!(
        !j.stdout.contains('\x1b'),
        "JSON escapes control characters"
    );
    assert_eq!(j.text(), format!("echo: {evil}"));
    let id = h.saved()[0]["id"].as_str().expect("id").to_string();
    let shown = h.run(&["show", &id]);
    assert!(!shown.stdout.contains('\x1b'));
}

#[test]
fn ctrl_c_cancels_at_once_keeps_partial_and_exits_130() {
    let h = Home::new("echo,slow=150,words=200");
    let mut c = h.cmd(&["ask", "-m", "openai/gpt-4o-mini", "tell me a long story"]);
    c.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().expect("spawn");
    std::thread::sleep(std::time::Duration::from_millis(900));
    let started = std::time::Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let o: support::Out = child.wait_with_output().expect("wait").into();
    assert_eq!(o.code, 130, "{}", o.stderr);
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    assert!(o.stdout.starts_with("echo: tell me"), "{}", o.stdout);
    assert!(!o.stdout.contains("word word word word word word word word word word word word word word word word word word word word word word"), "cancelled long before the end");
    assert!(o.stderr.contains("cancelled; the partial answer was kept"));
    let saved = h.saved();
    let ans = &saved[0]["messages"][1];
    assert_eq!(ans["interrupted"], true);
    assert_eq!(ans["error"], "cancelled");
    assert_eq!(
        ans["content"].as_str().unwrap_or("").trim_end(),
        o.stdout.trim_end()
    );
}

#[test]
fn corrupt_file_is_named_and_never_overwritten() {
    let h = Home::new("echo");
    h.run(&["ask", "-m", "openai/gpt-4o-mini", "good one"]);
    let bad = h.conversations().join("20990101-000000-dead.json");
    std::fs::write(&bad, "{ this is not json").expect("write");
    let l = h.run(&["list"]);
    assert_eq!(l.code, 0);
    assert!(l.stdout.contains("good one"));
    assert!(
        l.stderr.contains("20990101-000000-dead.json") && l.stderr.contains("left untouched"),
        "{}",
        l.stderr
    );
    let o = h.run(&["ask", "--conversation", "20990101-000000-dead", "x"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("20990101-000000-dead.json")
            && o.stderr.contains("not a charla conversation"),
        "{}",
        o.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&bad).expect("still there"),
        "{ this is not json"
    );
}

#[test]
fn config_errors_name_file_line_and_key() {
    let h = Home::new("ok");
    std::fs::write(
        h.path().join("config.toml"),
        "default_model = \"openai/gpt-4o\"\n\n[providers.openai]\nbase_url = 42\n",
    )
    .expect("w");
    let o = h.run(&["ask", "hi"]);
    assert_eq!(o.code, 2);
    let cfg = h.path().join("config.toml");
    assert!(
        o.stderr.contains(&cfg.display().to_string()),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("line 4"), "{}", o.stderr);
    assert!(o.stderr.contains("base_url"), "{}", o.stderr);

    std::fs::write(&cfg, "[providers.openai]\nbase_ulr = \"http://x\"\n").expect("w");
    let o = h.run(&["models"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("unknown field `base_ulr`") && o.stderr.contains("line 2"),
        "{}",
        o.stderr
    );

    std::fs::write(&cfg, "\n\n[providers.mine]\nkind = \"openai\"\n").expect("w");
    let o = h.run(&["config", "check"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains(":3: providers.mine.base_url: missing"),
        "{}",
        o.stderr
    );

    std::fs::write(&cfg, "default_model = \"nosuch/model\"\n").expect("w");
    let o = h.run(&["ask", "x"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("default_model: unknown model 'nosuch/model'"),
        "{}",
        o.stderr
    );
}

#[test]
fn config_path_init_check_and_default_model() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str], envs: &[(&str, &str)]| -> support::Out {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_charla"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CHARLA_HOME", dir.path());
        for (k, v) in envs {
            c.env(k, v);
        }
        c.stdin(std::process::Stdio::null())
            .output()
            .expect("run")
            .into()
    };
    let p = run(&["config", "path"], &[]);
    assert_eq!(
        p.stdout.trim(),
        dir.path().join("config.toml").display().to_string()
    );
    let i = run(&["config", "init"], &[]);
    assert_eq!(i.code, 0);
    assert!(
        std::fs::read_to_string(dir.path().join("config.toml"))
            .expect("written")
            .contains("# default_model")
    );
    let again = run(&["config", "init"], &[]);
    assert_eq!(again.code, 2, "never overwrites");
    let c = run(&["config", "check"], &[]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert!(
        c.stdout
            .contains("default model: demo/charla-demo (no API key found)"),
        "{}",
        c.stdout
    );
    let c = run(&["config", "check"], &[("ANTHROPIC_API_KEY", "sk-ant-xyz")]);
    assert!(
        c.stdout
            .contains("default model: anthropic/claude-haiku-4-5 (ANTHROPIC_API_KEY is set)"),
        "{}",
        c.stdout
    );
    assert!(!c.stdout.contains("sk-ant-xyz"));
    let c = run(
        &["config", "check"],
        &[
            ("ANTHROPIC_API_KEY", "k"),
            ("CHARLA_MODEL", "gemini/gemini-2.5-flash"),
        ],
    );
    assert!(
        c.stdout
            .contains("default model: gemini/gemini-2.5-flash (default_model)"),
        "{}",
        c.stdout
    );
    // No key: ask answers from the demo model.
    let a = run(&["ask", "hello"], &[("CHARLA_DEMO_PACE_MS", "0")]);
    assert_eq!(a.code, 0, "{}", a.stderr);
    assert!(a.stdout.contains("charla demo model"));
}

#[test]
fn models_lists_prices_and_remote_lists() {
    let h = Home::new("ok");
    let o = h.run(&["models"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout.contains("anthropic/claude-haiku-4-5"),
        "{}",
        o.stdout
    );
    let line = o
        .stdout
        .lines()
        .find(|l| l.contains("openai/gpt-4o-mini "))
        .expect("gpt-4o-mini row");
    assert!(
        line.contains("0.15 / 0.6 / 0.075")
            && line.contains("128K")
            && line.contains("deprecated: shuts down 2027-01-14"),
        "{line}"
    );
    let j = h.run(&["models", "--json", "--remote"]);
    let rows = j.lines();
    assert!(
        rows.iter().any(|r| r["model"] == "openai/fake-large"),
        "remote /models listed"
    );
    assert!(
        rows.iter()
            .any(|r| r["model"] == "ollama/qwen3:8b" && r["local"] == true)
    );
    let haiku = rows
        .iter()
        .find(|r| r["model"] == "anthropic/claude-haiku-4-5")
        .expect("haiku");
    assert_eq!(haiku["input_per_m"], 1.0);
    assert_eq!(haiku["context"], 200_000);
    assert!(!j.stdout.contains(KEY));
}

#[test]
fn completions_and_usage_errors() {
    let h = Home::new("ok");
    let o = h.run(&["completions", "bash"]);
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("charla"));
    let o = h.run(&["ask"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("nothing to ask"));
    let o = h.run(&["ask", "-m", "nosuch/x", "q"]);
    assert_eq!(o.code, 2);
    let o = h.run(&["bogus-subcommand"]);
    assert_eq!(o.code, 2);
}

#[test]
fn tui_reports_a_bad_theme_before_touching_the_terminal() {
    let h = Home::with_extra("ok", "");
    std::fs::write(h.path().join("config.toml"), "theme = \"nope\"\n").expect("w");
    let o = h.run(&[]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no theme named 'nope'"), "{}", o.stderr);
    assert!(
        !o.stdout.contains('\x1b'),
        "no escape sequence was written: {:?}",
        o.stdout
    );
    std::fs::create_dir_all(h.path().join("themes")).expect("dir");
    std::fs::write(
        h.path().join("themes/mine.toml"),
        "name = \"mine\"\n[colors]\nuser = \"plaid\"\n",
    )
    .expect("w");
    std::fs::write(h.path().join("config.toml"), "theme = \"mine\"\n").expect("w");
    let o = h.run(&[]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("mine.toml") && o.stderr.contains("colors.user"),
        "{}",
        o.stderr
    );
    std::fs::write(h.path().join("config.toml"), "").expect("w");
    let o = h.run(&["--open", "no-such-conversation"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no conversation matches"), "{}", o.stderr);
}

#[test]
fn chat_screen_without_a_terminal_points_to_ask() {
    let h = Home::new("ok");
    let o = h.run(&[]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr
            .contains("the chat screen needs a terminal; for pipes and scripts use `charla ask`"),
        "{}",
        o.stderr
    );
    assert!(o.stdout.is_empty(), "nothing drawn: {:?}", o.stdout);
}

#[test]
fn default_system_prompt_from_config_and_its_overrides() {
    let h = Home::with_extra("echo", "");
    let mut text = std::fs::read_to_string(h.path().join("config.toml")).expect("config");
    text.insert_str(0, "system_prompt = \"Answer in French.\"\n");
    std::fs::write(h.path().join("config.toml"), text).expect("w");
    h.run(&[
        "ask",
        "-m",
        "anthropic/claude-haiku-4-5",
        "default system prompt test",
    ]);
    let req = support::last_request("echo", |r| r.body.contains("default system prompt test"));
    let sys = |r: &support::fake_server::Recorded| {
        let s = r.json()["system"].as_str().unwrap_or("").to_string();
        s.split("\n\n(Internal reference cnry-")
            .next()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(sys(&req), "Answer in French.");
    h.run(&[
        "ask",
        "-m",
        "anthropic/claude-haiku-4-5",
        "-s",
        "Answer in German.",
        "override test",
    ]);
    let req = support::last_request("echo", |r| r.body.contains("override test"));
    assert_eq!(sys(&req), "Answer in German.");
    h.run(&[
        "ask",
        "-m",
        "anthropic/claude-haiku-4-5",
        "--preset",
        "translate",
        "preset test",
    ]);
    let req = support::last_request("echo", |r| r.body.contains("preset test"));
    assert!(
        req.json()["system"]
            .as_str()
            .unwrap_or("")
            .starts_with("Translate the user's text into English")
    );
}

#[test]
fn api_key_cmd_runs_once_per_process() {
    let dir = tempfile::tempdir().expect("tmp");
    let counter = dir.path().join("count");
    let extra = format!(
        "[providers.cmdkey]\nkind = \"openai\"\nbase_url = \"{}/v1\"\napi_key_cmd = \"echo run >> {}; echo sk-from-cmd\"\nlocal = false\n",
        server().url("echo"),
        counter.display()
    );
    let h = Home::with_extra("echo", &extra);
    let o = h.run(&["ask", "--new", "-m", "openai/gpt-4o-mini", "first of two"]);
    let id = o
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("conversation: "))
        .expect("id")
        .to_string();
    h.run(&["ask", "-c", "second of two"]);
    let r = h.run(&["replay", &id, "-m", "cmdkey/gpt-4o-mini"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let runs = std::fs::read_to_string(&counter)
        .expect("the command ran")
        .lines()
        .count();
    assert_eq!(runs, 1, "two requests, one key command");
}
