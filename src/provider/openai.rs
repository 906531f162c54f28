//! OpenAI Chat Completions SSE, and every OpenAI-compatible server (OpenRouter, Groq, DeepSeek,
//! Mistral, vLLM, llama.cpp, LM Studio, LiteLLM, Ollama's /v1).

use super::{
    Block, ChatRequest, Decoded, Decoder, ErrorKind, ProviderError, Role, StreamEvent, Usage,
    json_err, truncated,
};
use serde_json::{Value, json};

pub fn url(base_url: &str) -> String {
    format!("{}/chat/completions", base_url.trim_end_matches('/'))
}

pub fn models_url(base_url: &str) -> String {
    format!("{}/models", base_url.trim_end_matches('/'))
}

pub fn body(req: &ChatRequest) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = req.system.as_deref().filter(|s| !s.is_empty()) {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in &req.messages {
        if req.native_steps(m) {
            push_steps(&mut messages, m);
            continue;
        }
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        };
        messages.push(json!({"role": role, "content": content(m)}));
    }
    let mut body = json!({
        "model": req.model,
        "messages": messages,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    if let Some(n) = req.max_tokens {
        body["max_tokens"] = json!(n);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(s) = &req.schema {
        body["response_format"] =
            json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": s}});
    }
    if !req.tools.is_empty() {
        body["tools"] = tools(&req.tools);
    }
    body
}

/// Tool definitions in the Chat Completions form (Ollama's is the same).
pub(crate) fn tools(specs: &[super::ToolSpec]) -> Value {
    specs
        .iter()
        .map(|t| {
            json!({"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters
            }})
        })
        .collect()
}

/// An answer that used tools: assistant messages with `tool_calls`, each followed by one
/// `tool` message per result.
fn push_steps(messages: &mut Vec<Value>, m: &super::ChatMessage) {
    for step in m.steps() {
        match step {
            super::Step::Said { blocks, calls } => {
                let text = blocks_text(&blocks);
                let mut msg = json!({"role": "assistant", "content": text});
                if !calls.is_empty() {
                    msg["tool_calls"] = calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function", "function": {
                                "name": c.name, "arguments": c.arguments.to_string()
                            }})
                        })
                        .collect();
                }
                messages.push(msg);
            }
            super::Step::Results(rs) => {
                for r in rs {
                    messages.push(
                        json!({"role": "tool", "tool_call_id": r.call_id, "content": r.text}),
                    );
                }
            }
        }
    }
}

/// The text of an assistant step (null when it said nothing, as the API sends it).
fn blocks_text(blocks: &[Block<'_>]) -> Value {
    let t: Vec<&str> = blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.as_str()),
            Block::Image(_) | Block::Native(_) => None,
        })
        .collect();
    if t.is_empty() {
        Value::Null
    } else {
        json!(t.join("\n\n"))
    }
}

/// A text-only message's content is a string (every compatible server takes that); one with an
/// image is an array of `text` and `image_url` (data URL) parts.
fn content(m: &super::ChatMessage) -> Value {
    if let Some(text) = m.plain_text() {
        return json!(text);
    }
    let parts: Vec<Value> = m
        .blocks()
        .into_iter()
        .map(|b| match b {
            Block::Text(t) => json!({"type": "text", "text": t}),
            Block::Image(i) => json!({"type": "image_url", "image_url": {
                "url": format!("data:{};base64,{}", i.media_type, super::base64_of(i))
            }}),
            Block::Native(v) => v,
        })
        .collect();
    json!(parts)
}

#[derive(Default)]
pub struct OpenAiDecoder {
    done: bool,
    finish_reason: Option<String>,
    service_tier: Option<super::ServiceTier>,
    /// Tool calls being streamed, by index: (id, name, argument fragments so far).
    calls: Vec<(u64, String, String, String)>,
}

impl OpenAiDecoder {
    /// The gathered calls, parsed, before `Finished` (a malformed one is the turn's error).
    fn take_calls(&mut self) -> Decoded {
        let mut out = Vec::new();
        for (i, (_, id, name, args)) in std::mem::take(&mut self.calls).into_iter().enumerate() {
            if name.is_empty() {
                out.push(super::bad_call("(unnamed)", "it has no function name"));
                return out;
            }
            match super::call_arguments(&args).map_err(|why| super::bad_call(&name, &why)) {
                Ok(arguments) => out.push(StreamEvent::ToolCall(crate::parts::ToolCall {
                    id: if id.is_empty() {
                        format!("call_{i}")
                    } else {
                        id
                    },
                    name,
                    arguments,
                    signature: None,
                    approval: None,
                })),
                Err(e) => {
                    out.push(e);
                    return out;
                }
            }
        }
        out
    }

    fn gather(&mut self, deltas: &[Value]) {
        for d in deltas {
            let index = d.get("index").and_then(Value::as_u64).unwrap_or(0);
            let pos = match self.calls.iter().position(|c| c.0 == index) {
                Some(p) => p,
                None => {
                    self.calls
                        .push((index, String::new(), String::new(), String::new()));
                    self.calls.len() - 1
                }
            };
            let c = &mut self.calls[pos];
            if let Some(id) = d.get("id").and_then(Value::as_str) {
                c.1.push_str(id);
            }
            if let Some(f) = d.get("function") {
                if let Some(n) = f.get("name").and_then(Value::as_str) {
                    c.2.push_str(n);
                }
                if let Some(a) = f.get("arguments") {
                    match a {
                        Value::String(s) => c.3.push_str(s),
                        // Some compatible servers send the arguments as an object, whole.
                        Value::Object(_) => c.3.push_str(&a.to_string()),
                        _ => {}
                    }
                }
            }
        }
    }

    /// The end of the answer: its calls first, then `Finished`.
    fn finished(&mut self, reason: String) -> Decoded {
        let mut out = self.take_calls();
        if !matches!(out.last(), Some(StreamEvent::Error(_))) {
            out.push(StreamEvent::Finished { reason });
        }
        out
    }
}

fn u(v: &Value, path: &[&str]) -> u64 {
    let mut cur = v;
    for p in path {
        match cur.get(*p) {
            Some(n) => cur = n,
            None => return 0,
        }
    }
    cur.as_u64().unwrap_or(0)
}

pub(crate) fn usage_from(v: &Value) -> Usage {
    let mut cached = u(v, &["prompt_tokens_details", "cached_tokens"]);
    if cached == 0 {
        cached = u(v, &["prompt_cache_hit_tokens"]); // DeepSeek
    }
    let prompt = u(v, &["prompt_tokens"]);
    let completion = u(v, &["completion_tokens"]);
    let reasoning = u(v, &["completion_tokens_details", "reasoning_tokens"]);
    let total = u(v, &["total_tokens"]);
    // OpenAI counts reasoning inside completion_tokens (total = prompt + completion); xAI
    // outside (total = prompt + completion + reasoning). Output includes reasoning, once.
    let outside = reasoning > 0 && total > 0 && total == prompt + completion + reasoning;
    Usage {
        input_tokens: prompt,
        output_tokens: if outside {
            completion + reasoning
        } else {
            completion
        },
        cached_input_tokens: cached,
        cache_write_tokens: u(v, &["prompt_tokens_details", "cache_write_tokens"]),
        reasoning_tokens: reasoning,
        provider_cost_usd: v.get("cost").and_then(Value::as_f64),
        ..Usage::default()
    }
}

impl Decoder for OpenAiDecoder {
    fn feed(&mut self, _event: &str, data: &str) -> Decoded {
        let data = data.trim();
        if data.is_empty() || self.done {
            return vec![];
        }
        if data == "[DONE]" {
            self.done = true;
            let reason = self.finish_reason.clone().unwrap_or_else(|| "stop".into());
            return self.finished(reason);
        }
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                self.done = true;
                return vec![json_err("openai", &e, data)];
            }
        };
        let mut out = Vec::new();
        if let Some(choices) = v.get("choices").and_then(Value::as_array) {
            for c in choices
                .iter()
                .filter(|c| c.get("index").and_then(Value::as_u64).unwrap_or(0) == 0)
            {
                if let Some(delta) = c.get("delta") {
                    for key in ["reasoning_content", "reasoning"] {
                        if let Some(r) = delta
                            .get(key)
                            .and_then(Value::as_str)
                            .filter(|s| !s.is_empty())
                        {
                            out.push(StreamEvent::ReasoningDelta(r.to_string()));
                        }
                    }
                    if let Some(t) = delta
                        .get("content")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                    {
                        out.push(StreamEvent::TextDelta(t.to_string()));
                    }
                    if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                        self.gather(calls);
                    }
                    if let Some(t) = delta
                        .get("refusal")
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                    {
                        out.push(StreamEvent::TextDelta(t.to_string()));
                    }
                }
                if let Some(r) = c.get("finish_reason").and_then(Value::as_str) {
                    self.finish_reason = Some(r.to_string());
                }
            }
        }
        let usage = v
            .get("usage")
            .filter(|u| u.is_object())
            .or_else(|| v.get("x_groq").and_then(|x| x.get("usage")));
        if let Some(t) = v
            .get("service_tier")
            .and_then(Value::as_str)
            .and_then(super::ServiceTier::parse)
        {
            self.service_tier = Some(t);
        }
        if let Some(usage) = usage.filter(|u| u.is_object()) {
            let mut u = usage_from(usage);
            u.service_tier = self.service_tier;
            out.push(StreamEvent::Usage(u));
        }
        let err = v
            .get("error")
            .filter(|e| !e.is_null())
            .or_else(|| v.get("x_groq").and_then(|x| x.get("error")));
        if let Some(err) = err {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .or(err.as_str())
                .unwrap_or("error in stream");
            let code = ["code", "type"]
                .iter()
                .find_map(|k| err.get(*k).filter(|c| !c.is_null()))
                .map(|c| {
                    c.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| c.to_string())
                })
                .unwrap_or_default();
            self.done = true;
            out.push(StreamEvent::Error(ProviderError::from_stream(&code, msg)));
        } else if self.finish_reason.as_deref() == Some("content_filter") {
            self.done = true;
            out.push(StreamEvent::Error(ProviderError::new(
                ErrorKind::ContentFilter,
                "the provider's content filter stopped the answer",
            )));
        }
        out
    }

    fn finish(&mut self, _non_sse: &str) -> Decoded {
        if self.done {
            return vec![];
        }
        self.done = true;
        // Some servers (ik_llama.cpp without --send-done) never send [DONE]; a finish_reason is
        // enough to know the answer is complete.
        match self.finish_reason.clone() {
            Some(reason) => self.finished(reason),
            None if !self.calls.is_empty() => vec![truncated(
                "the tool call was complete (its arguments were cut off)",
            )],
            None => vec![truncated("a finish_reason or [DONE]")],
        }
    }

    fn done(&self) -> bool {
        self.done
    }
}
