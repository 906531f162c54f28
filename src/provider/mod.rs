//! The provider layer: every wire format is turned into one stream of [`StreamEvent`]s.
//! Nothing above this module knows a wire format.

pub mod anthropic;
pub mod count;
pub mod demo;
pub mod embed;
pub mod error;
pub mod gemini;
pub mod list;
pub mod ollama;
pub mod openai;
pub mod pace;
pub mod retry;
pub mod sse;
pub mod stream;

use crate::parts::{Part, ToolCall, ToolResult};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub use error::{ErrorKind, ProviderError};

/// The wire-format family a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Openai,
    Anthropic,
    Gemini,
    Ollama,
    Demo,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Openai => "openai",
            Kind::Anthropic => "anthropic",
            Kind::Gemini => "gemini",
            Kind::Ollama => "ollama",
            Kind::Demo => "demo",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
}

/// One message of the history sent to a provider (system prompt travels separately).
#[derive(Debug, Clone, PartialEq)]
pub struct ChatMessage {
    pub role: Role,
    /// The message's own words.
    pub content: String,
    /// Its attachments and other parts, in order (images with their bytes loaded).
    pub parts: Vec<crate::parts::Part>,
    /// This request's fence for untrusted parts (set by the session).
    pub fence: Option<std::sync::Arc<crate::guard::Fence>>,
}

/// A message's content as every wire format sees it: text blocks and images in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Block<'a> {
    Text(String),
    Image(&'a crate::parts::ImagePart),
    /// A block already in one wire format's own form (its tool steps).
    Native(serde_json::Value),
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        ChatMessage {
            role,
            content: content.into(),
            parts: vec![],
            fence: None,
        }
    }

    /// The blocks to send: a user's parts before their words (documents first, then the
    /// question), an assistant's after its text. Adjacent texts are joined by a blank line
    /// (a text-only message is one text); files and other parts travel as labelled text.
    pub fn blocks(&self) -> Vec<Block<'_>> {
        fn push_text<'a>(out: &mut Vec<Block<'a>>, t: &str) {
            if t.is_empty() {
                return;
            }
            match out.last_mut() {
                Some(Block::Text(s)) => {
                    s.push_str("\n\n");
                    s.push_str(t);
                }
                _ => out.push(Block::Text(t.to_string())),
            }
        }
        let mut out = Vec::new();
        // An answer that used tools ends with its final words; any other leads with them.
        let tooled = self.has_tool_steps();
        if self.role == Role::Assistant && !tooled {
            push_text(&mut out, &self.content);
        }
        for p in &self.parts {
            match p {
                Part::Image(i) => out.push(Block::Image(i)),
                other => {
                    let fenced = self.fence.as_deref().and_then(|f| {
                        Some(f.wrap(&other.untrusted_source()?, &other.untrusted_text()?))
                    });
                    if let Some(t) = fenced.or_else(|| other.as_text()) {
                        push_text(&mut out, &t);
                    }
                }
            }
        }
        if self.role == Role::User || tooled {
            push_text(&mut out, &self.content);
        }
        out
    }

    /// Whether this answer called tools (its parts hold calls and results).
    pub fn has_tool_steps(&self) -> bool {
        self.role == Role::Assistant
            && self
                .parts
                .iter()
                .any(|p| matches!(p, Part::ToolCall(_) | Part::ToolResult(_)))
    }

    /// An answer that used tools as the wire formats that know tools send it: what the
    /// model said with its calls, then their results, step after step, then its final words.
    /// Results go fenced and labelled as tool output. A call with no result (a turn cut off
    /// before it ran) gets one saying so: every provider refuses a call left unanswered.
    pub fn steps(&self) -> Vec<Step<'_>> {
        let mut out: Vec<Step<'_>> = Vec::new();
        let mut said: Vec<Block<'_>> = Vec::new();
        let mut calls: Vec<&ToolCall> = Vec::new();
        let mut results: Vec<ToolResult> = Vec::new();
        fn flush_said<'a>(
            out: &mut Vec<Step<'a>>,
            said: &mut Vec<Block<'a>>,
            calls: &mut Vec<&'a ToolCall>,
        ) {
            if !said.is_empty() || !calls.is_empty() {
                out.push(Step::Said {
                    blocks: std::mem::take(said),
                    calls: std::mem::take(calls),
                });
            }
        }
        // Results are matched to the calls of the step before them.
        fn close<'a>(
            out: &mut Vec<Step<'a>>,
            open: &mut Vec<&'a ToolCall>,
            results: &mut Vec<ToolResult>,
        ) {
            for c in open.drain(..) {
                if !results.iter().any(|r| r.call_id == c.id) {
                    results.push(ToolResult::error(
                        c,
                        "not run: the turn ended before this call",
                    ));
                }
            }
            if !results.is_empty() {
                out.push(Step::Results(std::mem::take(results)));
            }
        }
        let mut open: Vec<&ToolCall> = Vec::new();
        for p in &self.parts {
            match p {
                Part::ToolCall(c) => {
                    if !results.is_empty() {
                        close(&mut out, &mut open, &mut results);
                    }
                    calls.push(c);
                    open.push(c);
                }
                Part::ToolResult(r) => {
                    flush_said(&mut out, &mut said, &mut calls);
                    let mut r = r.clone();
                    if let Some(f) = self.fence.as_deref()
                        && let Some(src) = p.untrusted_source()
                    {
                        r.text = f.wrap(&src, &r.text);
                    }
                    results.push(r);
                }
                Part::Image(i) => {
                    if !open.is_empty() {
                        flush_said(&mut out, &mut said, &mut calls);
                        close(&mut out, &mut open, &mut results);
                    }
                    said.push(Block::Image(i));
                }
                other => {
                    if !open.is_empty() {
                        flush_said(&mut out, &mut said, &mut calls);
                        close(&mut out, &mut open, &mut results);
                    }
                    if let Some(t) = other.as_text().filter(|t| !t.is_empty()) {
                        said.push(Block::Text(t));
                    }
                }
            }
        }
        flush_said(&mut out, &mut said, &mut calls);
        close(&mut out, &mut open, &mut results);
        if !self.content.is_empty() {
            out.push(Step::Said {
                blocks: vec![Block::Text(self.content.clone())],
                calls: vec![],
            });
        }
        out
    }

    /// The text of a message with no image (None if it has one): sent as a plain string,
    /// which every OpenAI-compatible server takes.
    pub fn plain_text(&self) -> Option<String> {
        let mut text = String::new();
        for b in self.blocks() {
            match b {
                Block::Text(t) => text = t,
                Block::Image(_) | Block::Native(_) => return None,
            }
        }
        Some(text)
    }

    pub fn is_blank(&self) -> bool {
        self.content.trim().is_empty()
            && self.parts.iter().all(|p| {
                p.as_text().is_none_or(|t| t.trim().is_empty())
                    && !matches!(p, crate::parts::Part::Image(_))
            })
    }
}

/// One step of an answer that used tools (see [`ChatMessage::steps`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Step<'a> {
    /// What the model said, and the tools it called (an assistant message on the wire).
    Said {
        blocks: Vec<Block<'a>>,
        calls: Vec<&'a ToolCall>,
    },
    /// The results of the calls before, in order, their text as sent.
    Results(Vec<ToolResult>),
}

/// A tool the model may call: its name, what it does, and its arguments' JSON Schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// An image's bytes in base64 (empty if they were not loaded: the session loads them before
/// any request, so this is never sent).
pub(crate) fn base64_of(i: &crate::parts::ImagePart) -> String {
    use base64::Engine;
    i.bytes
        .0
        .as_deref()
        .map(|b| base64::engine::general_purpose::STANDARD.encode(b))
        .unwrap_or_default()
}

/// A provider-neutral request; each wire module translates it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    /// The model id as the provider knows it (without the `provider/` prefix).
    pub model: String,
    pub system: Option<String>,
    pub messages: Vec<ChatMessage>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    /// A JSON Schema the answer must follow (each wire module asks for it its own way).
    pub schema: Option<serde_json::Value>,
    /// The tools the model may call. With none, earlier tool steps travel as labelled text
    /// (providers refuse tool blocks in a request that defines no tools).
    pub tools: Vec<ToolSpec>,
}

impl ChatRequest {
    /// Whether `m`'s tool steps go in the wire format's own tool blocks.
    pub fn native_steps(&self, m: &ChatMessage) -> bool {
        !self.tools.is_empty() && m.has_tool_steps()
    }
}

/// Token counts, normalised across providers:
/// - `input_tokens` is the whole prompt, *including* cache reads and cache writes
///   (Anthropic's separate counts are added in);
/// - `cached_input_tokens` and `cache_write_tokens` are parts of `input_tokens`;
///   `cache_write_1h_tokens` is the part of `cache_write_tokens` written for one hour
///   (Anthropic bills those at 2x input, the 5-minute ones at 1.25x);
/// - `output_tokens` *includes* `reasoning_tokens`, counted once whatever the provider's
///   convention (Gemini's thoughts and xAI's reasoning, reported outside, are added in).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_input_tokens: u64,
    pub cache_write_tokens: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub cache_write_1h_tokens: u64,
    pub reasoning_tokens: u64,
    /// A cost the provider reported itself (OpenRouter's `usage.cost`), in USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_cost_usd: Option<f64>,
    /// The service tier the response says it was billed at (OpenAI `service_tier`,
    /// Anthropic `usage.service_tier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_tier: Option<ServiceTier>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A billing tier a provider reports. Unknown names are not kept (the standard price applies).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceTier {
    Default,
    Flex,
    Priority,
    Fast,
    Scale,
}

impl ServiceTier {
    pub fn parse(s: &str) -> Option<ServiceTier> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "default" | "standard" => ServiceTier::Default,
            "flex" => ServiceTier::Flex,
            "priority" => ServiceTier::Priority,
            "fast" => ServiceTier::Fast,
            "scale" => ServiceTier::Scale,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Default => "default",
            ServiceTier::Flex => "flex",
            ServiceTier::Priority => "priority",
            ServiceTier::Fast => "fast",
            ServiceTier::Scale => "scale",
        }
    }
}

impl Usage {
    pub fn add(&mut self, o: &Usage) {
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.cache_write_1h_tokens += o.cache_write_1h_tokens;
        self.reasoning_tokens += o.reasoning_tokens;
        self.provider_cost_usd = match (self.provider_cost_usd, o.provider_cost_usd) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
}

/// The normalised event stream every provider produces.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The request was accepted (HTTP 2xx) and the body is streaming.
    Started,
    /// A failed attempt will be retried after `wait`.
    Retry {
        attempt: u32,
        wait: Duration,
        reason: String,
    },
    TextDelta(String),
    ReasoningDelta(String),
    /// A complete tool call (decoders gather a call's fragments and parse its arguments).
    ToolCall(ToolCall),
    /// The latest usage snapshot (later snapshots replace earlier ones).
    Usage(Usage),
    /// The answer is complete.
    Finished {
        reason: String,
    },
    /// The turn failed; no more events follow.
    Error(ProviderError),
}

/// What a wire decoder produces for one raw event / line.
pub type Decoded = Vec<StreamEvent>;

/// A per-request, pure wire decoder: fed SSE events or NDJSON lines, emits normalised events.
pub trait Decoder: Send {
    /// One SSE event (`event` name, `data`) or one NDJSON line (`event` is empty).
    fn feed(&mut self, event: &str, data: &str) -> Decoded;
    /// The body ended. Emits `Finished`, or an error if the stream never said it was done.
    /// `non_sse` holds the body's lines that were not SSE at all (raw JSON): a protocol that
    /// sends its errors that way (Gemini) reports them from here.
    fn finish(&mut self, non_sse: &str) -> Decoded;
    /// Whether the wire protocol reached its terminal marker.
    fn done(&self) -> bool;
}

/// A tool call's arguments as the model sent them (a JSON text; empty means none), or why
/// they cannot be used (anything but a JSON object): [`bad_call`] makes that the turn's error.
pub(crate) fn call_arguments(raw: &str) -> Result<serde_json::Value, String> {
    if raw.trim().is_empty() {
        return Ok(serde_json::json!({}));
    }
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(v) if v.is_object() => Ok(v),
        Ok(v) => Err(format!("its arguments are not a JSON object: {v}")),
        Err(e) => {
            let snippet: String = raw.chars().take(120).collect();
            Err(format!("its arguments are not valid JSON ({e}): {snippet}"))
        }
    }
}

pub(crate) fn bad_call(name: &str, why: &str) -> StreamEvent {
    StreamEvent::Error(ProviderError::new(
        ErrorKind::MalformedStream,
        format!(
            "the model's call of tool {} was malformed: {why}",
            crate::sanitize::sanitize(name)
        ),
    ))
}

fn json_err(kind: &str, e: &serde_json::Error, data: &str) -> StreamEvent {
    let snippet: String = data.chars().take(120).collect();
    StreamEvent::Error(ProviderError::new(
        ErrorKind::MalformedStream,
        format!("{kind}: malformed JSON chunk ({e}): {snippet}"),
    ))
}

/// Error for a body that ended before the protocol's terminal marker.
fn truncated(what: &str) -> StreamEvent {
    StreamEvent::Error(ProviderError::new(
        ErrorKind::MalformedStream,
        format!("the stream ended before {what} (connection closed early?)"),
    ))
}

pub fn decoder_for(kind: Kind) -> Box<dyn Decoder> {
    match kind {
        Kind::Openai => Box::new(openai::OpenAiDecoder::default()),
        Kind::Anthropic => Box::new(anthropic::AnthropicDecoder::default()),
        Kind::Gemini => Box::new(gemini::GeminiDecoder::default()),
        Kind::Ollama => Box::new(ollama::OllamaDecoder::default()),
        Kind::Demo => Box::new(openai::OpenAiDecoder::default()),
    }
}
