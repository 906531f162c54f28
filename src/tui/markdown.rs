//! Markdown → wrapped, styled lines for one width. Pure: the caller caches the result per
//! message and width. Code blocks are highlighted with syntect (two-face's syntax set, which adds
//! TypeScript, TOML, Dockerfile…) once the highlighter has been loaded off the UI task; before
//! that they render in the plain code style. An unclosed fence (mid-stream) renders as code.

use super::theme::Theme;
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use std::sync::OnceLock;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

struct Highlighter {
    syntaxes: syntect::parsing::SyntaxSet,
    themes: syntect::highlighting::ThemeSet,
}

static HIGHLIGHTER: OnceLock<Highlighter> = OnceLock::new();

/// Loads the syntax and theme sets (call from a blocking task at start-up).
pub fn warm() {
    HIGHLIGHTER.get_or_init(|| Highlighter {
        syntaxes: two_face::syntax::extra_newlines(),
        themes: syntect::highlighting::ThemeSet::load_defaults(),
    });
}

pub fn highlighter_ready() -> bool {
    HIGHLIGHTER.get().is_some()
}

/// The rendered form of a message body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rendered {
    pub lines: Vec<Line<'static>>,
    /// The code blocks' raw text, in order (for `/copy N`).
    pub code_blocks: Vec<String>,
}

/// Splits styled text into lines of at most `width` columns, breaking at spaces where it can and
/// inside words only when a word is wider than the line. Wide characters are never split.
pub fn wrap(
    spans: &[Span<'static>],
    width: usize,
    first_prefix: &[Span<'static>],
    rest_prefix: &[Span<'static>],
) -> Vec<Line<'static>> {
    let width = width.max(4);
    let pw = |p: &[Span]| p.iter().map(|s| s.content.width()).sum::<usize>();
    let mut lines = Vec::new();
    let mut cur: Vec<Span<'static>> = first_prefix.to_vec();
    let mut cur_w = pw(first_prefix);
    let mut avail_start = cur_w;
    let rest_w = pw(rest_prefix);
    // Tokens: (text, style), words and runs of spaces kept apart.
    let mut tokens: Vec<(String, Style)> = Vec::new();
    for s in spans {
        let mut word = String::new();
        let mut in_space = None;
        // A tab is four spaces: a raw tab has no width in a cell grid.
        for c in s.content.chars().flat_map(|c| {
            let n = if c == '\t' { 4 } else { 1 };
            std::iter::repeat_n(if c == '\t' { ' ' } else { c }, n)
        }) {
            let sp = c == ' ';
            if in_space.is_some_and(|w| w != sp) {
                tokens.push((std::mem::take(&mut word), s.style));
            }
            in_space = Some(sp);
            word.push(c);
        }
        if !word.is_empty() {
            tokens.push((word, s.style));
        }
    }
    let push_line = |cur: &mut Vec<Span<'static>>, lines: &mut Vec<Line<'static>>| {
        // Trailing spaces are not worth a column.
        while cur
            .last()
            .is_some_and(|s| s.content.trim().is_empty() && !s.content.is_empty())
            && cur.len() > rest_prefix.len().max(1)
        {
            cur.pop();
        }
        lines.push(Line::from(std::mem::take(cur)));
    };
    for (text, style) in tokens {
        let w = text.width();
        let is_space = text.starts_with(' ');
        if cur_w + w <= width {
            if !(is_space && cur_w == avail_start && !lines.is_empty()) {
                cur.push(Span::styled(text, style));
                cur_w += w;
            }
            continue;
        }
        if is_space {
            push_line(&mut cur, &mut lines);
            cur = rest_prefix.to_vec();
            cur_w = rest_w;
            avail_start = rest_w;
            continue;
        }
        if cur_w > avail_start && w <= width.saturating_sub(rest_w) {
            push_line(&mut cur, &mut lines);
            cur = rest_prefix.to_vec();
            cur_w = rest_w;
            avail_start = rest_w;
            cur.push(Span::styled(text, style));
            cur_w += w;
            continue;
        }
        // A word wider than a line: break it by characters.
        let mut piece = String::new();
        for c in text.chars() {
            let cw = c.width().unwrap_or(0);
            if cur_w + cw > width {
                if !piece.is_empty() {
                    cur.push(Span::styled(std::mem::take(&mut piece), style));
                }
                push_line(&mut cur, &mut lines);
                cur = rest_prefix.to_vec();
                cur_w = rest_w;
                avail_start = rest_w;
            }
            piece.push(c);
            cur_w += cw;
        }
        if !piece.is_empty() {
            cur.push(Span::styled(piece, style));
        }
    }
    // Keep a last line with anything but spaces in it (zero-width marks included).
    let has_content = cur
        .iter()
        .skip(rest_prefix.len().min(cur.len()))
        .any(|s| !s.content.trim().is_empty());
    if cur_w > avail_start || has_content || lines.is_empty() {
        push_line(&mut cur, &mut lines);
    }
    lines
}

fn syn_style(s: syntect::highlighting::Style, base: Style) -> Style {
    let c = s.foreground;
    let mut st = base.fg(Color::Rgb(c.r, c.g, c.b));
    if s.font_style
        .contains(syntect::highlighting::FontStyle::BOLD)
    {
        st = st.add_modifier(Modifier::BOLD);
    }
    if s.font_style
        .contains(syntect::highlighting::FontStyle::ITALIC)
    {
        st = st.add_modifier(Modifier::ITALIC);
    }
    st
}

/// A code block highlighted so far: its complete lines' spans and syntect's state after the
/// last of them, so that a block that grows (streaming) is highlighted one new line at a time,
/// never again from its start.
struct CodeMemo {
    lang: String,
    theme: String,
    /// The complete lines covered (with their newlines).
    text: String,
    lines: Vec<Vec<Span<'static>>>,
    parse: syntect::parsing::ParseState,
    highlight: syntect::highlighting::HighlightState,
}

thread_local! {
    /// The most recently highlighted blocks (a few: the ones on screen and the one streaming).
    static CODE_MEMO: std::cell::RefCell<Vec<CodeMemo>> = const { std::cell::RefCell::new(Vec::new()) };
}
const CODE_MEMO_ENTRIES: usize = 16;

/// One highlighted line (without its newline), tabs as four spaces.
fn highlight_one(
    line: &str,
    parse: &mut syntect::parsing::ParseState,
    highlight: &mut syntect::highlighting::HighlightState,
    highlighter: &syntect::highlighting::Highlighter,
    syntaxes: &syntect::parsing::SyntaxSet,
) -> Option<Vec<Span<'static>>> {
    let ops = parse.parse_line(line, syntaxes).ok()?;
    let regions: Vec<(syntect::highlighting::Style, &str)> =
        syntect::highlighting::HighlightIterator::new(highlight, &ops, line, highlighter).collect();
    Some(
        regions
            .into_iter()
            .map(|(s, t)| {
                Span::styled(
                    t.trim_end_matches('\n').replace('\t', "    "),
                    syn_style(s, Style::default()),
                )
            })
            .filter(|s| !s.content.is_empty())
            .collect(),
    )
}

/// Highlights `code` in `lang` (plain code style when unknown or not loaded yet; so is a last
/// line without its newline, until it has one). A block seen before (the same language and a
/// prefix of its complete lines) continues from where its highlighting stopped: the result is
/// the same, the work is only the new lines.
fn code_lines(code: &str, lang: &str, theme: &Theme) -> Vec<Vec<Span<'static>>> {
    let plain_line = |l: &str| vec![Span::styled(l.replace('\t', "    "), theme.code)];
    let plain = || code.lines().map(plain_line).collect();
    let Some(h) = HIGHLIGHTER.get().filter(|_| !theme.no_color) else {
        return plain();
    };
    let Some(st) = h.themes.themes.get(&theme.syntect) else {
        return plain();
    };
    let highlighter = syntect::highlighting::Highlighter::new(st);
    CODE_MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        // The longest memo that this block continues.
        let found = memo
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                m.lang == lang && m.theme == theme.syntect && code.starts_with(&m.text)
            })
            .max_by_key(|(_, m)| m.text.len())
            .map(|(i, _)| i);
        let mut m = match found {
            Some(i) => memo.remove(i),
            None => {
                // The syntax is looked up (a scan of every syntax) only for a new block.
                let syntax = h
                    .syntaxes
                    .find_syntax_by_token(lang)
                    .or_else(|| h.syntaxes.find_syntax_by_extension(lang))
                    .or_else(|| h.syntaxes.find_syntax_by_name(lang));
                let Some(syntax) = syntax else {
                    return plain();
                };
                CodeMemo {
                    lang: lang.to_string(),
                    theme: theme.syntect.clone(),
                    text: String::new(),
                    lines: Vec::new(),
                    parse: syntect::parsing::ParseState::new(syntax),
                    highlight: syntect::highlighting::HighlightState::new(
                        &highlighter,
                        syntect::parsing::ScopeStack::new(),
                    ),
                }
            }
        };
        let rest = &code[m.text.len()..];
        let mut out_tail: Vec<Vec<Span<'static>>> = Vec::new();
        let mut failed = false;
        for line in syntect::util::LinesWithEndings::from(rest) {
            if line.ends_with('\n') {
                // A complete line: highlighted once, remembered with the state after it.
                match highlight_one(
                    line,
                    &mut m.parse,
                    &mut m.highlight,
                    &highlighter,
                    &h.syntaxes,
                ) {
                    Some(spans) => {
                        m.lines.push(spans);
                        m.text.push_str(line);
                    }
                    None => {
                        failed = true;
                        break;
                    }
                }
            } else {
                // The last, unfinished line (a block being streamed, or cut off at the end of
                // the text) in the plain code style: it is highlighted once it is complete.
                // Highlighting it as it grows cost a syntect pass over the line for every
                // frame, a quarter of the CPU of a streaming answer with code.
                out_tail.push(plain_line(line));
            }
        }
        if failed {
            return plain();
        }
        let mut out = m.lines.clone();
        out.extend(out_tail);
        memo.push(m);
        if memo.len() > CODE_MEMO_ENTRIES {
            memo.remove(0);
        }
        out
    })
}

/// The raw text of `text`'s fenced and indented code blocks, in order (an unclosed fence at
/// the end counts): the blocks numbered `[N]` on screen, for `/copy N`. Parses only; no
/// rendering or highlighting.
pub fn code_blocks(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for ev in Parser::new_ext(text, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match (ev, cur.as_mut()) {
            (Event::Start(Tag::CodeBlock(_)), _) => cur = Some(String::new()),
            (Event::Text(t), Some(buf)) => buf.push_str(&t),
            (Event::End(TagEnd::CodeBlock), Some(_)) => out.extend(cur.take()),
            _ => {}
        }
    }
    out.extend(cur);
    out
}

struct ListState {
    next: Option<u64>,
}

/// An event with every piece of text in it made terminal-safe.
fn clean_event(ev: Event<'_>) -> Event<'_> {
    use pulldown_cmark::CowStr;
    fn clean(t: CowStr<'_>) -> CowStr<'_> {
        if crate::sanitize::is_clean(&t) {
            t
        } else {
            CowStr::from(crate::sanitize::sanitize(&t))
        }
    }
    match ev {
        Event::Text(t) => Event::Text(clean(t)),
        Event::Code(t) => Event::Code(clean(t)),
        Event::Html(t) => Event::Html(clean(t)),
        Event::InlineHtml(t) => Event::InlineHtml(clean(t)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: clean(dest_url),
            title: clean(title),
            id,
        }),
        Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(clean(info))))
        }
        ev => ev,
    }
}

/// The rendering of a Markdown text that grows at its end (an answer being streamed), at one
/// width: the blocks before the last safe boundary are rendered once and kept; only the tail
/// after it is rendered again as it grows. A safe boundary is a blank line outside any fence
/// followed by a complete line that starts a new top-level block (not indented, not a list
/// item, quote or definition), so that rendering the text in chunks gives exactly the lines of
/// rendering it whole (a property test checks this over random splits and widths).
#[derive(Debug, Default)]
pub struct Incremental {
    key: Option<(usize, String, bool)>,
    /// Bytes of the text rendered into `lines`.
    committed: usize,
    lines: Vec<Line<'static>>,
    code_blocks: Vec<String>,
    /// Bytes scanned for boundaries (always at a line start), the fence open there, and the
    /// last scanned line was blank.
    scanned: usize,
    fence: Option<(u8, usize)>,
    prev_blank: bool,
    /// A reference-style link definition or an HTML block was seen: the text is rendered whole
    /// from then on.
    whole: bool,
    /// How many of `lines` are shown (trailing blank lines are not, at the end of the text).
    visible: usize,
}

/// A line that may hold a link reference definition (`[label]: url`, also inside quotes or
/// list items): conservatively, any `]:`.
fn is_reference_definition(line: &str) -> bool {
    line.contains("]:")
}

/// A line that may start an HTML block (also inside quotes and list items).
fn may_start_html(line: &str) -> bool {
    line.trim_start_matches([' ', '\t', '>', '-', '*', '+'])
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ')' || c == ' ')
        .starts_with('<')
}

/// A fence line (``` or ~~~, three or more, at most three spaces in): its char and length.
fn fence_of(line: &str) -> Option<(u8, usize)> {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return None;
    }
    let c = *t.as_bytes().first()?;
    if c != b'`' && c != b'~' {
        return None;
    }
    let n = t.bytes().take_while(|b| *b == c).count();
    // A backtick fence's info string cannot contain a backtick (then it is inline code).
    if n < 3 || (c == b'`' && t[n..].contains('`')) {
        return None;
    }
    Some((c, n))
}

/// A line that surely starts a new top-level block after a blank line.
fn starts_fresh_block(line: &str) -> bool {
    let Some(c) = line.chars().next() else {
        return false;
    };
    if c.is_whitespace() || matches!(c, '>' | ':' | '=' | '|' | '<' | '[') {
        return false;
    }
    let b = line.as_bytes();
    if matches!(c, '-' | '*' | '+')
        && b.get(1)
            .is_none_or(|x| *x == b' ' || *x == b'\t' || *x == b'\r' || *x == b'\n')
    {
        return false; // a list item (or a rule, which is harmless to keep in the tail)
    }
    if c.is_ascii_digit() {
        let digits = b.iter().take_while(|x| x.is_ascii_digit()).count();
        if matches!(b.get(digits), Some(b'.') | Some(b')')) {
            return false; // an ordered list item
        }
    }
    true
}

impl Incremental {
    /// Brings the rendering up to `text` (raw: it is sanitised here, chunk by chunk) and
    /// returns the lines after the kept ones. `text` must only have grown since the last call
    /// (the caller resets with [`Incremental::default`] for another text).
    pub fn update(&mut self, text: &str, width: usize, theme: &Theme) -> Vec<Line<'static>> {
        let key = (width, theme.name.clone(), highlighter_ready());
        if self.key.as_ref() != Some(&key)
            || text.len() < self.committed
            || !text.is_char_boundary(self.committed)
        {
            *self = Incremental {
                key: Some(key),
                ..Incremental::default()
            };
        }
        // Scan the complete lines not scanned yet for the last safe boundary.
        let mut boundary = None;
        while !self.whole {
            let rest = &text[self.scanned..];
            let Some(nl) = rest.find('\n') else {
                // The unfinished last line counts too: the parser sees it already.
                let partial = crate::sanitize::sanitize(rest);
                if self.fence.is_none()
                    && (is_reference_definition(&partial) || may_start_html(&partial))
                {
                    self.whole = true;
                }
                break;
            };
            // Classified as the renderer will see it (controls become visible symbols).
            let raw_len = nl + 1;
            let sanitized = crate::sanitize::sanitize(&rest[..raw_len]);
            let line = sanitized.as_str();
            let start = self.scanned;
            // A link reference definition can change earlier text, and an HTML block of the
            // kinds that run past blank lines (`<!--`, `<?`, `<pre>`…) ends where it says:
            // neither allows a boundary, so such a text is rendered whole.
            if self.fence.is_none() && (is_reference_definition(line) || may_start_html(line)) {
                self.whole = true;
                break;
            }
            if self.fence.is_none()
                && self.prev_blank
                && start > self.committed
                && starts_fresh_block(line)
            {
                boundary = Some(start);
            }
            match (self.fence, fence_of(line)) {
                // An indented fence may belong to a list item, whose extent only the parser
                // knows: such a text is rendered whole (found by fuzzing).
                (None, Some(_)) if line.starts_with(' ') => {
                    self.whole = true;
                    break;
                }
                (None, Some(f)) => self.fence = Some(f),
                (Some((c, n)), Some((c2, n2)))
                    if c == c2 && n2 >= n && line.trim().bytes().all(|b| b == c) =>
                {
                    self.fence = None
                }
                _ => {}
            }
            // Blank as CommonMark means it: spaces and tabs only (not other Unicode spaces).
            self.prev_blank = self.fence.is_none()
                && line
                    .trim_end_matches(['\n', '\r'])
                    .bytes()
                    .all(|b| b == b' ' || b == b'\t');
            self.scanned += raw_len;
        }
        if self.whole {
            self.lines.clear();
            self.code_blocks.clear();
            self.committed = 0;
            self.visible = 0;
            return render(&crate::sanitize::sanitize(text), width, theme).lines;
        }
        let ends_nonblank = |lines: &[Line<'static>]| lines.last().is_some_and(|l| l.width() > 0);
        if let Some(b) = boundary {
            let chunk = crate::sanitize::sanitize(&text[self.committed..b]);
            let r = render_from(
                &chunk,
                width,
                theme,
                self.code_blocks.len(),
                ends_nonblank(&self.lines),
            );
            self.lines.extend(r.lines);
            self.code_blocks.extend(r.code_blocks);
            self.committed = b;
        }
        let tail = crate::sanitize::sanitize(&text[self.committed..]);
        let mut r = render_from(
            &tail,
            width,
            theme,
            self.code_blocks.len(),
            ends_nonblank(&self.lines),
        )
        .lines;
        // What `render` shows: trailing blank lines trimmed (of the kept lines too, when the
        // tail has nothing else).
        while r.last().is_some_and(|l| l.width() == 0) {
            r.pop();
        }
        self.visible = self.lines.len();
        if r.is_empty() {
            while self.visible > 0 && self.lines[self.visible - 1].width() == 0 {
                self.visible -= 1;
            }
        }
        r
    }

    /// The lines kept (rendered once), as shown after the last [`Incremental::update`].
    pub fn kept(&self) -> &[Line<'static>] {
        &self.lines[..self.visible]
    }
}

/// Renders `text` (already sanitised) as Markdown at `width` columns. No line is wider than
/// `width` (decorations such as a code block's header or deep quote bars are clipped at very
/// narrow widths), except that one wide character always fits a line of width 1.
pub fn render(text: &str, width: usize, theme: &Theme) -> Rendered {
    let mut r = render_from(text, width, theme, 0, false);
    while r.lines.last().is_some_and(|l| l.width() == 0) {
        r.lines.pop();
    }
    r
}

/// [`render`] of a chunk of a longer text, with trailing blank lines kept: code blocks are
/// numbered from `first_code + 1`, and `after_nonblank` says the chunk follows a non-blank
/// line (as the first block's separating blank line depends on it).
fn render_from(
    text: &str,
    width: usize,
    theme: &Theme,
    first_code: usize,
    after_nonblank: bool,
) -> Rendered {
    let mut r = render_unclipped(text, width, theme, first_code, after_nonblank);
    for line in &mut r.lines {
        if line.width() > width {
            clip(line, width.max(2));
        }
    }
    r
}

/// Cuts `line` to at most `width` columns, keeping each span's style.
fn clip(line: &mut Line<'static>, width: usize) {
    let mut used = 0;
    let mut spans = Vec::with_capacity(line.spans.len());
    for span in line.spans.drain(..) {
        if used >= width {
            break;
        }
        let w = span.content.width();
        if used + w <= width {
            used += w;
            spans.push(span);
            continue;
        }
        let mut cut = String::new();
        let mut buf = [0u8; 4];
        for c in span.content.chars() {
            // Measured as Line::width measures (a string's width, char by char).
            let cw = c.encode_utf8(&mut buf).width();
            if used + cw > width {
                break;
            }
            used += cw;
            cut.push(c);
        }
        spans.push(Span::styled(cut, span.style));
        break;
    }
    line.spans = spans;
}

fn render_unclipped(
    text: &str,
    width: usize,
    theme: &Theme,
    first_code: usize,
    after_nonblank: bool,
) -> Rendered {
    let mut out = Rendered::default();
    let mut opts = Options::empty();
    opts.insert(Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH);
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut styles: Vec<Style> = vec![theme.text];
    let mut lists: Vec<ListState> = Vec::new();
    let mut quote = 0usize;
    let mut item_first = false;
    let mut code: Option<(String, String)> = None;
    let mut link: Option<String> = None;
    let mut heading: Option<HeadingLevel> = None;
    let mut table: Option<(Vec<Vec<String>>, Vec<String>, String)> = None;

    let prefix = |lists: &[ListState],
                  quote: usize,
                  first: bool,
                  bullet: Option<String>|
     -> (Vec<Span<'static>>, Vec<Span<'static>>) {
        let q = "│ ".repeat(quote);
        let indent = "  ".repeat(lists.len().saturating_sub(1));
        let b = bullet.unwrap_or_default();
        let pad = " ".repeat(b.width());
        let f = vec![
            Span::styled(q.clone(), theme.quote),
            Span::raw(indent.clone()),
            Span::styled(if first { b } else { pad.clone() }, theme.accent),
        ];
        let r = vec![
            Span::styled(q, theme.quote),
            Span::raw(indent),
            Span::raw(pad),
        ];
        (f, r)
    };
    let blank = |out: &mut Rendered| {
        if out.lines.last().map_or(after_nonblank, |l| l.width() > 0) {
            out.lines.push(Line::default());
        }
    };

    let flush = |spans: &mut Vec<Span<'static>>,
                 out: &mut Rendered,
                 lists: &mut Vec<ListState>,
                 quote: usize,
                 item_first: &mut bool| {
        if spans.is_empty() {
            return;
        }
        let bullet = if *item_first {
            lists.last_mut().map(|l| match l.next.as_mut() {
                Some(n) => {
                    let b = format!("{n}. ");
                    *n += 1;
                    b
                }
                None => "• ".to_string(),
            })
        } else {
            None
        };
        let (f, r) = prefix(lists, quote, *item_first || bullet.is_none(), bullet);
        out.lines.extend(wrap(spans, width, &f, &r));
        spans.clear();
        *item_first = false;
    };

    // The text is sanitised before parsing, but entities and escapes (`&#27;`, `&#x9b;`)
    // decode to control characters in the parser: its events are sanitised again (found by
    // fuzzing).
    for ev in Parser::new_ext(text, opts).map(clean_event) {
        let style = *styles.last().unwrap_or(&theme.text);
        if let Some((_, buf)) = code.as_mut() {
            match ev {
                Event::Text(t) => {
                    buf.push_str(&t);
                    continue;
                }
                Event::End(TagEnd::CodeBlock) => {}
                _ => continue,
            }
        }
        if let Some((rows, row, cell)) = table.as_mut() {
            match &ev {
                Event::Text(t) | Event::Code(t) => {
                    cell.push_str(t);
                    continue;
                }
                Event::End(TagEnd::TableCell) => {
                    row.push(std::mem::take(cell));
                    continue;
                }
                Event::End(TagEnd::TableRow) | Event::End(TagEnd::TableHead) => {
                    rows.push(std::mem::take(row));
                    continue;
                }
                Event::End(TagEnd::Table) => {}
                _ => continue,
            }
        }
        match ev {
            Event::Start(tag) => match tag {
                Tag::Paragraph => {}
                Tag::Heading { level, .. } => {
                    blank(&mut out);
                    heading = Some(level);
                    styles.push(theme.heading);
                    spans.push(Span::styled(
                        format!("{} ", "#".repeat(level as usize)),
                        theme.heading,
                    ));
                }
                Tag::BlockQuote(_) => {
                    flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
                    quote += 1;
                    styles.push(theme.quote);
                }
                Tag::CodeBlock(kind) => {
                    flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
                    let lang = match kind {
                        CodeBlockKind::Fenced(l) => {
                            l.split([',', ' ', '\t']).next().unwrap_or("").to_string()
                        }
                        CodeBlockKind::Indented => String::new(),
                    };
                    code = Some((lang, String::new()));
                }
                Tag::List(start) => {
                    flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
                    if lists.is_empty() {
                        blank(&mut out);
                    }
                    lists.push(ListState { next: start });
                }
                Tag::Item => {
                    flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
                    item_first = true;
                }
                Tag::Emphasis => styles.push(style.add_modifier(Modifier::ITALIC)),
                Tag::Strong => styles.push(style.add_modifier(Modifier::BOLD)),
                Tag::Strikethrough => styles.push(style.add_modifier(Modifier::CROSSED_OUT)),
                Tag::Link { dest_url, .. } => {
                    link = Some(dest_url.to_string());
                    styles.push(theme.link);
                }
                Tag::Table(_) => {
                    flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
                    blank(&mut out);
                    table = Some((Vec::new(), Vec::new(), String::new()));
                }
                _ => {}
            },
            Event::End(end) => match end {
                TagEnd::Paragraph => {
                    flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
                    if lists.is_empty() {
                        out.lines.push(Line::default());
                    }
                }
                TagEnd::Heading(_) => {
                    styles.pop();
                    if heading == Some(HeadingLevel::H1) {
                        for s in spans.iter_mut() {
                            s.style = s.style.add_modifier(Modifier::UNDERLINED);
                        }
                    }
                    heading = None;
                    flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
                    out.lines.push(Line::default());
                }
                TagEnd::BlockQuote(_) => {
                    flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
                    quote = quote.saturating_sub(1);
                    styles.pop();
                }
                TagEnd::CodeBlock => {
                    let Some((lang, buf)) = code.take() else {
                        continue;
                    };
                    out.code_blocks.push(buf.clone());
                    let n = first_code + out.code_blocks.len();
                    let label = if lang.is_empty() {
                        format!("╭─ [{n}]")
                    } else {
                        format!("╭─ {lang} [{n}]")
                    };
                    out.lines.push(Line::from(vec![
                        Span::raw("│ ".repeat(quote)),
                        Span::styled(label, theme.dim),
                    ]));
                    for l in code_lines(&buf, &lang, theme) {
                        let first =
                            vec![Span::raw("│ ".repeat(quote)), Span::styled("│ ", theme.dim)];
                        out.lines.extend(wrap(&l, width, &first, &first));
                    }
                    out.lines.push(Line::from(vec![
                        Span::raw("│ ".repeat(quote)),
                        Span::styled("╰─", theme.dim),
                    ]));
                    out.lines.push(Line::default());
                }
                TagEnd::List(_) => {
                    flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
                    lists.pop();
                    if lists.is_empty() {
                        out.lines.push(Line::default());
                    }
                }
                TagEnd::Item => flush(&mut spans, &mut out, &mut lists, quote, &mut item_first),
                TagEnd::Emphasis | TagEnd::Strong | TagEnd::Strikethrough => {
                    styles.pop();
                }
                TagEnd::Link => {
                    styles.pop();
                    if let Some(url) = link.take() {
                        spans.push(Span::styled(format!(" <{url}>"), theme.dim));
                    }
                }
                TagEnd::Table => {
                    if let Some((rows, _, _)) = table.take() {
                        let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
                        let mut widths = vec![0usize; cols];
                        for r in &rows {
                            for (i, c) in r.iter().enumerate() {
                                widths[i] = widths[i].max(c.width());
                            }
                        }
                        for (ri, r) in rows.iter().enumerate() {
                            let mut line = Vec::new();
                            for (i, w) in widths.iter().enumerate() {
                                let c = r.get(i).map(String::as_str).unwrap_or("");
                                let st = if ri == 0 { theme.heading } else { theme.text };
                                line.push(Span::styled(
                                    format!("{c}{}", " ".repeat(w.saturating_sub(c.width()))),
                                    st,
                                ));
                                if i + 1 < cols {
                                    line.push(Span::styled(" │ ", theme.dim));
                                }
                            }
                            out.lines.extend(wrap(&line, width, &[], &[]));
                            if ri == 0 {
                                let rule: String = widths
                                    .iter()
                                    .map(|w| "─".repeat(*w))
                                    .collect::<Vec<_>>()
                                    .join("─┼─");
                                out.lines.push(Line::styled(rule, theme.dim));
                            }
                        }
                        out.lines.push(Line::default());
                    }
                }
                _ => {}
            },
            Event::Text(t) => spans.push(Span::styled(t.to_string(), style)),
            Event::Code(t) => spans.push(Span::styled(t.to_string(), theme.code)),
            Event::SoftBreak => spans.push(Span::styled(" ", style)),
            Event::HardBreak => flush(&mut spans, &mut out, &mut lists, quote, &mut item_first),
            Event::Rule => {
                flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
                out.lines
                    .push(Line::styled("─".repeat(width.min(40)), theme.dim));
                out.lines.push(Line::default());
            }
            Event::Html(t) | Event::InlineHtml(t) => {
                spans.push(Span::styled(t.to_string(), theme.dim))
            }
            Event::TaskListMarker(done) => spans.push(Span::styled(
                if done { "[x] " } else { "[ ] " },
                theme.accent,
            )),
            _ => {}
        }
    }
    // An unclosed code block at the end (still streaming) is still shown.
    if let Some((lang, buf)) = code.take() {
        out.code_blocks.push(buf.clone());
        out.lines.push(Line::styled(
            format!("╭─ {lang} [{}]", first_code + out.code_blocks.len()),
            theme.dim,
        ));
        for l in code_lines(&buf, &lang, theme) {
            let p = vec![Span::styled("│ ", theme.dim)];
            out.lines.extend(wrap(&l, width, &p, &p));
        }
    }
    flush(&mut spans, &mut out, &mut lists, quote, &mut item_first);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(r: &Rendered) -> Vec<String> {
        r.lines
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .collect()
    }

    #[test]
    fn wraps_at_words_and_never_splits_wide_chars() {
        let t = Theme::fallback(true);
        let r = render("hello wonderful world", 11, &t);
        assert_eq!(plain(&r), vec!["hello", "wonderful", "world"]);
        let r = render("日本語のテキストです", 7, &t);
        for l in &r.lines {
            assert!(l.width() <= 7, "{l:?}");
        }
        assert_eq!(plain(&r).concat(), "日本語のテキストです");
        let r = render("👋👋👋👋", 5, &t);
        assert_eq!(plain(&r), vec!["👋👋", "👋👋"]);
    }

    #[test]
    fn lists_quotes_code_and_tables() {
        let t = Theme::fallback(true);
        let md = "# Title\n\n- one\n- two\n\n1. first\n2. second\n\n> quoted\n\n```rust\nfn main() {}\n```\n\n| a | bb |\n|---|---|\n| 1 | 2 |\n\nsee [docs](https://x.y)";
        let r = render(md, 40, &t);
        let p = plain(&r);
        assert_eq!(p[0], "# Title");
        assert!(p.contains(&"• one".to_string()), "{p:?}");
        assert!(p.contains(&"2. second".to_string()), "{p:?}");
        assert!(p.contains(&"│ quoted".to_string()), "{p:?}");
        assert!(p.contains(&"╭─ rust [1]".to_string()), "{p:?}");
        assert!(p.contains(&"│ fn main() {}".to_string()), "{p:?}");
        assert!(p.contains(&"a │ bb".to_string()), "{p:?}");
        assert!(p.iter().any(|l| l == "see docs <https://x.y>"), "{p:?}");
        assert_eq!(r.code_blocks, vec!["fn main() {}\n".to_string()]);
        assert_eq!(
            code_blocks(md),
            r.code_blocks,
            "/copy numbers blocks as the screen does"
        );
    }

    /// Random text (ASCII, CJK, emoji, spaces, long words) at random widths and prefixes never
    /// panics, loses no character, and stays within the width when the prefixes fit.
    #[test]
    fn wrap_property() {
        let pieces = [
            "a",
            "bb ",
            "日本",
            "👋",
            " ",
            "  ",
            "supercalifragilistic",
            "x\u{301}",
            "é",
            "\t",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let n = (next() % 40) as usize;
            let text: String = (0..n)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let width = (next() % 30) as usize;
            let pw = (next() % 12) as usize;
            let prefix = vec![Span::raw("│".repeat(pw))];
            let lines = wrap(&[Span::raw(text.clone())], width, &prefix, &prefix);
            let kept: String = lines
                .iter()
                .map(|l| {
                    l.spans
                        .iter()
                        .skip(1)
                        .map(|s| s.content.as_ref())
                        .collect::<String>()
                })
                .collect::<String>()
                .replace(' ', "");
            assert_eq!(
                kept,
                text.replace([' ', '\t'], ""),
                "width {width} prefix {pw}: {text:?}"
            );
            if pw + 2 < width.max(4) {
                for l in &lines {
                    assert!(
                        l.width() <= width.max(4),
                        "width {width} prefix {pw}: {l:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn unclosed_fence_renders_as_code() {
        let t = Theme::fallback(true);
        let r = render("Here:\n\n```python\nprint('hi')\nx = 1", 40, &t);
        let p = plain(&r);
        assert!(p.contains(&"│ print('hi')".to_string()), "{p:?}");
        assert!(p.contains(&"│ x = 1".to_string()), "{p:?}");
        assert_eq!(
            code_blocks("Here:\n\n```python\nprint('hi')\nx = 1"),
            r.code_blocks
        );
    }

    #[test]
    fn highlighting_knows_typescript_toml_dockerfile() {
        warm();
        let mut t = Theme::fallback(false);
        t.syntect = "base16-ocean.dark".into();
        for lang in ["typescript", "toml", "dockerfile", "rust"] {
            let lines = code_lines("let x = 1\n", lang, &t);
            assert!(
                lines[0]
                    .iter()
                    .any(|s| matches!(s.style.fg, Some(Color::Rgb(..)))),
                "{lang} highlighted"
            );
        }
    }

    /// A streaming block's last line shows in the plain code style until its newline comes
    /// (it is not highlighted again for every frame), then highlighted like the lines before.
    #[test]
    fn an_unfinished_code_line_is_plain_until_it_is_complete() {
        warm();
        let mut t = Theme::fallback(false);
        t.syntect = "base16-ocean.dark".into();
        let colored = |spans: &[Span<'static>]| {
            spans
                .iter()
                .any(|s| matches!(s.style.fg, Some(Color::Rgb(..))) && s.style != t.code)
        };
        let partial = code_lines("let a = 1;\nlet b = ", "rust", &t);
        assert_eq!(partial.len(), 2);
        assert!(colored(&partial[0]), "{:?}", partial[0]);
        assert_eq!(partial[1], vec![Span::styled("let b = ", t.code)]);
        let done = code_lines("let a = 1;\nlet b = 2;\n", "rust", &t);
        assert!(colored(&done[1]), "{:?}", done[1]);
        assert_eq!(done[0], partial[0]);
    }
}
