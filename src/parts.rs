//! The typed parts a message carries besides its own text: attached files and images today;
//! tool calls, tool results and retrieved context have their shapes here so that the features
//! that produce them need no other format change.
//!
//! A message's own words (what the user typed, what the model answered) stay in its `content`;
//! its `parts` hold everything else, in order. On the wire a user's parts come before their
//! words (documents first, then the question, as the providers recommend) and an assistant's
//! after (text, then tool calls). Every wire module translates parts; nothing above
//! `provider/` knows how a provider spells an image.

use serde::{Deserialize, Deserializer, Serialize};
use std::sync::Arc;

/// One part of a message (`"type"` tags it in the file).
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// More text, sent as its own text block. With a `source` (a long paste) it did not come
    /// from the user's typing and is sent labelled as untrusted data.
    Text {
        text: String,
        source: Option<String>,
    },
    File(FilePart),
    Image(ImagePart),
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    Context(Context),
    /// A part of a type a newer charla wrote, kept as it was read (shown, never sent).
    Unknown(serde_json::Value),
}

/// An attached text file: travels as a fenced block labelled with its path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FilePart {
    /// As the user gave it (shown and sent as the label).
    pub path: String,
    pub sha256: String,
    /// Bytes on disk.
    pub size: u64,
    pub text: String,
    /// The file was not valid UTF-8: invalid bytes became U+FFFD.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lossy: bool,
}

/// An attached image. Its bytes live once, content-addressed, in the data dir's blob store;
/// they are read only when a request needs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagePart {
    /// The path or name it was attached from (shown; never read again).
    pub name: String,
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub media_type: String,
    pub sha256: String,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    /// Where the bytes are kept, relative to the data dir (`blobs/sha256/ab/ab12…`).
    pub blob: String,
    /// The bytes, once loaded (not saved).
    #[serde(skip)]
    pub bytes: Bytes,
}

/// Loaded blob bytes: bookkeeping, not content (two parts naming one blob are equal).
#[derive(Debug, Clone, Default)]
pub struct Bytes(pub Option<Arc<[u8]>>);

impl PartialEq for Bytes {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A function call the model asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (echoed back with the result).
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub arguments: serde_json::Value,
    /// An opaque token the provider wants back with the call (Gemini's `thoughtSignature`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// How it was allowed to run: `auto` (read-only), `once`, `session`, `always`, `flag`
    /// (`ask --approve`/`--yes`), or `denied` (then it did not run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
}

/// What a tool returned for a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolResult {
    pub call_id: String,
    pub name: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
    /// A command's exit status (command tools and `run_command`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// How long the tool ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The output was longer than `tool_output_bytes`: its full size in bytes (`text`
    /// holds the start of it, which is also what the model was sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated_from: Option<u64>,
}

impl ToolResult {
    /// A result that says why the call did not run or failed.
    pub fn error(call: &ToolCall, text: impl Into<String>) -> Self {
        ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            text: text.into(),
            is_error: true,
            exit_code: None,
            duration_ms: None,
            truncated_from: None,
        }
    }
}

/// Passages retrieved for a question, with where each came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    #[serde(default)]
    pub query: String,
    pub passages: Vec<Passage>,
    /// The collection they came from (`charla rag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passage {
    /// A path or URL.
    pub source: String,
    /// Where in the source (`lines 10-24`, a page, a heading).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
}

impl Part {
    pub fn kind(&self) -> &'static str {
        match self {
            Part::Text { .. } => "text",
            Part::File(_) => "file",
            Part::Image(_) => "image",
            Part::ToolCall(_) => "tool_call",
            Part::ToolResult(_) => "tool_result",
            Part::Context(_) => "context",
            Part::Unknown(_) => "unknown",
        }
    }

    /// The text this part is sent as when a wire format has no block of its own for it (a
    /// file, retrieved context, and tool steps to a provider that is not told of tools).
    /// None for an image.
    pub fn as_text(&self) -> Option<String> {
        Some(match self {
            Part::Text { text, .. } => text.clone(),
            Part::File(f) => file_block(&f.path, &f.text),
            Part::Image(_) | Part::Unknown(_) => return None,
            Part::ToolCall(c) => format!("[tool call {} {}: {}]", c.id, c.name, c.arguments),
            Part::ToolResult(r) => format!(
                "[tool result for {} {}{}]\n{}",
                r.call_id,
                r.name,
                if r.is_error { " (error)" } else { "" },
                r.text
            ),
            Part::Context(_) => format!(
                "Retrieved passages (cite them as [n]):\n{}",
                self.untrusted_text()?
            ),
        })
    }
}

impl Part {
    /// Where this part came from, when it is not the user's own typing: such parts are sent
    /// fenced as untrusted data (a file, retrieved passages, a tool's output, a long paste).
    pub fn untrusted_source(&self) -> Option<String> {
        match self {
            Part::File(f) => Some(format!("file {}", f.path)),
            Part::Text {
                source: Some(s), ..
            } => Some(s.clone()),
            Part::Context(_) => Some("retrieved passages".into()),
            Part::ToolResult(r) => Some(format!("output of tool {}", r.name)),
            _ => None,
        }
    }

    /// The untrusted content itself (what goes inside the fence).
    pub fn untrusted_text(&self) -> Option<String> {
        match self {
            Part::File(f) => Some(code_fence(&f.text)),
            Part::Text { text, .. } => Some(text.clone()),
            Part::ToolResult(r) => Some(r.text.clone()),
            Part::Context(c) => Some(
                c.passages
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let loc = p
                            .location
                            .as_deref()
                            .map(|l| format!(" ({l})"))
                            .unwrap_or_default();
                        format!("[{}] {}{loc}\n{}", i + 1, p.source, code_fence(&p.text))
                    })
                    .collect::<Vec<_>>()
                    .join("\n\n"),
            ),
            _ => None,
        }
    }
}

/// `text` in a backtick fence longer than any backtick run inside it.
pub fn code_fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest.max(2) + 1);
    let nl = if text.ends_with('\n') { "" } else { "\n" };
    format!("{fence}\n{text}{nl}{fence}")
}

/// A file's text fenced and labelled with its path, so the model can tell the user's words
/// from the file's and cite it. The fence is longer than any backtick run in the text.
pub fn file_block(label: &str, text: &str) -> String {
    format!("<file path=\"{label}\">\n{}\n</file>", code_fence(text))
}

/// The part types this charla knows, as tagged in the file.
pub const KNOWN_KINDS: [&str; 6] = [
    "text",
    "file",
    "image",
    "tool_call",
    "tool_result",
    "context",
];

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum TaggedRef<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        source: &'a Option<String>,
    },
    File(&'a FilePart),
    Image(&'a ImagePart),
    ToolCall(&'a ToolCall),
    ToolResult(&'a ToolResult),
    Context(&'a Context),
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Tagged {
    Text {
        text: String,
        #[serde(default)]
        source: Option<String>,
    },
    File(FilePart),
    Image(ImagePart),
    ToolCall(ToolCall),
    ToolResult(ToolResult),
    Context(Context),
}

impl Serialize for Part {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Part::Text { text, source } => TaggedRef::Text { text, source },
            Part::File(f) => TaggedRef::File(f),
            Part::Image(i) => TaggedRef::Image(i),
            Part::ToolCall(c) => TaggedRef::ToolCall(c),
            Part::ToolResult(r) => TaggedRef::ToolResult(r),
            Part::Context(c) => TaggedRef::Context(c),
            Part::Unknown(v) => return v.serialize(s),
        }
        .serialize(s)
    }
}

/// A part of a type this charla does not know is kept as [`Part::Unknown`]: only a file of a
/// newer format may hold one (the store refuses it in a file of a version this charla knows).
impl<'de> Deserialize<'de> for Part {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        let known = v
            .get("type")
            .and_then(|t| t.as_str())
            .is_some_and(|t| KNOWN_KINDS.contains(&t));
        if !known {
            return Ok(Part::Unknown(v));
        }
        let t: Tagged = serde_json::from_value(v).map_err(serde::de::Error::custom)?;
        Ok(match t {
            Tagged::Text { text, source } => Part::Text { text, source },
            Tagged::File(f) => Part::File(f),
            Tagged::Image(i) => Part::Image(i),
            Tagged::ToolCall(c) => Part::ToolCall(c),
            Tagged::ToolResult(r) => Part::ToolResult(r),
            Tagged::Context(c) => Part::Context(c),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_block_fences_past_the_files_own_fences() {
        let b = file_block("a.md", "x\n```rust\nfn f() {}\n```\n");
        assert!(b.starts_with("<file path=\"a.md\">\n````\n"), "{b}");
        assert!(b.ends_with("\n````\n</file>"), "{b}");
    }

    #[test]
    fn parts_round_trip_with_their_type_tags() {
        let parts = vec![
            Part::Text {
                text: "t".into(),
                source: Some("pasted text".into()),
            },
            Part::ToolCall(ToolCall {
                id: "c1".into(),
                name: "get".into(),
                arguments: serde_json::json!({"q": 1}),
                signature: None,
                approval: Some("once".into()),
            }),
            Part::Context(Context {
                query: "q".into(),
                passages: vec![Passage {
                    source: "a.md".into(),
                    location: Some("lines 1-3".into()),
                    text: "p".into(),
                    score: None,
                }],
                collection: None,
            }),
        ];
        let j = serde_json::to_string(&parts).expect("json");
        assert!(j.contains(r#""type":"tool_call""#), "{j}");
        let back: Vec<Part> = serde_json::from_str(&j).expect("back");
        assert_eq!(back, parts);
    }
}
