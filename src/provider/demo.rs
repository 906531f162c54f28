//! The built-in offline model: deterministic, free, and useful on a machine with no keys.
//! It streams at a realistic pace and reports no usage (the session estimates it, at $0).

use super::{ChatRequest, Role, StreamEvent};
use tokio::sync::mpsc;

/// Milliseconds between chunks; `CHARLA_DEMO_PACE_MS` overrides (0 = as fast as possible).
fn pace() -> std::time::Duration {
    let ms = std::env::var("CHARLA_DEMO_PACE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12u64);
    std::time::Duration::from_millis(ms)
}

/// The tool the demo calls first, when it is offered tools and the question asks for what one
/// of them does (files here, the time); it answers from the result on the next step.
pub fn tool_call(req: &ChatRequest) -> Option<crate::parts::ToolCall> {
    let tooled = req
        .messages
        .last()
        .is_some_and(|m| m.role == Role::Assistant && m.has_tool_steps());
    if req.tools.is_empty() || tooled {
        return None;
    }
    let q = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)?
        .content
        .to_lowercase();
    let offered = |n: &str| req.tools.iter().any(|t| t.name == n);
    let (name, arguments) = if ["file", "director", "folder", "here"]
        .iter()
        .any(|w| q.contains(w))
        && offered("list_dir")
    {
        ("list_dir", serde_json::json!({"path": "."}))
    } else if ["time", "date", "today"].iter().any(|w| q.contains(w)) && offered("current_time") {
        ("current_time", serde_json::json!({}))
    } else {
        return None;
    };
    Some(crate::parts::ToolCall {
        id: "demo-call-1".into(),
        name: name.into(),
        arguments,
        signature: None,
        approval: None,
    })
}

/// What the demo says after its tool ran: the result, as it came back.
fn after_tools(req: &ChatRequest) -> Option<String> {
    let m = req.messages.last().filter(|m| m.role == Role::Assistant)?;
    let r = m.parts.iter().rev().find_map(|p| match p {
        crate::parts::Part::ToolResult(r) => Some(r),
        _ => None,
    })?;
    let lines: Vec<&str> = r.text.lines().take(20).collect();
    Some(format!(
        "**charla demo model**: the tool `{}` {} and returned:\n\n{}\n\nA real model would now answer from it. Every call waits for your approval unless \
         you allowed it; `/tools` turns tools on and off.\n",
        r.name,
        if r.is_error { "failed" } else { "ran" },
        crate::parts::code_fence(&lines.join("\n"))
    ))
}

/// The full answer the demo gives to `req`.
pub fn answer(req: &ChatRequest) -> String {
    if let Some(a) = after_tools(req) {
        return a;
    }
    let last = req.messages.iter().rev().find(|m| m.role == Role::User);
    let question = last.map(|m| m.content.trim()).unwrap_or("");
    let turn = req.messages.iter().filter(|m| m.role == Role::User).count();
    let mut quoted: String = question.chars().take(300).collect();
    if quoted.len() < question.len() {
        quoted.push('…');
    }
    let quoted = quoted.replace('\n', "\n> ");
    let mut s = String::new();
    s.push_str("**charla demo model**: offline, no API key, $0.\n\n");
    s.push_str(&format!("You asked (turn {turn}):\n\n> {quoted}\n\n"));
    // What a real model would receive with the question.
    let attached: Vec<String> = last
        .into_iter()
        .flat_map(|m| &m.parts)
        .filter_map(|p| match p {
            crate::parts::Part::File(f) => Some(format!(
                "- the file `{}`: {} lines, {} bytes{}",
                f.path,
                f.text.lines().count(),
                f.size,
                if f.lossy { " (not valid UTF-8)" } else { "" }
            )),
            crate::parts::Part::Image(i) => Some(format!(
                "- the image `{}`: {} {}×{} px, {} bytes",
                i.name, i.media_type, i.width, i.height, i.size
            )),
            crate::parts::Part::Context(c) => Some(format!(
                "- {} passage(s) retrieved from `{}`: {}",
                c.passages.len(),
                c.collection.as_deref().unwrap_or("retrieval"),
                c.passages
                    .iter()
                    .enumerate()
                    .map(|(i, p)| format!(
                        "[{}] `{}` {}",
                        i + 1,
                        p.source,
                        p.location.as_deref().unwrap_or("")
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            _ => None,
        })
        .collect();
    if !attached.is_empty() {
        s.push_str("With it you attached:\n\n");
        for a in attached {
            s.push_str(&a);
            s.push('\n');
        }
        s.push('\n');
    }
    if let Some(system) = req.system.as_deref().filter(|s| !s.trim().is_empty()) {
        let short: String = system.chars().take(120).collect();
        s.push_str(&format!(
            "System prompt in effect: *{}*\n\n",
            short.replace('\n', " ")
        ));
    }
    s.push_str(
        "I am a stand-in so you can try charla before adding a provider. To talk to a real model:\n\n\
         1. Export a key, for example `export OPENAI_API_KEY=sk-...` \
         (or `ANTHROPIC_API_KEY`, `GEMINI_API_KEY`, `OPENROUTER_API_KEY`), or start Ollama locally.\n\
         2. Run charla again: the first provider with a key becomes the default. \
         Pick any model with `-m provider/model`, e.g. `-m anthropic/claude-haiku-4-5`.\n\
         3. `charla config init` writes a commented config; `charla models` lists models with prices.\n\n\
         A code block, to show highlighting:\n\n\
         ```rust\nfn main() {\n    let answer = 42;\n    println!(\"the answer is {answer}\");\n}\n```\n",
    );
    s
}

pub async fn run(req: &ChatRequest, tx: &mpsc::Sender<StreamEvent>) {
    if tx.send(StreamEvent::Started).await.is_err() {
        return;
    }
    if let Some(call) = tool_call(req) {
        let _ = tx.send(StreamEvent::ToolCall(call)).await;
        let _ = tx
            .send(StreamEvent::Finished {
                reason: "tool_calls".into(),
            })
            .await;
        return;
    }
    let text = answer(req);
    let pace = pace();
    // Stream word by word (keeping whitespace), like a tokenizer would.
    let mut chunk = String::new();
    for (i, c) in text.char_indices() {
        chunk.push(c);
        let next_is_word_start =
            text[i + c.len_utf8()..].starts_with(char::is_whitespace) && !c.is_whitespace();
        if next_is_word_start {
            if tx
                .send(StreamEvent::TextDelta(std::mem::take(&mut chunk)))
                .await
                .is_err()
            {
                return;
            }
            if !pace.is_zero() {
                tokio::time::sleep(pace).await;
            }
        }
    }
    if !chunk.is_empty() && tx.send(StreamEvent::TextDelta(chunk)).await.is_err() {
        return;
    }
    let _ = tx
        .send(StreamEvent::Finished {
            reason: "stop".into(),
        })
        .await;
}
