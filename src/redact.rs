//! API keys kept out of everything charla prints, logs or saves.
//!
//! Every key charla resolves ([`crate::provider::stream::Secret::new`]) is registered here, and
//! every message that comes from a provider passes through [`redact`] where it is constructed
//! ([`crate::provider::ProviderError`]), so a server that echoes the key back ("Incorrect API
//! key provided: sk-…") cannot make any front end show, log or save it. Besides the known keys,
//! values that look like credentials are masked too: `Authorization: Bearer …`, `x-api-key: …`,
//! `key=…` in a URL, and the shapes of the common providers' keys (`sk-…`, `AIza…`, `gsk_…`,
//! `xai-…`). Answer text is redacted for the known keys only ([`StreamRedactor`]): a model may
//! legitimately write `sk-example` in an answer about API keys.

use std::sync::RwLock;

/// What a redacted value is replaced with.
pub const MASK: &str = "[REDACTED]";

static KEYS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Keys shorter than this are not registered (they would mask ordinary words).
const MIN_KEY_LEN: usize = 6;

/// Remembers `key` so that it is masked wherever it shows up from now on.
pub fn register(key: &str) {
    let key = key.trim();
    if key.len() < MIN_KEY_LEN {
        return;
    }
    if let Ok(mut k) = KEYS.write()
        && !k.iter().any(|x| x == key)
    {
        k.push(key.to_string());
        // Longest first, so a key that contains another is masked whole.
        k.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

fn known_keys() -> Vec<String> {
    KEYS.read().map(|k| k.clone()).unwrap_or_default()
}

/// Masks every known key and every credential-looking value in `s`.
pub fn redact(s: &str) -> String {
    let mut out = redact_known(s);
    if may_hold_credential(&out) {
        out = redact_patterns(&out);
    }
    out
}

/// Masks the known keys only (exact occurrences).
pub fn redact_known(s: &str) -> String {
    let keys = KEYS.read();
    let Ok(keys) = keys else {
        return s.to_string();
    };
    if keys.is_empty() || !keys.iter().any(|k| s.contains(k.as_str())) {
        return s.to_string();
    }
    let mut out = s.to_string();
    for k in keys.iter() {
        if out.contains(k.as_str()) {
            out = out.replace(k.as_str(), MASK);
        }
    }
    out
}

/// Cheap pre-check for [`redact_patterns`].
fn may_hold_credential(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    [
        "bearer",
        "api-key",
        "api_key",
        "apikey",
        "key=",
        "token",
        "authorization",
    ]
    .iter()
    .any(|w| l.contains(w))
        || ["sk-", "AIza", "gsk_", "xai-", "sk_"]
            .iter()
            .any(|p| s.contains(p))
}

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=')
}

/// Masks values after credential words and key-shaped tokens.
fn redact_patterns(s: &str) -> String {
    // (prefix that starts a token, minimum length of the rest)
    const SHAPES: &[(&str, usize)] = &[
        ("sk-", 12),
        ("sk_", 12),
        ("AIza", 20),
        ("gsk_", 12),
        ("xai-", 12),
    ];
    // Words after which the next token is a credential.
    const LEADS: &[&str] = &[
        "bearer ",
        "authorization:",
        "authorization=",
        "x-api-key:",
        "x-api-key=",
        "x-goog-api-key:",
        "x-goog-api-key=",
        "api-key:",
        "api-key=",
        "api_key:",
        "api_key=",
        "apikey=",
        "apikey:",
        "key=",
        "token=",
        "access_token=",
        "\"api_key\":",
        "\"apikey\":",
        "\"x-api-key\":",
        "\"authorization\":",
    ];
    let chars: Vec<char> = s.chars().collect();
    let lower: Vec<char> = chars.iter().map(|c| c.to_ascii_lowercase()).collect();
    let starts_with = |at: usize, p: &str, v: &[char]| -> bool {
        (at..).zip(p.chars()).all(|(i, pc)| v.get(i) == Some(&pc))
    };
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0 || !token_char(chars[i - 1]);
        // A key-shaped token.
        if boundary && let Some((p, min)) = SHAPES.iter().find(|(p, _)| starts_with(i, p, &chars)) {
            let plen = p.chars().count();
            let mut j = i + plen;
            while j < chars.len() && token_char(chars[j]) {
                j += 1;
            }
            if j - i - plen >= *min {
                out.push_str(MASK);
                i = j;
                continue;
            }
        }
        // A credential word: mask the value that follows (quotes and blanks skipped).
        if let Some(lead) = LEADS.iter().find(|l| starts_with(i, l, &lower))
            && (boundary || lead.starts_with('"'))
        {
            let llen = lead.chars().count();
            out.extend(&chars[i..i + llen]);
            let mut j = i + llen;
            while j < chars.len() && (chars[j] == ' ' || chars[j] == '"' || chars[j] == '\'') {
                out.push(chars[j]);
                j += 1;
            }
            // "Authorization: Bearer xyz": keep the scheme word, mask what follows it.
            if lead.starts_with("authorization") || lead.starts_with("\"authorization") {
                let word: String = chars[j..].iter().take(7).collect::<String>();
                if word.to_ascii_lowercase().starts_with("bearer ") {
                    out.push_str(&word);
                    j += 7;
                } else if word.to_ascii_lowercase().starts_with("basic ") {
                    out.extend(&chars[j..j + 6]);
                    j += 6;
                }
            }
            let mut k = j;
            while k < chars.len() && token_char(chars[k]) {
                k += 1;
            }
            if k - j >= 4 {
                out.push_str(MASK);
                i = k;
            } else {
                i = j;
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Masks the known keys in streamed text even when a key arrives split across deltas: the
/// longest tail of the text that could still become a key is held back until the next delta
/// (or [`StreamRedactor::finish`]) decides it.
#[derive(Debug, Default)]
pub struct StreamRedactor {
    held: String,
    keys: Option<Vec<String>>,
}

impl StreamRedactor {
    pub fn new() -> Self {
        let keys = known_keys();
        StreamRedactor {
            held: String::new(),
            keys: (!keys.is_empty()).then_some(keys),
        }
    }

    /// Feeds a delta; returns what may be shown now.
    pub fn push(&mut self, delta: &str) -> String {
        let Some(keys) = &self.keys else {
            return delta.to_string();
        };
        self.held.push_str(delta);
        let mut text = std::mem::take(&mut self.held);
        for k in keys {
            if text.contains(k.as_str()) {
                text = text.replace(k.as_str(), MASK);
            }
        }
        // Hold back the longest suffix that is a proper prefix of a key.
        let mut hold = 0;
        for k in keys {
            let max = (k.len() - 1).min(text.len());
            for n in (1..=max).rev() {
                if n <= hold {
                    break;
                }
                let start = text.len() - n;
                if text.is_char_boundary(start) && k.starts_with(&text[start..]) {
                    hold = n;
                    break;
                }
            }
        }
        let cut = text.len() - hold;
        self.held = text[cut..].to_string();
        text.truncate(cut);
        text
    }

    /// The end of the stream: whatever was held back.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_and_shapes_are_masked() {
        register("zz-known-key-1234567");
        assert_eq!(
            redact("Incorrect API key provided: zz-known-key-1234567."),
            "Incorrect API key provided: [REDACTED]."
        );
        assert_eq!(
            redact("bad key sk-proj-abcdefghijklmnop0123 here"),
            "bad key [REDACTED] here"
        );
        assert_eq!(
            redact("sent Authorization: Bearer abcdef123456"),
            "sent Authorization: Bearer [REDACTED]"
        );
        assert_eq!(
            redact(r#"{"x-api-key": "qwertyuiop"}"#),
            r#"{"x-api-key": "[REDACTED]"}"#
        );
        assert_eq!(
            redact("GET /v1beta/models?key=AIzaSyA-1234567890abcdefghij"),
            "GET /v1beta/models?key=[REDACTED]"
        );
        // Ordinary prose is left alone.
        let plain = "The model does not exist, or you do not have access to it.";
        assert_eq!(redact(plain), plain);
        assert_eq!(redact("a task-list of sk-8"), "a task-list of sk-8");
    }

    #[test]
    fn a_key_split_across_deltas_is_masked() {
        register("split-key-ABCDEFGH");
        let mut r = StreamRedactor::new();
        let mut out = String::new();
        for piece in ["here: spl", "it-key-AB", "CDEFGH and ", "spl", "endid"] {
            out.push_str(&r.push(piece));
        }
        out.push_str(&r.finish());
        assert_eq!(out, "here: [REDACTED] and splendid");
    }
}
