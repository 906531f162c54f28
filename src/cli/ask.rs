//! `charla ask`: one question, streamed to stdout. Drives the same `Session` as the TUI.

use super::{AskArgs, EXIT_INTERRUPTED, EXIT_LOCAL, EXIT_OK, EXIT_PROVIDER, EXIT_USAGE, out};
use crate::config::{Config, ModelRef};
use crate::conversation::{Conversation, Store, export};
use crate::presets;
use crate::provider::{ErrorKind, ProviderError, StreamEvent, stream};
use crate::session::{Applied, Session};
use serde_json::json;
use std::io::{IsTerminal, Read};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

pub use super::out::err;

/// How a streamed turn ended.
pub enum TurnEnd {
    Finished,
    Failed(ProviderError),
    Cancelled,
    /// stdout was closed (e.g. `| head`).
    OutputClosed,
}

/// How [`run_turn`] prints, and the tools it runs.
pub struct Output {
    /// Runs the model's tool calls (None: the conversation has no tools).
    pub tools: Option<Arc<crate::tools::run::Toolbox>>,
    pub json: bool,
    pub raw: bool,
    pub reasoning: bool,
    /// Print the answer text to stdout (false for replay, which prints a table).
    pub text: bool,
}

/// Streams one answer for the session's current turn, printing as it goes; when the model
/// calls tools, they are approved, run and answered, step after step, until it answers.
pub async fn run_turn(
    session: &mut Session,
    request_id: u64,
    req: crate::provider::ChatRequest,
    out: &Output,
    cancel: &CancellationToken,
) -> TurnEnd {
    let (mut id, mut req) = (request_id, req);
    loop {
        match run_step(session, id, req, out, cancel).await {
            Step::Ended(end) => return end,
            Step::Tools => {}
        }
        // The session waits for tools only when it offered some, and a front end that offers
        // tools gives a toolbox: none here would be charla's bug, ended as a cancel.
        let Some(tb) = out.tools.as_ref() else {
            session.cancel();
            return TurnEnd::Cancelled;
        };
        let (calls, results) = super::agent::decide_and_run(session, tb, out.json, cancel).await;
        if cancel.is_cancelled() {
            session.cancel();
            return TurnEnd::Cancelled;
        }
        let index = session.in_flight.as_ref().map(|f| f.index);
        let flagged = index.map_or(0, |i| session.conv.messages[i].flags.len());
        let resumed = session.resume(calls, results);
        // What the injection scanner saw in the tools' output.
        if let Some(i) = index {
            for f in &session.conv.messages[i].flags[flagged..] {
                if out.json {
                    let _ =
                        out::json(&json!({"type": "guard", "kind": f.kind, "detail": f.detail}));
                } else {
                    err(format!(
                        "note: possible prompt injection in {}: it goes labelled as data",
                        f.detail
                    ));
                }
            }
        }
        match resumed {
            Ok((i, r)) => (id, req) = (i, r),
            Err(_) => return ended_by(session),
        }
    }
}

/// How a turn the session ended itself (the step limit, a spend cap) ended.
fn ended_by(session: &Session) -> TurnEnd {
    match &session.last_error {
        Some(e) if e.kind == ErrorKind::Cancelled => TurnEnd::Cancelled,
        Some(e) => TurnEnd::Failed(e.clone()),
        None => TurnEnd::Finished,
    }
}

enum Step {
    Ended(TurnEnd),
    /// The model called tools.
    Tools,
}

/// Streams one model step.
async fn run_step(
    session: &mut Session,
    request_id: u64,
    req: crate::provider::ChatRequest,
    out: &Output,
    cancel: &CancellationToken,
) -> Step {
    Step::Ended(
        match stream_step(session, request_id, req, out, cancel).await {
            Ok(end) => end,
            Err(()) => return Step::Tools,
        },
    )
}

/// One model step: Ok when the turn ended, Err when it asked for tools.
async fn stream_step(
    session: &mut Session,
    request_id: u64,
    req: crate::provider::ChatRequest,
    out: &Output,
    cancel: &CancellationToken,
) -> Result<TurnEnd, ()> {
    let ep = match session.cfg.endpoint(&session.model.provider) {
        Ok(ep) => Arc::new(ep),
        Err(e) => {
            session.apply(request_id, StreamEvent::Error(e.clone()));
            return Ok(TurnEnd::Failed(e));
        }
    };
    let mut rx = stream::spawn(ep, req, cancel.clone());
    // The price dataset (tens of milliseconds to decode) is needed only to price the finished
    // turn: it decodes on a thread of its own once the first answer text is out, so it never
    // competes with the time to first token.
    // A free model (local, Ollama, the demo) needs no prices at all.
    let mut warming = crate::pricing::try_db().is_some()
        || session
            .cfg
            .provider(&session.model.provider)
            .is_none_or(crate::pricing::is_free);
    let stdout = out::Out::new(out.raw);
    let mut last_char = '\n';
    let mut wrote = false;
    let mut reasoning_open = false;
    while let Some(ev) = rx.recv().await {
        let mut line: Option<serde_json::Value> = None;
        let mut text: Option<&str> = None;
        match &ev {
            StreamEvent::TextDelta(t) => {
                if out.json {
                    line = Some(json!({"type": "delta", "text": t}));
                } else if out.text {
                    text = Some(t);
                }
            }
            StreamEvent::ReasoningDelta(t) => {
                if out.json {
                    line = Some(json!({"type": "reasoning", "text": t}));
                } else if out.reasoning {
                    if !reasoning_open {
                        out::etext("[reasoning] ");
                        reasoning_open = true;
                    }
                    out::etext(t);
                }
            }
            StreamEvent::Retry {
                attempt,
                wait,
                reason,
            } => {
                let max = session.cfg.retry_policy().max_attempts;
                if out.json {
                    line = Some(
                        json!({"type": "retry", "attempt": attempt, "wait_ms": wait.as_millis() as u64, "reason": reason}),
                    );
                }
                err(format!(
                    "{reason}; retrying in {:.1} s (attempt {attempt} of {max})",
                    wait.as_secs_f64()
                ));
            }
            _ => {}
        }
        if !warming
            && matches!(
                ev,
                StreamEvent::TextDelta(_)
                    | StreamEvent::ReasoningDelta(_)
                    | StreamEvent::Error(_)
                    | StreamEvent::Finished { .. }
            )
        {
            warming = true;
            std::thread::spawn(crate::pricing::warm);
        }
        if reasoning_open && text.is_some() {
            out::eline("");
            reasoning_open = false;
        }
        let write_ok = if let Some(l) = line {
            out::json(&l).is_ok()
        } else if let Some(t) = text {
            if let Some(c) = t.chars().last() {
                last_char = c;
                wrote = true;
            }
            stdout.text(t).is_ok()
        } else {
            true
        };
        if !write_ok {
            cancel.cancel();
            session.apply(
                request_id,
                StreamEvent::Error(ProviderError::new(ErrorKind::Cancelled, "output closed")),
            );
            return Ok(TurnEnd::OutputClosed);
        }
        let ended = match &ev {
            StreamEvent::Error(e) => Some(e.clone()),
            _ => None,
        };
        let applied = session.apply(request_id, ev);
        if applied == Applied::CapReached {
            // The answer is kept up to the cap; the request goes no further.
            cancel.cancel();
            if out.text && !out.json && wrote && last_char != '\n' {
                let _ = stdout.text("\n");
            }
            let e = session
                .last_answer()
                .and_then(|a| a.error.clone())
                .unwrap_or_default();
            return Ok(TurnEnd::Failed(ProviderError::new(ErrorKind::Budget, e)));
        }
        if let Applied::TurnEnded { interrupted } = applied {
            if reasoning_open {
                out::eline("");
            }
            if out.text && !out.json && wrote && last_char != '\n' {
                let _ = stdout.text("\n");
            }
            return Ok(match (interrupted, ended) {
                (false, _) => TurnEnd::Finished,
                (true, Some(e)) if e.kind == ErrorKind::Cancelled => TurnEnd::Cancelled,
                (true, Some(e)) => TurnEnd::Failed(e),
                (true, None) => ended_by(session),
            });
        }
        if applied == Applied::ToolCalls {
            if out.text && !out.json && wrote && last_char != '\n' {
                let _ = stdout.text("\n");
            }
            return Err(());
        }
    }
    // The driver always ends with Finished or Error; a closed channel means it was cancelled.
    session.cancel();
    Ok(TurnEnd::Cancelled)
}

/// What the guards found in the last answer: `{"type":"guard",…}` lines, or warnings on stderr.
pub fn report_guards(session: &Session, json_out: bool) {
    for g in session
        .last_answer()
        .map(|a| a.guards.as_slice())
        .unwrap_or(&[])
    {
        if json_out {
            let _ = out::json(&json!({"type": "guard", "kind": g.kind, "detail": g.detail}));
        } else {
            err(format!(
                "warning: possible system prompt leak: {} (the conversation is marked)",
                g.detail
            ));
        }
    }
}

/// The JSON `usage` and `done`/`error` lines for the session's last answer.
pub fn json_tail(session: &Session, end: &TurnEnd) -> Vec<serde_json::Value> {
    let Some(a) = session.last_answer() else {
        return vec![];
    };
    let u = &a.usage;
    let mut out = vec![json!({
        "type": "usage",
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cached_input_tokens": u.cached_input_tokens,
        "cache_write_tokens": u.cache_write_tokens,
        "reasoning_tokens": u.reasoning_tokens,
        "cache_write_1h_tokens": u.cache_write_1h_tokens,
        "service_tier": u.service_tier.map(|t| t.as_str()),
        "estimated": a.usage_estimated,
        "not_accepted": a.not_accepted,
    })];
    out.push(match end {
        TurnEnd::Finished => json!({
            "type": "done",
            "finish_reason": a.finish_reason,
            "cost_usd": a.cost_usd,
            "ttft_ms": a.ttft_ms,
            "duration_ms": a.duration_ms,
        }),
        TurnEnd::Failed(e) => json!({"type": "error", "kind": e.kind.as_str(), "message": e.message, "status": e.status, "cost_usd": a.cost_usd}),
        TurnEnd::Cancelled | TurnEnd::OutputClosed => json!({"type": "error", "kind": "cancelled", "message": "cancelled", "cost_usd": a.cost_usd}),
    });
    out
}

/// Applies a preset (system prompt, examples) to a fresh conversation; returns its default model.
pub fn apply_preset(
    cfg: &Config,
    conv: &mut Conversation,
    name: &str,
    vars: &[String],
) -> Result<Option<String>, String> {
    let (all, errors) = presets::load_all(&cfg.paths.presets_dir());
    let Some(p) = all.get(name) else {
        if let Some(e) = errors.iter().find(|e| e.to_string().contains(name)) {
            return Err(e.to_string());
        }
        return Err(presets::PresetError::NotFound(name.to_string()).to_string());
    };
    let vars = presets::parse_vars(vars)?;
    let r = p.render(&vars).map_err(|e| e.to_string())?;
    Ok(r.apply(conv))
}

/// Reads `-a` paths into parts for the session's model; the first problem is the error.
pub(crate) fn load_attachments(
    session: &Session,
    paths: &[String],
) -> Result<Vec<crate::parts::Part>, String> {
    if paths.is_empty() {
        return Ok(vec![]);
    }
    let cfg = &session.cfg;
    let blobs = crate::attach::blobs(cfg);
    let limits = crate::attach::Limits::of(cfg);
    let target = crate::attach::Target {
        kind: session.kind().unwrap_or(crate::provider::Kind::Openai),
        context_window: session.estimate("").context_window,
    };
    let mut parts = Vec::new();
    for p in paths {
        let l = crate::attach::load(p, &blobs, &limits, target)?;
        if let Some(n) = l.note {
            err(format!("note: {n}"));
        }
        parts.push(l.part);
    }
    Ok(parts)
}

/// Asks the provider for the exact input count of the request about to be sent (Anthropic,
/// Gemini); on failure the local estimate stays, with a note.
async fn exact_count(session: &mut Session, prompt: &str, parts: &[crate::parts::Part]) {
    let Some(kind) = session
        .kind()
        .filter(|k| crate::provider::count::supported(*k))
    else {
        return;
    };
    if parts
        .iter()
        .any(|p| matches!(p, crate::parts::Part::Image(_)))
    {
        return; // counted locally: the image bytes are read only to send them
    }
    let Ok(ep) = session.cfg.endpoint(&session.model.provider) else {
        return; // the turn will report the problem
    };
    let mut req = session.request();
    let mut m = crate::provider::ChatMessage::new(crate::provider::Role::User, prompt);
    m.parts = parts.to_vec();
    req.messages.push(m);
    match crate::provider::count::count(&ep, &req).await {
        Ok(n) => session.exact_input = Some(n),
        Err(e) => err(format!(
            "note: {} could not count the input exactly ({}); using the local estimate",
            kind.as_str(),
            e.message
        )),
    }
}

/// An attachment as the `--json` start line lists it.
pub fn attachment_json(p: &crate::parts::Part, kind: crate::provider::Kind) -> serde_json::Value {
    let tokens = crate::attach::part_tokens(p, kind, crate::tokens::Method::Approx);
    match p {
        crate::parts::Part::File(f) => json!({
            "type": "file", "path": f.path, "size": f.size, "sha256": f.sha256,
            "lossy": f.lossy, "estimated_tokens": tokens,
        }),
        crate::parts::Part::Image(i) => json!({
            "type": "image", "path": i.name, "media_type": i.media_type, "size": i.size,
            "width": i.width, "height": i.height, "sha256": i.sha256, "estimated_tokens": tokens,
        }),
        other => json!({"type": other.kind()}),
    }
}

fn read_stdin() -> std::io::Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut buf = Vec::new();
    stdin.lock().read_to_end(&mut buf)?;
    // Never sent silently mangled: the model would see U+FFFD where the bytes were.
    String::from_utf8(buf).map(Some).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "stdin is not UTF-8 text (an invalid byte 0x{:02x} at offset {at}); convert it first, e.g. `iconv -f latin1 -t utf-8`",
                e.as_bytes().get(at).copied().unwrap_or(0)
            ),
        )
    })
}

/// The passages of collection `name` for `question`, within the model's context budget.
async fn retrieve(
    session: &Session,
    name: &str,
    question: &str,
) -> Result<crate::parts::Context, String> {
    let cfg = &session.cfg;
    let c = crate::rag::Collection::open(&cfg.paths.data_dir, name)?;
    let s = crate::rag::Settings::of(cfg);
    let budget = crate::rag::budget(s, session.estimate("").context_window);
    let (ctx, embedded) = c.retrieve(cfg, question, s, budget).await?;
    if let Some(r) = embedded {
        err(format!(
            "note: the question was embedded with {} ({} tokens, {}) and its passages fused with keyword search",
            r.model,
            r.input_tokens,
            r.cost_usd
                .map(crate::util::dollars)
                .unwrap_or_else(|| "price unknown".into())
        ));
    }
    Ok(ctx)
}

/// The most recent conversation for `-c`, unless a file that cannot be read is more recent:
/// continuing an older conversation without a word would be a silent mistake.
fn last_readable(store: &Store) -> Result<Conversation, crate::conversation::StoreError> {
    let (list, broken) = store.list();
    let newest_ok = list.iter().filter_map(|s| s.modified).max();
    if let Some(b) = broken
        .iter()
        .filter(|b| b.modified.is_some() && b.modified > newest_ok)
        .max_by_key(|b| b.modified)
    {
        return Err(crate::conversation::StoreError::Invalid {
            path: b.path.clone(),
            error: format!(
                "the most recent conversation file cannot be read ({}); continue another one with --conversation ID (see `charla list`)",
                b.error
            ),
        });
    }
    // The listing already says which is the last one: it is not listed again.
    match list.first() {
        Some(s) => Store::load_path(&s.path),
        None => Err(crate::conversation::StoreError::NotFound("last".into())),
    }
}

/// The question: the words given, then stdin's text when it is a pipe. Err: why not (said).
pub(crate) fn prompt_of(words: &[String]) -> Result<String, ()> {
    let prompt = words.join(" ");
    match read_stdin() {
        Ok(Some(input)) if !input.trim().is_empty() => Ok(if prompt.trim().is_empty() {
            input
        } else {
            format!("{prompt}\n\n{input}")
        }),
        Ok(_) => Ok(prompt),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            err(e);
            Err(())
        }
        Err(e) => {
            err(format!("cannot read stdin: {e}"));
            Err(())
        }
    }
}

pub async fn run(cfg: Arc<Config>, global_model: Option<String>, args: AskArgs) -> i32 {
    let Ok(prompt) = prompt_of(&args.prompt) else {
        return EXIT_USAGE;
    };
    if prompt.trim().is_empty() && args.attach.is_empty() {
        err("nothing to ask: give a prompt (charla ask \"question\") or pipe text in");
        return EXIT_USAGE;
    }
    let store = Store::new(cfg.paths.conversations_dir());
    let existing = if args.continue_ {
        Some(last_readable(&store))
    } else {
        args.conversation.as_deref().map(|id| store.find(id))
    };
    let mut conv = match existing {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            err(e);
            return EXIT_USAGE;
        }
        None => crate::session::new_conversation(&cfg),
    };
    let continuing = !conv.messages.is_empty();
    let mut preset_model = None;
    if let Some(name) = &args.preset {
        if continuing {
            err(
                "--preset starts a new conversation: it cannot be combined with -c / --conversation",
            );
            return EXIT_USAGE;
        }
        match apply_preset(&cfg, &mut conv, name, &args.vars) {
            Ok(m) => preset_model = m,
            Err(e) => {
                err(e);
                return EXIT_USAGE;
            }
        }
    } else if !args.vars.is_empty() {
        err("--var needs --preset");
        return EXIT_USAGE;
    }
    if let Some(s) = &args.system {
        conv.system_prompt = Some(s.clone());
    }
    // Model: -m > preset's > the conversation's last > default.
    let last_model = conv.continue_model();
    let chosen = global_model.or(preset_model).or(last_model);
    let model: ModelRef = match chosen {
        Some(m) => match cfg.resolve_model(&m) {
            Ok(r) => r,
            Err(e) => {
                err(e);
                return EXIT_USAGE;
            }
        },
        None => cfg.default_model().0,
    };
    if let Some(w) = crate::pricing::warning(&cfg, &model) {
        err(format!("note: {model} is {w}"));
    }
    let mut session = Session::with_conversation(cfg.clone(), conv, model);
    if args.max_tokens.is_some() {
        session.max_tokens = args.max_tokens;
    }
    session.caps = crate::spend::caps_from_config(&cfg, &session.conv);
    session.injection = args.injection.clone();
    if let Some(c) = args.max_cost {
        session.caps.request = Some(c);
    }
    // Attachments are read and checked before anything is sent: a bad one names its path.
    let mut parts = match load_attachments(&session, &args.attach) {
        Ok(p) => p,
        Err(e) => {
            err(e);
            return EXIT_USAGE;
        }
    };
    // Retrieval: the collection's best passages for the question go before it.
    let mut retrieved = None;
    if let Some(name) = args.rag.clone().or(session.conv.rag.clone()) {
        match retrieve(&session, &name, &prompt).await {
            Ok(ctx) => {
                session.conv.rag = Some(name);
                if ctx.passages.is_empty() {
                    err(format!(
                        "note: no passage of {} matches the question; it goes without context",
                        ctx.collection.as_deref().unwrap_or("")
                    ));
                } else {
                    retrieved = Some(ctx.clone());
                    parts.insert(0, crate::parts::Part::Context(ctx));
                }
            }
            Err(e) => {
                err(e);
                return EXIT_USAGE;
            }
        }
    }
    if args.temperature.is_some() {
        session.temperature = args.temperature;
    }
    if let Some(spec) = &args.schema {
        match crate::schema::parse_spec(spec, args.schema_multi) {
            Ok(s) => session.conv.schema = Some(s),
            Err(e) => {
                err(e);
                return EXIT_USAGE;
            }
        }
    }
    // Tools: the conversation's, the config's defaults for a new one, the flags'.
    let mut toolbox = None;
    let wants_tools = !args.tools.is_empty()
        || !args.mcp.is_empty()
        || !session.conv.tools.is_empty()
        || !session.conv.mcp.is_empty()
        || (!continuing
            && cfg
                .file
                .default_tools
                .as_ref()
                .is_some_and(|d| !d.is_empty()));
    if wants_tools {
        let tb = crate::tools::run::Toolbox::new(cfg.clone());
        if let Err(e) = super::agent::enable(&mut session, &tb, &args.tools, &args.mcp).await {
            err(e);
            tb.shutdown().await;
            return EXIT_USAGE;
        }
        toolbox = Some(tb);
    }
    session.flag_allowed = args.approve.iter().map(|s| s.trim().to_string()).collect();
    session.approve_all = args.yes;
    let schema_on = session.conv.schema.is_some();
    // With a schema the answer is printed once checked: the JSON alone when it conforms.
    let out = Output {
        tools: toolbox.clone(),
        json: args.json,
        raw: args.raw,
        reasoning: args.reasoning,
        text: !schema_on,
    };
    let kind = session.kind().unwrap_or(crate::provider::Kind::Openai);
    if cfg.file.exact_estimates == Some(true) {
        exact_count(&mut session, &prompt, &parts).await;
    }
    let exact = session.exact_input;
    let attached: Vec<serde_json::Value> = parts.iter().map(|p| attachment_json(p, kind)).collect();
    let (id, req) = match session.begin_with(&prompt, parts) {
        Ok((id, req, warning)) => {
            if let Some(w) = warning {
                err(format!("note: {w}"));
            }
            (id, req)
        }
        Err((e, _)) => {
            if out.json {
                let _ = out::json(
                    &json!({"type": "error", "kind": e.kind.as_str(), "message": e.message, "status": null, "cost_usd": 0.0}),
                );
            }
            err(&e.message);
            return if e.kind == ErrorKind::Budget {
                super::EXIT_BUDGET
            } else {
                EXIT_USAGE
            };
        }
    };
    // The sources, said before the answer (the --json form follows the start line).
    if let Some(ctx) = retrieved.as_ref().filter(|_| !out.json) {
        for (i, p) in ctx.passages.iter().enumerate() {
            out::eline(format!(
                "[{}] {} {} · score {}",
                i + 1,
                p.source,
                p.location.as_deref().unwrap_or(""),
                p.score.map(|s| s.to_string()).unwrap_or_default()
            ));
        }
    }
    if out.json {
        let mut start = json!({"type": "start", "model": session.model.to_string(), "conversation": session.conv.id});
        if !attached.is_empty() {
            start["attachments"] = json!(attached);
        }
        if let Some(n) = exact {
            start["exact_input_tokens"] = json!(n);
        }
        let _ = out::json(&start);
        if let Some(ctx) = &retrieved {
            let passages: Vec<serde_json::Value> = ctx
                .passages
                .iter()
                .map(|p| json!({"source": p.source, "location": p.location, "score": p.score}))
                .collect();
            let _ = out::json(
                &json!({"type": "context", "collection": ctx.collection, "passages": passages}),
            );
        }
    }
    // What the injection scanner saw in the question's untrusted parts (sent labelled).
    let question = session.conv.messages.len().saturating_sub(2);
    for f in &session.conv.messages[question].flags {
        if out.json {
            let _ = out::json(&json!({"type": "guard", "kind": f.kind, "detail": f.detail}));
        }
    }
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c2.cancel();
        }
    });
    let mut end = run_turn(&mut session, id, req, &out, &cancel).await;
    if out.json {
        for l in json_tail(&session, &end) {
            let _ = out::json(&l);
        }
    }
    report_guards(&session, out.json);
    // Checked against the schema; a non-conforming answer is re-asked with the errors.
    let mut schema_failed = false;
    if schema_on {
        let mut tries = 0;
        loop {
            let check = session.last_answer().and_then(|a| a.schema.clone());
            if let Some(c) = &check {
                if out.json {
                    let _ =
                        out::json(&json!({"type": "schema", "valid": c.valid, "errors": c.errors}));
                } else if !c.valid {
                    for e in &c.errors {
                        err(format!("schema: {e}"));
                    }
                }
            }
            let Some(c) = check.filter(|c| !c.valid) else {
                break;
            };
            if tries >= args.schema_retries {
                schema_failed = true;
                break;
            }
            tries += 1;
            if !out.json {
                err(format!(
                    "the answer does not conform to the schema; asking again ({tries} of {})",
                    args.schema_retries
                ));
            }
            let (id, req) = match session.begin_with(&crate::schema::retry_prompt(&c), vec![]) {
                Ok((id, req, _)) => (id, req),
                Err((e, _)) => {
                    err(&e.message);
                    schema_failed = true;
                    break;
                }
            };
            end = run_turn(&mut session, id, req, &out, &cancel).await;
            if out.json {
                for l in json_tail(&session, &end) {
                    let _ = out::json(&l);
                }
            }
            if !matches!(end, TurnEnd::Finished) {
                break;
            }
        }
        if !out.json
            && let Some(m) = session.conv.messages.last().filter(|m| m.answer.is_some())
        {
            let o = out::Out::new(out.raw);
            let valid = m
                .answer
                .as_ref()
                .and_then(|a| a.schema.as_ref())
                .is_some_and(|c| c.valid);
            let text = match crate::schema::json_of(&m.content) {
                Some(j) if valid => j,
                _ => m.content.trim_end().to_string(),
            };
            let _ = o.line(text);
        }
    }
    // A turn that is not saved is said, and the exit code says it too (the answer was printed).
    let mut save_failed = false;
    if !args.no_save {
        match store.save(&mut session.conv) {
            Ok(saved) => {
                if saved.merged > 0 {
                    err(format!(
                        "note: {} message(s) another charla process added meanwhile were kept",
                        saved.merged
                    ));
                }
                if out.json {
                    let _ = out::json(
                        &json!({"type": "saved", "conversation": session.conv.id, "merged": saved.merged}),
                    );
                }
                // Printed once the file exists: the id is real.
                if args.new {
                    out::eline(format!("conversation: {}", session.conv.id));
                }
            }
            Err(e) => {
                err(format!("could not save the conversation: {e}"));
                save_failed = true;
            }
        }
    }
    if args.stats
        && let Some(a) = session.last_answer()
    {
        let mut line = export::answer_footer(a);
        let t = session.totals();
        if t.turns > 1 {
            line.push_str(&format!(
                " · conversation {} over {} turns",
                crate::util::dollars(t.cost_usd),
                t.turns
            ));
        }
        out::eline(line);
    }
    let code = match end {
        TurnEnd::Finished => EXIT_OK,
        TurnEnd::OutputClosed => EXIT_OK,
        TurnEnd::Cancelled => {
            if !out.json {
                err("cancelled; the partial answer was kept");
            }
            EXIT_INTERRUPTED
        }
        TurnEnd::Failed(e) if e.kind == ErrorKind::StepLimit => {
            err(format!("{}; the answer so far was kept", e.message));
            super::EXIT_STEPS
        }
        TurnEnd::Failed(e) if e.kind == ErrorKind::Budget => {
            err(format!(
                "{}; the partial answer was kept, marked \"budget reached\"",
                e.message
            ));
            super::EXIT_BUDGET
        }
        TurnEnd::Failed(e) => {
            err(&e);
            if e.kind == ErrorKind::Config || (e.kind == ErrorKind::Auth && e.status.is_none()) {
                EXIT_USAGE
            } else {
                EXIT_PROVIDER
            }
        }
    };
    if let Some(tb) = toolbox {
        tb.shutdown().await;
    }
    if save_failed && code == EXIT_OK {
        EXIT_LOCAL
    } else if schema_failed && code == EXIT_OK {
        super::EXIT_SCHEMA
    } else {
        code
    }
}
