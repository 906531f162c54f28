//! A provider's own model list: OpenAI-compatible `/models`, Anthropic `/models`, Gemini
//! `/models`, Ollama `/api/tags`.

use super::{ErrorKind, Kind, ProviderError, anthropic, gemini, ollama, openai};
use crate::config::Config;
use serde_json::Value;

/// Parses a model-list body of `kind` into model ids.
pub fn parse(kind: Kind, body: &str) -> Result<Vec<String>, ProviderError> {
    let v: Value = serde_json::from_str(body).map_err(|e| {
        ProviderError::new(
            ErrorKind::MalformedStream,
            format!("model list is not JSON: {e}"),
        )
    })?;
    let mut out: Vec<String> = match kind {
        Kind::Ollama => v
            .get("models")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| {
                m.get("name")
                    .or_else(|| m.get("model"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect(),
        Kind::Gemini => v
            .get("models")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|m| {
                m.get("supportedGenerationMethods")
                    .and_then(Value::as_array)
                    .is_none_or(|a| a.iter().any(|x| x == "generateContent"))
            })
            .filter_map(|m| {
                m.get("name")
                    .and_then(Value::as_str)
                    .map(|n| n.trim_start_matches("models/").to_string())
            })
            .collect(),
        _ => v
            .get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_string))
            .collect(),
    };
    // Ids come from a server: a key it echoes is masked here like in its errors.
    for id in &mut out {
        *id = crate::redact::redact(id);
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A failed list request, said plainly for a local server that is simply not running.
fn unreachable(ep: &super::stream::Endpoint, e: reqwest::Error) -> ProviderError {
    let err = super::stream::network_error(e);
    if err.message.contains("Connection refused") {
        return ProviderError::new(
            ErrorKind::Network,
            format!("not reachable at {} (is it running?)", ep.base_url),
        );
    }
    err
}

/// Fetches the model list of `provider` (bounded by its timeouts).
pub async fn fetch(cfg: &Config, provider: &str) -> Result<Vec<String>, ProviderError> {
    let ep = cfg.endpoint(provider)?;
    let url = match ep.kind {
        Kind::Openai => openai::models_url(&ep.base_url),
        Kind::Anthropic => anthropic::models_url(&ep.base_url),
        Kind::Gemini => gemini::models_url(&ep.base_url),
        Kind::Ollama => ollama::models_url(&ep.base_url),
        Kind::Demo => return Ok(vec!["charla-demo".into()]),
    };
    let client = ep.client()?;
    let req = ep.auth(client.get(url)).timeout(
        ep.timeouts
            .first_token
            .min(std::time::Duration::from_secs(15)),
    );
    let resp = req.send().await.map_err(|e| unreachable(&ep, e))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| unreachable(&ep, e))?;
    if !(200..300).contains(&status) {
        return Err(ProviderError::from_http(status, &body, None));
    }
    parse(ep.kind, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let o =
            r#"{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"},{"id":"gpt-4.1"}]}"#;
        assert_eq!(
            parse(Kind::Openai, o).ok(),
            Some(vec!["gpt-4.1".to_string(), "gpt-4o-mini".to_string()])
        );
        let t = r#"{"models":[{"name":"qwen3:8b","model":"qwen3:8b","size":1}]}"#;
        assert_eq!(
            parse(Kind::Ollama, t).ok(),
            Some(vec!["qwen3:8b".to_string()])
        );
        let g = r#"{"models":[{"name":"models/gemini-2.5-flash","supportedGenerationMethods":["generateContent"]},{"name":"models/embedding-001","supportedGenerationMethods":["embedContent"]}]}"#;
        assert_eq!(
            parse(Kind::Gemini, g).ok(),
            Some(vec!["gemini-2.5-flash".to_string()])
        );
    }
}
