//! Token estimates for streams that report no usage and for pre-send estimates.
//!
//! OpenAI-family models use tiktoken's `o200k_base` (loaded lazily, ~200 ms in release: front
//! ends warm it off the UI task with [`warm`]). Everything else uses a documented approximation:
//! one token per 4 ASCII characters (rounded up per run) plus one token per non-ASCII character,
//! which is close for English prose and code and errs high for CJK.

use std::sync::OnceLock;

static O200K: OnceLock<Option<tiktoken_rs::CoreBPE>> = OnceLock::new();

fn bpe() -> Option<&'static tiktoken_rs::CoreBPE> {
    O200K
        .get_or_init(|| tiktoken_rs::o200k_base().ok())
        .as_ref()
}

/// Loads the tokenizer now (call from a blocking task at start-up).
pub fn warm() {
    let _ = bpe();
}

/// Whether the tokenizer is loaded (so estimating would not block).
pub fn is_warm() -> bool {
    O200K.get().is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Tiktoken,
    Approx,
}

pub fn approx(text: &str) -> u64 {
    let mut ascii = 0u64;
    let mut other = 0u64;
    for c in text.chars() {
        if c.is_ascii() {
            ascii += 1;
        } else {
            other += 1;
        }
    }
    ascii.div_ceil(4) + other
}

/// Estimated tokens of `text`; `tiktoken` asks for the OpenAI tokenizer.
pub fn estimate(text: &str, method: Method) -> u64 {
    match method {
        Method::Tiktoken => match bpe() {
            Some(b) => b.encode_ordinary(text).len() as u64,
            None => approx(text),
        },
        Method::Approx => approx(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approximation() {
        assert_eq!(approx(""), 0);
        assert_eq!(approx("abcd"), 1);
        assert_eq!(approx("abcde"), 2);
        assert_eq!(approx("日本語"), 3);
    }
}
