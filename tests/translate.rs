//! One history (system prompt, few-shot examples, an interrupted empty answer, a model switch)
//! translated into all four request bodies, asserted against the wire formats.

use charla::provider::{ChatMessage, ChatRequest, Role, anthropic, gemini, ollama, openai};
use serde_json::json;

fn history() -> ChatRequest {
    let m = |role, c: &str| ChatMessage::new(role, c);
    ChatRequest {
        model: "m".into(),
        system: Some("Be brief.".into()),
        messages: vec![
            m(Role::User, "example q"),
            m(Role::Assistant, "example a"),
            m(Role::User, "first"),
            m(Role::Assistant, ""), // an interrupted answer with no text
            m(Role::User, "second"),
        ],
        max_tokens: Some(100),
        temperature: None,
        schema: None,
        tools: vec![],
    }
}

#[test]
fn openai_body() {
    let b = openai::body(&history());
    assert_eq!(
        b,
        json!({"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":100,"messages":[
            {"role":"system","content":"Be brief."},
            {"role":"user","content":"example q"},{"role":"assistant","content":"example a"},
            {"role":"user","content":"first"},{"role":"assistant","content":""},{"role":"user","content":"second"}]})
    );
}

#[test]
fn anthropic_body_alternates_strictly() {
    let b = anthropic::body(&history());
    assert_eq!(
        b,
        json!({"model":"m","max_tokens":100,"stream":true,"system":"Be brief.","messages":[
            {"role":"user","content":"example q"},{"role":"assistant","content":"example a"},
            {"role":"user","content":"first\n\nsecond"}]})
    );
    let mut h = history();
    h.messages.remove(0);
    let b = anthropic::body(&h);
    assert_eq!(
        b["messages"][0]["role"], "user",
        "a history may not start with the assistant"
    );
}

#[test]
fn gemini_body_uses_model_role_and_system_instruction() {
    let b = gemini::body(&history());
    assert_eq!(
        b,
        json!({"systemInstruction":{"parts":[{"text":"Be brief."}]},"generationConfig":{"maxOutputTokens":100},"contents":[
            {"role":"user","parts":[{"text":"example q"}]},{"role":"model","parts":[{"text":"example a"}]},
            {"role":"user","parts":[{"text":"first\n\nsecond"}]}]})
    );
    assert_eq!(
        gemini::url("https://g/v1beta/", "gemini-2.5-flash"),
        "https://g/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    );
}

#[test]
fn ollama_body() {
    let b = ollama::body(&history());
    assert_eq!(
        b["messages"][0],
        json!({"role":"system","content":"Be brief."})
    );
    assert_eq!(b["options"], json!({"num_predict":100}));
    assert_eq!(b["stream"], true);
    assert_eq!(
        ollama::url("http://127.0.0.1:11434"),
        "http://127.0.0.1:11434/api/chat"
    );
}
