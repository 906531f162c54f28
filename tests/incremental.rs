//! The streaming message is rendered incrementally (kept blocks + a re-rendered tail): at every
//! point of a stream, split anywhere, at any width, the lines equal a full render of the text
//! received so far — and so the finished message equals its full render.

use charla::tui::markdown::{Incremental, render};
use charla::tui::theme::Theme;
use ratatui::text::Line;

const TEXTS: &[&str] = &[
    include_str!("../README.md"),
    include_str!("../ARCHITECTURE.md"),
    "Here you go:\n\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\n- fast\n- **safe**\n\n1. one\n2. two\n\n   indented continuation\n\n3. three\n\nAfter the list.\n\n> quoted\n> more\n\nplain\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nend",
    "# Title\n\nPara one\nstill one.\n\n## Sub\n\n```\nno lang\n\nblank inside fence\n```\n\n~~~python\nx = 1\n\ny = 2\n~~~\n\n    indented code\n\n    more\n\nText with [a link](https://x) and `code`.\n\n---\n\n* star list\n\n  continued\n\n+ plus list\n\nDone.\n\n[ref]: https://example.com\n\nUses [ref].",
    "Unclosed fence at the end:\n\n```rust\nlet x = 1;\n\nlet y = 2;\n",
    "a\r\n\r\nb\r\n\r\n```\r\ncode\r\n```\r\n\r\nc\u{1b}[2J d\n\n\te\n\n空 wide 👋\n\n1) paren list\n\n2) second\n\nfin",
];

fn plain(lines: &[Line]) -> Vec<String> {
    lines.iter().map(|l| format!("{l:?}")).collect()
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn incremental_equals_full_render_at_every_point() {
    let theme = Theme::fallback(true);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for (ti, text) in TEXTS.iter().enumerate() {
        // The long documents at two widths in coarse steps; the small, tricky ones everywhere.
        let big = text.len() > 4000;
        let widths: &[usize] = if big {
            &[40, 117]
        } else {
            &[12, 40, 80, 117, 200]
        };
        for &width in widths {
            for round in 0..if big { 1 } else { 3 } {
                let mut inc = Incremental::default();
                let mut at = 0;
                while at < text.len() {
                    let max = match (big, round) {
                        (true, _) => 900,
                        (false, 0) => 7,
                        _ => 160,
                    };
                    let step = 1 + (rng.next() % max) as usize;
                    at = (at + step).min(text.len());
                    while !text.is_char_boundary(at) {
                        at += 1;
                    }
                    let part = &text[..at];
                    let tail = inc.update(part, width, &theme);
                    let mut got = inc.kept().to_vec();
                    got.extend(tail);
                    let want = render(&charla::sanitize::sanitize(part), width, &theme).lines;
                    assert_eq!(
                        plain(&got),
                        plain(&want),
                        "text {ti}, width {width}, after {at} bytes: {:?}",
                        &part[part.len().saturating_sub(60)..]
                    );
                }
            }
        }
    }
}

#[test]
fn most_of_a_long_answer_is_kept_not_rerendered() {
    let theme = Theme::fallback(true);
    let text = include_str!("../README.md");
    let mut inc = Incremental::default();
    let tail = inc.update(text, 100, &theme);
    assert!(
        inc.kept().len() > 10 * tail.len(),
        "kept {} lines, re-rendered {}",
        inc.kept().len(),
        tail.len()
    );
}

/// Entities decode to control characters inside the parser: they are made safe too.
#[test]
fn entities_do_not_smuggle_controls() {
    let theme = Theme::fallback(true);
    let r = render(
        "a &#27;[2J b &#x9b;31m c &#7; `&#27;` [x](http://&#27;)",
        80,
        &theme,
    );
    for line in &r.lines {
        for span in &line.spans {
            assert!(
                !span.content.chars().any(charla::sanitize::is_unsafe),
                "{span:?}"
            );
        }
    }
}
