use std::fmt;
use std::time::Duration;

/// Why a request failed. `as_str` names are part of the `--json` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Auth,
    RateLimited,
    /// Billing / quota exhausted: a 429 that will not go away by waiting.
    Quota,
    Overloaded,
    Server,
    BadRequest,
    ContextTooLong,
    NotFound,
    Network,
    Timeout,
    MalformedStream,
    ContentFilter,
    Cancelled,
    Config,
    /// A spend cap was reached (the request was refused, or its stream stopped).
    Budget,
    /// The answer reached `max_steps` while the model was still calling tools.
    StepLimit,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Auth => "auth",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Quota => "quota",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Server => "server",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::ContextTooLong => "context_too_long",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Network => "network",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Budget => "budget",
            ErrorKind::StepLimit => "step_limit",
            ErrorKind::MalformedStream => "malformed_stream",
            ErrorKind::ContentFilter => "content_filter",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Config => "config",
        }
    }

    /// Worth another attempt before any token arrived.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited | ErrorKind::Overloaded | ErrorKind::Server | ErrorKind::Network
        )
    }
}

/// A typed provider error with the provider's own message (never the API key).
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    /// `x-should-retry: false` from the server.
    pub no_retry: bool,
}

impl ProviderError {
    /// Every constructor masks API keys and credential-looking values in the message: a
    /// provider that echoes the key back cannot get it shown, logged or saved.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: crate::redact::redact(&message.into()),
            status: None,
            retry_after: None,
            no_retry: false,
        }
    }

    /// Classifies a non-2xx response from its status and body.
    pub fn from_http(status: u16, body: &str, retry_after: Option<Duration>) -> Self {
        let (message, code) = extract_message(body);
        let lower = format!("{} {}", message.to_lowercase(), code.to_lowercase());
        let kind = if is_context_error(&lower) {
            ErrorKind::ContextTooLong
        } else {
            match status {
                401 | 403 => ErrorKind::Auth,
                402 => ErrorKind::Quota,
                404 => ErrorKind::NotFound,
                408 => ErrorKind::Timeout,
                413 => ErrorKind::ContextTooLong,
                429 if lower.contains("insufficient_quota")
                    || lower.contains("quota") && lower.contains("exceeded your") =>
                {
                    ErrorKind::Quota
                }
                429 => ErrorKind::RateLimited,
                503 | 529 => ErrorKind::Overloaded,
                500..=599 => ErrorKind::Server,
                _ => ErrorKind::BadRequest,
            }
        };
        let message = if message.is_empty() {
            format!("HTTP {status}")
        } else {
            crate::redact::redact(&message)
        };
        ProviderError {
            kind,
            message,
            status: Some(status),
            retry_after,
            no_retry: false,
        }
    }

    /// Classifies an error object that arrived inside a 200 stream.
    pub fn from_stream(type_or_code: &str, message: &str) -> Self {
        let t = type_or_code.to_lowercase();
        let lower = format!("{t} {}", message.to_lowercase());
        let kind = if is_context_error(&lower) {
            ErrorKind::ContextTooLong
        } else if t.contains("overloaded") || t == "529" || t == "503" {
            ErrorKind::Overloaded
        } else if t.contains("rate_limit") || t == "429" {
            ErrorKind::RateLimited
        } else if t.contains("auth") || t == "401" || t == "403" {
            ErrorKind::Auth
        } else if t.contains("invalid_request") || t == "400" {
            ErrorKind::BadRequest
        } else if t.contains("not_found") || t == "404" {
            ErrorKind::NotFound
        } else {
            ErrorKind::Server
        };
        ProviderError::new(
            kind,
            if message.is_empty() {
                type_or_code.to_string()
            } else {
                message.to_string()
            },
        )
    }
}

fn is_context_error(lower: &str) -> bool {
    lower.contains("context_length_exceeded")
        || lower.contains("context length")
        || lower.contains("context window")
        || lower.contains("prompt is too long")
        || lower.contains("maximum context")
        || lower.contains("too many tokens")
}

/// Pulls the human message (and a type/code) out of any provider's JSON error body.
/// Falls back to the (trimmed, shortened) body text.
pub fn extract_message(body: &str) -> (String, String) {
    let trimmed = body.trim();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(trimmed) {
        let err = v.get("error").unwrap_or(&v);
        if let Some(s) = err.as_str() {
            return (s.to_string(), String::new()); // Ollama: {"error":"msg"}
        }
        let msg = err
            .get("message")
            .and_then(|m| m.as_str())
            .unwrap_or("")
            .to_string();
        let code = ["type", "code", "status"]
            .iter()
            .filter_map(|k| err.get(*k))
            .map(|c| match c {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" ");
        if !msg.is_empty() {
            return (msg, code);
        }
    }
    let short: String = trimmed.chars().take(300).collect();
    (short, String::new())
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.kind {
            ErrorKind::Auth => "authentication failed",
            ErrorKind::RateLimited => "rate limited",
            ErrorKind::Quota => "quota or billing limit reached",
            ErrorKind::Overloaded => "provider overloaded",
            ErrorKind::Server => "provider error",
            ErrorKind::BadRequest => "bad request",
            ErrorKind::ContextTooLong => "context too long",
            ErrorKind::NotFound => "not found",
            ErrorKind::Network => "network error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::MalformedStream => "malformed stream",
            ErrorKind::ContentFilter => "blocked by content filter",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Config => "configuration error",
            ErrorKind::Budget => "budget reached",
            ErrorKind::StepLimit => "step limit",
        };
        match self.status {
            Some(s) => write!(f, "{label} (HTTP {s}): {}", self.message),
            None => write!(f, "{label}: {}", self.message),
        }
    }
}

impl std::error::Error for ProviderError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_openai_429_body() {
        let body = r#"{"error":{"message":"Rate limit reached","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
        let e = ProviderError::from_http(429, body, None);
        assert_eq!(e.kind, ErrorKind::RateLimited);
        assert_eq!(e.message, "Rate limit reached");
        let q = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        assert_eq!(
            ProviderError::from_http(429, q, None).kind,
            ErrorKind::Quota
        );
    }

    #[test]
    fn classifies_anthropic_gemini_ollama_bodies() {
        let a = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#;
        assert_eq!(
            ProviderError::from_http(529, a, None).kind,
            ErrorKind::Overloaded
        );
        let g =
            r#"{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT"}}"#;
        let e = ProviderError::from_http(400, g, None);
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::BadRequest, "API key not valid.")
        );
        let o = r#"{"error":"model 'x' not found"}"#;
        assert_eq!(
            ProviderError::from_http(404, o, None).message,
            "model 'x' not found"
        );
        let c = r#"{"error":{"message":"This model's maximum context length is 128000 tokens","code":"context_length_exceeded"}}"#;
        assert_eq!(
            ProviderError::from_http(400, c, None).kind,
            ErrorKind::ContextTooLong
        );
        assert_eq!(
            ProviderError::from_http(502, "<html>bad gateway</html>", None).message,
            "<html>bad gateway</html>"
        );
    }
}
