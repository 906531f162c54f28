//! Attachments end to end through the real binary: request bodies on every wire format
//! (byte for byte against fixtures, across model switches), the conversation format (v1 read
//! and upgraded, a newer version read-only), blobs, and every refusal naming its path.

mod support;

use support::{Home, server};

const ECHO: &str = "echo";

/// The request body the fake server received last for `path_end`, as bytes.
fn last_body(opts: &str, path_end: &str) -> String {
    support::last_request(opts, |r| r.path.ends_with(path_end)).body
}

/// Compares `body` with `tests/fixtures/requests/NAME` byte for byte
/// (`UPDATE_FIXTURES=1` writes it instead, to review in the diff).
fn assert_fixture(name: &str, body: &str) {
    // The untrusted-content delimiters carry a random nonce per request.
    let body = &normalise_nonce(body);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/requests")
        .join(name);
    // Pretty-printed for review; the comparison is of the exact bytes sent.
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("mkdir");
        std::fs::write(&path, body).expect("write fixture");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_FIXTURES=1 writes it)", path.display()));
    assert_eq!(*body, want, "request body differs from {name}");
}

/// `untrusted-<16 hex>` → `untrusted-NONCE`, the canary likewise.
fn normalise_nonce(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(i) = [rest.find("untrusted-"), rest.find("cnry-")]
        .into_iter()
        .flatten()
        .min()
    {
        let tag = if rest[i..].starts_with("cnry-") {
            "cnry-"
        } else {
            "untrusted-"
        };
        let j = i + tag.len();
        out.push_str(&rest[..j]);
        let hex = rest[j..]
            .bytes()
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        if hex == 16 {
            out.push_str("NONCE");
            rest = &rest[j + 16..];
        } else {
            rest = &rest[j..];
        }
    }
    out.push_str(rest);
    out
}

/// Isolates the server's record per test: each test has its own option string.
fn opts(tag: &str) -> String {
    format!("{ECHO},t={tag}")
}

#[test]
fn request_bodies_match_the_fixtures_across_model_switches() {
    let o = opts("bodies");
    let h = Home::with_extra(&o, "[providers.ollama.timeouts]\nfirst_token_secs = 3\n");
    h.fixture("dot.gif");
    h.fixture("notes.md");
    // 1. An image to Anthropic.
    let r = h.run_here(&[
        "ask",
        "-m",
        "anthropic/claude-haiku-4-5",
        "-a",
        "dot.gif",
        "What is in this image?",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_fixture("anthropic_image.json", &last_body(&o, "/messages"));
    // 2. Continued on Gemini with a text file: the image is re-sent as inlineData.
    let r = h.run_here(&[
        "ask",
        "-c",
        "-m",
        "gemini/gemini-2.5-flash",
        "-a",
        "notes.md",
        "Summarise the notes",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_fixture(
        "gemini_after_switch.json",
        &last_body(&o, ":streamGenerateContent?alt=sse"),
    );
    // 3. On OpenAI: the image as a data URL, the file fenced in the text.
    let r = h.run_here(&["ask", "-c", "-m", "openai/gpt-4o-mini", "In one word?"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_fixture(
        "openai_after_switch.json",
        &last_body(&o, "/chat/completions"),
    );
    // 4. On Ollama (llava reads images): images beside the text.
    let r = h.run_here(&["ask", "-c", "-m", "ollama/llava", "And again?"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_fixture("ollama_after_switch.json", &last_body(&o, "/api/chat"));

    // The saved file holds the parts (version 2), the image by its blob, not its bytes.
    let saved = h.saved();
    assert_eq!(saved.len(), 1);
    let c = &saved[0];
    assert_eq!(c["version"], 2);
    let first = &c["messages"][0]["parts"][0];
    assert_eq!(first["type"], "image");
    assert_eq!(first["media_type"], "image/gif");
    assert_eq!(
        (first["width"].clone(), first["height"].clone()),
        (1.into(), 1.into())
    );
    let blob = first["blob"].as_str().expect("blob");
    assert!(blob.starts_with("blobs/sha256/"), "{blob}");
    assert!(first.get("bytes").is_none() && first.get("data").is_none());
    assert_eq!(
        std::fs::read(h.path().join("data").join(blob)).expect("blob"),
        std::fs::read(h.path().join("dot.gif")).expect("gif"),
    );
    let file = &c["messages"][2]["parts"][0];
    assert_eq!(file["type"], "file");
    assert_eq!(file["path"], "notes.md");
    assert_eq!(file["size"], 76);
    assert!(
        file["text"]
            .as_str()
            .expect("text")
            .contains("Release notes")
    );
}

#[test]
fn images_survive_the_original_file_moving_and_replay_resends_them() {
    let o = opts("replay");
    let h = Home::new(&o);
    let img = h.fixture("chart.png");
    let r = h.run_here(&[
        "ask",
        "-m",
        "openai/gpt-4o-mini",
        "-a",
        "chart.png",
        "Describe",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sent = support::last_request(&o, |r| r.path.ends_with("/chat/completions")).json();
    let url = sent["messages"][0]["content"][0]["image_url"]["url"]
        .as_str()
        .expect("data url")
        .to_string();
    assert!(url.starts_with("data:image/png;base64,iVBOR"), "{url:.40}");
    std::fs::remove_file(&img).expect("move the original away");
    let r = h.run_here(&["replay", "last", "-m", "anthropic/claude-haiku-4-5"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let replayed = support::last_request(&o, |r| r.path.ends_with("/messages")).json();
    let block = &replayed["messages"][0]["content"][0];
    assert_eq!(block["type"], "image");
    assert_eq!(block["source"]["media_type"], "image/png");
    assert_eq!(
        block["source"]["data"].as_str(),
        url.strip_prefix("data:image/png;base64,"),
        "the same bytes, from the blob store"
    );
    assert_eq!(replayed["messages"][0]["content"][1]["text"], "Describe");
}

#[test]
fn a_missing_blob_is_named_and_the_question_is_kept() {
    let o = opts("noblob");
    let h = Home::new(&o);
    h.fixture("dot.gif");
    let r = h.run_here(&["ask", "-m", "openai/gpt-4o-mini", "-a", "dot.gif", "Look"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let before = server().requests_for(&o).len();
    std::fs::remove_dir_all(h.path().join("data/blobs")).expect("rm blobs");
    let r = h.run_here(&["ask", "-c", "and now?"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("dot.gif") && r.stderr.contains("missing"),
        "{}",
        r.stderr
    );
    assert_eq!(server().requests_for(&o).len(), before, "nothing was sent");
    let c = &h.saved()[0];
    let msgs = c["messages"].as_array().expect("messages");
    assert_eq!(msgs.len(), 4, "the question and its failed answer are kept");
    assert_eq!(msgs[2]["content"], "and now?");
    assert_eq!(msgs[3]["not_accepted"], true);
    assert_eq!(msgs[3]["cost_usd"], 0.0);
}

#[test]
fn a_v1_file_opens_is_answered_saved_as_v2_and_reopens_with_nothing_lost() {
    let o = opts("v1");
    let h = Home::new(&o);
    // Written by charla at 8797ef3 (format version 1): `charla ask` on the demo model, twice.
    let v1 = include_str!("fixtures/v1_conversation.json");
    let old: serde_json::Value = serde_json::from_str(v1).expect("fixture");
    let id = old["id"].as_str().expect("id");
    std::fs::create_dir_all(h.conversations()).expect("mkdir");
    let path = h.conversations().join(format!("{id}.json"));
    std::fs::write(&path, v1).expect("write");
    // Shown and exported as it is, and not rewritten by reading.
    let r = h.run(&["show", id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains(old["messages"][0]["content"].as_str().expect("q"))
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), v1);
    // Answered: written as version 2, with every old field kept.
    let r = h.run(&[
        "ask",
        "--conversation",
        id,
        "-m",
        "openai/gpt-4o-mini",
        "one more",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let new: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
    assert_eq!(new["version"], 2);
    let (old_m, new_m) = (
        old["messages"].as_array().expect("old"),
        new["messages"].as_array().expect("new"),
    );
    assert_eq!(new_m.len(), old_m.len() + 2);
    for (a, b) in old_m.iter().zip(new_m) {
        for (k, v) in a.as_object().expect("object") {
            assert_eq!(&b[k], v, "field {k} kept");
        }
    }
    for k in ["id", "title", "created", "system_prompt"] {
        assert_eq!(new[k], old[k], "{k} kept");
    }
    // And it opens again.
    let r = h.run(&["show", id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("one more"));
}

#[test]
fn a_newer_file_opens_read_only_and_its_bytes_never_change() {
    let o = opts("v3");
    let h = Home::new(&o);
    let v3 = r#"{
  "version": 3,
  "id": "c-20261201-future",
  "title": "From the future",
  "created": "2026-12-01T10:00:00Z",
  "updated": "2026-12-01T10:00:00Z",
  "hologram": {"x": 1},
  "messages": [
    {"role": "user", "content": "look", "parts": [
      {"type": "file", "path": "a.md", "sha256": "00", "size": 1, "text": "A"},
      {"type": "video", "seconds": 3}
    ]},
    {"role": "assistant", "content": "seen", "model": "openai/gpt-4o-mini", "cost_usd": 0.001}
  ]
}
"#;
    std::fs::create_dir_all(h.conversations()).expect("mkdir");
    let path = h.conversations().join("c-20261201-future.json");
    std::fs::write(&path, v3).expect("write");
    let listed = h.run(&["list"]);
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed.stdout.contains("From the future"),
        "{}",
        listed.stdout
    );
    let shown = h.run(&["show", "c-20261201-future"]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(shown.stdout.contains("video"), "{}", shown.stdout);
    assert!(shown.stdout.contains("a.md"), "{}", shown.stdout);
    let md = h.run(&["export", "c-20261201-future"]);
    assert_eq!(md.code, 0, "{}", md.stderr);
    let before = server().requests_for(&o).len();
    for args in [
        vec!["ask", "--conversation", "c-20261201-future", "more?"],
        vec!["ask", "-c", "more?"],
    ] {
        let r = h.run(&args);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains("newer charla") && r.stderr.contains("read-only"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(server().requests_for(&o).len(), before, "nothing sent");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        v3,
        "bytes unchanged"
    );
}

#[test]
fn an_unknown_part_in_a_known_version_is_refused_by_name() {
    let h = Home::new(&opts("unknownpart"));
    std::fs::create_dir_all(h.conversations()).expect("mkdir");
    let text = r#"{"version": 2, "id": "c-x", "title": "t", "created": "", "updated": "",
      "messages": [{"role": "user", "content": "q", "parts": [{"type": "hologram"}]}]}"#;
    let path = h.conversations().join("c-x.json");
    std::fs::write(&path, text).expect("write");
    let r = h.run(&["show", "c-x"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("c-x.json") && r.stderr.contains("hologram"),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

/// A PNG header claiming `w`×`h` pixels, padded to `len` bytes.
fn fake_png(w: u32, h: u32, len: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend(w.to_be_bytes());
    b.extend(h.to_be_bytes());
    b.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    b.resize(len.max(b.len()), 0);
    b
}

#[test]
fn bad_attachments_are_refused_before_sending_naming_the_path() {
    let o = opts("refusals");
    let h = Home::with_extra(&o, "[attachments]\nmax_file_bytes = 7000000\n");
    h.fixture("data.bin");
    h.fixture("dot.gif");
    h.fixture("notes.md");
    std::fs::create_dir(h.path().join("docs")).expect("dir");
    std::fs::write(
        h.path().join("huge.png"),
        fake_png(100, 100, 6 * 1024 * 1024),
    )
    .expect("w");
    std::fs::write(h.path().join("wide.png"), fake_png(9000, 10, 200)).expect("w");
    std::fs::write(h.path().join("big.txt"), "word ".repeat(1_500_000)).expect("w");
    let cases: &[(&[&str], &str)] = &[
        (&["-a", "nope.md"], "nope.md: no such file"),
        (&["-a", "docs"], "docs is a directory"),
        (&["-a", "data.bin"], "data.bin is a binary file"),
        (
            &["-a", "big.txt"],
            "big.txt is 7.2 MB, over the attachment limit",
        ),
        (
            &["-m", "anthropic/claude-haiku-4-5", "-a", "huge.png"],
            "huge.png is 6.0 MB: anthropic takes images of at most 5.0 MB",
        ),
        (
            &["-m", "anthropic/claude-haiku-4-5", "-a", "wide.png"],
            "wide.png is 9000×10 px: anthropic takes images of at most 8000 px",
        ),
        (
            &["-m", "deepseek/deepseek-chat", "-a", "dot.gif"],
            "deepseek/deepseek-chat does not read images",
        ),
        // A good attachment before a bad one: still nothing is sent.
        (
            &["-a", "notes.md", "-a", "nope.png"],
            "nope.png: no such file",
        ),
    ];
    let before = server().requests_for(&o).len();
    for (args, want) in cases {
        let mut all = vec!["ask"];
        if !args.contains(&"-m") {
            all.extend(["-m", "openai/gpt-4o-mini"]);
        }
        all.extend_from_slice(args);
        all.push("question");
        let r = h.run_here(&all);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(want),
            "{args:?}: want {want:?} in {}",
            r.stderr
        );
    }
    assert_eq!(server().requests_for(&o).len(), before, "nothing was sent");
    assert!(h.saved().is_empty(), "nothing was saved");
    // The refusal for a model that cannot see names ones that can.
    let r = h.run_here(&["ask", "-m", "deepseek/deepseek-chat", "-a", "dot.gif", "q"]);
    assert!(r.stderr.contains("models that do: "), "{}", r.stderr);
    // A text file over the share of the context the config allows.
    let h2 = Home::with_extra(
        &opts("share"),
        "[attachments]\nmax_context_share = 0.0001\n",
    );
    h2.fixture("notes.md");
    let r = h2.run_here(&["ask", "-m", "openai/gpt-4o-mini", "-a", "notes.md", "q"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("notes.md is about"), "{}", r.stderr);
    assert!(
        r.stderr.contains("of the model's 128.0k context"),
        "{}",
        r.stderr
    );
}

#[test]
fn invalid_utf8_is_decoded_lossily_and_flagged_everywhere() {
    let o = opts("lossy");
    let h = Home::new(&o);
    h.fixture("latin1.txt");
    let r = h.run_here(&["ask", "--json", "-a", "latin1.txt", "what does it say?"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("latin1.txt is not valid UTF-8"),
        "{}",
        r.stderr
    );
    let start = r.one("start");
    assert_eq!(start["attachments"][0]["lossy"], true);
    assert_eq!(start["attachments"][0]["type"], "file");
    let sent = last_body(&o, "/chat/completions");
    assert!(sent.contains("caf\u{fffd} au lait"), "{sent}");
    assert!(sent.contains("source=\\\"file latin1.txt\\\">"), "{sent}");
    assert_eq!(h.saved()[0]["messages"][0]["parts"][0]["lossy"], true);
}

#[test]
fn a_model_of_unknown_vision_gets_the_image_with_a_note() {
    let o = opts("unknownvision");
    let h = Home::new(&o);
    h.fixture("dot.gif");
    let r = h.run_here(&["ask", "-m", "openai/some-new-model", "-a", "dot.gif", "q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("does not know whether openai/some-new-model reads images"),
        "{}",
        r.stderr
    );
    // vision_models in the config says so, and replaces charla's data for the provider.
    let h2 = Home::with_extra(&o, "");
    h2.write_config(&o, "");
    let cfg = std::fs::read_to_string(h2.path().join("config.toml")).expect("cfg");
    std::fs::write(
        h2.path().join("config.toml"),
        cfg.replace(
            "[providers.openai]\n",
            "[providers.openai]\nvision_models = [\"some-new-*\"]\n",
        ),
    )
    .expect("w");
    h2.fixture("dot.gif");
    let r = h2.run_here(&["ask", "-m", "openai/some-new-model", "-a", "dot.gif", "q"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("does not know"), "{}", r.stderr);
    let r = h2.run_here(&["ask", "-m", "openai/gpt-4o", "-a", "dot.gif", "q"]);
    assert_eq!(r.code, 2, "not in the user's list: {}", r.stderr);
}

#[test]
fn show_and_exports_carry_the_attachments() {
    let o = opts("exports");
    let h = Home::new(&o);
    h.fixture("chart.png");
    h.fixture("notes.md");
    let r = h.run_here(&[
        "ask",
        "-a",
        "notes.md",
        "-a",
        "chart.png",
        "--new",
        "compare them",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let shown = h.run(&["show", "last"]);
    assert!(
        shown.stdout.contains("[file notes.md · 76 B"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("[image chart.png · png 64×48"),
        "{}",
        shown.stdout
    );
    let md = h.run(&["export", "last"]);
    assert_eq!(md.code, 0, "{}", md.stderr);
    assert!(
        md.stdout.contains("**Attached file** `notes.md` (76 B)"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("````\n# Release notes"), "{}", md.stdout);
    assert!(
        md.stdout
            .contains("**Attached image** `chart.png` (image/png 64×48"),
        "{}",
        md.stdout
    );
    assert!(md.stdout.contains("/data/blobs/sha256/"), "{}", md.stdout);
    let json = h.run(&["export", "last", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    assert_eq!(v["messages"][0]["parts"][1]["type"], "image");
    // The demo model says what it was given.
    let demo = h.run_here(&["ask", "-m", "demo/charla-demo", "-a", "chart.png", "hi"]);
    assert!(
        demo.stdout
            .contains("the image `chart.png`: image/png 64×48 px"),
        "{}",
        demo.stdout
    );
}

#[test]
fn stdin_and_an_attachment_go_together() {
    let o = opts("stdin");
    let h = Home::new(&o);
    h.fixture("notes.md");
    let mut c = h.cmd(&[
        "ask",
        "-a",
        "notes.md",
        "Review this change against the file",
    ]);
    c.current_dir(h.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut i = child.stdin.take().expect("stdin");
        i.write_all(b"- faster streaming\n+ much faster streaming\n")
            .expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sent = support::last_request(&o, |r| r.path.ends_with("/chat/completions")).json();
    // [0] is the system note on untrusted content; [1] the question with the file.
    assert!(
        sent["messages"][0]["content"]
            .as_str()
            .is_some_and(|s| s.contains("is data"))
    );
    let content = sent["messages"][1]["content"].as_str().expect("one text");
    let file_at = content
        .find("source=\"file notes.md\">")
        .expect("file first");
    let words_at = content.find("Review this change").expect("words");
    let diff_at = content.find("+ much faster").expect("stdin");
    assert!(file_at < words_at && words_at < diff_at, "{content}");
}

#[test]
fn a_key_inside_an_attached_file_is_masked_before_sending_and_saving() {
    let o = opts("keyfile");
    let h = Home::new(&o);
    std::fs::write(
        h.path().join(".env"),
        format!("OPENAI_API_KEY={}\nDEBUG=1\n", support::KEY),
    )
    .expect("w");
    let r = h.run_here(&["ask", "-a", ".env", "what is configured?"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(".env holds an API key charla knows"),
        "{}",
        r.stderr
    );
    let sent = last_body(&o, "/chat/completions");
    assert!(
        !sent.contains(support::KEY) && sent.contains("OPENAI_API_KEY=[REDACTED]"),
        "{sent}"
    );
    let saved = std::fs::read_to_string(
        std::fs::read_dir(h.conversations())
            .expect("dir")
            .filter_map(Result::ok)
            .find(|e| e.path().extension().is_some_and(|x| x == "json"))
            .expect("saved")
            .path(),
    )
    .expect("read");
    assert!(!saved.contains(support::KEY), "{saved}");
    r.assert_no_key();
}
