//! Untrusted text (model output, server error bodies) made safe to print in a terminal.
//!
//! Every C0 control except `\n` and `\t`, DEL, and every C1 control is replaced by a visible
//! stand-in, so escape sequences (CSI, OSC title/clipboard/hyperlink, DCS…) arrive as harmless
//! text. Bidirectional embedding, override and isolate controls (U+202A–202E, U+2066–2069),
//! which make `G\u{202e}gnp.exe` display as `Gexe.png`, are shown by name (`‹RLO›`). The mapping is per character, so it is safe to apply to stream deltas one at a time:
//! an escape sequence split across two deltas is neutralised in both halves.

/// Returns `s` with every terminal control character replaced by a visible stand-in.
/// `\r\n` becomes `\n`; a lone `\r` (which would let output overwrite a line) becomes `␍`.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\u{1b}' => out.push('␛'),
            c if (c as u32) < 0x20 => {
                // Control Pictures block: U+2400 + code point.
                out.push(char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'));
            }
            '\u{7f}' => out.push('␡'),
            c if ('\u{80}'..='\u{9f}').contains(&c) => out.push('\u{fffd}'),
            c => match bidi_name(c) {
                Some(name) => {
                    out.push('‹');
                    out.push_str(name);
                    out.push('›');
                }
                None => out.push(c),
            },
        }
    }
    out
}

/// The short name of a bidirectional formatting control, if `c` is one.
pub fn bidi_name(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{202a}' => "LRE",
        '\u{202b}' => "RLE",
        '\u{202c}' => "PDF",
        '\u{202d}' => "LRO",
        '\u{202e}' => "RLO",
        '\u{2066}' => "LRI",
        '\u{2067}' => "RLI",
        '\u{2068}' => "FSI",
        '\u{2069}' => "PDI",
        _ => return None,
    })
}

/// A character [`sanitize`] replaces.
pub fn is_unsafe(c: char) -> bool {
    (c < ' ' && c != '\n' && c != '\t')
        || c == '\u{7f}'
        || ('\u{80}'..='\u{9f}').contains(&c)
        || bidi_name(c).is_some()
}

/// True when `s` needs no change to be printed safely.
pub fn is_clean(s: &str) -> bool {
    !s.chars().any(is_unsafe)
}

/// A JSON text made safe for a terminal without changing what it means: DEL, C1 controls and
/// bidi controls (which serde_json writes as they are) become `\uXXXX` escapes. JSON's structure is
/// ASCII, so these can only stand inside strings, where the escape is equivalent.
pub fn json_safe(json: &str) -> std::borrow::Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return std::borrow::Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Like [`sanitize`] but borrowing when nothing needs to change (the common case on the hot path).
pub fn sanitize_cow(s: &str) -> std::borrow::Cow<'_, str> {
    if is_clean(s) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(sanitize(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_unicode_pass_through() {
        let s = "Bonjour! 👋 le ciel — 空\n\tcode";
        assert_eq!(sanitize(s), s);
        assert!(is_clean(s));
    }

    #[test]
    fn escape_sequences_become_visible() {
        assert_eq!(sanitize("\x1b[2J\x1b[H"), "␛[2J␛[H");
        // OSC 52 clipboard write and OSC 0 title, BEL- and ST-terminated.
        assert_eq!(sanitize("\x1b]52;c;aGk=\x07"), "␛]52;c;aGk=␇");
        assert_eq!(sanitize("\x1b]0;pwned\x1b\\"), "␛]0;pwned␛\\");
        // C1 CSI (U+009B) and DEL.
        assert_eq!(sanitize("a\u{9b}31mb\u{7f}"), "a\u{fffd}31mb␡");
    }

    #[test]
    fn bidi_controls_are_named() {
        assert_eq!(sanitize("G\u{202e}gnp.exe"), "G‹RLO›gnp.exe");
        assert_eq!(sanitize("\u{2066}x\u{2069}"), "‹LRI›x‹PDI›");
        assert!(!is_clean("a\u{202a}b"));
        // Arabic and Hebrew text itself is not touched.
        assert_eq!(sanitize("שלום مرحبا"), "שלום مرحبا");
    }

    #[test]
    fn json_stays_json_and_safe() {
        let v = serde_json::json!({"t": "a\u{9b}31m\u{202e}b"});
        let s = v.to_string();
        let safe = json_safe(&s);
        assert!(is_clean(&safe), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back, v);
    }

    #[test]
    fn carriage_returns() {
        assert_eq!(sanitize("a\r\nb"), "a\nb");
        assert_eq!(sanitize("secret\rfake"), "secret␍fake");
    }
}
