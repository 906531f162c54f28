//! `charla compare -m A -m B [-m C …] "question"`: every model answers at once; each answer is
//! printed when it ends (the others keep streaming), then a table of what each took. The
//! conversation is saved with the first answer that finished as its answer and the others as
//! its alternatives (reopen it and flip between them). `--json`: every event as a line tagged
//! with its model, then a `result` line per model and a `summary`.

use super::ask::err;
use super::{EXIT_INTERRUPTED, EXIT_OK, EXIT_PROVIDER, EXIT_USAGE, out};
use crate::compare::Compare;
use crate::config::{Config, ModelRef};
use crate::conversation::{Answer, Store};
use crate::provider::{ErrorKind, ProviderError, StreamEvent, stream};
use crate::session::{Applied, Session};
use crate::util::{dollars, thousands};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// The question (read from stdin when it is a pipe; both are joined)
    pub prompt: Vec<String>,
    /// System prompt
    #[arg(short, long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Attach a file or image (repeatable)
    #[arg(short = 'a', long = "attach", value_name = "PATH")]
    pub attach: Vec<String>,
    /// One JSON object per line, each tagged with its model
    #[arg(long)]
    pub json: bool,
    /// Ask in a saved conversation (its history goes to every model)
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
    /// Do not save the comparison
    #[arg(long)]
    pub no_save: bool,
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Spend cap for the whole comparison, in dollars (each model gets its share)
    #[arg(long, value_name = "USD", value_parser = super::dollars_arg)]
    pub max_cost: Option<f64>,
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
}

pub async fn run(cfg: Arc<Config>, models: &[String], args: CompareArgs) -> i32 {
    let Ok(prompt) = super::ask::prompt_of(&args.prompt) else {
        return EXIT_USAGE;
    };
    if prompt.trim().is_empty() && args.attach.is_empty() {
        err("nothing to ask: charla compare -m A -m B \"question\" (or pipe the question in)");
        return EXIT_USAGE;
    }
    if models.len() < 2 {
        err(format!(
            "compare needs two models or more: -m provider/model -m provider/model (up to {})",
            crate::compare::MAX_MODELS
        ));
        return EXIT_USAGE;
    }
    let mut refs: Vec<ModelRef> = Vec::new();
    for m in models {
        match cfg.resolve_model(m) {
            Ok(r) if refs.contains(&r) => {
                err(format!("{r} is given twice"));
                return EXIT_USAGE;
            }
            Ok(r) => refs.push(r),
            Err(e) => {
                err(e);
                return EXIT_USAGE;
            }
        }
    }
    let store = Store::new(cfg.paths.conversations_dir());
    let mut conv = match args.conversation.as_deref().map(|id| store.find(id)) {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            err(e);
            return EXIT_USAGE;
        }
        None => crate::session::new_conversation(&cfg),
    };
    if let Some(s) = &args.system {
        conv.system_prompt = Some(s.clone());
    }
    let mut base = Session::with_conversation(cfg.clone(), conv, refs[0].clone());
    base.caps = crate::spend::caps_from_config(&cfg, &base.conv);
    base.temperature = args.temperature.or(base.temperature);
    if let Some(c) = args.max_cost {
        base.caps.request = Some(c);
    }
    let parts = match super::ask::load_attachments(&base, &args.attach) {
        Ok(p) => p,
        Err(e) => {
            err(e);
            return EXIT_USAGE;
        }
    };
    let (mut cmp, starts) = match Compare::begin(&mut base, &refs, &prompt, parts, args.max_tokens)
    {
        Ok(x) => x,
        Err(e) => {
            err(&e.message);
            return if e.kind == ErrorKind::Budget {
                super::EXIT_BUDGET
            } else {
                EXIT_USAGE
            };
        }
    };
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c2.cancel();
        }
    });
    if args.json {
        let _ = out::json(
            &json!({"type": "start", "models": refs.iter().map(|m| m.to_string()).collect::<Vec<_>>(), "conversation": base.conv.id}),
        );
    }
    // One request task per model, each with its own cancel; their events come in one channel.
    let (tx, mut rx) = mpsc::unbounded_channel::<(u64, StreamEvent)>();
    let mut tokens = Vec::new();
    for s in starts {
        let token = cancel.child_token();
        tokens.push((s.request_id, token.clone()));
        let (cfg, tx) = (cfg.clone(), tx.clone());
        tokio::spawn(async move {
            let ep = match tokio::task::spawn_blocking(move || cfg.endpoint(&s.provider)).await {
                Ok(Ok(ep)) => ep,
                Ok(Err(e)) => {
                    let _ = tx.send((s.request_id, StreamEvent::Error(e)));
                    return;
                }
                Err(e) => {
                    let e = ProviderError::new(ErrorKind::Config, e.to_string());
                    let _ = tx.send((s.request_id, StreamEvent::Error(e)));
                    return;
                }
            };
            let mut events = stream::spawn(Arc::new(ep), s.request, token);
            while let Some(ev) = events.recv().await {
                if tx.send((s.request_id, ev)).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);
    // On a terminal wide enough, the answers stream live in columns; else a status line.
    let mut columns = if args.json {
        None
    } else {
        out::Columns::open(cmp.panes.len())
    };
    let live = !args.json && columns.is_none() && out::stderr_is_terminal();
    let mut status = Status::default();
    let mut printed = vec![false; cmp.panes.len()];
    let mut order: Vec<usize> = Vec::new();
    let mut closed = false;
    while !cmp.done() {
        let next = tokio::select! {
            m = rx.recv() => m,
            _ = cancel.cancelled(), if !closed => {
                closed = true;
                for (_, t) in &tokens {
                    t.cancel();
                }
                continue;
            }
        };
        let Some((id, ev)) = next else {
            cmp.cancel_all();
            break;
        };
        let Some(i) = cmp.pane_of(id) else { continue };
        let model = cmp.panes[i].model.to_string();
        if args.json {
            let line = match &ev {
                StreamEvent::TextDelta(t) => {
                    Some(json!({"type": "delta", "model": model, "text": t}))
                }
                StreamEvent::ReasoningDelta(t) => {
                    Some(json!({"type": "reasoning", "model": model, "text": t}))
                }
                StreamEvent::Retry {
                    attempt,
                    wait,
                    reason,
                } => Some(
                    json!({"type": "retry", "model": model, "attempt": attempt, "wait_ms": wait.as_millis() as u64, "reason": reason}),
                ),
                _ => None,
            };
            if let Some(l) = line
                && out::json(&l).is_err()
            {
                cancel.cancel();
            }
        } else if let StreamEvent::Retry {
            attempt,
            wait,
            reason,
        } = &ev
            && columns.is_none()
        {
            status.clear(live);
            err(format!(
                "{model}: {reason}; retrying in {:.1} s (attempt {attempt})",
                wait.as_secs_f64()
            ));
        }
        let Some((_, applied)) = cmp.apply(id, ev) else {
            continue;
        };
        if applied == Applied::CapReached
            && let Some((_, t)) = tokens.iter().find(|(r, _)| *r == id)
        {
            t.cancel();
        }
        let ended = matches!(applied, Applied::TurnEnded { .. } | Applied::CapReached);
        if ended && !printed[i] {
            printed[i] = true;
            order.push(i);
            status.clear(live);
            if !args.json && columns.is_none() {
                print_answer(&cmp, i);
            }
        }
        if let Some(c) = columns.as_mut() {
            c.draw(&column_views(&cmp), ended);
        } else if live {
            status.draw(&cmp);
        }
    }
    status.clear(live);
    // The columns give way to the answers, printed whole in the order they ended.
    if let Some(c) = columns.take() {
        c.finish();
        for &i in &order {
            print_answer(&cmp, i);
        }
    }
    // Every pane has ended; any not printed yet (the channel closed) is printed now.
    for (i, done) in printed.iter().enumerate() {
        if !done {
            order.push(i);
            if !args.json {
                print_answer(&cmp, i);
            }
        }
    }
    let answered = (0..cmp.panes.len()).filter(|&i| ok(&cmp, i)).count();
    let chosen = order.iter().copied().find(|&i| ok(&cmp, i)).unwrap_or(0);
    let rows: Vec<(String, Answer)> = (0..cmp.panes.len())
        .map(|i| {
            (
                cmp.panes[i].model.to_string(),
                cmp.answer(i)
                    .and_then(|m| m.answer.clone())
                    .unwrap_or_else(|| Answer::new(cmp.panes[i].model.to_string())),
            )
        })
        .collect();
    let chosen_model = rows[chosen].0.clone();
    cmp.finish(&mut base, chosen);
    let mut code = if answered > 0 {
        EXIT_OK
    } else if closed {
        EXIT_INTERRUPTED
    } else if rows.iter().all(|(_, a)| {
        a.error
            .as_deref()
            .is_some_and(|e| e.contains("budget") || e.contains("cap"))
    }) {
        super::EXIT_BUDGET
    } else {
        EXIT_PROVIDER
    };
    let mut saved = None;
    if !args.no_save {
        match store.save(&mut base.conv) {
            Ok(_) => saved = Some(base.conv.id.clone()),
            Err(e) => {
                err(format!("could not save the comparison: {e}"));
                if code == EXIT_OK {
                    code = super::EXIT_LOCAL;
                }
            }
        }
    }
    if args.json {
        for (model, a) in &rows {
            let _ = out::json(&result_json(model, a));
        }
        let total: f64 = rows.iter().filter_map(|(_, a)| a.cost_usd).sum();
        let _ = out::json(
            &json!({"type": "summary", "answered": answered, "models": rows.len(), "cost_usd": total, "kept": chosen_model, "conversation": saved}),
        );
    } else {
        print_table(&rows);
        if let Some(id) = saved {
            out::line(format!(
                "saved as {id}: {chosen_model}'s answer is kept, the others are its alternatives (charla --open {id})"
            ));
        }
    }
    code
}

/// How far pane `i` is: retrying, waiting, its tokens so far, or its cost when it ended.
fn pane_status(cmp: &Compare, i: usize) -> String {
    let s = &cmp.panes[i];
    let m = cmp.answer(i);
    match (&s.in_flight, m.and_then(|m| m.answer.as_ref())) {
        (Some(f), _) if f.retry.is_some() && f.first_token.is_none() => "retrying".into(),
        (Some(f), _) if f.first_token.is_some() => format!(
            "~{} tok",
            thousands((m.map_or(0, |m| m.content.len()) / 4) as u64)
        ),
        (Some(_), _) => "waiting".into(),
        (None, Some(a)) if a.error.is_some() => "failed".into(),
        (None, Some(a)) => a
            .cost_usd
            .map(dollars)
            .unwrap_or_else(|| "price unknown".into()),
        (None, None) => String::new(),
    }
}

/// What each live column shows: the model, its text so far, how far it is.
fn column_views(cmp: &Compare) -> Vec<out::Column<'_>> {
    (0..cmp.panes.len())
        .map(|i| out::Column {
            title: format!(" {} ", cmp.panes[i].model),
            text: cmp.answer(i).map_or("", |m| m.content.as_str()),
            status: format!(" {} ", pane_status(cmp, i)),
            done: cmp.panes[i].in_flight.is_none(),
        })
        .collect()
}

/// Pane `i` answered (no error, not cut).
fn ok(cmp: &Compare, i: usize) -> bool {
    cmp.answer(i)
        .and_then(|m| m.answer.as_ref())
        .is_some_and(|a| a.error.is_none() && !a.interrupted)
}

fn print_answer(cmp: &Compare, i: usize) {
    let model = cmp.panes[i].model.to_string();
    out::line(format!("━━ {model} ━━"));
    if let Some(m) = cmp.answer(i) {
        if !m.content.is_empty() {
            out::line(m.content.trim_end());
        }
        if let Some(a) = &m.answer {
            if let Some(e) = &a.error {
                err(format!("{model}: {e}"));
            }
            out::line(format!(
                "   [{}]",
                crate::conversation::export::answer_footer(a)
            ));
        }
    }
    out::line("");
}

fn result_json(model: &str, a: &Answer) -> serde_json::Value {
    json!({
        "type": "result", "model": model,
        "ttft_ms": a.ttft_ms, "duration_ms": a.duration_ms,
        "tokens_per_sec": a.tokens_per_sec(),
        "input_tokens": a.usage.input_tokens, "output_tokens": a.usage.output_tokens,
        "estimated": a.usage_estimated,
        "cost_usd": a.cost_usd, "finish_reason": a.finish_reason,
        "interrupted": a.interrupted, "error": a.error,
    })
}

fn print_table(rows: &[(String, Answer)]) {
    let w = rows
        .iter()
        .map(|(m, _)| m.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, 40);
    out::line(format!(
        "{:<w$}  {:>7}  {:>7}  {:>8}  {:>8}  {:>9}  {:<10}  status",
        "model", "ttft", "tok/s", "in", "out", "cost", "finish"
    ));
    let mut total = 0.0;
    let mut unknown = false;
    for (m, a) in rows {
        let ttft = a
            .ttft_ms
            .map(|t| format!("{:.2}s", t as f64 / 1000.0))
            .unwrap_or_else(|| "-".into());
        let tps = a
            .tokens_per_sec()
            .map(|t| format!("{t:.0}"))
            .unwrap_or_else(|| "-".into());
        let cost = match a.cost_usd {
            Some(c) => {
                total += c;
                dollars(c)
            }
            None => {
                unknown = true;
                "unknown".into()
            }
        };
        let est = if a.usage_estimated { "~" } else { "" };
        let status = match (&a.error, a.interrupted) {
            (Some(e), _) => e.clone(),
            (None, true) => "interrupted".into(),
            (None, false) => "ok".into(),
        };
        let name: String = m.chars().take(w).collect();
        out::line(format!(
            "{name:<w$}  {ttft:>7}  {tps:>7}  {:>8}  {:>8}  {cost:>9}  {:<10}  {status}",
            format!("{est}{}", thousands(a.usage.input_tokens)),
            format!("{est}{}", thousands(a.usage.output_tokens)),
            a.finish_reason.as_deref().unwrap_or("-"),
        ));
    }
    out::line(format!(
        "{:<w$}  {:>7}  {:>7}  {:>8}  {:>8}  {:>9}",
        "total",
        "",
        "",
        "",
        "",
        format!("{}{}", dollars(total), if unknown { "+?" } else { "" })
    ));
}

/// The live line on a terminal's stderr: each model's progress, redrawn at most 10 times a
/// second.
#[derive(Default)]
struct Status {
    drawn: bool,
    at: Option<Instant>,
}

impl Status {
    fn draw(&mut self, cmp: &Compare) {
        if self
            .at
            .is_some_and(|t| t.elapsed() < Duration::from_millis(100))
        {
            return;
        }
        self.at = Some(Instant::now());
        let cells: Vec<String> = (0..cmp.panes.len())
            .map(|i| format!("{}: {}", cmp.panes[i].model.model, pane_status(cmp, i)))
            .collect();
        let width = crossterm::terminal::size().map_or(80, |(w, _)| w as usize);
        let line: String = cells
            .join(" · ")
            .chars()
            .take(width.saturating_sub(1))
            .collect();
        out::estatus(&line);
        self.drawn = true;
    }

    fn clear(&mut self, live: bool) {
        if live && self.drawn {
            out::estatus("");
            self.drawn = false;
        }
    }
}
