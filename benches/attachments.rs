//! `cargo bench --bench attachments`: what attachments cost once they are in a conversation,
//! medians (never asserted: these machines are shared and noisy).
//!
//! 1. Frames while an answer streams (TestBackend, 200×50), in a conversation whose first
//!    question carried a 1 MB text file, against the same conversation without it: the file is
//!    shown folded, and its tokens are counted once, so the frames should cost the same.
//! 2. Reopening a conversation with 50 images (200 KB each in the blob store): time to load it
//!    and draw its first frame, and the bytes read from disk (`/proc/self/io`), against the same
//!    conversation without images: the images' bytes are not read until a request needs them.

mod common;

use charla::conversation::{Message, Store};
use charla::parts::{FilePart, ImagePart, Part};
use charla::tui::{app::App, theme::Theme, view};
use common::median_f64 as median;
use ratatui::{Terminal, backend::TestBackend};
use std::time::Instant;

fn app_with(messages: Vec<Message>) -> App {
    let cfg = std::sync::Arc::new(charla::config::Config::builtin());
    let m = cfg.resolve_model("demo/charla-demo").expect("m");
    let mut s = charla::session::Session::new(cfg, m);
    s.conv.messages = messages;
    App::new(s, Theme::fallback(false), String::new())
}

fn history(with_file: bool) -> Vec<Message> {
    let mut out = Vec::new();
    let mut q = Message::user("Summarise the log");
    if with_file {
        let line =
            "2026-12-01T10:00:00Z INFO request served in 12 ms path=/api/v1/items status=200\n";
        let text = line.repeat(1024 * 1024 / line.len());
        q.parts.push(Part::File(FilePart {
            path: "server.log".into(),
            sha256: "0".repeat(64),
            size: text.len() as u64,
            text,
            lossy: false,
        }));
    }
    out.push(q);
    let mut a = Message::assistant("demo/charla-demo");
    a.content = "All requests succeeded.".into();
    if let Some(x) = a.answer.as_mut() {
        x.duration_ms = Some(1000);
    }
    out.push(a);
    out
}

/// Median frame time (ms) over a streamed answer of `tokens` deltas, one frame per delta.
fn streaming_frames(with_file: bool, tokens: usize) -> f64 {
    charla::tui::markdown::warm();
    let mut app = app_with(history(with_file));
    let mut term = Terminal::new(TestBackend::new(200, 50)).expect("t");
    let mut cache = view::ViewCache::default();
    let (id, _req) = app.session.begin("And the errors?");
    let mut times = Vec::with_capacity(tokens);
    for i in 0..tokens {
        app.session.apply(
            id,
            charla::provider::StreamEvent::TextDelta(if i % 12 == 11 {
                "\n\n".into()
            } else {
                format!("word{i} ")
            }),
        );
        let t = Instant::now();
        term.draw(|f| view::render(&app, &mut cache, f))
            .expect("draw");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    median(times)
}

/// Bytes this process has read so far (`rchar`).
fn read_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// (load ms, first frame ms, bytes read) for a saved conversation of 50 turns, with an image of
/// 200 KB in each question when `images`.
fn reopen(images: bool) -> (f64, f64, u64) {
    let dir = tempfile::tempdir().expect("tmp");
    let blobs = charla::conversation::blobs::Blobs::new(dir.path());
    let store = Store::new(dir.path().join("conversations"));
    let mut conv = charla::conversation::Conversation::new(
        "20261201-000000-bench".into(),
        "2026-12-01T00:00:00Z".into(),
    );
    for i in 0..50 {
        let mut q = Message::user(format!("What is in picture {i}?"));
        if images {
            let mut bytes =
                b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\x04\0\0\0\x03\0\x08\x02\0\0\0".to_vec();
            bytes.extend((0..200 * 1024).map(|j: usize| (j * 31 + i * 7) as u8));
            let (sha256, blob) = blobs.put(&bytes).expect("blob");
            q.parts.push(Part::Image(ImagePart {
                name: format!("shot{i}.png"),
                media_type: "image/png".into(),
                sha256,
                size: bytes.len() as u64,
                width: 1024,
                height: 768,
                blob,
                bytes: Default::default(),
            }));
        }
        conv.messages.push(q);
        let mut a = Message::assistant("demo/charla-demo");
        a.content = format!("A chart of week {i}.");
        if let Some(x) = a.answer.as_mut() {
            x.duration_ms = Some(800);
        }
        conv.messages.push(a);
    }
    store.save(&mut conv).expect("save");
    let path = store.path_of(&conv.id);
    let (mut load, mut frame, mut read) = (vec![], vec![], vec![]);
    for _ in 0..7 {
        let r0 = read_bytes();
        let t = Instant::now();
        let c = Store::load_path(&path).expect("load");
        load.push(t.elapsed().as_secs_f64() * 1000.0);
        let app = app_with(c.messages);
        let mut term = Terminal::new(TestBackend::new(200, 50)).expect("t");
        let mut cache = view::ViewCache::default();
        let t = Instant::now();
        term.draw(|f| view::render(&app, &mut cache, f))
            .expect("draw");
        frame.push(t.elapsed().as_secs_f64() * 1000.0);
        read.push((read_bytes() - r0) as f64);
    }
    (median(load), median(frame), median(read) as u64)
}

fn main() {
    let (plain, file) = (streaming_frames(false, 600), streaming_frames(true, 600));
    println!(
        "streaming frame at 200x50, median of 600: {plain:.3} ms without, {file:.3} ms with a 1 MB file in the history (ratio {:.2})",
        file / plain
    );
    let (l0, f0, r0) = reopen(false);
    let (l1, f1, r1) = reopen(true);
    println!(
        "reopen 50 turns, median of 7: load {l0:.2} ms, first frame {f0:.2} ms, {r0} bytes read without images; \
         with 50 images of 200 KB: load {l1:.2} ms, first frame {f1:.2} ms, {r1} bytes read (the blobs hold {} bytes)",
        50 * (200 * 1024 + 33)
    );
}
