//! Embeddings for retrieval: OpenAI-compatible `/embeddings` (OpenAI, OpenRouter, vLLM,
//! llama.cpp, LM Studio, LiteLLM…), Ollama `/api/embed`, Gemini `:batchEmbedContents`.
//! Anthropic has no embeddings API.

use super::stream::Endpoint;
use super::{ErrorKind, Kind, ProviderError};
use serde_json::{Value, json};

/// Vectors for some texts, and the input tokens the provider counted (0 when it says none).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    pub input_tokens: u64,
}

fn malformed(why: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ErrorKind::MalformedStream,
        format!("the embeddings answer is malformed: {why}"),
    )
}

fn floats(v: &Value) -> Option<Vec<f32>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect()
}

/// Embeds `texts` with `model` on `ep`, one request.
pub async fn embed(
    ep: &Endpoint,
    model: &str,
    texts: &[String],
) -> Result<Embedded, ProviderError> {
    let base = ep.base_url.trim_end_matches('/');
    let (url, body) = match ep.kind {
        Kind::Openai => (
            format!("{base}/embeddings"),
            json!({"model": model, "input": texts}),
        ),
        Kind::Ollama => (
            format!("{base}/api/embed"),
            json!({"model": model, "input": texts}),
        ),
        Kind::Gemini => (
            format!("{base}/models/{model}:batchEmbedContents"),
            json!({"requests": texts.iter().map(|t| json!({
                "model": format!("models/{model}"), "content": {"parts": [{"text": t}]}
            })).collect::<Vec<_>>()}),
        ),
        Kind::Anthropic | Kind::Demo => {
            return Err(ProviderError::new(
                ErrorKind::Config,
                format!(
                    "provider {} has no embeddings API (use an OpenAI-compatible, Gemini or Ollama model)",
                    ep.name
                ),
            ));
        }
    };
    let v = super::stream::post_json(ep, url, &body, "the embeddings answer").await?;
    let (vectors, tokens): (Option<Vec<Vec<f32>>>, u64) = match ep.kind {
        Kind::Openai => {
            let mut data: Vec<&Value> = v["data"]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            data.sort_by_key(|d| d["index"].as_u64().unwrap_or(0));
            (
                data.iter().map(|d| floats(&d["embedding"])).collect(),
                v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            )
        }
        Kind::Ollama => (
            v["embeddings"]
                .as_array()
                .map(|a| a.iter().filter_map(floats).collect()),
            v["prompt_eval_count"].as_u64().unwrap_or(0),
        ),
        _ => (
            v["embeddings"]
                .as_array()
                .map(|a| a.iter().filter_map(|e| floats(&e["values"])).collect()),
            0,
        ),
    };
    let vectors = vectors.ok_or_else(|| malformed("no vectors"))?;
    if vectors.len() != texts.len() {
        return Err(malformed(format!(
            "{} vectors for {} texts",
            vectors.len(),
            texts.len()
        )));
    }
    Ok(Embedded {
        vectors,
        input_tokens: tokens,
    })
}
