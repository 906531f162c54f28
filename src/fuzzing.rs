//! The invariants the fuzz targets (`fuzz/fuzz_targets/`) check, kept in the library so that
//! `tests/fuzz_corpus.rs` replays every saved corpus input through exactly the same checks on
//! every `cargo test`. Each function panics when an invariant breaks; none does I/O.

use crate::provider::sse::{self, from_chunks};
use crate::provider::{Kind, StreamEvent, decoder_for};
use futures::StreamExt;

/// Splits `data` into a control prefix and a body: the first byte says how many split points
/// follow (0–7), each one byte (scaled to the body's length).
fn split_input(data: &[u8]) -> (Vec<usize>, &[u8]) {
    let Some((&n, rest)) = data.split_first() else {
        return (vec![], data);
    };
    let n = (n as usize % 8).min(rest.len());
    let (ctl, body) = rest.split_at(n);
    let mut cuts: Vec<usize> = ctl
        .iter()
        .map(|&b| (b as usize * body.len()) / 256)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    (cuts, body)
}

fn chunks_at(body: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut start = 0;
    for &c in cuts {
        if c > start && c <= body.len() {
            out.push(body[start..c].to_vec());
            start = c;
        }
    }
    out.push(body[start..].to_vec());
    out
}

fn raw_events(ndjson: bool, chunks: Vec<Vec<u8>>) -> Vec<(String, String)> {
    futures::executor::block_on(async move {
        let bytes = from_chunks(chunks);
        let mut s = if ndjson {
            sse::ndjson_lines(bytes)
        } else {
            sse::sse_events(bytes)
        };
        let mut out = Vec::new();
        while let Some(r) = s.next().await {
            match r {
                Ok(e) => out.push((e.event, e.data)),
                Err(e) => out.push(("!error".into(), e.to_string())),
            }
        }
        out
    })
}

/// SSE and NDJSON framing: the same events whatever the read boundaries.
pub fn framer(data: &[u8]) {
    let (cuts, body) = split_input(data);
    for ndjson in [false, true] {
        let whole = raw_events(ndjson, vec![body.to_vec()]);
        let split = raw_events(ndjson, chunks_at(body, &cuts));
        assert_eq!(
            whole, split,
            "framing depends on read boundaries (ndjson={ndjson})"
        );
    }
}

/// Decoded events of a body read in `chunks`, with adjacent deltas joined (a split may report
/// one delta as two). Also used by `tests/split_points.rs`.
pub fn decoded(kind: Kind, chunks: Vec<Vec<u8>>) -> Vec<StreamEvent> {
    let ndjson = kind == Kind::Ollama;
    let mut dec = decoder_for(kind);
    let mut out = Vec::new();
    for (event, data) in raw_events(ndjson, chunks) {
        if event == "!error" {
            continue;
        }
        out.extend(dec.feed(&event, &data));
    }
    out.extend(dec.finish(""));
    let mut merged: Vec<StreamEvent> = Vec::new();
    for ev in out {
        match (merged.last_mut(), ev) {
            (Some(StreamEvent::TextDelta(a)), StreamEvent::TextDelta(b)) => a.push_str(&b),
            (Some(StreamEvent::ReasoningDelta(a)), StreamEvent::ReasoningDelta(b)) => {
                a.push_str(&b)
            }
            (_, ev) => merged.push(ev),
        }
    }
    merged
}

/// A provider decoder fed any bytes: no panic, and the same decoded text under any split.
pub fn decoder(kind: Kind, data: &[u8]) {
    let (cuts, body) = split_input(data);
    let whole = decoded(kind, vec![body.to_vec()]);
    let split = decoded(kind, chunks_at(body, &cuts));
    assert_eq!(
        whole, split,
        "{kind:?}: decoding depends on read boundaries"
    );
}

/// The conversation file parser: no panic; what parses writes back and parses to the same.
pub fn conversation_file(data: &[u8]) {
    let path = std::path::Path::new("/fuzz/20261201-000000-abcd.json");
    if let Ok(c) = crate::conversation::Store::parse(path, data) {
        assert!(
            crate::util::is_plain_id(&c.id),
            "an id that is not plain was accepted"
        );
        let json = serde_json::to_vec(&c).expect("a parsed conversation serialises");
        let back = crate::conversation::Store::parse(path, &json).expect("and parses again");
        assert_eq!(back, c, "round trip changed the conversation");
    }
}

/// The config parser and its checks: an error or a config, never a panic.
pub fn config_file(data: &[u8]) {
    if let Ok(src) = std::str::from_utf8(data) {
        let _ = crate::config::parse_user(src, std::path::Path::new("/fuzz/config.toml"));
    }
}

/// The Markdown renderer: no panic, every line fits the width, no unsafe character reaches a
/// cell (the input is sanitised first, as the transcript does).
pub fn markdown(data: &[u8]) {
    let Some((&w, rest)) = data.split_first() else {
        return;
    };
    let width = (w as usize % 120) + 1;
    let raw = String::from_utf8_lossy(rest).into_owned();
    let text = crate::sanitize::sanitize(&raw);
    let theme = crate::tui::theme::Theme::fallback(true);
    let r = crate::tui::markdown::render(&text, width, &theme);
    // Streamed in pieces (at eight points spread over the text, the first byte choosing the
    // spacing), the incremental rendering is the full rendering of what arrived, at each step.
    let mut inc = crate::tui::markdown::Incremental::default();
    let idx: Vec<usize> = raw.char_indices().map(|(i, _)| i).skip(1).collect();
    let step = (idx.len() / 8).max(1) + (w as usize % 3);
    let bounds: Vec<usize> = idx.into_iter().step_by(step).chain([raw.len()]).collect();
    for at in bounds {
        let part = &raw[..at];
        let tail = inc.update(part, width, &theme);
        let mut got = inc.kept().to_vec();
        got.extend(tail);
        let want = crate::tui::markdown::render(&crate::sanitize::sanitize(part), width, &theme);
        assert_eq!(
            got, want.lines,
            "incremental rendering differs after {at} bytes"
        );
    }
    for line in &r.lines {
        assert!(
            line.width() <= width.max(4),
            "line wider than {width}: {line:?}"
        );
        for span in &line.spans {
            assert!(
                !span.content.chars().any(crate::sanitize::is_unsafe),
                "unsafe character in {span:?}"
            );
        }
    }
}

/// The sanitiser: its output is clean, it is idempotent, `sanitize_cow` agrees with it, and
/// `json_safe` keeps JSON meaning while making it clean.
pub fn sanitizer(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let clean = crate::sanitize::sanitize(&s);
    assert!(
        crate::sanitize::is_clean(&clean),
        "sanitised text is not clean: {clean:?}"
    );
    assert_eq!(crate::sanitize::sanitize(&clean), clean, "not idempotent");
    assert_eq!(crate::sanitize::sanitize_cow(&s), clean.as_str());
    let v = serde_json::Value::String(s.into_owned());
    let json = v.to_string();
    let safe = crate::sanitize::json_safe(&json);
    assert!(
        crate::sanitize::is_clean(&safe),
        "json_safe output is not clean"
    );
    let back: serde_json::Value = serde_json::from_str(&safe).expect("json_safe keeps JSON");
    assert_eq!(back, v);
}

/// The streaming key redactor: the same text as masking the whole answer at once, whatever
/// the delta boundaries.
pub fn redactor(data: &[u8]) {
    const KEY: &str = "fuzz-key-0123456789";
    crate::redact::register(KEY);
    let (cuts, body) = split_input(data);
    let text = String::from_utf8_lossy(body).into_owned();
    let mut r = crate::redact::StreamRedactor::new();
    let mut out = String::new();
    let mut start = 0;
    for c in cuts.iter().copied().chain([text.len()]) {
        let c = (start..=c.min(text.len()))
            .rev()
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(start);
        out.push_str(&r.push(&text[start..c]));
        start = c;
    }
    out.push_str(&r.finish());
    assert!(!out.contains(KEY), "the key got through: {out:?}");
    assert_eq!(out, crate::redact::redact_known(&text));
}
