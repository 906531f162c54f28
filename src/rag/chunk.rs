//! Files split into passages by their structure: Markdown at its headings, code and prose at
//! blank lines (blocks, definitions, paragraphs), packed up to a size with a few lines of
//! overlap where a section had to be cut. Each passage knows its line range.

/// One passage of a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// First and last line (1-based, inclusive).
    pub start: usize,
    pub end: usize,
    /// The heading it sits under (Markdown), repeated for BM25 when the section was cut.
    pub heading: Option<String>,
    pub text: String,
}

/// Whether `path` is Markdown (split at headings).
fn markdown(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    [".md", ".markdown", ".mdx", ".rst", ".adoc"]
        .iter()
        .any(|e| p.ends_with(e))
}

/// Splits `text` into passages of at most about `max_chars` characters, repeating
/// `overlap` lines where a block had to be cut by size.
pub fn split(path: &str, text: &str, max_chars: usize, overlap: usize) -> Vec<Piece> {
    let md = markdown(path);
    let lines: Vec<&str> = text.lines().collect();
    // Blocks: runs of non-blank lines; in Markdown a heading starts a block of its own (and
    // a code fence's blank lines do not end one).
    let mut blocks: Vec<(usize, usize)> = Vec::new(); // (first, last) 0-based
    let mut start: Option<usize> = None;
    let mut fenced = false;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        if md && (t.starts_with("```") || t.starts_with("~~~")) {
            fenced = !fenced;
        }
        let heading = md && !fenced && t.starts_with('#');
        if heading && let Some(s) = start.take() {
            blocks.push((s, i - 1));
        }
        if l.trim().is_empty() && !fenced {
            if let Some(s) = start.take() {
                blocks.push((s, i - 1));
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        blocks.push((s, lines.len() - 1));
    }
    let mut out: Vec<Piece> = Vec::new();
    let mut heading: Option<String> = None;
    let mut cur: Option<(usize, usize)> = None;
    let mut size = 0usize;
    let flush = |out: &mut Vec<Piece>, range: (usize, usize), heading: &Option<String>| {
        let body = lines[range.0..=range.1].join("\n");
        let text = match heading {
            Some(h) if !lines[range.0].trim_start().starts_with('#') => format!("{h}\n{body}"),
            _ => body,
        };
        out.push(Piece {
            start: range.0 + 1,
            end: range.1 + 1,
            heading: heading.clone(),
            text,
        });
    };
    for (first, last) in blocks {
        let first_line = lines[first].trim_start();
        let is_heading = md && first_line.starts_with('#');
        let len: usize = lines[first..=last].iter().map(|l| l.len() + 1).sum();
        // A heading closes the passage before it; so does a block that would overflow it.
        if let Some(c) = cur
            && (is_heading || size + len > max_chars)
        {
            flush(&mut out, c, &heading);
            cur = None;
            size = 0;
            if !is_heading && overlap > 0 && c.1 + 1 >= overlap {
                // Carry the last lines of the cut passage over.
                let from = (c.1 + 1 - overlap).max(c.0);
                cur = Some((from, from + overlap.min(c.1 + 1 - from) - 1));
                size = lines[from..=c.1].iter().map(|l| l.len() + 1).sum();
            }
        }
        if is_heading {
            heading = Some(first_line.trim_end().to_string());
        }
        if len > max_chars {
            // One block bigger than a passage: cut it by lines.
            let mut s = first;
            let mut acc = 0;
            for i in first..=last {
                acc += lines[i].len() + 1;
                if acc > max_chars && i > s {
                    flush(&mut out, (s, i - 1), &heading);
                    s = i.saturating_sub(overlap).max(s + 1);
                    acc = lines[s..=i].iter().map(|l| l.len() + 1).sum();
                }
            }
            cur = Some((s, last));
            size = acc;
            continue;
        }
        cur = Some(match cur {
            Some((s, _)) => (s, last),
            None => (first, last),
        });
        size += len;
    }
    if let Some(c) = cur {
        flush(&mut out, c, &heading);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_splits_at_headings_and_keeps_line_ranges() {
        let md = "# Travel\n\nIntro.\n\n## Baggage\n\nInfants get one bag.\n\nStrollers fly free.\n\n## Meals\n\nVegetarian on request.\n";
        let p = split("handbook/travel.md", md, 1000, 1);
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!((p[1].start, p[1].end), (5, 9));
        assert!(p[1].text.starts_with("## Baggage"));
        assert!(p[1].text.contains("Strollers"));
        assert_eq!(p[2].heading.as_deref(), Some("## Meals"));
    }

    #[test]
    fn a_long_section_is_cut_with_overlap_and_its_heading_repeated() {
        let mut md = String::from("## Policy\n\n");
        for i in 0..40 {
            md.push_str(&format!(
                "Paragraph {i} says something about the policy.\n\n"
            ));
        }
        let p = split("a.md", &md, 300, 1);
        assert!(p.len() > 3, "{}", p.len());
        for w in p.windows(2) {
            assert!(
                w[1].start <= w[0].end + 2,
                "contiguous or overlapping: {w:?}"
            );
        }
        assert!(p[2].text.starts_with("## Policy\n"), "{}", p[2].text);
        assert!(p.iter().all(|x| x.text.len() <= 300 + 60), "sizes");
    }

    #[test]
    fn code_splits_at_blank_lines_and_a_huge_block_by_lines() {
        let code = "fn a() {\n    1\n}\n\nfn b() {\n    2\n}\n";
        let p = split("x.rs", code, 20, 0);
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!((p[1].start, p[1].end), (5, 7));
        let big = "x = 1\n".repeat(100);
        let p = split("big.py", &big, 60, 0);
        assert!(p.len() >= 10);
        assert_eq!(p.last().map(|x| x.end), Some(100));
        assert!(split("e.txt", "", 100, 1).is_empty());
    }
}
