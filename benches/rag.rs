//! `cargo bench --bench rag`: retrieval quality and speed, medians (never asserted: these
//! machines are shared and noisy).
//!
//! 1. Quality on a real public corpus: Sphinx 8.1.3's documentation from its PyPI source
//!    distribution (`scripts/fetch-rag-corpus.sh` puts it and the reference under target/).
//!    Known-item questions: from every 7th passage, its longest sentence's first six words of
//!    four letters or more; the relevant passages are those holding that sentence. recall@5 of
//!    charla's search against the reference BM25 (rank_bm25's BM25Okapi, PyPI) over the very
//!    same passages.
//! 2. Speed on generated text: indexing ~40 MB cold (MB/s); a refresh of an unchanged
//!    10,000-file tree; query latency p50/p99 over 100,000 passages.
//! 3. History search over 100,000 generated conversations: the first search (which builds
//!    the index), then the median of later ones, against a full scan of the files, with the
//!    same matches; and the search after one conversation changed.

use charla::rag::{Collection, Settings, chunk};
use std::path::{Path, PathBuf};
use std::time::Instant;

fn settings() -> Settings {
    let cfg = charla::config::Config::builtin();
    Settings::of(&cfg)
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Words of four letters or more, lowercased.
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .collect()
}

fn quality(root: &Path) {
    let data = tempfile::tempdir().expect("tmp");
    let mut c = Collection::open_or_new(data.path(), "sphinx").expect("new");
    let s = settings();
    let t = Instant::now();
    c.add(&[root.to_path_buf()], s).expect("index");
    let secs = t.elapsed().as_secs_f64();
    // The same passages charla indexed, with ids.
    let mut passages: Vec<(String, String)> = Vec::new();
    for path in c.meta.files.keys() {
        let text = String::from_utf8_lossy(&std::fs::read(path).expect("read")).into_owned();
        for p in chunk::split(path, &text, s.chunk_chars, s.overlap_lines) {
            passages.push((format!("{path}:{}", p.start), p.text));
        }
    }
    let mut queries: Vec<(String, Vec<String>)> = Vec::new();
    for (_, text) in passages.iter().step_by(7) {
        let Some(sentence) = text
            .split(['.', '\n'])
            .filter(|l| words(l).len() >= 6)
            .max_by_key(|l| l.len())
        else {
            continue;
        };
        let mut q: Vec<String> = Vec::new();
        for w in words(sentence) {
            if !q.contains(&w) {
                q.push(w);
            }
            if q.len() == 6 {
                break;
            }
        }
        let relevant: Vec<String> = passages
            .iter()
            .filter(|(_, t)| t.contains(sentence))
            .map(|(id, _)| id.clone())
            .collect();
        queries.push((q.join(" "), relevant));
    }
    let mut found = 0;
    for (q, rel) in &queries {
        let hits = c.search(q, 5).expect("search");
        if hits
            .iter()
            .any(|h| rel.contains(&format!("{}:{}", h.path, h.start)))
        {
            found += 1;
        }
    }
    let ours = found as f64 / queries.len() as f64;
    let json = serde_json::json!({
        "passages": passages.iter().map(|(id, t)| serde_json::json!({"id": id, "text": t})).collect::<Vec<_>>(),
        "queries": queries.iter().map(|(q, r)| serde_json::json!({"q": q, "relevant": r})).collect::<Vec<_>>(),
    });
    let file = data.path().join("eval.json");
    std::fs::write(&file, json.to_string()).expect("eval");
    let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/rag-py/bin/python");
    let reference = std::process::Command::new(py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/bm25-reference.py"))
        .arg(&file)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("not run ({e})"));
    println!(
        "quality: Sphinx 8.1.3 docs, {} files, {} passages, indexed in {:.2} s; {} known-item queries: \
         recall@5 charla {ours:.4}, reference BM25 (rank_bm25) {reference}",
        c.meta.files.len(),
        passages.len(),
        secs,
        queries.len()
    );
}

/// A generated tree of `files` Markdown files of about `bytes` each.
fn generate(dir: &Path, files: usize, bytes: usize) -> u64 {
    const VOCAB: &[&str] = &[
        "baggage",
        "infant",
        "stroller",
        "policy",
        "travel",
        "meal",
        "vegetarian",
        "salary",
        "invoice",
        "refund",
        "portal",
        "booking",
        "passport",
        "visa",
        "hotel",
        "train",
        "taxi",
        "receipt",
        "expense",
        "limit",
        "approval",
        "manager",
        "budget",
        "flight",
        "seat",
        "upgrade",
        "lounge",
        "insurance",
        "claim",
        "deadline",
        "holiday",
        "leave",
        "office",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut total = 0u64;
    for f in 0..files {
        let sub = dir.join(format!("d{}", f % 50));
        std::fs::create_dir_all(&sub).expect("dir");
        let mut s = format!("# Document {f}\n\n");
        let mut section = 0;
        while s.len() < bytes {
            if next() % 9 == 0 {
                section += 1;
                s.push_str(&format!("\n## Section {section} of {f}\n\n"));
            }
            for _ in 0..(12 + next() % 20) {
                s.push_str(VOCAB[(next() % VOCAB.len() as u64) as usize]);
                s.push_str(&format!("{} ", next() % 1000));
            }
            s.push_str(".\n\n");
        }
        total += s.len() as u64;
        std::fs::write(sub.join(format!("doc{f}.md")), s).expect("write");
    }
    total
}

fn speed() {
    let s = settings();
    // Indexing, cold.
    let mut rates = Vec::new();
    for _ in 0..3 {
        let tree = tempfile::tempdir().expect("tmp");
        let bytes = generate(tree.path(), 2_000, 20_000);
        let data = tempfile::tempdir().expect("tmp");
        let mut c = Collection::open_or_new(data.path(), "gen").expect("new");
        let t = Instant::now();
        c.add(&[tree.path().to_path_buf()], s).expect("index");
        rates.push(bytes as f64 / 1e6 / t.elapsed().as_secs_f64());
    }
    println!(
        "index: {:.1} MB/s cold (40 MB of Markdown, 2,000 files; median of 3)",
        pct(rates, 0.5)
    );
    // Refresh of an unchanged 10,000-file tree.
    let tree = tempfile::tempdir().expect("tmp");
    generate(tree.path(), 10_000, 1_500);
    let data = tempfile::tempdir().expect("tmp");
    let mut c = Collection::open_or_new(data.path(), "many").expect("new");
    c.add(&[tree.path().to_path_buf()], s).expect("index");
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = c.refresh(s).expect("refresh");
        assert_eq!(r.read, 0);
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!(
        "refresh: {:.0} ms for an unchanged 10,000-file tree (median of 5)",
        pct(times, 0.5)
    );
    // Queries over 100,000 passages.
    let tree = tempfile::tempdir().expect("tmp");
    generate(tree.path(), 10_000, 10_000);
    let data = tempfile::tempdir().expect("tmp");
    let mut c = Collection::open_or_new(data.path(), "big").expect("new");
    let small = Settings {
        chunk_chars: 1000,
        ..s
    };
    c.add(&[tree.path().to_path_buf()], small).expect("index");
    let passages = c.meta.passages();
    let qs = [
        "baggage allowance for an infant",
        "refund policy booking",
        "hotel expense approval manager",
        "visa passport deadline",
        "lounge upgrade seat flight",
        "salary invoice receipt",
    ];
    let mut times = Vec::new();
    for i in 0..300 {
        let t = Instant::now();
        let hits = c.search(qs[i % qs.len()], 6).expect("search");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(hits);
    }
    println!(
        "query: p50 {:.2} ms, p99 {:.2} ms over {passages} passages (300 queries, top 6, each opening the index)",
        pct(times.clone(), 0.5),
        pct(times, 0.99)
    );
}

fn history() {
    use charla::conversation::{Conversation, Message, Store};
    let d = tempfile::tempdir().expect("tmp");
    let topics = [
        "tokio",
        "serde",
        "axum",
        "ratatui",
        "borrow",
        "lifetimes",
        "async",
        "traits",
        "macros",
        "unsafe",
        "cargo",
        "clippy",
        "rustfmt",
        "tantivy",
        "sqlite",
        "postgres",
        "redis",
        "kafka",
    ];
    let n = 100_000;
    for i in 0..n {
        let a = topics[i % topics.len()];
        let b = topics[(i / topics.len()) % topics.len()];
        let id = format!("20261201-{:06}-{:04x}", i / 60, i % 65536);
        let mut c = Conversation::new(id.clone(), "2026-12-01T00:00:00Z".into());
        c.title = format!("{a} and {b} question {i}");
        c.messages.push(Message::user(format!(
            "How do {a} and {b} fit together? case{i}"
        )));
        let mut m = Message::assistant("demo/charla-demo");
        m.content = format!(
            "They fit well: {a} handles one part, {b} another. Marker{}.",
            i % 997
        );
        c.messages.push(m);
        std::fs::write(
            d.path().join(format!("{id}.json")),
            serde_json::to_vec(&c).expect("json"),
        )
        .expect("write");
    }
    let store = Store::new(d.path());
    let t = Instant::now();
    let first = store.search("tokio serde");
    let build = t.elapsed().as_secs_f64();
    let queries = [
        "tokio serde",
        "marker42",
        "axum lifetimes",
        "kafka",
        "case77777",
    ];
    let mut times = Vec::new();
    for i in 0..25 {
        let t = Instant::now();
        std::hint::black_box(store.search(queries[i % queries.len()]));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let t = Instant::now();
    let words: Vec<String> = charla::conversation::history::words("tokio serde").collect();
    let scanned = store.scan_search(&words);
    let scan = t.elapsed().as_secs_f64();
    let mut a: Vec<String> = first.iter().map(|s| s.id.clone()).collect();
    let mut b: Vec<String> = scanned.iter().map(|s| s.id.clone()).collect();
    a.sort();
    b.sort();
    // One conversation edited (through the store, as charla saves): the next search.
    let mut c = Store::load_path(&d.path().join(format!("{}.json", first[0].id))).expect("load");
    c.messages[1].content.push_str(" now with zebra");
    store.save(&mut c).expect("save");
    let t = Instant::now();
    let z = store.search("zebra");
    let after = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "history: {n} conversations; first search (builds the index) {build:.1} s; then median {:.1} ms (25 searches); full scan {scan:.2} s; same matches: {} ({} each); after one save {after:.0} ms, found {}",
        pct(times, 0.5),
        a == b,
        a.len(),
        z.len()
    );
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let st = std::process::Command::new("bash")
        .arg(root.join("scripts/fetch-rag-corpus.sh"))
        .status()
        .expect("fetch the corpus");
    assert!(st.success(), "scripts/fetch-rag-corpus.sh failed");
    quality(&root.join("target/rag-corpus/sphinx-doc"));
    speed();
    history();
}
