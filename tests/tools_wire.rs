//! Tool calls on the four wire formats: streamed calls decode into whole `ToolCall` events
//! under any split of the body; malformed and cut calls are the turn's error; tool steps in
//! the history translate into each format's own blocks (and into labelled text when the
//! request offers no tools).

use charla::parts::{Part, ToolCall, ToolResult};
use charla::provider::{
    ChatMessage, ChatRequest, ErrorKind, Kind, Role, StreamEvent, ToolSpec, anthropic, gemini,
    ollama, openai,
};
use serde_json::json;

const FIXTURES: &[(&str, Kind, &[u8])] = &[
    (
        "openai",
        Kind::Openai,
        include_bytes!("fixtures/wire/openai_tool_calls.txt"),
    ),
    (
        "anthropic",
        Kind::Anthropic,
        include_bytes!("fixtures/wire/anthropic_tool_use.txt"),
    ),
    (
        "gemini",
        Kind::Gemini,
        include_bytes!("fixtures/wire/gemini_function_call.txt"),
    ),
    (
        "ollama",
        Kind::Ollama,
        include_bytes!("fixtures/wire/ollama_tool_calls.ndjson"),
    ),
];

fn calls(evs: &[StreamEvent]) -> Vec<ToolCall> {
    evs.iter()
        .filter_map(|e| match e {
            StreamEvent::ToolCall(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn every_format_decodes_two_calls_with_their_arguments_whole() {
    for (name, kind, body) in FIXTURES {
        let evs = charla::fuzzing::decoded(*kind, vec![body.to_vec()]);
        let c = calls(&evs);
        assert_eq!(c.len(), 2, "{name}: {evs:?}");
        assert_eq!(c[0].name, "list_dir", "{name}");
        assert_eq!(c[0].arguments, json!({"path": "."}), "{name}");
        assert_eq!(c[1].name, "read_file", "{name}");
        assert_eq!(
            c[1].arguments,
            json!({"path": "README.md", "limit": 40}),
            "{name}"
        );
        assert_ne!(c[0].id, c[1].id, "{name}: ids tell the calls apart");
        // The calls come before the end of the answer, which ends normally.
        assert!(
            matches!(evs.last(), Some(StreamEvent::Finished { .. })),
            "{name}: {evs:?}"
        );
        assert!(
            !evs.iter().any(|e| matches!(e, StreamEvent::Error(_))),
            "{name}"
        );
    }
    let anthropic = charla::fuzzing::decoded(Kind::Anthropic, vec![FIXTURES[1].2.to_vec()]);
    assert_eq!(calls(&anthropic)[0].id, "toolu_01A09q90qw90lq917835lq9");
    assert!(anthropic.contains(&StreamEvent::TextDelta(
        "I'll look at the directory first.".into()
    )));
    let g = calls(&charla::fuzzing::decoded(
        Kind::Gemini,
        vec![FIXTURES[2].2.to_vec()],
    ));
    assert_eq!(
        g[0].signature.as_deref(),
        Some("CpwCAdHtim9sZxUq2bX3xk1Vfgc"),
        "Gemini's thought signature is kept to be sent back"
    );
    let o = calls(&charla::fuzzing::decoded(
        Kind::Ollama,
        vec![FIXTURES[3].2.to_vec()],
    ));
    assert_eq!(o[0].id, "call_8xgm2f1s");
}

#[test]
fn tool_call_streams_decode_the_same_split_at_every_byte() {
    for (name, kind, body) in FIXTURES {
        let whole = charla::fuzzing::decoded(*kind, vec![body.to_vec()]);
        for i in 1..body.len() {
            let got = charla::fuzzing::decoded(*kind, vec![body[..i].to_vec(), body[i..].to_vec()]);
            assert_eq!(got, whole, "{name} split at byte {i}");
        }
        // One byte per read.
        let bytes: Vec<Vec<u8>> = body.iter().map(|b| vec![*b]).collect();
        assert_eq!(
            charla::fuzzing::decoded(*kind, bytes),
            whole,
            "{name} byte by byte"
        );
    }
}

fn error_of(evs: &[StreamEvent]) -> Option<&charla::provider::ProviderError> {
    evs.iter().find_map(|e| match e {
        StreamEvent::Error(e) => Some(e),
        _ => None,
    })
}

#[test]
fn a_call_cut_mid_arguments_or_malformed_is_the_turns_error() {
    for (name, kind, body) in FIXTURES {
        // Cut inside the second call's arguments (its "README.md" is inside them).
        let s = String::from_utf8_lossy(body);
        let cut = s.rfind("ADME").expect("README") + 2;
        let evs = charla::fuzzing::decoded(*kind, vec![body[..cut].to_vec()]);
        let e = error_of(&evs).unwrap_or_else(|| panic!("{name}: {evs:?}"));
        assert_eq!(e.kind, ErrorKind::MalformedStream, "{name}: {e}");
        assert!(
            !evs.iter()
                .any(|e| matches!(e, StreamEvent::Finished { .. })),
            "{name}: never finished"
        );
    }
    // Arguments that are not JSON, whole.
    let bad = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":\"{\\\"path\\\": READ\"}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n";
    let evs = charla::fuzzing::decoded(Kind::Openai, vec![bad.to_vec()]);
    let e = error_of(&evs).expect("error");
    assert!(
        e.message.contains("read_file") && e.message.contains("not valid JSON"),
        "{e}"
    );
    assert!(calls(&evs).is_empty());
    let anth = b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"list_dir\",\"input\":{}}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"[1, 2]\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
    let evs = charla::fuzzing::decoded(Kind::Anthropic, vec![anth.to_vec()]);
    assert!(
        error_of(&evs).is_some_and(|e| e.message.contains("not a JSON object")),
        "{evs:?}"
    );
    let gem = b"data: {\"candidates\":[{\"content\":{\"parts\":[],\"role\":\"model\"},\"finishReason\":\"MALFORMED_FUNCTION_CALL\"}]}\r\n\r\n";
    let evs = charla::fuzzing::decoded(Kind::Gemini, vec![gem.to_vec()]);
    assert!(
        error_of(&evs).is_some_and(|e| e.message.contains("MALFORMED_FUNCTION_CALL")),
        "{evs:?}"
    );
}

fn call(id: &str, name: &str, args: serde_json::Value) -> Part {
    Part::ToolCall(ToolCall {
        id: id.into(),
        name: name.into(),
        arguments: args,
        signature: (id == "c1").then(|| "sig-1".to_string()),
        approval: Some("once".into()),
    })
}

fn result(id: &str, name: &str, text: &str, err: bool) -> Part {
    let mut r = ToolResult::error(
        &ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: json!({}),
            signature: None,
            approval: None,
        },
        text,
    );
    r.is_error = err;
    Part::ToolResult(r)
}

/// A question and an answer that took two steps of tools: two parallel calls, then one (its
/// result an error), then the final words.
fn tooled(with_tools: bool) -> ChatRequest {
    let mut answer = ChatMessage::new(Role::Assistant, "The README says hello.");
    answer.parts = vec![
        Part::Text {
            text: "Looking.".into(),
            source: None,
        },
        call("c1", "list_dir", json!({"path": "."})),
        call("c2", "current_time", json!({})),
        result("c1", "list_dir", "README.md  12 B", false),
        result("c2", "current_time", "2026-12-01T12:00:00Z", false),
        call("c3", "read_file", json!({"path": "README.md"})),
        result("c3", "read_file", "no such file", true),
    ];
    ChatRequest {
        model: "m".into(),
        system: None,
        messages: vec![
            ChatMessage::new(Role::User, "what is here?"),
            answer,
            ChatMessage::new(Role::User, "thanks"),
        ],
        max_tokens: Some(100),
        temperature: None,
        schema: None,
        tools: if with_tools {
            vec![ToolSpec {
                name: "read_file".into(),
                description: "Reads a file.".into(),
                parameters: json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
            }]
        } else {
            vec![]
        },
    }
}

#[test]
fn openai_and_ollama_send_tool_calls_then_tool_messages() {
    let b = openai::body(&tooled(true));
    assert_eq!(
        b["tools"],
        json!([{"type": "function", "function": {"name": "read_file", "description": "Reads a file.",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}])
    );
    assert_eq!(
        b["messages"],
        json!([
            {"role": "user", "content": "what is here?"},
            {"role": "assistant", "content": "Looking.", "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "list_dir", "arguments": "{\"path\":\".\"}"}},
                {"id": "c2", "type": "function", "function": {"name": "current_time", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "README.md  12 B"},
            {"role": "tool", "tool_call_id": "c2", "content": "2026-12-01T12:00:00Z"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c3", "type": "function", "function": {"name": "read_file", "arguments": "{\"path\":\"README.md\"}"}}]},
            {"role": "tool", "tool_call_id": "c3", "content": "no such file"},
            {"role": "assistant", "content": "The README says hello."},
            {"role": "user", "content": "thanks"}
        ])
    );
    let b = ollama::body(&tooled(true));
    assert_eq!(b["tools"][0]["function"]["name"], "read_file");
    assert_eq!(
        b["messages"][1],
        json!({"role": "assistant", "content": "Looking.", "tool_calls": [
            {"function": {"name": "list_dir", "arguments": {"path": "."}}},
            {"function": {"name": "current_time", "arguments": {}}}]})
    );
    assert_eq!(
        b["messages"][2],
        json!({"role": "tool", "content": "README.md  12 B", "tool_name": "list_dir"})
    );
    assert_eq!(b["messages"].as_array().map(Vec::len), Some(8));
}

#[test]
fn anthropic_sends_tool_use_and_tool_result_blocks_in_alternating_turns() {
    let b = anthropic::body(&tooled(true));
    assert_eq!(
        b["tools"],
        json!([{"name": "read_file", "description": "Reads a file.",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}])
    );
    assert_eq!(
        b["messages"],
        json!([
            {"role": "user", "content": "what is here?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Looking."},
                {"type": "tool_use", "id": "c1", "name": "list_dir", "input": {"path": "."}},
                {"type": "tool_use", "id": "c2", "name": "current_time", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "README.md  12 B"},
                {"type": "tool_result", "tool_use_id": "c2", "content": "2026-12-01T12:00:00Z"}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "c3", "name": "read_file", "input": {"path": "README.md"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "c3", "content": "no such file", "is_error": true}]},
            {"role": "assistant", "content": "The README says hello."},
            {"role": "user", "content": "thanks"}
        ])
    );
}

#[test]
fn gemini_sends_function_calls_with_their_signatures_and_function_responses() {
    let b = gemini::body(&tooled(true));
    assert_eq!(
        b["tools"][0]["functionDeclarations"][0]["name"],
        "read_file"
    );
    assert_eq!(
        b["contents"][1],
        json!({"role": "model", "parts": [
            {"text": "Looking."},
            {"functionCall": {"name": "list_dir", "args": {"path": "."}, "id": "c1"}, "thoughtSignature": "sig-1"},
            {"functionCall": {"name": "current_time", "args": {}, "id": "c2"}}]})
    );
    assert_eq!(
        b["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"name": "list_dir", "response": {"result": "README.md  12 B"}, "id": "c1"}},
            {"functionResponse": {"name": "current_time", "response": {"result": "2026-12-01T12:00:00Z"}, "id": "c2"}}]})
    );
    assert_eq!(
        b["contents"][4]["parts"][0]["functionResponse"]["response"],
        json!({"error": "no such file"})
    );
}

#[test]
fn without_tools_offered_earlier_steps_travel_as_labelled_text() {
    for (name, b) in [
        ("openai", openai::body(&tooled(false))),
        ("anthropic", anthropic::body(&tooled(false))),
    ] {
        assert!(b.get("tools").is_none(), "{name}");
        let s = b.to_string();
        assert!(
            !s.contains("tool_use") && !s.contains("tool_calls"),
            "{name}: {s}"
        );
        let answer = b["messages"][1]["content"].as_str().expect("text");
        assert!(answer.starts_with("Looking."), "{name}: {answer}");
        assert!(
            answer.contains("[tool call c1 list_dir"),
            "{name}: {answer}"
        );
        assert!(
            answer.ends_with("The README says hello."),
            "{name}: the final words come last: {answer}"
        );
    }
}

#[test]
fn a_call_without_a_result_gets_one_so_no_provider_refuses_the_history() {
    let mut req = tooled(true);
    // The turn was cut off after the last call was made.
    req.messages[1].parts.pop();
    let b = openai::body(&req);
    let msgs = b["messages"].as_array().expect("messages");
    let last_tool = msgs
        .iter()
        .rev()
        .find(|m| m["role"] == "tool")
        .expect("a tool message");
    assert_eq!(last_tool["tool_call_id"], "c3");
    assert!(
        last_tool["content"]
            .as_str()
            .is_some_and(|t| t.contains("not run")),
        "{last_tool}"
    );
}
