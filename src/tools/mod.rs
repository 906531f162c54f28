//! Tools the model may call: the built-in ones (`builtin.rs`), user commands from the config
//! (`[tools.NAME]`) and the tools of MCP servers (`mcp.rs`, through rmcp). This module holds
//! what the engine needs to know of them (their definitions and whether a call may run
//! without asking); `run.rs` runs calls (the only I/O), for every front end.
//!
//! Safety rules, enforced here and in `builtin.rs`:
//! - every call asks first unless its tool is read-only and marked `approve = "auto"`, or the
//!   user allowed it (for the session, always, or by `ask --approve`/`--yes`);
//! - file tools see only the roots (the working directory by default): a path that resolves
//!   outside them (`..`, a symlink, an absolute path elsewhere) is refused, and the model is
//!   told why;
//! - an MCP server or a command tool is started with a small fixed environment plus what its
//!   config lists: charla's API keys are never passed on unless named;
//! - every call has a timeout, and a cancelled or timed-out command is killed with its
//!   process group.

pub mod builtin;
pub mod mcp;
pub mod run;

use crate::config::{CommandLine, Config};
use crate::parts::ToolCall;
use crate::provider::ToolSpec;
use serde_json::{Value, json};
use std::time::Duration;

/// The built-in tools, in the order `/tools` lists them.
pub const BUILTIN: [&str; 7] = [
    "read_file",
    "list_dir",
    "search_files",
    "write_file",
    "edit_file",
    "run_command",
    "current_time",
];

/// Where a tool comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Builtin,
    /// A `[tools.NAME]` command.
    Command(CommandLine),
    /// Tool `tool` of the MCP server `server` (the model sees `server__tool`).
    Mcp {
        server: String,
        tool: String,
    },
}

/// A tool the model is offered, with what decides whether a call of it asks first.
#[derive(Debug, Clone, PartialEq)]
pub struct Offered {
    pub spec: ToolSpec,
    pub source: Source,
    /// It only reads (it may then be marked `auto`).
    pub read_only: bool,
    /// Runs without asking (a read-only tool marked `approve = "auto"`).
    pub auto: bool,
    /// Always allowed (`approve = "always"` in the config, or chosen in a dialog).
    pub always: bool,
    pub timeout: Duration,
}

/// How a call may run without a question, as recorded on the call.
pub fn grant_label(o: &Offered) -> Option<&'static str> {
    if o.auto {
        Some("auto")
    } else if o.always {
        Some("always")
    } else {
        None
    }
}

/// What the person chose for a call.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Once,
    /// This tool, for the rest of the session.
    Session,
    /// This tool, from now on (saved in `approvals.toml` beside the config).
    Always,
    /// Not run; the reason (if given) is sent to the model.
    Deny(Option<String>),
}

impl Decision {
    pub fn label(&self) -> &'static str {
        match self {
            Decision::Once => "once",
            Decision::Session => "session",
            Decision::Always => "always",
            Decision::Deny(_) => "denied",
        }
    }
}

/// The text a denied call's result carries to the model.
pub fn denied_text(reason: Option<&str>) -> String {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => format!("The user denied this call: {r}"),
        None => "The user denied this call.".into(),
    }
}

/// The name the model sees for tool `tool` of MCP server `server`.
pub fn mcp_name(server: &str, tool: &str) -> String {
    format!("{server}__{tool}")
}

/// Whether `name` is a tool name every provider takes (`^[a-zA-Z0-9_-]{1,64}$`).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn timeout(cfg: &Config, own: Option<f64>) -> Duration {
    Duration::from_secs_f64(own.or(cfg.file.tool_timeout_secs).unwrap_or(60.0))
}

/// Whether the config or `approvals.toml` always allows `name`.
fn always(cfg: &Config, name: &str, setting: Option<&str>) -> bool {
    setting == Some("always") || cfg.always_allowed.contains(name)
}

/// The built-in tool `name` as offered under `cfg`.
pub fn builtin(cfg: &Config, name: &str) -> Option<Offered> {
    let (description, parameters, read_only) = builtin::spec(name)?;
    let own = cfg.file.tools.get(name);
    let approve = own.and_then(|t| t.approve.as_deref());
    // current_time reveals nothing and changes nothing: it never asks, unless told to.
    let auto =
        read_only && (approve == Some("auto") || (name == "current_time" && approve.is_none()));
    Some(Offered {
        spec: ToolSpec {
            name: name.into(),
            description: description.into(),
            parameters,
        },
        source: Source::Builtin,
        read_only,
        auto,
        always: always(cfg, name, approve),
        timeout: timeout(cfg, own.and_then(|t| t.timeout_secs)),
    })
}

/// A `[tools.NAME]` user tool (one with a `command`).
pub fn command_tool(cfg: &Config, name: &str) -> Option<Offered> {
    let t = cfg.file.tools.get(name)?;
    let command = t.command.clone()?;
    let read_only = t.read_only == Some(true);
    let approve = t.approve.as_deref();
    let parameters = match &t.parameters {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| empty_params()),
        Some(v) => v.clone(),
        None => empty_params(),
    };
    Some(Offered {
        spec: ToolSpec {
            name: name.into(),
            description: t
                .description
                .clone()
                .unwrap_or_else(|| format!("Runs the user's command `{name}`.")),
            parameters,
        },
        source: Source::Command(command),
        read_only,
        auto: read_only && approve == Some("auto"),
        always: always(cfg, name, approve),
        timeout: timeout(cfg, t.timeout_secs),
    })
}

/// An MCP server's tool, as listed by the server.
pub fn mcp_tool(
    cfg: &Config,
    server: &str,
    tool: &str,
    description: &str,
    parameters: Value,
) -> Offered {
    let name = mcp_name(server, tool);
    let s = cfg.file.mcp.get(server);
    let server_always = s.and_then(|s| s.approve.as_deref()) == Some("always");
    let listed = s.is_some_and(|s| s.always_allow.iter().any(|t| t == tool));
    Offered {
        spec: ToolSpec {
            name: name.clone(),
            description: description.into(),
            parameters,
        },
        source: Source::Mcp {
            server: server.into(),
            tool: tool.into(),
        },
        // A server's own read-only hints are its word, not ours: its calls ask.
        read_only: false,
        auto: false,
        always: server_always || listed || cfg.always_allowed.contains(&name),
        timeout: timeout(cfg, s.and_then(|s| s.timeout_secs)),
    }
}

fn empty_params() -> Value {
    json!({"type": "object", "properties": {}})
}

/// The tools (built-in and `[tools.NAME]` commands) a name list enables; MCP servers are
/// enabled by name (`--mcp`, `/tools mcp NAME`) and listed once connected. Unknown names are
/// an error that lists what exists.
pub fn resolve(cfg: &Config, names: &[String]) -> Result<Vec<Offered>, String> {
    let mut out: Vec<Offered> = Vec::new();
    for n in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if out.iter().any(|o| o.spec.name == n) {
            continue;
        }
        match command_tool(cfg, n).or_else(|| builtin(cfg, n)) {
            Some(o) => out.push(o),
            None => {
                return Err(format!(
                    "no tool named {}: the tools are {}",
                    crate::sanitize::sanitize(n),
                    available(cfg).join(", ")
                ));
            }
        }
    }
    Ok(out)
}

/// Every tool name that can be enabled (built-ins, then the config's commands).
pub fn available(cfg: &Config) -> Vec<String> {
    let mut v: Vec<String> = BUILTIN.iter().map(|s| s.to_string()).collect();
    for (n, t) in &cfg.file.tools {
        if t.command.is_some() && !v.contains(n) {
            v.push(n.clone());
        }
    }
    v
}

/// Checks the tool settings of a config file: names, `approve` values, `auto` only on
/// read-only tools, a command or a url for every MCP server. Errors name the section.
pub fn validate(file: &crate::config::FileConfig) -> Result<(), String> {
    for (name, t) in &file.tools {
        let builtin = builtin::spec(name);
        if !valid_name(name) {
            return Err(format!(
                "[tools.{name}]: a tool name is 1 to 64 letters, digits, '_' or '-'"
            ));
        }
        if builtin.is_none() && t.command.is_none() {
            return Err(format!(
                "[tools.{name}]: not a built-in tool ({}), so it needs a `command`",
                BUILTIN.join(", ")
            ));
        }
        if let Some(CommandLine::Argv(v)) = &t.command
            && v.is_empty()
        {
            return Err(format!("[tools.{name}] command: an empty list"));
        }
        match t.approve.as_deref() {
            None | Some("ask") | Some("always") => {}
            Some("auto") => {
                let read_only = match builtin {
                    Some((_, _, ro)) => ro,
                    None => t.read_only == Some(true),
                };
                if !read_only {
                    return Err(format!(
                        "[tools.{name}] approve = \"auto\": only a read-only tool may run without asking (use \"always\" to allow it every time)"
                    ));
                }
            }
            Some(o) => {
                return Err(format!(
                    "[tools.{name}] approve: \"{o}\" is not one of \"ask\", \"auto\", \"always\""
                ));
            }
        }
        if let Some(Value::String(s)) = &t.parameters
            && serde_json::from_str::<Value>(s).is_err()
        {
            return Err(format!("[tools.{name}] parameters: not valid JSON"));
        }
        if let Some(p) = &t.parameters
            && !p.is_string()
            && !p.is_object()
        {
            return Err(format!(
                "[tools.{name}] parameters: a JSON Schema object (a TOML table or a JSON text)"
            ));
        }
    }
    for (name, m) in &file.mcp {
        if !valid_name(name) || name.contains("__") {
            return Err(format!(
                "[mcp.{name}]: a server name is letters, digits, '_' or '-' (no \"__\")"
            ));
        }
        match (&m.command, &m.url) {
            (Some(_), None) | (None, Some(_)) => {}
            _ => {
                return Err(format!(
                    "[mcp.{name}]: give either `command` (stdio) or `url` (streamable HTTP)"
                ));
            }
        }
        if let Some(u) = &m.url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(format!("[mcp.{name}] url: not an http(s) URL"));
        }
        match m.approve.as_deref() {
            None | Some("ask") | Some("always") => {}
            Some(o) => {
                return Err(format!(
                    "[mcp.{name}] approve: \"{o}\" is not one of \"ask\", \"always\""
                ));
            }
        }
    }
    Ok(())
}

/// A call as the approval dialog and the tty prompt show it: the command in full for a
/// shell, the arguments otherwise (a diff for edits comes from `run::review`).
pub fn describe_call(call: &ToolCall) -> String {
    let s = |k: &str| call.arguments.get(k).and_then(Value::as_str);
    let text = match (call.name.as_str(), s("command"), s("path")) {
        ("run_command", Some(c), _) => format!("$ {c}"),
        (_, _, Some(p)) if call.arguments.as_object().is_some_and(|o| o.len() == 1) => {
            format!("path: {p}")
        }
        _ => serde_json::to_string_pretty(&call.arguments).unwrap_or_default(),
    };
    crate::sanitize::sanitize(&text)
}

/// A call's arguments in one line, for the transcript's record.
pub fn short_args(call: &ToolCall) -> String {
    let s = |k: &str| call.arguments.get(k).and_then(Value::as_str);
    let text = if let Some(c) = s("command").filter(|_| call.name == "run_command") {
        c.to_string()
    } else if let Some(p) = s("path").filter(|_| call.name.ends_with("_file")) {
        p.to_string()
    } else if let Some(o) = call.arguments.as_object()
        && o.len() == 1
        && let Some(v) = o.values().next().and_then(Value::as_str)
    {
        v.to_string()
    } else {
        call.arguments.to_string()
    };
    let one = crate::sanitize::sanitize(&text.replace('\n', " "));
    match one.char_indices().nth(100) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

/// A result in a few words: its size, or its error.
pub fn summary(r: &crate::parts::ToolResult) -> String {
    let first: String = r
        .text
        .lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(80)
        .collect();
    let first = crate::sanitize::sanitize(&first);
    match (r.is_error, r.exit_code) {
        (true, Some(c)) => format!("exit {c}: {first}"),
        (true, None) => format!("error: {first}"),
        (false, _) => format!(
            "{} line{}, {}",
            r.text.lines().count(),
            if r.text.lines().count() == 1 { "" } else { "s" },
            crate::attach::human_bytes(r.text.len() as u64)
        ),
    }
}

/// How calls of `o` are approved, in words.
pub fn approval_words(o: &Offered) -> &'static str {
    if o.auto {
        "runs without asking (read-only)"
    } else if o.always {
        "always allowed"
    } else if o.read_only {
        "asks (read-only)"
    } else {
        "asks"
    }
}
