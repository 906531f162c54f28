//! Untrusted text (model output, server error bodies) made safe to print in a terminal.
//!
//! Every C0 control except `\n` and `\t`, DEL, and every C1 control is replaced by a visible
//! stand-in, so escape sequences (CSI, OSC title/clipboard/hyperlink, DCS…) arrive as harmless
//! text. The mapping is per character, so it is safe to apply to stream deltas one at a time:
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
            c => out.push(c),
        }
    }
    out
}

/// True when `s` needs no change to be printed safely.
pub fn is_clean(s: &str) -> bool {
    !s.chars().any(|c| {
        (c < ' ' && c != '\n' && c != '\t') || c == '\u{7f}' || ('\u{80}'..='\u{9f}').contains(&c)
    })
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
    fn carriage_returns() {
        assert_eq!(sanitize("a\r\nb"), "a\nb");
        assert_eq!(sanitize("secret\rfake"), "secret␍fake");
    }
}
