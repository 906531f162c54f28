//! Markdown (for people) and JSON (for tools) exports.

use super::model::Conversation;
use crate::provider::Role;
use crate::util::{dollars, thousands};

pub fn to_json(conv: &Conversation) -> String {
    serde_json::to_string_pretty(conv).unwrap_or_default()
}

/// One-line footer for an answer: model, tokens, cost, timing.
pub fn answer_footer(a: &super::Answer) -> String {
    let mut parts = vec![a.model.clone()];
    let u = &a.usage;
    let mut tin = format!("in {}", thousands(u.input_tokens));
    if u.cached_input_tokens > 0 {
        tin.push_str(&format!(" ({} cached)", thousands(u.cached_input_tokens)));
    }
    if u.cache_write_tokens > 0 {
        tin.push_str(&format!(
            " ({} cache write{})",
            thousands(u.cache_write_tokens),
            if u.cache_write_1h_tokens > 0 {
                format!(", {} for 1h", thousands(u.cache_write_1h_tokens))
            } else {
                String::new()
            }
        ));
    }
    parts.push(tin);
    let mut tout = format!("out {}", thousands(u.output_tokens));
    if u.reasoning_tokens > 0 {
        tout.push_str(&format!(" ({} reasoning)", thousands(u.reasoning_tokens)));
    }
    parts.push(tout);
    parts.push(match a.cost_usd {
        Some(c) => dollars(c),
        None => "price unknown".into(),
    });
    if a.usage_estimated {
        parts.push("estimated".into());
    }
    if a.not_accepted {
        parts.push("not accepted by the provider: nothing billed".into());
    }
    if let Some(t) = u
        .service_tier
        .filter(|t| *t != crate::provider::ServiceTier::Default)
    {
        parts.push(format!("{} tier", t.as_str()));
    }
    if let Some(t) = a.ttft_ms {
        parts.push(format!("TTFT {:.2}s", t as f64 / 1000.0));
    }
    if let Some(tps) = a.tokens_per_sec() {
        parts.push(format!("{tps:.1} tok/s"));
    }
    if !a.steps.is_empty() {
        parts.push(format!("{} steps", a.steps.len()));
    }
    if a.interrupted {
        parts.push(format!(
            "interrupted: {}",
            a.error.as_deref().unwrap_or("stopped")
        ));
    }
    parts.join(" · ")
}

pub fn to_markdown(conv: &Conversation) -> String {
    to_markdown_in(conv, None)
}

/// A part as Markdown: a file as a labelled, folded block with its text; an image as a line
/// with its facts and, when the data dir is known, a link to its stored bytes.
fn part_markdown(p: &crate::parts::Part, data_dir: Option<&std::path::Path>) -> String {
    use crate::parts::Part;
    let size = crate::attach::human_bytes;
    match p {
        Part::File(f) => {
            let inner = crate::parts::code_fence(&f.text);
            format!(
                "**Attached file** `{}` ({}{})\n\n<details><summary>{}</summary>\n\n{inner}\n\n</details>\n\n",
                f.path,
                size(f.size),
                if f.lossy {
                    ", not valid UTF-8: decoded with replacement characters"
                } else {
                    ""
                },
                f.path
            )
        }
        Part::Image(i) => {
            let link = data_dir
                .map(|d| format!("\n\n![{}]({})", i.name, d.join(&i.blob).display()))
                .unwrap_or_default();
            format!(
                "**Attached image** `{}` ({} {}×{}, {}, sha256 `{}`){link}\n\n",
                i.name,
                i.media_type,
                i.width,
                i.height,
                size(i.size),
                &i.sha256[..i.sha256.len().min(12)]
            )
        }
        Part::ToolCall(c) => format!(
            "**Tool call** `{}` ({})\n\n```json\n{}\n```\n\n",
            c.name,
            c.approval.as_deref().unwrap_or("not decided"),
            serde_json::to_string_pretty(&c.arguments).unwrap_or_default()
        ),
        Part::ToolResult(r) => format!(
            "<details><summary>Tool result: {}</summary>\n\n{}\n\n</details>\n\n",
            crate::attach::describe(p, crate::provider::Kind::Openai),
            crate::parts::code_fence(&r.text)
        ),
        Part::Text { text, source: None } => format!("{text}\n\n"),
        other => match other.as_text() {
            Some(t) => format!("{t}\n\n"),
            None => format!("*({} part)*\n\n", other.kind()),
        },
    }
}

/// [`to_markdown`], linking images to their bytes under `data_dir`.
pub fn to_markdown_in(conv: &Conversation, data_dir: Option<&std::path::Path>) -> String {
    let mut s = String::new();
    let title = if conv.title.is_empty() {
        "Untitled conversation"
    } else {
        &conv.title
    };
    s.push_str(&format!("# {title}\n\n"));
    s.push_str(&format!(
        "- id: `{}`\n- created: {}\n- updated: {}\n",
        conv.id, conv.created, conv.updated
    ));
    if let Some(p) = &conv.preset {
        s.push_str(&format!("- preset: {p}\n"));
    }
    if let Some(r) = &conv.replay_of {
        s.push_str(&format!("- replay of: `{r}`\n"));
    }
    let t = conv.totals();
    s.push_str(&format!(
        "- total: {} in / {} out tokens, {}{}\n\n",
        thousands(t.usage.input_tokens),
        thousands(t.usage.output_tokens),
        dollars(t.cost_usd),
        if t.unpriced_turns > 0 {
            format!(" (+{} turns of unknown price)", t.unpriced_turns)
        } else {
            String::new()
        }
    ));
    if let Some(sys) = conv.system_prompt.as_deref().filter(|s| !s.is_empty()) {
        s.push_str("## System prompt\n\n");
        for l in sys.lines() {
            s.push_str(&format!("> {l}\n"));
        }
        s.push('\n');
    }
    for m in &conv.messages {
        let who = match (m.role, m.example) {
            (Role::User, true) => "Example: user".to_string(),
            (Role::Assistant, true) => "Example: assistant".to_string(),
            (Role::User, false) => "User".to_string(),
            (Role::Assistant, false) => format!(
                "Assistant ({})",
                m.answer.as_ref().map(|a| a.model.as_str()).unwrap_or("?")
            ),
        };
        s.push_str(&format!("## {who}\n\n"));
        let parts: String = m.parts.iter().map(|p| part_markdown(p, data_dir)).collect();
        // A question's attachments and an answer's tool steps come before its words.
        let tooled = m
            .parts
            .iter()
            .any(|p| matches!(p, crate::parts::Part::ToolCall(_)));
        if m.role == Role::User || tooled {
            s.push_str(&parts);
        }
        s.push_str(&format!("{}\n\n", m.content.trim_end()));
        if m.role == Role::Assistant && !tooled {
            s.push_str(&parts);
        }
        if let Some(a) = &m.answer {
            s.push_str(&format!("*{}*\n\n", answer_footer(a)));
            for g in &a.guards {
                s.push_str(&format!("> **Warning ({}):** {}\n\n", g.kind, g.detail));
            }
            for (k, alt) in a.alternatives.iter().enumerate() {
                s.push_str(&format!(
                    "<details><summary>Alternative {}/{}: {}</summary>\n\n",
                    k + 1,
                    a.alternatives.len(),
                    answer_footer(&alt.answer)
                ));
                if let Some(q) = &alt.question {
                    s.push_str(&format!("*To the question:* {}\n\n", q.trim_end()));
                }
                s.push_str(alt.content.trim_end());
                s.push_str("\n\n</details>\n\n");
            }
        }
    }
    s
}
