//! The API key planted in every kind of server response (error bodies of each wire format and
//! status, retry notices, model lists, streamed answer text split across deltas), from
//! `api_key_env` and from `api_key_cmd`: it must appear in no output, saved file or log.

mod support;
use support::{Home, KEY};

const CMD_KEY: &str = "sk-cmd-SECRET-77c3e9a0";

/// Every file under the home, as text.
fn all_files(h: &Home) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![h.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "config.toml") {
                let text =
                    String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
                out.push((p.display().to_string(), text));
            }
        }
    }
    out
}

fn assert_clean(h: &Home, what: &str, o: &support::Out, key: &str) {
    assert!(
        !o.stdout.contains(key) && !o.stderr.contains(key),
        "{what}: the key leaked on stdout/stderr:\n{}\n{}",
        o.stdout,
        o.stderr
    );
    for (path, text) in all_files(h) {
        assert!(
            !text.contains(key),
            "{what}: the key leaked into {path}:\n{text}"
        );
    }
}

#[test]
fn an_echoed_key_never_reaches_output_files_or_log() {
    let models = [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "gemini/gemini-2.5-flash",
        "openrouter/openai/gpt-4o-mini",
    ];
    for opts in [
        "status=401,keyecho",
        "status=400,keyecho",
        "status=429,keyecho,times=1",
        "status=500,keyecho,noretry",
        "echo,keyecho",
    ] {
        let h = Home::new(opts);
        for m in models {
            for json in [false, true] {
                let mut args = vec!["ask", "-m", m, "--stats"];
                if json {
                    args.push("--json");
                }
                args.push("what is my key?");
                let mut c = h.cmd(&args);
                c.env("CHARLA_LOG", "1");
                let o = support::Out::from(c.output().expect("run"));
                let what = format!("{opts} {m} json={json}");
                assert_clean(&h, &what, &o, KEY);
                if opts.starts_with("status=401") {
                    assert_ne!(o.code, 0, "{what}");
                    assert!(
                        o.stderr.contains("[REDACTED]"),
                        "{what}: the message is kept, the key masked:\n{}",
                        o.stderr
                    );
                }
                if opts.starts_with("echo") {
                    assert_eq!(o.code, 0, "{what}: {}", o.stderr);
                    let text = if json { o.text() } else { o.stdout.clone() };
                    assert!(
                        text.contains("your key is [REDACTED] ok"),
                        "{what}: answer text around the key is kept: {text:?}"
                    );
                }
            }
        }
        // A saved answer's error, `show`, `export` and `list` of the saved conversation.
        for args in [
            vec!["show", "last"],
            vec!["export", "last"],
            vec!["export", "last", "--format", "json"],
            vec!["list", "--json"],
        ] {
            let o = h.run(&args);
            assert_clean(&h, &format!("{opts} {args:?}"), &o, KEY);
        }
    }
}

#[test]
fn model_lists_and_key_commands_do_not_leak() {
    for opts in ["status=401,keyecho", "keyecho"] {
        let h = Home::with_extra(
            opts,
            &format!(
                "[providers.groq]\nbase_url = \"{}/openai/v1\"\napi_key_cmd = \"echo {CMD_KEY}\"\nlocal = false\n",
                support::server().url(opts)
            ),
        );
        let mut c = h.cmd(&["models", "--remote"]);
        c.env("CHARLA_LOG", "1");
        let o = support::Out::from(c.output().expect("run"));
        assert_clean(&h, &format!("models --remote {opts}"), &o, KEY);
        assert_clean(&h, &format!("models --remote {opts}"), &o, CMD_KEY);
        let mut c = h.cmd(&["ask", "-m", "groq/llama-3.3-70b-versatile", "hi"]);
        c.env("CHARLA_LOG", "1");
        let o = support::Out::from(c.output().expect("run"));
        assert_clean(&h, &format!("ask via api_key_cmd {opts}"), &o, CMD_KEY);
    }
}
