//! Exact input token counts from the providers' free counting endpoints (Anthropic
//! `messages/count_tokens`, Gemini `countTokens`), for `exact_estimates = true`. A provider
//! without one, or a failed count, leaves the local estimate in use.

use super::stream::Endpoint;
use super::{ChatRequest, ErrorKind, Kind, ProviderError, anthropic, gemini};
use serde_json::Value;

/// Whether `kind` has a counting endpoint.
pub fn supported(kind: Kind) -> bool {
    matches!(kind, Kind::Anthropic | Kind::Gemini)
}

/// The exact input tokens of `req` as the provider counts them.
pub async fn count(ep: &Endpoint, req: &ChatRequest) -> Result<u64, ProviderError> {
    let base = ep.base_url.trim_end_matches('/');
    let (url, body, field) = match ep.kind {
        Kind::Anthropic => {
            let mut b = anthropic::body(req);
            if let Some(o) = b.as_object_mut() {
                o.remove("stream");
                o.remove("max_tokens");
                o.remove("temperature");
                o.remove("output_format");
            }
            (format!("{base}/messages/count_tokens"), b, "input_tokens")
        }
        Kind::Gemini => {
            let mut b = gemini::body(req);
            if let Some(o) = b.as_object_mut() {
                o.remove("generationConfig");
            }
            let body = serde_json::json!({"generateContentRequest": {
                "model": format!("models/{}", req.model),
                "contents": b["contents"],
                "systemInstruction": b.get("systemInstruction").cloned().unwrap_or(Value::Null),
            }});
            (
                format!("{base}/models/{}:countTokens", req.model),
                body,
                "totalTokens",
            )
        }
        _ => {
            return Err(ProviderError::new(
                ErrorKind::Config,
                "this provider has no token-counting endpoint",
            ));
        }
    };
    let v = super::stream::post_json(ep, url, &body, "the token count").await?;
    v.get(field).and_then(Value::as_u64).ok_or_else(|| {
        ProviderError::new(
            ErrorKind::MalformedStream,
            format!("the token count has no {field}"),
        )
    })
}
