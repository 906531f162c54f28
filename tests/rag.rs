//! Retrieval through the real binary: index a tree, search it, answer with its passages
//! (the request carries them with their sources, the saved question keeps them), refresh only
//! what changed, and every bad input said clearly.

mod support;

use std::process::Stdio;
use support::Home;

/// A small handbook: the baggage rules sit in one known section.
fn tree(h: &Home) -> std::path::PathBuf {
    let root = h.path().join("handbook");
    std::fs::create_dir_all(root.join("policies")).expect("dirs");
    std::fs::write(
        root.join("travel.md"),
        "# Travel\n\nBook through the portal.\n\n## Baggage\n\nAn infant travels with one checked bag of 10 kg and a folding stroller at no charge.\n\n## Meals\n\nVegetarian meals are served on request.\n",
    )
    .expect("travel");
    std::fs::write(
        root.join("policies/pay.md"),
        "# Pay\n\nSalaries are paid on the last working day of the month.\n",
    )
    .expect("pay");
    std::fs::write(
        root.join("policies/notes.txt"),
        "Parking is free on weekends.\n",
    )
    .expect("notes");
    std::fs::write(root.join("logo.png"), [0x89u8, b'P', b'N', b'G', 0, 0, 1]).expect("png");
    std::fs::write(root.join(".gitignore"), "secret.md\n").expect("gi");
    std::fs::write(
        root.join("secret.md"),
        "# Secret\n\nThe baggage vault code is 1234.\n",
    )
    .expect("s");
    // A git repository, so that .gitignore applies as it does for the user.
    std::fs::create_dir(root.join(".git")).expect("git");
    root
}

fn run(h: &Home, args: &[&str]) -> support::Out {
    let mut c = h.cmd(args);
    c.current_dir(h.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    support::Out::from(c.output().expect("run"))
}

#[test]
fn index_search_and_answer_with_cited_passages() {
    let h = Home::new("echo");
    tree(&h);
    let o = run(&h, &["rag", "add", "notes", "handbook"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stdout.contains("notes: 3 files (3 new"), "{}", o.stdout);
    assert!(o.stderr.contains("skipped 1 binary"), "{}", o.stderr);
    let o = run(&h, &["rag", "list", "--json"]);
    let l: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("json");
    assert_eq!(l["name"], "notes");
    assert_eq!(l["files"], 3, "the ignored file is not indexed");
    let o = run(
        &h,
        &[
            "rag",
            "search",
            "notes",
            "--json",
            "baggage",
            "allowance",
            "infant",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let first: serde_json::Value =
        serde_json::from_str(o.stdout.lines().next().expect("a hit")).expect("json");
    assert_eq!(first["path"], "handbook/travel.md");
    assert_eq!(first["start_line"], 5);
    assert!(first["text"].as_str().is_some_and(|t| t.contains("10 kg")));
    assert!(!o.stdout.contains("vault"), ".gitignore is respected");

    let o = run(
        &h,
        &[
            "-m",
            "anthropic/claude-haiku-4-5",
            "ask",
            "--rag",
            "notes",
            "What is the baggage allowance for an infant?",
        ],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("[1] handbook/travel.md lines 5-7"),
        "{}",
        o.stderr
    );
    // The request carried the passage, numbered, labelled with its source, fenced as data,
    // and the instruction to cite it.
    let req = support::last_request("echo", |r| r.body.contains("folding stroller"));
    assert!(
        req.body.contains("[1] handbook/travel.md (lines 5-7)"),
        "{}",
        req.body
    );
    assert!(
        req.body.contains("source=\\\"retrieved passages\\\""),
        "{}",
        req.body
    );
    assert!(
        req.body.contains("cite the ones you use as [n]"),
        "{}",
        req.body
    );
    // Saved with the question: show and export reproduce what the model saw.
    let saved = h.saved();
    let q = &saved[0]["messages"][0];
    assert_eq!(q["parts"][0]["type"], "context");
    assert_eq!(q["parts"][0]["collection"], "notes");
    assert_eq!(q["parts"][0]["passages"][0]["source"], "handbook/travel.md");
    assert_eq!(saved[0]["rag"], "notes");
    let o = run(&h, &["show", "last"]);
    assert!(o.stdout.contains("passages from notes"), "{}", o.stdout);
}

#[test]
fn refresh_reads_only_what_changed_and_forgets_deleted_files() {
    let h = Home::new("echo");
    let root = tree(&h);
    run(&h, &["rag", "add", "notes", "handbook"]);
    let o = run(&h, &["rag", "refresh", "notes"]);
    assert!(
        o.stdout
            .contains("0 new, 0 changed, 0 removed, 3 unchanged; 1 read"),
        "only the binary (never indexed) is read again: {}",
        o.stdout
    );
    std::fs::write(
        root.join("policies/pay.md"),
        "# Pay\n\nSalaries are paid every second Friday.\n",
    )
    .expect("edit");
    std::fs::remove_file(root.join("policies/notes.txt")).expect("rm");
    let o = run(&h, &["rag", "refresh", "notes"]);
    assert!(
        o.stdout
            .contains("0 new, 1 changed, 1 removed, 1 unchanged; 2 read"),
        "{}",
        o.stdout
    );
    let o = run(&h, &["rag", "search", "notes", "parking"]);
    assert!(!o.stdout.contains("notes.txt"), "deleted: {}", o.stdout);
    let o = run(&h, &["rag", "search", "notes", "Friday"]);
    assert!(o.stdout.contains("policies/pay.md"), "{}", o.stdout);
    let o = run(&h, &["rag", "rm", "notes"]);
    assert_eq!(o.code, 0);
    assert!(root.join("travel.md").exists(), "the files are untouched");
}

#[test]
fn bad_input_is_said_and_changes_nothing() {
    let h = Home::new("echo");
    tree(&h);
    let o = run(&h, &["rag", "add", "notes", "no-such-dir"]);
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("no-such-dir"), "{}", o.stderr);
    assert!(
        !h.path().join("data/rag/notes/collection.json").exists(),
        "nothing made"
    );
    let o = run(&h, &["rag", "search", "nope", "x"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("no collection named nope"),
        "{}",
        o.stderr
    );
    let o = run(&h, &["ask", "--rag", "nope", "hi"]);
    assert_eq!(o.code, 2);
    assert!(
        o.stderr.contains("no collection named nope"),
        "{}",
        o.stderr
    );
    assert!(h.saved().is_empty(), "nothing sent or saved");
    run(&h, &["rag", "add", "notes", "handbook"]);
    let o = run(&h, &["rag", "search", "notes", "?!", "--"]);
    assert_eq!(o.code, 2, "{}", o.stdout);
    assert!(o.stderr.contains("nothing to search for"), "{}", o.stderr);
    let o = run(&h, &["rag", "add", "../x", "handbook"]);
    assert_eq!(o.code, 2);
    // A file over the limit and one that is not UTF-8.
    std::fs::write(h.path().join("handbook/big.log"), "line\n".repeat(300_000)).expect("big");
    std::fs::write(h.path().join("handbook/latin1.txt"), b"caf\xe9 au lait\n").expect("latin1");
    h.prepend_config("[rag]\nmax_file_bytes = 1000000\n");
    let o = run(&h, &["rag", "refresh", "notes"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr.contains("over the size limit") && o.stderr.contains("big.log"),
        "{}",
        o.stderr
    );
    let o = run(&h, &["rag", "search", "notes", "lait"]);
    assert!(
        o.stdout.contains("latin1.txt"),
        "read with replacement characters: {}",
        o.stdout
    );
    // A damaged index is rebuilt from the files, saying so.
    let idx = h.path().join("data/rag/notes/index/meta.json");
    std::fs::write(&idx, "{broken").expect("damage");
    let o = run(&h, &["rag", "refresh", "notes"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.contains("rebuilt from the files"), "{}", o.stderr);
    let o = run(&h, &["rag", "search", "notes", "stroller"]);
    assert!(o.stdout.contains("travel.md"), "{}", o.stdout);
}

#[test]
fn with_an_embedding_model_search_is_hybrid_and_finds_other_words() {
    let h = Home::new("echo");
    tree(&h);
    // Without vectors, "luggage" and "baby" are not in the handbook's words.
    run(&h, &["rag", "add", "notes", "handbook"]);
    let q = ["rag", "search", "notes", "--json", "luggage", "baby"];
    let o = run(&h, &q);
    assert!(!o.stdout.contains("travel.md"), "BM25 alone: {}", o.stdout);
    h.prepend_config("embedding_model = \"openai/text-embedding-3-small\"");
    let o = run(&h, &["rag", "refresh", "notes"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stdout
            .contains("vectors from openai/text-embedding-3-small: 5 passages embedded, 0 kept"),
        "{}",
        o.stdout
    );
    let embeds = support::server()
        .requests_for("echo")
        .into_iter()
        .filter(|r| r.path.ends_with("/embeddings"))
        .count();
    assert!(embeds >= 1);
    // An unchanged refresh embeds nothing again.
    let o = run(&h, &["rag", "refresh", "notes"]);
    assert!(
        o.stdout.contains("0 passages embedded, 5 kept"),
        "{}",
        o.stdout
    );
    let o = run(&h, &q);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let first: serde_json::Value =
        serde_json::from_str(o.stdout.lines().next().expect("a hit")).expect("json");
    assert_eq!(first["path"], "handbook/travel.md", "{}", o.stdout);
    assert_eq!(first["fused"], true);
    // ask: the question is embedded too, its cost said.
    let o = run(
        &h,
        &["ask", "--rag", "notes", "How much luggage may a baby take?"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("the question was embedded with openai/text-embedding-3-small"),
        "{}",
        o.stderr
    );
    assert!(o.stderr.contains("handbook/travel.md"), "{}", o.stderr);
}

#[tokio::test]
async fn embeddings_on_openai_gemini_and_ollama_wire_formats() {
    use charla::provider::{Kind, embed::embed, stream::Endpoint};
    let u = support::server().url("echo");
    for (kind, base) in [
        (Kind::Openai, format!("{u}/v1")),
        (Kind::Gemini, format!("{u}/v1beta")),
        (Kind::Ollama, u.clone()),
    ] {
        let ep = Endpoint::new("e", kind, base);
        let texts = vec!["an infant's bag".to_string(), "salaries".to_string()];
        let got = embed(&ep, "m", &texts)
            .await
            .unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        assert_eq!(got.vectors.len(), 2, "{kind:?}");
        assert_eq!(
            got.vectors[0],
            support::fake_server::fake_embedding(&texts[0]),
            "{kind:?}"
        );
        if kind != Kind::Gemini {
            assert_eq!(got.input_tokens, 4, "{kind:?}: the provider's count");
        }
    }
    let ep = Endpoint::new("a", Kind::Anthropic, u);
    let e = embed(&ep, "m", &["x".into()]).await;
    assert!(
        e.as_ref()
            .is_err_and(|e| e.message.contains("no embeddings API")),
        "{e:?}"
    );
}
