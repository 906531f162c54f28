//! Regression tests for the hardening issue, through the real binary: concurrent writers,
//! hostile saved files and model lists, bidi controls, bad timeouts, unreadable newest files,
//! non-UTF-8 stdin and exit codes.

mod support;
use support::{Home, server};

/// No ESC, no C1 control, no bidi override in `s`.
fn assert_terminal_safe(what: &str, s: &str) {
    let bad: Vec<char> = s
        .chars()
        .filter(|c| {
            (*c < ' ' && *c != '\n' && *c != '\t')
                || ('\u{7f}'..='\u{9f}').contains(c)
                || ('\u{202a}'..='\u{202e}').contains(c)
                || ('\u{2066}'..='\u{2069}').contains(c)
        })
        .collect();
    assert!(bad.is_empty(), "{what}: raw controls {bad:?} in:\n{s}");
}

#[test]
fn eight_concurrent_ask_continue_keep_every_turn() {
    let h = Home::new("echo,slow=20");
    let o = h.run(&["ask", "-m", "openai/gpt-4o-mini", "seed"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let children: Vec<_> = (0..8)
        .map(|i| {
            h.cmd(&["ask", "-c", &format!("question {i}")])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        let o = support::Out::from(c.wait_with_output().expect("wait"));
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    let saved = h.saved();
    assert_eq!(saved.len(), 1, "one conversation");
    let contents: Vec<String> = saved[0]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_str().map(str::to_string))
        .collect();
    assert_eq!(contents.len(), 2 + 16, "{contents:?}");
    for i in 0..8 {
        let q = format!("question {i}");
        let at = contents
            .iter()
            .position(|c| *c == q)
            .unwrap_or_else(|| panic!("{q} lost"));
        assert_eq!(
            contents[at + 1],
            format!("echo: {q}"),
            "its answer follows it"
        );
    }
}

#[test]
fn hostile_saved_fields_and_model_ids_are_neutralised() {
    let h = Home::new("echo");
    let o = h.run(&["ask", "--new", "-m", "openai/gpt-4o-mini", "hello"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    // Edit the saved file as an attacker would: escapes in the title, model, preset, error.
    let dir = h.conversations();
    let path = std::fs::read_dir(&dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("file");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    let evil = "x\u{1b}]0;pwned\u{7}\u{1b}]52;c;cHduZWQ=\u{7}\u{9b}2J-G\u{202e}gnp.exe";
    v["title"] = evil.into();
    v["preset"] = evil.into();
    v["messages"][1]["model"] = evil.into();
    v["messages"][1]["error"] = evil.into();
    std::fs::write(&path, v.to_string()).expect("write");
    for args in [
        vec!["list"],
        vec!["list", "--json"],
        vec!["list", "--search", "hello"],
        vec!["show", "last"],
        vec!["export", "last"],
        vec!["export", "last", "--format", "json"],
    ] {
        let o = h.run(&args);
        assert_eq!(o.code, 0, "{args:?}: {}", o.stderr);
        assert_terminal_safe(&format!("{args:?} stdout"), &o.stdout);
        assert_terminal_safe(&format!("{args:?} stderr"), &o.stderr);
    }
    // JSON output stays JSON with the same strings.
    let o = h.run(&["list", "--json"]);
    let row: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("json");
    assert_eq!(row["title"], evil);
    // Bidi overrides are shown by name.
    let o = h.run(&["show", "last"]);
    assert!(o.stdout.contains("G‹RLO›gnp.exe"), "{}", o.stdout);

    // A provider's model list with the same tricks.
    let h = Home::new("evil");
    let o = h.run(&["models", "--remote"]);
    assert_terminal_safe("models --remote", &o.stdout);
    assert_terminal_safe("models --remote stderr", &o.stderr);
    assert!(o.stdout.contains("‹RLO›"), "{}", o.stdout);
    let o = h.run(&["models", "--remote", "--json"]);
    assert_terminal_safe("models --remote --json", &o.stdout);
}

#[test]
fn bidi_controls_in_answers_are_visible_unless_raw() {
    let h = Home::new("echo");
    let q = "name G\u{202e}gnp.exe";
    let o = h.run(&["ask", "-m", "openai/gpt-4o-mini", q]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("G‹RLO›gnp.exe"), "{}", o.stdout);
    assert_terminal_safe("ask", &o.stdout);
    let o = h.run(&["ask", "--raw", "-m", "openai/gpt-4o-mini", q]);
    assert!(
        o.stdout.contains("G\u{202e}gnp.exe"),
        "--raw passes it: {}",
        o.stdout
    );
    let o = h.run(&["ask", "--json", "-m", "openai/gpt-4o-mini", q]);
    assert_terminal_safe("ask --json", &o.stdout);
    assert!(
        o.text().contains("G\u{202e}gnp.exe"),
        "JSON keeps the text exactly"
    );
}

#[test]
fn bad_timeouts_and_hostless_urls_are_config_errors() {
    for (extra, key, line) in [
        ("[timeouts]\nidle_secs = -1\n", "timeouts.idle_secs", None),
        (
            "[timeouts]\nconnect_secs = 0\n",
            "timeouts.connect_secs",
            None,
        ),
        (
            "[providers.local]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n[providers.local.timeouts]\nfirst_token_secs = 0\n",
            "providers.local.timeouts.first_token_secs",
            None,
        ),
        (
            "[providers.local]\nkind = \"openai\"\nbase_url = \"http://\"\n",
            "providers.local.base_url",
            None,
        ),
        (
            "[retry]\nmax_retry_after_secs = -5\n",
            "retry.max_retry_after_secs",
            None::<usize>,
        ),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        let cfg = dir.path().join("config.toml");
        // The harness config has its own [timeouts]; this file is only the bad part.
        std::fs::write(&cfg, extra).expect("w");
        let o = support::Out::from(
            std::process::Command::new(env!("CARGO_BIN_EXE_charla"))
                .args(["ask", "hi"])
                .env_clear()
                .env("CHARLA_HOME", dir.path())
                .output()
                .expect("run"),
        );
        assert_eq!(o.code, 2, "{extra}: {}", o.stderr);
        assert!(
            o.stderr.contains(&cfg.display().to_string()),
            "{}",
            o.stderr
        );
        assert!(o.stderr.contains(key), "{key}: {}", o.stderr);
        let _ = line;
        let want_line = extra
            .lines()
            .position(|l| {
                let k = key.rsplit('.').next().unwrap_or(key);
                l.trim_start().starts_with(k)
                    || (k == "base_url" && l.contains("[providers.local]"))
            })
            .map(|i| i + 1)
            .unwrap_or(0);
        assert!(
            o.stderr.contains(&format!(":{want_line}:")),
            "line {want_line} named: {}",
            o.stderr
        );
    }
}

#[test]
fn continue_refuses_when_the_newest_file_cannot_be_read() {
    let h = Home::new("echo");
    let o = h.run(&["ask", "-m", "openai/gpt-4o-mini", "old conversation"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    std::thread::sleep(std::time::Duration::from_millis(20));
    let damaged = h.conversations().join("20991231-000000-dead.json");
    std::fs::write(
        &damaged,
        "{\"version\": 1, \"id\": \"20991231-000000-dead\", \"messages\": [",
    )
    .expect("w");
    let o = h.run(&["ask", "-c", "go on"]);
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(
        o.stderr.contains("20991231-000000-dead.json"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("--conversation"), "{}", o.stderr);
    assert_eq!(
        std::fs::read_to_string(&damaged).expect("kept"),
        "{\"version\": 1, \"id\": \"20991231-000000-dead\", \"messages\": ["
    );
    // `list` names it too.
    let o = h.run(&["list"]);
    assert!(
        o.stderr.contains("20991231-000000-dead.json"),
        "{}",
        o.stderr
    );
}

#[test]
fn non_utf8_stdin_is_refused_with_its_offset() {
    let h = Home::new("echo");
    let mut c = h.cmd(&["ask", "-m", "openai/gpt-4o-mini", "summarise"]);
    c.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut i = child.stdin.take().expect("stdin");
        i.write_all(b"caf\xe9 au lait").expect("write");
    }
    let o = support::Out::from(child.wait_with_output().expect("wait"));
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert!(o.stderr.contains("offset 3"), "{}", o.stderr);
    assert!(
        server()
            .requests_for("echo")
            .iter()
            .all(|r| !r.body.contains("caf")),
        "nothing was sent"
    );
}

#[test]
fn local_write_failures_have_their_own_exit_code() {
    let h = Home::new("echo");
    let o = h.run(&["ask", "-m", "openai/gpt-4o-mini", "q"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = h.run(&["export", "last", "-o", "/nonexistent/x.md"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    // The conversations directory cannot be created: the answer is printed, the save fails,
    // the exit code says so, and --new prints no id that was never saved.
    let h = Home::new("echo");
    std::fs::create_dir_all(h.path().join("data")).expect("data");
    std::fs::write(h.conversations(), "not a directory").expect("w");
    let o = h.run(&["ask", "--new", "-m", "openai/gpt-4o-mini", "q"]);
    assert_eq!(o.stdout, "echo: q\n");
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("could not save"), "{}", o.stderr);
    assert!(
        !o.stderr.lines().any(|l| l.starts_with("conversation: ")),
        "{}",
        o.stderr
    );
}
