//! Google Gemini `streamGenerateContent?alt=sse` (CRLF framing, no [DONE]).

use super::{
    Block, ChatRequest, Decoded, Decoder, ErrorKind, ProviderError, Role, StreamEvent, Usage,
    json_err, truncated,
};
use serde_json::{Value, json};

pub fn url(base_url: &str, model: &str) -> String {
    format!(
        "{}/models/{}:streamGenerateContent?alt=sse",
        base_url.trim_end_matches('/'),
        model
    )
}

pub fn models_url(base_url: &str) -> String {
    format!("{}/models", base_url.trim_end_matches('/'))
}

pub fn body(req: &ChatRequest) -> Value {
    // Calls are `functionCall` parts of the model's turn (with the signature Gemini gave
    // them); results `functionResponse` parts of the user turn after it.
    let contents = super::anthropic::alternating(
        req,
        |c| {
            let mut p = json!({"functionCall": {"name": c.name, "args": c.arguments}});
            if !c.id.starts_with(GENERATED_ID) {
                p["functionCall"]["id"] = json!(c.id);
            }
            if let Some(sig) = &c.signature {
                p["thoughtSignature"] = json!(sig);
            }
            p
        },
        |r| {
            let key = if r.is_error { "error" } else { "result" };
            let mut f = json!({"name": r.name, "response": {key: r.text}});
            if !r.call_id.starts_with(GENERATED_ID) {
                f["id"] = json!(r.call_id);
            }
            json!({"functionResponse": f})
        },
    );
    let contents: Vec<Value> = contents
        .into_iter()
        .map(|(role, blocks)| {
            let role = if role == Role::User { "user" } else { "model" };
            let parts: Vec<Value> = blocks
                .into_iter()
                .map(|b| match b {
                    Block::Text(t) => json!({"text": t}),
                    Block::Image(i) => json!({"inlineData": {
                        "mimeType": i.media_type, "data": super::base64_of(i)
                    }}),
                    Block::Native(v) => v,
                })
                .collect();
            json!({"role": role, "parts": parts})
        })
        .collect();
    let mut body = json!({ "contents": contents });
    if let Some(system) = req.system.as_deref().filter(|s| !s.is_empty()) {
        body["systemInstruction"] = json!({"parts": [{"text": system}]});
    }
    let mut gen_cfg = serde_json::Map::new();
    if let Some(n) = req.max_tokens {
        gen_cfg.insert("maxOutputTokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        gen_cfg.insert("temperature".into(), json!(t));
    }
    if let Some(s) = &req.schema {
        gen_cfg.insert("responseMimeType".into(), json!("application/json"));
        gen_cfg.insert("responseSchema".into(), crate::schema::for_gemini(s));
    }
    if !gen_cfg.is_empty() {
        body["generationConfig"] = Value::Object(gen_cfg);
    }
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                json!({"name": t.name, "description": t.description,
                       "parameters": crate::schema::for_gemini(&t.parameters)})
            })
            .collect();
        body["tools"] = json!([{"functionDeclarations": decls}]);
    }
    body
}

/// Ids charla gives calls that came without one (older Gemini models); not sent back.
const GENERATED_ID: &str = "gemini-call-";

/// A Gemini `error` object (`{code, message, status}`) as a typed error.
fn error_from(err: &Value) -> ProviderError {
    let status = err.get("status").and_then(Value::as_str).unwrap_or("");
    let code = err.get("code").map(|c| c.to_string()).unwrap_or_default();
    let msg = err.get("message").and_then(Value::as_str).unwrap_or(status);
    let code = if status.is_empty() {
        code
    } else {
        status.to_string()
    };
    let mut e = ProviderError::from_stream(&code, msg);
    if status == "RESOURCE_EXHAUSTED" {
        e.kind = ErrorKind::RateLimited;
    } else if status == "UNAVAILABLE" {
        e.kind = ErrorKind::Overloaded;
    }
    e
}

/// Gemini can end a 200 stream with a raw (non-SSE, multi-line) JSON error that SSE parsing
/// drops; given the body's non-SSE lines, this recovers it.
fn raw_error(non_sse: &str) -> Option<ProviderError> {
    let v: Value = serde_json::from_str(non_sse.trim()).ok()?;
    v.get("error").map(error_from)
}

#[derive(Default)]
pub struct GeminiDecoder {
    done: bool,
    finish_reason: Option<String>,
    calls: usize,
}

const BLOCKED: &[&str] = &[
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "IMAGE_SAFETY",
];

impl Decoder for GeminiDecoder {
    fn feed(&mut self, _event: &str, data: &str) -> Decoded {
        if self.done || data.trim().is_empty() {
            return vec![];
        }
        let v: Value = match serde_json::from_str(data) {
            Ok(v) => v,
            Err(e) => {
                self.done = true;
                return vec![json_err("gemini", &e, data)];
            }
        };
        let mut out = Vec::new();
        if let Some(err) = v.get("error") {
            self.done = true;
            return vec![StreamEvent::Error(error_from(err))];
        }
        if let Some(reason) = v
            .get("promptFeedback")
            .and_then(|p| p.get("blockReason"))
            .and_then(Value::as_str)
        {
            self.done = true;
            return vec![StreamEvent::Error(ProviderError::new(
                ErrorKind::ContentFilter,
                format!("the prompt was blocked ({reason})"),
            ))];
        }
        let cand = v
            .get("candidates")
            .and_then(Value::as_array)
            .and_then(|c| c.first());
        if let Some(parts) = cand
            .and_then(|c| c.get("content"))
            .and_then(|c| c.get("parts"))
            .and_then(Value::as_array)
        {
            for p in parts {
                if let Some(f) = p.get("functionCall") {
                    let name = f.get("name").and_then(Value::as_str).unwrap_or("");
                    let args = f.get("args").cloned().unwrap_or_else(|| json!({}));
                    if name.is_empty() || !args.is_object() {
                        self.done = true;
                        out.push(super::bad_call(
                            name,
                            "no name, or arguments that are not an object",
                        ));
                        return out;
                    }
                    self.calls += 1;
                    out.push(StreamEvent::ToolCall(crate::parts::ToolCall {
                        id: f
                            .get("id")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{GENERATED_ID}{}", self.calls)),
                        name: name.to_string(),
                        arguments: args,
                        signature: p
                            .get("thoughtSignature")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        approval: None,
                    }));
                    continue;
                }
                if let Some(t) = p
                    .get("text")
                    .and_then(Value::as_str)
                    .filter(|t| !t.is_empty())
                {
                    if p.get("thought").and_then(Value::as_bool).unwrap_or(false) {
                        out.push(StreamEvent::ReasoningDelta(t.to_string()));
                    } else {
                        out.push(StreamEvent::TextDelta(t.to_string()));
                    }
                }
            }
        }
        if let Some(m) = v.get("usageMetadata") {
            let g = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
            let thoughts = g("thoughtsTokenCount");
            out.push(StreamEvent::Usage(Usage {
                input_tokens: g("promptTokenCount") + g("toolUsePromptTokenCount"),
                output_tokens: g("candidatesTokenCount") + thoughts,
                cached_input_tokens: g("cachedContentTokenCount"),
                cache_write_tokens: 0,
                reasoning_tokens: thoughts,
                ..Usage::default()
            }));
        }
        if let Some(r) = cand
            .and_then(|c| c.get("finishReason"))
            .and_then(Value::as_str)
        {
            self.finish_reason = Some(r.to_string());
            if r == "MALFORMED_FUNCTION_CALL" || r == "UNEXPECTED_TOOL_CALL" {
                self.done = true;
                out.push(super::bad_call(
                    "(unknown)",
                    &format!("Gemini stopped the answer with finishReason {r}"),
                ));
            } else if BLOCKED.contains(&r) {
                self.done = true;
                out.push(StreamEvent::Error(ProviderError::new(
                    ErrorKind::ContentFilter,
                    format!("the answer was stopped by the provider (finishReason {r})"),
                )));
            }
        }
        out
    }

    fn finish(&mut self, non_sse: &str) -> Decoded {
        if self.done {
            return vec![];
        }
        self.done = true;
        match self.finish_reason.clone() {
            Some(reason) => vec![StreamEvent::Finished { reason }],
            // Gemini has no [DONE]: EOF without a finishReason means the answer was cut. A
            // mid-stream error arrives as raw multi-line JSON, outside SSE: report that.
            None => vec![match raw_error(non_sse) {
                Some(e) => StreamEvent::Error(e),
                None => truncated("a finishReason"),
            }],
        }
    }

    fn done(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_stream_reports_the_raw_json_error_it_carried() {
        let raw = "{\n  \"error\": {\n    \"code\": 499,\n    \"message\": \"The operation was cancelled.\",\n    \"status\": \"CANCELLED\"\n  }\n}\n";
        let mut d = GeminiDecoder::default();
        match d.finish(raw).as_slice() {
            [StreamEvent::Error(e)] => assert_eq!(e.message, "The operation was cancelled."),
            other => panic!("{other:?}"),
        }
        let mut d = GeminiDecoder::default();
        match d.finish("").as_slice() {
            [StreamEvent::Error(e)] => assert_eq!(e.kind, ErrorKind::MalformedStream),
            other => panic!("{other:?}"),
        }
        let mut d = GeminiDecoder::default();
        d.feed(
            "",
            r#"{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}"#,
        );
        assert_eq!(
            d.finish(raw),
            vec![StreamEvent::Finished {
                reason: "STOP".into()
            }],
            "a finished answer stays finished"
        );
    }
}
