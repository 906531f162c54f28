//! Bytes → raw events. Guards eventsource-stream's two traps (a leading BOM panics; a last event
//! without a trailing blank line is dropped), decodes UTF-8 across chunk boundaries (invalid
//! bytes become U+FFFD instead of ending the stream), and applies an idle timeout per read.

use super::{ErrorKind, ProviderError};
use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::stream::{BoxStream, StreamExt};
use std::time::Duration;

pub type ByteStream = BoxStream<'static, Result<Bytes, ProviderError>>;
pub type RawStream = BoxStream<'static, Result<RawEvent, ProviderError>>;

/// One SSE event (`event` is its name, `message` by default) or one NDJSON line (`event` empty).
#[derive(Debug, Clone, PartialEq)]
pub struct RawEvent {
    pub event: String,
    pub data: String,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Ends the stream with a `Timeout` error when no bytes arrive for `idle`.
pub fn idle_timeout(s: ByteStream, idle: Duration) -> ByteStream {
    futures::stream::unfold((s, false), move |(mut s, stop)| async move {
        if stop {
            return None;
        }
        match tokio::time::timeout(idle, s.next()).await {
            Ok(Some(Ok(b))) => Some((Ok(b), (s, false))),
            Ok(Some(Err(e))) => Some((Err(e), (s, true))),
            Ok(None) => None,
            Err(_) => Some((
                Err(ProviderError::new(
                    ErrorKind::Timeout,
                    format!(
                        "no data from the server for {:.0} s (idle timeout)",
                        idle.as_secs_f64()
                    ),
                )),
                (s, true),
            )),
        }
    })
    .boxed()
}

/// Incremental lossy UTF-8 decoder that also strips one leading BOM, even when it is split
/// across reads.
#[derive(Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
    started: bool,
}

impl Utf8Decoder {
    pub fn push(&mut self, chunk: &[u8]) -> String {
        self.pending.extend_from_slice(chunk);
        if !self.started {
            if self.pending.len() < BOM.len() && BOM.starts_with(&self.pending) {
                return String::new();
            }
            if self.pending.starts_with(BOM) {
                self.pending.drain(..BOM.len());
            }
            self.started = true;
        }
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                    return out;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    // Safe: the prefix up to valid_up_to is valid UTF-8.
                    out.push_str(std::str::from_utf8(&self.pending[..valid]).unwrap_or_default());
                    match e.error_len() {
                        None => {
                            // An incomplete sequence at the end: keep it for the next read.
                            self.pending.drain(..valid);
                            return out;
                        }
                        Some(n) => {
                            out.push('\u{FFFD}');
                            self.pending.drain(..valid + n);
                        }
                    }
                }
            }
        }
    }

    /// End of input: whatever is left is an incomplete sequence (or a lone BOM prefix).
    pub fn finish(&mut self) -> String {
        let rest = std::mem::take(&mut self.pending);
        if !self.started && BOM.starts_with(&rest) {
            return String::new();
        }
        String::from_utf8_lossy(&rest).into_owned()
    }
}

/// Decodes bytes to text chunks; on a clean end of the body appends `tail` (so that a last
/// event or line without its terminator is still delivered).
fn text_chunks(
    s: ByteStream,
    tail: &'static str,
) -> BoxStream<'static, Result<String, ProviderError>> {
    futures::stream::unfold(
        (s, Utf8Decoder::default(), false),
        move |(mut s, mut dec, ended)| async move {
            if ended {
                return None;
            }
            loop {
                match s.next().await {
                    Some(Ok(b)) => {
                        let text = dec.push(&b);
                        if !text.is_empty() {
                            return Some((Ok(text), (s, dec, false)));
                        }
                    }
                    Some(Err(e)) => {
                        // Flush decoded text first? Nothing is pending except an incomplete char.
                        return Some((Err(e), (s, dec, true)));
                    }
                    None => {
                        let mut text = dec.finish();
                        text.push_str(tail);
                        return Some((Ok(text), (s, dec, true)));
                    }
                }
            }
        },
    )
    .boxed()
}

/// The lines of an SSE body that are not SSE at all (raw JSON), kept (up to 16 KiB) so that a
/// provider error sent that way can still be reported.
#[derive(Debug, Default)]
pub struct NonSseLines {
    partial: String,
    pub text: String,
}

impl NonSseLines {
    fn push(&mut self, chunk: &str) {
        self.partial.push_str(chunk);
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            let l = line.trim_end_matches(['\r', '\n']);
            let looks_json = l.trim_start().starts_with(['{', '}', '[', ']', '"']);
            if looks_json && self.text.len() < 16 * 1024 {
                self.text.push_str(l);
                self.text.push('\n');
            }
        }
    }
}

/// Server-sent events from a byte stream.
pub fn sse_events(s: ByteStream) -> RawStream {
    sse_events_keeping(s, None)
}

/// Like [`sse_events`], also keeping the body's non-SSE lines in `keep`.
pub fn sse_events_keeping(
    s: ByteStream,
    keep: Option<std::sync::Arc<std::sync::Mutex<NonSseLines>>>,
) -> RawStream {
    // eventsource-stream strips a BOM from its first chunk by slicing one *byte* off, which
    // panics on the 3-byte U+FEFF; ours is stripped already, so a second one (a hostile or
    // broken body, found by fuzzing) is made a plain replacement character first.
    let mut first = true;
    text_chunks(s, "\n\n")
        .map(move |r| match r {
            Ok(t) if first && !t.is_empty() => {
                first = false;
                match t.strip_prefix('\u{feff}') {
                    Some(rest) => Ok(format!("\u{fffd}{rest}")),
                    None => Ok(t),
                }
            }
            r => r,
        })
        .inspect(move |r| {
            if let (Ok(t), Some(k)) = (r, &keep)
                && let Ok(mut k) = k.lock()
            {
                k.push(t);
            }
        })
        .eventsource()
        .map(|r| match r {
            Ok(ev) => Ok(RawEvent {
                event: ev.event,
                data: ev.data,
            }),
            Err(eventsource_stream::EventStreamError::Transport(e)) => Err(e),
            Err(e) => Err(ProviderError::new(
                ErrorKind::MalformedStream,
                format!("bad event stream: {e}"),
            )),
        })
        .boxed()
}

/// Newline-delimited JSON lines from a byte stream.
pub fn ndjson_lines(s: ByteStream) -> RawStream {
    futures::stream::unfold(
        (
            text_chunks(s, "\n"),
            String::new(),
            std::collections::VecDeque::new(),
        ),
        |(mut s, mut buf, mut ready)| async move {
            loop {
                if let Some(line) = ready.pop_front() {
                    return Some((
                        Ok(RawEvent {
                            event: String::new(),
                            data: line,
                        }),
                        (s, buf, ready),
                    ));
                }
                match s.next().await {
                    Some(Ok(text)) => {
                        buf.push_str(&text);
                        while let Some(i) = buf.find('\n') {
                            let line: String = buf.drain(..=i).collect();
                            let line = line.trim_end_matches(['\n', '\r']).to_string();
                            if !line.trim().is_empty() {
                                ready.push_back(line);
                            }
                        }
                    }
                    Some(Err(e)) => return Some((Err(e), (s, buf, ready))),
                    None => return None,
                }
            }
        },
    )
    .boxed()
}

/// Wraps any in-memory chunk list as a byte stream (tests, benches).
pub fn from_chunks<I>(chunks: I) -> ByteStream
where
    I: IntoIterator<Item = Vec<u8>>,
    I::IntoIter: Send + 'static,
{
    futures::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c)))).boxed()
}

/// Splits `bytes` into chunks of `n` bytes (an awkward boundary for every multi-byte char).
pub fn split_every(bytes: &[u8], n: usize) -> Vec<Vec<u8>> {
    bytes.chunks(n.max(1)).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(s: RawStream) -> Vec<Result<RawEvent, ProviderError>> {
        s.collect().await
    }

    #[tokio::test]
    async fn bom_split_across_reads_is_stripped() {
        let body = b"\xEF\xBB\xBFdata: hello\n\n".to_vec();
        for n in 1..=4 {
            let evs = collect(sse_events(from_chunks(split_every(&body, n)))).await;
            assert_eq!(evs.len(), 1, "chunk size {n}");
            assert_eq!(evs[0].as_ref().map(|e| e.data.as_str()), Ok("hello"));
        }
    }

    #[tokio::test]
    async fn last_event_without_blank_line_is_flushed() {
        let evs = collect(sse_events(from_chunks(vec![
            b"data: a\n\ndata: b".to_vec(),
        ])))
        .await;
        let data: Vec<_> = evs.into_iter().map(|e| e.map(|e| e.data)).collect();
        assert_eq!(data, vec![Ok("a".to_string()), Ok("b".to_string())]);
    }

    #[tokio::test]
    async fn multibyte_split_and_invalid_bytes() {
        let mut dec = Utf8Decoder::default();
        let s = "é👋".as_bytes();
        let mut out = String::new();
        for b in s {
            out.push_str(&dec.push(&[*b]));
        }
        assert_eq!(out, "é👋");
        assert_eq!(dec.push(b"a\xFFb"), "a\u{FFFD}b");
        assert_eq!(dec.push(b"\xF0\x9F"), "");
        assert_eq!(dec.finish(), "\u{FFFD}");
    }

    #[tokio::test]
    async fn ndjson_lines_with_crlf_and_missing_final_newline() {
        let evs = collect(ndjson_lines(from_chunks(split_every(
            b"{\"a\":1}\r\n\n{\"b\":2}",
            3,
        ))))
        .await;
        let data: Vec<_> = evs.into_iter().map(|e| e.map(|e| e.data)).collect();
        assert_eq!(
            data,
            vec![Ok("{\"a\":1}".to_string()), Ok("{\"b\":2}".to_string())]
        );
    }
}
