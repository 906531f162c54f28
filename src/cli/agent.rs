//! Tools for the headless front ends (`ask`, `replay`): which tools a conversation gets, the
//! approval of calls on the terminal (`/dev/tty`), or by `--approve`/`--yes` without one, and
//! the record of each call on stderr or as JSON lines.

use super::out;
use crate::parts::{ToolCall, ToolResult};
use crate::session::{Grant, Session};
use crate::tools::run::Toolbox;
use crate::tools::{Decision, Offered};
use serde_json::json;
use std::io::{BufRead, Write};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Turns on the tools a conversation uses: those it used before, the config's
/// `default_tools` for a new one, the preset's, and the flags'; MCP servers are started and
/// their tools listed. The names are kept on the conversation.
pub async fn enable(
    session: &mut Session,
    toolbox: &Toolbox,
    tools: &[String],
    mcp: &[String],
) -> Result<(), String> {
    let conv = &mut session.conv;
    let fresh = conv
        .messages
        .iter()
        .all(|m| m.example || m.role == crate::provider::Role::User)
        && conv.tools.is_empty()
        && conv.mcp.is_empty();
    if fresh && let Some(d) = &session.cfg.file.default_tools {
        conv.tools.extend(d.iter().cloned());
    }
    for t in tools {
        if !conv.tools.contains(t) {
            conv.tools.push(t.clone());
        }
    }
    for m in mcp {
        if !conv.mcp.contains(m) {
            conv.mcp.push(m.clone());
        }
    }
    let mut offered = crate::tools::resolve(&session.cfg, &conv.tools)?;
    for name in conv.mcp.clone() {
        offered.extend(toolbox.connect(&name).await?);
    }
    session.tools = offered;
    Ok(())
}

/// How a call is decided when nobody can be asked.
fn no_tty_denial(name: &str) -> String {
    format!(
        "not run: {name} needs approval and there is no terminal to ask on (allow it with --approve {name}, or every call with --yes)"
    )
}

/// Asks on the terminal: the call, what it would do, and the choices. None: no terminal.
fn ask_tty(call: &ToolCall, review: &str) -> Option<Decision> {
    let path = std::env::var("CHARLA_TTY").unwrap_or_else(|_| "/dev/tty".into());
    let input = std::fs::File::open(&path).ok()?;
    let mut w = std::fs::OpenOptions::new().append(true).open(&path).ok()?;
    let mut r = std::io::BufReader::new(input);
    let name = crate::sanitize::sanitize(&call.name);
    let _ = writeln!(w, "\ncharla: the model wants to run {name}:");
    for l in review.lines().take(60) {
        let _ = writeln!(w, "  {l}");
    }
    loop {
        let _ = write!(
            w,
            "allow? [y] once  [s] {name} for this session  [a] always  [n] deny (n: reason): "
        );
        let _ = w.flush();
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return Some(Decision::Deny(Some("no answer (end of input)".into())));
        }
        let l = line.trim();
        let (key, rest) = match l.split_once(':') {
            Some((k, r)) => (k.trim(), Some(r.trim().to_string())),
            None => (l, None),
        };
        match key.to_ascii_lowercase().as_str() {
            "y" | "yes" => return Some(Decision::Once),
            "s" => return Some(Decision::Session),
            "a" => return Some(Decision::Always),
            "n" | "no" | "" => return Some(Decision::Deny(rest.filter(|r| !r.is_empty()))),
            _ => {}
        }
    }
}

/// Decides every pending call (asking where it must), runs the allowed ones, and returns the
/// calls with their approvals and one result per call. Records each on stderr / JSON.
pub async fn decide_and_run(
    session: &mut Session,
    toolbox: &Arc<Toolbox>,
    json_out: bool,
    cancel: &CancellationToken,
) -> (Vec<ToolCall>, Vec<ToolResult>) {
    let calls = session.pending_calls().to_vec();
    let mut decided: Vec<ToolCall> = Vec::new();
    let mut slots: Vec<Option<ToolResult>> = Vec::new();
    let mut to_run: Vec<(Offered, ToolCall)> = Vec::new();
    for c in calls {
        let mut c = c;
        let offered = session.offered(&c.name).cloned();
        let result = match (session.grant(&c), offered) {
            (Grant::Unknown, _) | (_, None) => {
                c.approval = Some("denied".into());
                Some(ToolResult::error(
                    &c,
                    format!("there is no tool named {} here", c.name),
                ))
            }
            (Grant::Run(how), Some(o)) => {
                c.approval = Some(how.into());
                to_run.push((o, c.clone()));
                None
            }
            (Grant::Ask, Some(o)) => {
                let review = {
                    let (tb, call) = (toolbox.clone(), c.clone());
                    tokio::task::spawn_blocking(move || tb.review(&call))
                        .await
                        .unwrap_or_default()
                };
                let call = c.clone();
                let d = tokio::task::spawn_blocking(move || ask_tty(&call, &review))
                    .await
                    .ok()
                    .flatten();
                match d {
                    None => {
                        c.approval = Some("denied".into());
                        Some(ToolResult::error(&c, no_tty_denial(&c.name)))
                    }
                    Some(Decision::Deny(reason)) => {
                        c.approval = Some("denied".into());
                        Some(ToolResult::error(
                            &c,
                            crate::tools::denied_text(reason.as_deref()),
                        ))
                    }
                    Some(d) => {
                        if d == Decision::Session {
                            session.session_allowed.insert(c.name.clone());
                        }
                        if d == Decision::Always
                            && let Err(e) = crate::config::save_always(&session.cfg.paths, &c.name)
                        {
                            out::err(format!("could not save \"always allow\": {e}"));
                        }
                        if d == Decision::Always {
                            session.session_allowed.insert(c.name.clone());
                        }
                        c.approval = Some(d.label().into());
                        to_run.push((o, c.clone()));
                        None
                    }
                }
            }
        };
        if json_out {
            let _ = out::json(&json!({
                "type": "tool_call", "id": c.id, "name": c.name,
                "arguments": c.arguments, "approval": c.approval
            }));
        } else {
            out::eline(format!(
                "[tool] {} {} ({})",
                crate::sanitize::sanitize(&c.name),
                crate::tools::short_args(&c),
                c.approval.as_deref().unwrap_or("")
            ));
        }
        decided.push(c);
        slots.push(result);
    }
    let ran = toolbox.run_all(to_run, cancel.clone()).await;
    let mut ran = ran.into_iter();
    let results: Vec<ToolResult> = slots
        .into_iter()
        .map(|s| s.or_else(|| ran.next()))
        .map(|r| r.unwrap_or_else(|| ToolResult::error(&decided[0], "not run")))
        .collect();
    for r in &results {
        if json_out {
            let _ = out::json(&json!({
                "type": "tool_result", "call_id": r.call_id, "name": r.name, "text": r.text,
                "is_error": r.is_error, "exit_code": r.exit_code, "duration_ms": r.duration_ms,
                "truncated_from": r.truncated_from
            }));
        } else {
            out::eline(format!(
                "[tool] {} → {}{}",
                crate::sanitize::sanitize(&r.name),
                crate::tools::summary(r),
                r.duration_ms
                    .map(|d| format!(", {d} ms"))
                    .unwrap_or_default()
            ));
        }
    }
    (decided, results)
}

/// `charla tools`: every tool that can be enabled, and the MCP servers' tools on request.
pub async fn tools_cmd(cfg: Arc<crate::config::Config>, mcp: &[String], json_out: bool) -> i32 {
    let mut rows: Vec<(String, Offered)> = crate::tools::available(&cfg)
        .into_iter()
        .filter_map(|n| {
            let o =
                crate::tools::command_tool(&cfg, &n).or_else(|| crate::tools::builtin(&cfg, &n))?;
            let from = match o.source {
                crate::tools::Source::Command(_) => "config",
                _ => "built-in",
            };
            Some((from.to_string(), o))
        })
        .collect();
    let tb = Toolbox::new(cfg.clone());
    let mut code = super::EXIT_OK;
    for name in mcp {
        match tb.connect(name).await {
            Ok(list) => rows.extend(list.into_iter().map(|o| (format!("mcp {name}"), o))),
            Err(e) => {
                out::err(e);
                code = super::EXIT_PROVIDER;
            }
        }
    }
    tb.shutdown().await;
    for (from, o) in &rows {
        if json_out {
            let _ = out::json(&json!({
                "name": o.spec.name, "from": from, "description": o.spec.description,
                "read_only": o.read_only, "approval": crate::tools::approval_words(o), "parameters": o.spec.parameters
            }));
        } else {
            let first = o.spec.description.lines().next().unwrap_or("");
            let first: String = first.chars().take(70).collect();
            out::line(format!(
                "{:<28} {:<16} {:<32} {}",
                o.spec.name,
                from,
                crate::tools::approval_words(o),
                first
            ));
        }
    }
    if !json_out {
        for (name, m) in &cfg.file.mcp {
            if !mcp.contains(name) {
                let how = match (&m.command, &m.url) {
                    (Some(c), _) => format!("command {c}"),
                    (_, Some(u)) => format!("url {u}"),
                    _ => String::new(),
                };
                out::line(format!(
                    "mcp server {name} ({how}): `charla tools --mcp {name}` lists its tools"
                ));
            }
        }
    }
    code
}
