//! The attachments waiting to go with the next message: a component of its own (state,
//! I/O-free operations, and the chips drawn above the input).

use super::theme::Theme;
use crate::attach;
use crate::parts::Part;
use crate::provider::Kind;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attachments {
    items: Vec<Part>,
    /// Whether the injection scanner flagged each item (scanned once, when added).
    flagged: Vec<bool>,
    /// Each text item's estimated tokens, counted once when added (an image's depend on the
    /// provider and cost nothing to work out): the chips and the estimate are drawn per frame.
    text_tokens: Vec<Option<u64>>,
}

impl Attachments {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn len(&self) -> usize {
        self.items.len()
    }
    pub fn parts(&self) -> &[Part] {
        &self.items
    }
    /// Adds a part unless the same content is already attached (by sha256).
    pub fn add(&mut self, p: Part) -> bool {
        let sha = |p: &Part| match p {
            Part::File(f) => Some(f.sha256.clone()),
            Part::Image(i) => Some(i.sha256.clone()),
            _ => None,
        };
        let s = sha(&p);
        if s.is_some() && self.items.iter().any(|q| sha(q) == s) {
            return false;
        }
        self.flagged
            .push(!crate::guard::scan_parts(std::slice::from_ref(&p)).is_empty());
        self.text_tokens.push(match &p {
            Part::Image(_) => None,
            other => Some(attach::part_tokens(
                other,
                Kind::Openai,
                crate::tokens::Method::Approx,
            )),
        });
        self.items.push(p);
        true
    }
    /// Removes attachment `n` (1-based).
    pub fn remove(&mut self, n: usize) -> Option<Part> {
        (n >= 1 && n <= self.items.len()).then(|| {
            self.flagged.remove(n - 1);
            self.text_tokens.remove(n - 1);
            self.items.remove(n - 1)
        })
    }
    pub fn pop(&mut self) -> Option<Part> {
        self.flagged.pop();
        self.text_tokens.pop();
        self.items.pop()
    }
    pub fn take(&mut self) -> Vec<Part> {
        self.flagged.clear();
        self.text_tokens.clear();
        std::mem::take(&mut self.items)
    }
    pub fn restore(&mut self, parts: Vec<Part>) {
        let rest = std::mem::take(&mut self.items);
        self.flagged.clear();
        self.text_tokens.clear();
        for p in parts.into_iter().chain(rest) {
            self.add(p);
        }
    }
    /// The estimated tokens of everything attached, for a provider of `kind`.
    pub fn tokens(&self, kind: Kind) -> u64 {
        self.items
            .iter()
            .zip(&self.text_tokens)
            .map(|(p, t)| {
                t.unwrap_or_else(|| attach::part_tokens(p, kind, crate::tokens::Method::Approx))
            })
            .sum()
    }

    /// A key for caches: changes when an attachment is added or removed.
    pub fn key(&self) -> (usize, u64) {
        (
            self.items.len(),
            self.items
                .iter()
                .map(|p| match p {
                    Part::File(f) => f.size,
                    Part::Image(i) => i.size,
                    _ => 0,
                })
                .sum(),
        )
    }

    /// The chips, wrapped to `width`: `[1 report.md · 12 KB · ~3.1k tokens]`, and how to
    /// remove them.
    pub fn lines(&self, kind: Kind, width: usize, t: &Theme) -> Vec<Line<'static>> {
        if self.items.is_empty() {
            return vec![];
        }
        let mut lines = Vec::new();
        let mut cur: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        let chips = self.items.iter().enumerate().map(|(i, p)| {
            let label = match self.text_tokens.get(i).copied().flatten() {
                Some(t) => attach::describe_counted(p, kind, t),
                None => attach::describe_short(p, kind),
            };
            let mut label = crate::sanitize::sanitize(&label);
            let room = width.saturating_sub(6).max(8);
            if label.width() > room {
                label = label
                    .chars()
                    .take(room.saturating_sub(1))
                    .collect::<String>()
                    + "…";
            }
            let warn = if self.flagged.get(i).copied().unwrap_or(false) {
                " ⚠ injection?"
            } else {
                ""
            };
            format!(" {} {label}{warn} ", i + 1)
        });
        let hint = " /detach N · Backspace on an empty draft removes the last".to_string();
        for chip in chips {
            let w = chip.width() + 1;
            if used + w > width && !cur.is_empty() {
                lines.push(Line::from(std::mem::take(&mut cur)));
                used = 0;
            }
            cur.push(Span::styled(
                chip,
                t.accent.add_modifier(ratatui::style::Modifier::REVERSED),
            ));
            cur.push(Span::raw(" "));
            used += w;
        }
        if used + hint.width() <= width {
            cur.push(Span::styled(hint, t.dim));
            lines.push(Line::from(cur));
        } else {
            lines.push(Line::from(cur));
            if hint.width() <= width {
                lines.push(Line::styled(hint, t.dim));
            }
        }
        lines
    }
}

/// Splits `/attach` arguments like a shell: quotes group, a backslash escapes the next
/// character (so `a\ b.png` and `'a b.png'` are one path).
pub fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A path as typed for the draft: spaces escaped so it splits back into one argument.
pub fn escape_arg(s: &str) -> String {
    s.replace('\\', "\\\\").replace(' ', "\\ ")
}

/// The longest common prefix of `names`.
pub fn common_prefix(names: &[String]) -> String {
    let Some(first) = names.first() else {
        return String::new();
    };
    let mut n = first.len();
    for s in &names[1..] {
        n = n.min(
            first
                .char_indices()
                .zip(s.chars())
                .take_while(|((_, a), b)| a == b)
                .last()
                .map(|((i, a), _)| i + a.len_utf8())
                .unwrap_or(0),
        );
    }
    first[..n].to_string()
}

/// Paths that complete `word` (a path prefix as typed), directories with a trailing `/`.
/// I/O: the TUI loop calls it for the Tab effect.
pub fn complete_path(word: &str) -> Vec<String> {
    let (dir_typed, prefix) = match word.rfind('/') {
        Some(i) => (&word[..=i], &word[i + 1..]),
        None => ("", word),
    };
    let dir = if dir_typed.is_empty() {
        std::path::PathBuf::from(".")
    } else {
        attach::user_path(dir_typed)
    };
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return vec![];
    };
    let mut out: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(prefix) || (name.starts_with('.') && !prefix.starts_with('.')) {
                return None;
            }
            let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false) || e.path().is_dir();
            Some(format!(
                "{dir_typed}{name}{}",
                if is_dir { "/" } else { "" }
            ))
        })
        .collect();
    out.sort();
    out.truncate(200);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_like_a_shell() {
        assert_eq!(
            split_args(r#"a.md 'my shot.png' b\ c.txt "d e""#),
            vec!["a.md", "my shot.png", "b c.txt", "d e"]
        );
        assert_eq!(split_args("  "), Vec::<String>::new());
        assert_eq!(split_args(&escape_arg("x y.png")), vec!["x y.png"]);
    }

    #[test]
    fn common_prefixes() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(common_prefix(&v(&["src/lib.rs", "src/log.rs"])), "src/l");
        assert_eq!(common_prefix(&v(&["é1", "é2"])), "é");
        assert_eq!(common_prefix(&v(&[])), "");
    }
}
