//! Ollama native `/api/chat` (NDJSON).

use super::{
    Block, ChatRequest, Decoded, Decoder, ProviderError, Role, StreamEvent, Usage, json_err,
    truncated,
};
use serde_json::{Value, json};

pub fn url(base_url: &str) -> String {
    format!("{}/api/chat", base_url.trim_end_matches('/'))
}

pub fn models_url(base_url: &str) -> String {
    format!("{}/api/tags", base_url.trim_end_matches('/'))
}

pub fn body(req: &ChatRequest) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = req.system.as_deref().filter(|s| !s.is_empty()) {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in &req.messages {
        if req.native_steps(m) {
            // Calls go on the assistant message (`arguments` an object); results are `tool`
            // messages named by the tool.
            for step in m.steps() {
                match step {
                    super::Step::Said { blocks, calls } => {
                        let (text, images) = text_and_images(blocks);
                        let mut msg = json!({"role": "assistant", "content": text});
                        if !images.is_empty() {
                            msg["images"] = json!(images);
                        }
                        if !calls.is_empty() {
                            msg["tool_calls"] = calls
                                .iter()
                                .map(|c| json!({"function": {"name": c.name, "arguments": c.arguments}}))
                                .collect();
                        }
                        messages.push(msg);
                    }
                    super::Step::Results(rs) => {
                        for r in rs {
                            messages.push(
                                json!({"role": "tool", "content": r.text, "tool_name": r.name}),
                            );
                        }
                    }
                }
            }
            continue;
        }
        let role = if m.role == Role::User {
            "user"
        } else {
            "assistant"
        };
        let (text, images) = text_and_images(m.blocks());
        let mut msg = json!({"role": role, "content": text});
        if !images.is_empty() {
            msg["images"] = json!(images);
        }
        messages.push(msg);
    }
    let mut body = json!({"model": req.model, "messages": messages, "stream": true});
    let mut options = serde_json::Map::new();
    if let Some(n) = req.max_tokens {
        options.insert("num_predict".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        options.insert("temperature".into(), json!(t));
    }
    if !options.is_empty() {
        body["options"] = Value::Object(options);
    }
    if let Some(s) = &req.schema {
        body["format"] = s.clone();
    }
    if !req.tools.is_empty() {
        body["tools"] = super::openai::tools(&req.tools);
    }
    body
}

/// Ollama takes a message's images as a list of base64 strings beside its text.
fn text_and_images(blocks: Vec<Block<'_>>) -> (String, Vec<Value>) {
    let mut text = String::new();
    let mut images = Vec::new();
    for b in blocks {
        match b {
            Block::Text(t) => {
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(&t);
            }
            Block::Image(i) => images.push(json!(super::base64_of(i))),
            Block::Native(_) => {}
        }
    }
    (text, images)
}

#[derive(Default)]
pub struct OllamaDecoder {
    done: bool,
    calls: usize,
}

impl Decoder for OllamaDecoder {
    fn feed(&mut self, _event: &str, line: &str) -> Decoded {
        if self.done || line.trim().is_empty() {
            return vec![];
        }
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                self.done = true;
                return vec![json_err("ollama", &e, line)];
            }
        };
        if let Some(e) = v.get("error") {
            self.done = true;
            let msg = e
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string());
            return vec![StreamEvent::Error(ProviderError::from_stream("", &msg))];
        }
        let mut out = Vec::new();
        let msg = v.get("message");
        if let Some(t) = msg
            .and_then(|m| m.get("thinking"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            out.push(StreamEvent::ReasoningDelta(t.to_string()));
        }
        if let Some(t) = msg
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            out.push(StreamEvent::TextDelta(t.to_string()));
        }
        // Calls arrive whole, `arguments` an object (some servers send a JSON text).
        if let Some(calls) = msg
            .and_then(|m| m.get("tool_calls"))
            .and_then(Value::as_array)
        {
            for c in calls {
                let f = c.get("function");
                let name = f
                    .and_then(|f| f.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let args = match f.and_then(|f| f.get("arguments")) {
                    Some(Value::String(s)) => {
                        super::call_arguments(s).map_err(|why| super::bad_call(name, &why))
                    }
                    Some(v) if v.is_object() => Ok(v.clone()),
                    None | Some(Value::Null) => Ok(json!({})),
                    Some(v) => Err(super::bad_call(
                        name,
                        &format!("its arguments are not a JSON object: {v}"),
                    )),
                };
                let args = match (name.is_empty(), args) {
                    (true, _) => Err(super::bad_call("(unnamed)", "it has no function name")),
                    (false, a) => a,
                };
                match args {
                    Ok(arguments) => {
                        self.calls += 1;
                        out.push(StreamEvent::ToolCall(crate::parts::ToolCall {
                            id: c
                                .get("id")
                                .and_then(Value::as_str)
                                .map(str::to_string)
                                .unwrap_or_else(|| format!("ollama-call-{}", self.calls)),
                            name: name.to_string(),
                            arguments,
                            signature: None,
                            approval: None,
                        }));
                    }
                    Err(e) => {
                        self.done = true;
                        out.push(e);
                        return out;
                    }
                }
            }
        }
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            self.done = true;
            let g = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
            out.push(StreamEvent::Usage(Usage {
                input_tokens: g("prompt_eval_count"),
                output_tokens: g("eval_count"),
                ..Usage::default()
            }));
            let reason = v
                .get("done_reason")
                .and_then(Value::as_str)
                .unwrap_or("stop")
                .to_string();
            out.push(StreamEvent::Finished { reason });
        }
        out
    }

    fn finish(&mut self, _non_sse: &str) -> Decoded {
        if self.done {
            return vec![];
        }
        self.done = true;
        vec![truncated("\"done\":true")]
    }

    fn done(&self) -> bool {
        self.done
    }
}
