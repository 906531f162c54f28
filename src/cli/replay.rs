//! `charla replay ID -m MODEL`: re-asks every question of a conversation on another model, saves
//! the result as a new conversation linked to the original, and prints a comparison.

use super::ask::{Output, TurnEnd, err, run_turn};
use super::{EXIT_INTERRUPTED, EXIT_OK, EXIT_PROVIDER, EXIT_USAGE, out};
use crate::config::Config;
use crate::conversation::{Conversation, Store};
use crate::provider::Role;
use crate::session::Session;
use crate::util::{dollars, thousands};
use serde_json::json;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// One compared turn.
#[derive(Debug, Clone)]
pub struct Row {
    pub question: String,
    pub old: Option<crate::conversation::Answer>,
    pub new: Option<crate::conversation::Answer>,
}

/// A question as replayed: its words, its attachments, and the answer it had.
pub type Question = (
    String,
    Vec<crate::parts::Part>,
    Option<crate::conversation::Answer>,
);

/// The original answer following each question.
pub fn original_answers(orig: &Conversation) -> Vec<Question> {
    let mut out = Vec::new();
    let msgs = &orig.messages;
    for (i, m) in msgs.iter().enumerate() {
        if m.role == Role::User && !m.example {
            let ans = msgs
                .get(i + 1)
                .filter(|n| n.role == Role::Assistant)
                .and_then(|n| n.answer.clone());
            out.push((m.content.clone(), m.parts.clone(), ans));
        }
    }
    out
}

pub async fn run(cfg: Arc<Config>, id: &str, model: Option<String>, json_out: bool) -> i32 {
    let store = Store::new(cfg.paths.conversations_dir());
    let orig = match store.find(id) {
        Ok(c) => c,
        Err(e) => {
            err(e);
            return EXIT_USAGE;
        }
    };
    let Some(model) = model else {
        err("replay needs the model to compare with: -m provider/model");
        return EXIT_USAGE;
    };
    let model = match cfg.resolve_model(&model) {
        Ok(m) => m,
        Err(e) => {
            err(e);
            return EXIT_USAGE;
        }
    };
    let questions = original_answers(&orig);
    if questions.is_empty() {
        err(format!(
            "conversation {} has no questions to replay",
            orig.id
        ));
        return EXIT_USAGE;
    }
    let mut session = Session::with_conversation(cfg.clone(), orig.replay_copy(), model.clone());
    session.caps = crate::spend::caps_from_config(&cfg, &session.conv);
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c2.cancel();
        }
    });
    // The original's tools are offered again (calls are approved as in `ask`).
    let mut tools = None;
    if !session.conv.tools.is_empty() || !session.conv.mcp.is_empty() {
        let tb = crate::tools::run::Toolbox::new(cfg.clone());
        if let Err(e) = super::agent::enable(&mut session, &tb, &[], &[]).await {
            err(e);
            return EXIT_USAGE;
        }
        tools = Some(tb);
    }
    let out = Output {
        tools: tools.clone(),
        json: false,
        raw: false,
        reasoning: false,
        text: false,
    };
    let mut rows = Vec::new();
    let mut code = EXIT_OK;
    for (n, (q, parts, old)) in questions.iter().enumerate() {
        if !json_out {
            out::eline(format!(
                "replaying {}/{} on {model} …",
                n + 1,
                questions.len()
            ));
        }
        // Attachments are re-sent (images from the blob store), checked for the new model.
        let (rid, req) = match session.begin_with(q, parts.clone()) {
            Ok((rid, req, warning)) => {
                if let Some(w) = warning {
                    err(format!("note: {w}"));
                }
                (rid, req)
            }
            Err((e, _)) => {
                err(format!("turn {}: {}", n + 1, e.message));
                code = if e.kind == crate::provider::ErrorKind::Budget {
                    super::EXIT_BUDGET
                } else {
                    EXIT_USAGE
                };
                break;
            }
        };
        let end = run_turn(&mut session, rid, req, &out, &cancel).await;
        rows.push(Row {
            question: q.clone(),
            old: old.clone(),
            new: session.last_answer().cloned(),
        });
        if let Err(e) = store.save(&mut session.conv) {
            err(format!("could not save the replay: {e}"));
            code = super::EXIT_LOCAL;
        }
        match end {
            TurnEnd::Finished => {}
            TurnEnd::Failed(e) => {
                err(format!(
                    "turn {} failed: {e}; stopping (finished turns are saved)",
                    n + 1
                ));
                code = if e.kind == crate::provider::ErrorKind::Budget {
                    super::EXIT_BUDGET
                } else {
                    EXIT_PROVIDER
                };
                break;
            }
            TurnEnd::Cancelled | TurnEnd::OutputClosed => {
                err("replay cancelled; finished turns are saved");
                code = EXIT_INTERRUPTED;
                break;
            }
        }
    }
    print_rows(&orig, &session.conv, &rows, json_out);
    if let Some(tb) = tools {
        tb.shutdown().await;
    }
    code
}

fn cost(a: &Option<crate::conversation::Answer>) -> String {
    match a.as_ref().map(|a| a.cost_usd) {
        Some(Some(c)) => dollars(c),
        Some(None) => "unknown".into(),
        None => "-".into(),
    }
}

fn print_rows(orig: &Conversation, new: &Conversation, rows: &[Row], json_out: bool) {
    if json_out {
        for (i, r) in rows.iter().enumerate() {
            let side = |a: &Option<crate::conversation::Answer>| {
                a.as_ref().map(|a| {
                    json!({"model": a.model, "input_tokens": a.usage.input_tokens, "output_tokens": a.usage.output_tokens,
                           "cost_usd": a.cost_usd, "duration_ms": a.duration_ms, "ttft_ms": a.ttft_ms, "interrupted": a.interrupted})
                })
            };
            let _ = out::json(
                &json!({"type": "turn", "turn": i + 1, "question": r.question, "original": side(&r.old), "replay": side(&r.new)}),
            );
        }
        let (a, b) = (orig.totals(), new.totals());
        let _ = out::json(
            &json!({"type": "summary", "original": orig.id, "replay": new.id, "original_cost_usd": a.cost_usd, "replay_cost_usd": b.cost_usd}),
        );
        return;
    }
    let old_model = orig.models().join(", ");
    let new_model = new.models().join(", ");
    out::line(format!(
        "turn  question                        | {:<28} | {:<28}",
        trunc(&old_model, 28),
        trunc(&new_model, 28)
    ));
    for (i, r) in rows.iter().enumerate() {
        let cell = |a: &Option<crate::conversation::Answer>| match a {
            Some(a) => format!(
                "{}→{} tok {} {:.1}s{}",
                thousands(a.usage.input_tokens),
                thousands(a.usage.output_tokens),
                cost(&Some(a.clone())),
                a.duration_ms.unwrap_or(0) as f64 / 1000.0,
                if a.interrupted { " (cut)" } else { "" }
            ),
            None => "-".into(),
        };
        out::line(format!(
            "{:>4}  {:<31} | {:<28} | {:<28}",
            i + 1,
            trunc(
                &crate::sanitize::sanitize(&r.question.replace('\n', " ")),
                31
            ),
            cell(&r.old),
            cell(&r.new)
        ));
    }
    let (a, b) = (orig.totals(), new.totals());
    out::line(format!(
        "total{:<32} | {:<28} | {:<28}",
        "",
        dollars(a.cost_usd),
        dollars(b.cost_usd)
    ));
    out::line(format!("saved as {} (replay of {})", new.id, orig.id));
}

fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
