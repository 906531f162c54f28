//! Every input in the fuzz corpora (`fuzz/corpus/TARGET/`, kept from the fuzzing runs, crashes
//! found there included) replayed through the same invariant checks the fuzz targets run
//! (`charla::fuzzing`), so a regression shows on every `cargo test`. `fuzz/run.sh` runs the
//! fuzzers themselves (CI runs each briefly).

use charla::provider::Kind;
use std::path::Path;

fn replay(target: &str, check: impl Fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let p = e.expect("entry").path();
        let data = std::fs::read(&p).expect("read");
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(&data)));
        assert!(r.is_ok(), "{target}: {} breaks an invariant", p.display());
        n += 1;
    }
    assert!(n > 0, "{target}: empty corpus");
}

#[test]
fn framer_corpus() {
    replay("framer", charla::fuzzing::framer);
}

#[test]
fn decoder_corpus() {
    replay("decoder", |data| {
        if let Some((&k, rest)) = data.split_last() {
            let kind = [Kind::Openai, Kind::Anthropic, Kind::Gemini, Kind::Ollama][k as usize % 4];
            charla::fuzzing::decoder(kind, rest);
        }
    });
}

#[test]
fn conversation_file_corpus() {
    replay("conversation_file", charla::fuzzing::conversation_file);
}

#[test]
fn config_file_corpus() {
    replay("config_file", charla::fuzzing::config_file);
}

#[test]
fn markdown_corpus() {
    replay("markdown", charla::fuzzing::markdown);
}

#[test]
fn sanitizer_corpus() {
    replay("sanitizer", charla::fuzzing::sanitizer);
}

#[test]
fn redactor_corpus() {
    replay("redactor", charla::fuzzing::redactor);
}
