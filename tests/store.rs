//! The store under abuse: a writer killed with SIGKILL mid-save, a corrupt file among good
//! ones, and the file format's round trip.

use charla::conversation::{Answer, Conversation, Message, Store};
use charla::provider::{Role, Usage};

fn conv(id: &str, n: usize) -> Conversation {
    let mut c = Conversation::new(id.to_string(), "2026-11-30T08:00:00.000Z".into());
    c.system_prompt = Some("be brief".into());
    for i in 0..n {
        let mut q = Message::user(format!("question {i} {}", "x".repeat(2000)));
        q.id = format!("q{i}");
        c.messages.push(q);
        let mut a = Message::assistant("openai/gpt-4o-mini");
        a.id = format!("a{i}");
        a.content = format!("answer {i} {}", "y".repeat(4000));
        if let Some(ans) = a.answer.as_mut() {
            ans.usage = Usage {
                input_tokens: 10,
                output_tokens: 20,
                ..Default::default()
            };
            ans.cost_usd = Some(0.001);
        }
        c.messages.push(a);
    }
    c.ensure_title();
    c
}

/// The child half of `kill_dash_nine_mid_save`: saves ever-growing versions until killed.
#[test]
fn writer_child() {
    let Ok(dir) = std::env::var("CHARLA_TEST_WRITER_DIR") else {
        return;
    };
    let store = Store::new(dir);
    let all = std::sync::Arc::new(conv("victim", 200).message_ids());
    let mut n = 1;
    loop {
        let mut c = conv("victim", n);
        // An existing file written again and again (its every message known: nothing to merge).
        c.origin.path = Some(store.path_of("victim"));
        c.origin.known = all.clone();
        let _ = store.save(&mut c);
        n = n % 200 + 1;
    }
}

#[test]
fn kill_dash_nine_mid_save_leaves_old_or_new() {
    let dir = tempfile::tempdir().expect("tmp");
    for round in 0..5 {
        let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
            .args(["--exact", "writer_child", "--nocapture", "--test-threads=1"])
            .env("CHARLA_TEST_WRITER_DIR", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn writer");
        std::thread::sleep(std::time::Duration::from_millis(300 + round * 70));
        let _ = std::process::Command::new("kill")
            .args(["-9", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let path = dir.path().join("victim.json");
        let c = Store::load_path(&path)
            .unwrap_or_else(|e| panic!("round {round}: the file must parse after kill -9: {e}"));
        let n = c.messages.len() / 2;
        assert_eq!(c, conv("victim", n), "round {round}: a complete version");
    }
}

#[test]
fn round_trip_and_listing() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::new(dir.path());
    let mut c = conv("a1", 2);
    c.messages.push(Message::example(Role::User, "ex"));
    if let Some(a) = c.messages[1].answer.as_mut() {
        a.interrupted = true;
        a.error = Some("network error".into());
        a.reasoning = "thinking".into();
        a.cost_usd = None;
    }
    store.save(&mut c).expect("save");
    let back = Store::load_path(&store.path_of("a1")).expect("load");
    assert_eq!(back, c);
    let text = std::fs::read_to_string(store.path_of("a1")).expect("text");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        v["messages"][1]["cost_usd"],
        serde_json::Value::Null,
        "unknown cost is null, not absent"
    );
    assert!(
        v["messages"][0].get("model").is_none(),
        "user messages carry no answer fields"
    );
    std::fs::write(dir.path().join("broken.json"), "[1,2").expect("w");
    let (list, broken) = store.list();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].turns, 2);
    assert_eq!(list[0].unpriced_turns, 1);
    assert_eq!(broken.len(), 1);
    assert!(broken[0].path.ends_with("broken.json"));
    // Saving over a file that does not parse is refused.
    let mut b = conv("broken", 1);
    b.title = "x".into();
    b.origin.path = Some(dir.path().join("broken.json"));
    assert!(store.save(&mut b).is_err());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("broken.json")).expect("kept"),
        "[1,2"
    );
    // A new conversation whose id is taken gets another one; the taken file is untouched.
    let mut n = conv("broken", 1);
    let saved = store.save(&mut n).expect("save as another id");
    assert_eq!(saved.renamed_from.as_deref(), Some("broken"));
    assert_ne!(n.id, "broken");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("broken.json")).expect("kept"),
        "[1,2"
    );
    // A file from a newer charla: see `a_newer_file_opens_read_only_and_is_never_rewritten`.
    let _ = Answer::new("x");
}

/// Eight writers that each read the conversation, add a turn and save, all at once: every
/// turn is kept (the merge under the directory lock), in a file that parses.
#[test]
fn concurrent_writers_lose_no_turn() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::new(dir.path());
    let mut c = conv("shared", 1);
    store.save(&mut c).expect("first save");
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|w| {
            let store = store.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut mine = Store::load_path(&store.path_of("shared")).expect("load");
                barrier.wait();
                mine.messages
                    .push(Message::user(format!("writer {w} asks")));
                let mut a = Message::assistant("demo/charla-demo");
                a.content = format!("writer {w} answer");
                mine.messages.push(a);
                store.save(&mut mine).expect("save")
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer");
    }
    let back = Store::load_path(&store.path_of("shared")).expect("load");
    assert_eq!(back.messages.len(), 2 + 16, "every writer's turn is kept");
    for w in 0..8 {
        let q = back
            .messages
            .iter()
            .position(|m| m.content == format!("writer {w} asks"))
            .unwrap_or_else(|| panic!("writer {w}'s question"));
        assert_eq!(
            back.messages[q + 1].content,
            format!("writer {w} answer"),
            "answer follows its question"
        );
    }
}

/// A file's id is never trusted as a path: not plain, or not its file name, it is refused by
/// name; `delete` removes the file the conversation was read from.
#[test]
fn ids_are_not_paths() {
    let dir = tempfile::tempdir().expect("tmp");
    let convs = dir.path().join("conversations");
    let store = Store::new(&convs);
    let mut c = conv("good-1", 1);
    store.save(&mut c).expect("save");
    let victim = dir.path().join("victim.json");
    std::fs::write(&victim, "precious").expect("victim");
    let text = std::fs::read_to_string(store.path_of("good-1")).expect("text");
    std::fs::write(
        convs.join("evil.json"),
        text.replace("\"good-1\"", "\"../victim\""),
    )
    .expect("w");
    std::fs::write(convs.join("copy.json"), &text).expect("w");
    let (list, broken) = store.list();
    assert_eq!(list.len(), 1);
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(
        broken.iter().any(|b| b.error.contains("not a plain id")),
        "{broken:?}"
    );
    assert!(
        broken
            .iter()
            .any(|b| b.error.contains("does not match the file name")),
        "{broken:?}"
    );
    assert!(Store::load_path(&convs.join("evil.json")).is_err());
    assert!(store.find("../victim").is_err());
    let found = store.find("good-1").expect("find");
    store.delete(&found).expect("delete");
    assert!(!store.path_of("good-1").exists());
    assert_eq!(
        std::fs::read_to_string(&victim).expect("still there"),
        "precious"
    );
}

/// Temp files of a writer killed mid-save are removed by the next listing.
#[test]
fn stale_temp_files_are_cleaned() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::new(dir.path());
    let mut c = conv("t1", 1);
    store.save(&mut c).expect("save");
    let stale = dir.path().join(".t1.json.tmp-999999-deadbeef");
    std::fs::write(&stale, "half a file").expect("w");
    let (list, _) = store.list();
    assert_eq!(list.len(), 1);
    assert!(!stale.exists(), "stale temp removed");
}

/// The history index finds what a full scan finds, ranked, and catches up with edits,
/// deletions, new files and damage on the next search.
#[test]
fn history_search_matches_the_full_scan_and_follows_the_files() {
    use charla::conversation::{Conversation, Message, Store};
    let d = tempfile::tempdir().expect("tmp");
    let store = Store::new(d.path());
    let topics = [
        "tokio runtime",
        "serde derive",
        "tokio channels and serde",
        "borrow checker",
    ];
    for (i, t) in topics.iter().enumerate() {
        let mut c = Conversation::new(
            format!("20261201-00000{i}-aaaa"),
            "2026-12-01T00:00:00Z".into(),
        );
        c.title = format!("about {t}");
        c.messages
            .push(Message::user(format!("Tell me about {t}.")));
        let mut a = Message::assistant("demo/charla-demo");
        a.content = format!("Here is what {t} means. Kenobi-{i}.");
        c.messages.push(a);
        store.save(&mut c).expect("save");
    }
    let ids = |v: Vec<charla::conversation::Summary>| {
        let mut ids: Vec<String> = v.into_iter().map(|s| s.id).collect();
        ids.sort();
        ids
    };
    for q in [
        "tokio",
        "TOKIO serde",
        "kenobi",
        "kenobi 2",
        "means",
        "nothing-here",
        "tok",
    ] {
        let words: Vec<String> = charla::conversation::history::words(q).collect();
        assert_eq!(ids(store.search(q)), ids(store.scan_search(&words)), "{q}");
    }
    assert_eq!(store.search("tokio").len(), 2);
    assert!(d.path().join(".index").is_dir(), "the index was made");
    // Edited, deleted and new conversations show on the next search.
    let mut c = Store::load_path(&d.path().join("20261201-000003-aaaa.json")).expect("load");
    c.messages[1].content.push_str(" Also tokio.");
    store.save(&mut c).expect("save");
    assert_eq!(store.search("tokio").len(), 3);
    let gone = Store::load_path(&d.path().join("20261201-000000-aaaa.json")).expect("load");
    store.delete(&gone).expect("delete");
    assert_eq!(store.search("tokio").len(), 2);
    // A damaged index is rebuilt; the results do not change.
    std::fs::write(d.path().join(".index/tantivy/meta.json"), "{bad").expect("damage");
    std::fs::write(d.path().join(".index/state.json"), "{bad").expect("damage");
    assert_eq!(store.search("tokio").len(), 2);
    // Ranked (BM25): of the two that say "serde" as often, the shorter comes first.
    let r = store.search("serde");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].id, "20261201-000001-aaaa", "{r:?}");
}
