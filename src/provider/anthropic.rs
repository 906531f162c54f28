//! Anthropic Messages SSE.

use super::{
    Block, ChatRequest, Decoded, Decoder, ProviderError, Role, StreamEvent, Usage, json_err,
    truncated,
};
use serde_json::{Value, json};

pub const DEFAULT_MAX_TOKENS: u32 = 8192;

pub fn url(base_url: &str) -> String {
    format!("{}/messages", base_url.trim_end_matches('/'))
}

pub fn models_url(base_url: &str) -> String {
    format!("{}/models", base_url.trim_end_matches('/'))
}

/// Anthropic wants strict user/assistant alternation starting with a user turn: consecutive
/// messages of one role are joined, and a history that starts with the assistant gets a stub.
pub fn body(req: &ChatRequest) -> Value {
    // Calls are `tool_use` blocks of the assistant; results `tool_result` blocks of the user
    // turn that follows.
    let mut msgs = alternating(
        req,
        |c| json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}),
        |r| {
            let mut b = json!({"type": "tool_result", "tool_use_id": r.call_id, "content": r.text});
            if r.is_error {
                b["is_error"] = json!(true);
            }
            b
        },
    );
    if msgs.first().is_some_and(|(r, _)| *r == Role::Assistant) {
        msgs.insert(
            0,
            (
                Role::User,
                vec![Block::Text("(continuing the conversation)".into())],
            ),
        );
    }
    let messages: Vec<Value> = msgs
        .into_iter()
        .map(|(role, blocks)| {
            let role = if role == Role::User {
                "user"
            } else {
                "assistant"
            };
            json!({"role": role, "content": content(blocks)})
        })
        .collect();
    let mut body = json!({
        "model": req.model,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": true,
    });
    let mut system = req.system.clone().filter(|s| !s.is_empty());
    if let Some(s) = &req.schema {
        if structured_outputs(&req.model) {
            body["output_format"] = json!({"type": "json_schema", "schema": s});
        } else {
            // Older models: asked in words (the answer is checked either way).
            let i = crate::schema::instruction(s);
            system = Some(match system {
                Some(sys) => format!("{sys}\n\n{i}"),
                None => i,
            });
        }
    }
    if let Some(system) = system {
        body["system"] = json!(system);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    body
}

/// Models that take `output_format` (structured outputs, beta header
/// `structured-outputs-2025-11-13`): the 4.5 generation and Opus 4.1, and later ones.
pub fn structured_outputs(model: &str) -> bool {
    let m = model.to_ascii_lowercase();
    [
        "claude-sonnet-4-5",
        "claude-opus-4-5",
        "claude-haiku-4-5",
        "claude-opus-4-1",
    ]
    .iter()
    .any(|p| m.starts_with(p))
        || ["claude-opus-", "claude-sonnet-", "claude-haiku-"]
            .iter()
            .any(|p| {
                m.strip_prefix(p)
                    .and_then(|r| r.split(['-', '.']).next())
                    .and_then(|v| v.parse::<u32>().ok())
                    .is_some_and(|major| major >= 5)
            })
}

pub const STRUCTURED_OUTPUTS_BETA: &str = "structured-outputs-2025-11-13";

/// The history as alternating user/assistant turns of blocks (Anthropic and Gemini want
/// that): consecutive messages of one role are joined; an answer's tool steps put each call
/// (`call` spells it) in the assistant's turn and each result (`result`) in the user turn after.
pub(crate) fn alternating<'a>(
    req: &'a ChatRequest,
    call: impl Fn(&crate::parts::ToolCall) -> Value,
    result: impl Fn(&crate::parts::ToolResult) -> Value,
) -> Vec<(Role, Vec<Block<'a>>)> {
    let mut msgs: Vec<(Role, Vec<Block<'a>>)> = Vec::new();
    let mut push = |role: Role, blocks: Vec<Block<'a>>| match msgs.last_mut() {
        Some((r, prev)) if *r == role => join_blocks(prev, blocks),
        _ => msgs.push((role, blocks)),
    };
    for m in req.messages.iter().filter(|m| !m.is_blank()) {
        if !req.native_steps(m) {
            push(m.role, m.blocks());
            continue;
        }
        for step in m.steps() {
            match step {
                super::Step::Said { mut blocks, calls } => {
                    blocks.extend(calls.iter().map(|c| Block::Native(call(c))));
                    push(Role::Assistant, blocks);
                }
                super::Step::Results(rs) => push(
                    Role::User,
                    rs.iter().map(|r| Block::Native(result(r))).collect(),
                ),
            }
        }
    }
    msgs
}

/// Appends a message's blocks to the previous message of the same role (Anthropic wants strict
/// alternation): adjacent texts are joined by a blank line.
pub(crate) fn join_blocks<'a>(prev: &mut Vec<Block<'a>>, next: Vec<Block<'a>>) {
    for b in next {
        match (prev.last_mut(), b) {
            (Some(Block::Text(s)), Block::Text(t)) => {
                s.push_str("\n\n");
                s.push_str(&t);
            }
            (_, b) => prev.push(b),
        }
    }
}

/// A text-only message's content is a string; one with an image is a list of `text` and
/// `image` blocks (base64 `source`).
fn content(blocks: Vec<Block>) -> Value {
    if let [Block::Text(t)] = blocks.as_slice() {
        return json!(t);
    }
    let blocks: Vec<Value> = blocks
        .into_iter()
        .map(|b| match b {
            Block::Text(t) => json!({"type": "text", "text": t}),
            Block::Image(i) => json!({"type": "image", "source": {
                "type": "base64", "media_type": i.media_type, "data": super::base64_of(i)
            }}),
            Block::Native(v) => v,
        })
        .collect();
    json!(blocks)
}

#[derive(Default)]
pub struct AnthropicDecoder {
    done: bool,
    stop_reason: Option<String>,
    /// Raw cumulative counters as Anthropic reports them.
    input: u64,
    cache_read: u64,
    cache_write: u64,
    cache_write_1h: u64,
    output: u64,
    thinking: u64,
    service_tier: Option<super::ServiceTier>,
    /// The `tool_use` block being streamed: (id, name, input JSON so far).
    tool: Option<(String, String, String)>,
}

impl AnthropicDecoder {
    /// A `tool_use` block ended: its input parsed into a call.
    fn end_tool(&mut self) -> Decoded {
        let Some((id, name, input)) = self.tool.take() else {
            return vec![];
        };
        match super::call_arguments(&input).map_err(|why| super::bad_call(&name, &why)) {
            Ok(arguments) => vec![StreamEvent::ToolCall(crate::parts::ToolCall {
                id,
                name,
                arguments,
                signature: None,
                approval: None,
            })],
            Err(e) => {
                self.done = true;
                vec![e]
            }
        }
    }

    fn absorb_usage(&mut self, u: &Value) -> StreamEvent {
        let get = |k: &str| u.get(k).and_then(Value::as_u64);
        if let Some(n) = get("input_tokens") {
            self.input = n;
        }
        if let Some(n) = get("cache_read_input_tokens") {
            self.cache_read = n;
        }
        if let Some(n) = get("cache_creation_input_tokens") {
            self.cache_write = n;
        }
        if let Some(n) = u
            .get("cache_creation")
            .and_then(|c| c.get("ephemeral_1h_input_tokens"))
            .and_then(Value::as_u64)
        {
            self.cache_write_1h = n;
        }
        if let Some(t) = u
            .get("service_tier")
            .and_then(Value::as_str)
            .and_then(super::ServiceTier::parse)
        {
            self.service_tier = Some(t);
        }
        if let Some(n) = get("output_tokens") {
            self.output = n;
        }
        if let Some(n) = u
            .get("output_tokens_details")
            .and_then(|d| d.get("thinking_tokens"))
            .and_then(Value::as_u64)
        {
            self.thinking = n;
        }
        StreamEvent::Usage(Usage {
            input_tokens: self.input + self.cache_read + self.cache_write,
            output_tokens: self.output,
            cached_input_tokens: self.cache_read,
            cache_write_tokens: self.cache_write,
            cache_write_1h_tokens: self.cache_write_1h.min(self.cache_write),
            reasoning_tokens: self.thinking,
            provider_cost_usd: None,
            service_tier: self.service_tier,
        })
    }
}

impl Decoder for AnthropicDecoder {
    fn feed(&mut self, event: &str, data: &str) -> Decoded {
        if self.done || data.trim().is_empty() {
            return vec![];
        }
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                self.done = true;
                return vec![json_err("anthropic", &e, data)];
            }
        };
        // Dispatch on the SSE event name; fall back to data.type when the name is absent.
        let name = if event.is_empty() || event == "message" {
            v.get("type").and_then(Value::as_str).unwrap_or("")
        } else {
            event
        };
        match name {
            "message_start" => match v.get("message").and_then(|m| m.get("usage")) {
                Some(u) => vec![self.absorb_usage(u)],
                None => vec![],
            },
            "content_block_start" => {
                let block = v.get("content_block");
                let text = block
                    .and_then(|b| b.get("text"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let thinking = block
                    .and_then(|b| b.get("thinking"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let mut out = vec![];
                if block.and_then(|b| b.get("type")).and_then(Value::as_str) == Some("tool_use") {
                    let f = |k: &str| {
                        block
                            .and_then(|b| b.get(k))
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    // `input` starts as {} and arrives in input_json_delta fragments.
                    let start = block
                        .and_then(|b| b.get("input"))
                        .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                        .map(|i| i.to_string())
                        .unwrap_or_default();
                    self.tool = Some((f("id"), f("name"), start));
                    return out;
                }
                if !thinking.is_empty() {
                    out.push(StreamEvent::ReasoningDelta(thinking.into()));
                }
                if !text.is_empty() {
                    out.push(StreamEvent::TextDelta(text.into()));
                }
                out
            }
            "content_block_delta" => {
                let d = v.get("delta");
                let kind = d
                    .and_then(|d| d.get("type"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let field = |k: &str| {
                    d.and_then(|d| d.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                };
                match kind {
                    "text_delta" => vec![StreamEvent::TextDelta(field("text"))],
                    "thinking_delta" => vec![StreamEvent::ReasoningDelta(field("thinking"))],
                    "input_json_delta" => {
                        if let Some((_, _, input)) = self.tool.as_mut() {
                            input.push_str(&field("partial_json"));
                        }
                        vec![]
                    }
                    _ => vec![], // signature, citations
                }
            }
            "content_block_stop" => self.end_tool(),
            "message_delta" => {
                if let Some(r) = v
                    .get("delta")
                    .and_then(|d| d.get("stop_reason"))
                    .and_then(Value::as_str)
                {
                    self.stop_reason = Some(r.to_string());
                }
                match v.get("usage") {
                    Some(u) => vec![self.absorb_usage(u)],
                    None => vec![],
                }
            }
            "message_stop" => {
                self.done = true;
                let reason = self
                    .stop_reason
                    .clone()
                    .unwrap_or_else(|| "end_turn".into());
                vec![StreamEvent::Finished { reason }]
            }
            "error" => {
                self.done = true;
                let e = v.get("error");
                let t = e
                    .and_then(|e| e.get("type"))
                    .and_then(Value::as_str)
                    .unwrap_or("error");
                let m = e
                    .and_then(|e| e.get("message"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                vec![StreamEvent::Error(ProviderError::from_stream(t, m))]
            }
            _ => vec![], // ping, unknown future events
        }
    }

    fn finish(&mut self, _non_sse: &str) -> Decoded {
        if self.done {
            return vec![];
        }
        self.done = true;
        if self.tool.is_some() {
            return vec![truncated(
                "the tool call was complete (its input was cut off)",
            )];
        }
        vec![truncated("message_stop")]
    }

    fn done(&self) -> bool {
        self.done
    }
}
