//! Runs tool calls (the tools layer's only I/O): built-in file tools on a blocking thread,
//! commands in their own process group, MCP calls on their server. Every call has a timeout;
//! cancelling stops it (a command's whole process group is killed). Output is cut at
//! `tool_output_bytes`.

use super::builtin::{self, Outcome, Roots};
use super::mcp::Server;
use super::{Offered, Source};
use crate::config::{CommandLine, Config};
use crate::parts::{ToolCall, ToolResult};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// The running side of the tools: the roots file tools use and the connected MCP servers.
pub struct Toolbox {
    pub cfg: Arc<Config>,
    pub roots: Roots,
    servers: tokio::sync::Mutex<HashMap<String, Connected>>,
}

/// A running MCP server and the tools it listed.
type Connected = (Arc<Server>, Vec<super::mcp::Listed>);

impl Toolbox {
    pub fn new(cfg: Arc<Config>) -> Arc<Toolbox> {
        let roots = Roots::from_config(&cfg);
        Arc::new(Toolbox {
            cfg,
            roots,
            servers: Default::default(),
        })
    }

    fn max_bytes(&self) -> usize {
        self.cfg.file.tool_output_bytes.unwrap_or(65_536) as usize
    }

    /// Connects MCP server `name` (once: a running one is reused) and returns its tools as
    /// offered under the config.
    pub async fn connect(&self, name: &str) -> Result<Vec<Offered>, String> {
        let mut servers = self.servers.lock().await;
        if !servers.contains_key(name) {
            let (server, listed) = Server::connect(&self.cfg, name).await?;
            servers.insert(name.to_string(), (Arc::new(server), listed));
        }
        let listed = servers
            .get(name)
            .map(|(_, l)| l.clone())
            .unwrap_or_default();
        Ok(listed
            .into_iter()
            .map(|(t, d, p)| super::mcp_tool(&self.cfg, name, &t, &d, p))
            .collect())
    }

    /// Ends every MCP server.
    pub async fn shutdown(&self) {
        let servers: Vec<Arc<Server>> = self
            .servers
            .lock()
            .await
            .drain()
            .map(|(_, (s, _))| s)
            .collect();
        for s in servers {
            if let Ok(s) = Arc::try_unwrap(s) {
                s.close().await;
            }
        }
    }

    /// What the person approves: the diff of a write or an edit (or why it cannot be made),
    /// the full command line, or the arguments. Reads files: call it on a blocking thread.
    pub fn review(&self, call: &ToolCall) -> String {
        match call.name.as_str() {
            "write_file" | "edit_file" => {
                match builtin::planned_change(&call.name, &call.arguments, &self.roots) {
                    Ok((p, old, new)) => {
                        let shown = self.roots.shown(&p);
                        let d = builtin::diff(&shown, &old, &new);
                        let d = if d.is_empty() {
                            format!("{shown}: no change")
                        } else if old.is_empty() && !p.exists() {
                            format!("new file {shown}\n{d}")
                        } else {
                            d
                        };
                        crate::sanitize::sanitize(&d)
                    }
                    Err(e) => crate::sanitize::sanitize(&format!(
                        "{}\n(it will fail: {e})",
                        super::describe_call(call)
                    )),
                }
            }
            "run_command" => format!(
                "{}\n(in {})",
                super::describe_call(call),
                self.roots
                    .main()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
            _ => super::describe_call(call),
        }
    }

    /// Runs the approved calls: read-only ones at once, side by side; the others one at a
    /// time, in the order the model gave them. Results come back in the calls' order.
    pub async fn run_all(
        self: &Arc<Self>,
        calls: Vec<(Offered, ToolCall)>,
        cancel: CancellationToken,
    ) -> Vec<ToolResult> {
        let n = calls.len();
        let mut results: Vec<Option<ToolResult>> = vec![None; n];
        let (ro, rw): (Vec<_>, Vec<_>) = calls
            .into_iter()
            .enumerate()
            .partition(|(_, (o, _))| o.read_only);
        let side = futures::future::join_all(ro.into_iter().map(|(i, (o, c))| {
            let me = self.clone();
            let cancel = cancel.clone();
            async move { (i, me.run(&o, &c, &cancel).await) }
        }));
        let me = self.clone();
        let cancel2 = cancel.clone();
        let serial = async move {
            let mut out = Vec::new();
            for (i, (o, c)) in rw {
                out.push((i, me.run(&o, &c, &cancel2).await));
            }
            out
        };
        let (a, b) = tokio::join!(side, serial);
        for (i, r) in a.into_iter().chain(b) {
            results[i] = Some(r);
        }
        results.into_iter().flatten().collect()
    }

    /// Runs one call under its tool's timeout and the cancel token.
    pub async fn run(
        &self,
        o: &Offered,
        call: &ToolCall,
        cancel: &CancellationToken,
    ) -> ToolResult {
        let start = Instant::now();
        let work = self.outcome(o, call, cancel);
        let out = tokio::select! {
            r = tokio::time::timeout(o.timeout, work) => match r {
                Ok(out) => out,
                Err(_) => Outcome::err(format!(
                    "stopped after {:.0} s (the tool's timeout)",
                    o.timeout.as_secs_f64()
                )),
            },
            _ = cancel.cancelled() => Outcome::err("cancelled by the user"),
        };
        let mut text = crate::redact::redact_known(&out.text);
        let max = self.max_bytes();
        let mut truncated_from = None;
        if text.len() > max {
            truncated_from = Some(text.len() as u64);
            let mut cut = max;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(&format!(
                "\n[… output cut at {} of {}]",
                crate::attach::human_bytes(max as u64),
                crate::attach::human_bytes(truncated_from.unwrap_or(0))
            ));
        }
        ToolResult {
            call_id: call.id.clone(),
            name: call.name.clone(),
            text,
            is_error: out.is_error,
            exit_code: out.exit_code,
            duration_ms: Some(start.elapsed().as_millis() as u64),
            truncated_from,
        }
    }

    async fn outcome(&self, o: &Offered, call: &ToolCall, cancel: &CancellationToken) -> Outcome {
        let max = self.max_bytes();
        match &o.source {
            Source::Builtin if call.name == "run_command" => {
                let Some(cmd) = call.arguments.get("command").and_then(|v| v.as_str()) else {
                    return Outcome::err("missing the string argument `command`");
                };
                let argv = vec!["sh".to_string(), "-c".to_string(), cmd.to_string()];
                self.process(&argv, None, max, cancel, true).await
            }
            Source::Builtin => {
                let (name, args, roots) = (
                    call.name.clone(),
                    call.arguments.clone(),
                    self.roots.clone(),
                );
                tokio::task::spawn_blocking(move || builtin::run_sync(&name, &args, &roots, max))
                    .await
                    .unwrap_or_else(|e| Outcome::err(format!("the tool failed: {e}")))
            }
            Source::Command(line) => {
                let argv = match line {
                    CommandLine::Shell(s) => vec!["sh".into(), "-c".into(), s.clone()],
                    CommandLine::Argv(v) => v.clone(),
                };
                let stdin = call.arguments.to_string();
                self.process(&argv, Some(stdin), max, cancel, false).await
            }
            Source::Mcp { server, tool } => {
                let s = self
                    .servers
                    .lock()
                    .await
                    .get(server)
                    .map(|(s, _)| s.clone());
                let Some(s) = s else {
                    return Outcome::err(format!("MCP server {server} is not connected"));
                };
                match s.call(tool, &call.arguments).await {
                    Ok((text, is_error)) => Outcome {
                        text,
                        is_error,
                        exit_code: None,
                    },
                    Err(e) => Outcome::err(e),
                }
            }
        }
    }

    /// Runs `argv` in the main root in a process group of its own, with charla's environment
    /// minus every API key. `both` merges stderr into the result (a shell command); otherwise
    /// stdout is the result and stderr is added only when the command fails.
    async fn process(
        &self,
        argv: &[String],
        stdin: Option<String>,
        max: usize,
        cancel: &CancellationToken,
        both: bool,
    ) -> Outcome {
        let Some((prog, args)) = argv.split_first() else {
            return Outcome::err("an empty command");
        };
        let mut c = tokio::process::Command::new(prog);
        c.args(args)
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for k in secret_vars(&self.cfg) {
            c.env_remove(k);
        }
        if let Some(d) = self.roots.main() {
            c.current_dir(d);
        }
        let mut w = process_wrap::tokio::CommandWrap::from(c);
        w.wrap(process_wrap::tokio::ProcessGroup::leader());
        w.wrap(process_wrap::tokio::KillOnDrop);
        let mut child = match w.spawn() {
            Ok(c) => c,
            Err(e) => return Outcome::err(format!("cannot start {prog}: {e}")),
        };
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin().take()) {
            tokio::spawn(async move {
                let _ = pipe.write_all(input.as_bytes()).await;
            });
        }
        let mut out = child.stdout().take();
        let mut err = child.stderr().take();
        // Both pipes are read to their end (what is past the limit is counted, not kept), so
        // a command with a lot of output never blocks on a full pipe.
        let read = async {
            let (a, b) = tokio::join!(drain(out.as_mut(), max + 1), drain(err.as_mut(), max));
            (a, b)
        };
        let result = tokio::select! {
            r = async {
                let (a, b) = read.await;
                let status = child.wait().await;
                (a, b, status)
            } => Some(r),
            _ = cancel.cancelled() => None,
        };
        let Some(((a, a_len), (b, _), status)) = result else {
            // Kill the whole group: what the command started goes too.
            let _ = Box::into_pin(child.kill()).await;
            return Outcome::err("cancelled by the user: the command was killed");
        };
        let code = status.ok().and_then(|s| s.code());
        let kept_all = a_len <= a.len() as u64;
        let (a, b) = (String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
        let failed = code != Some(0);
        let mut text = if both {
            let mut t = a.into_owned();
            if !b.is_empty() {
                if !t.is_empty() && !t.ends_with('\n') {
                    t.push('\n');
                }
                t.push_str(&b);
            }
            t
        } else if failed && !b.trim().is_empty() {
            format!("{a}{b}")
        } else {
            a.into_owned()
        };
        if !kept_all {
            text.push_str(&format!(
                "\n[… {} of output in all; the rest was not kept]",
                crate::attach::human_bytes(a_len)
            ));
        }
        if both || failed {
            match code {
                Some(c) => text.push_str(&format!("\n[exit status {c}]")),
                None => text.push_str("\n[killed by a signal]"),
            }
        }
        Outcome {
            text,
            is_error: failed,
            exit_code: code,
        }
    }
}

/// Reads `r` to its end, keeping the first `keep` bytes; returns them and the total length.
async fn drain<R: tokio::io::AsyncRead + Unpin>(r: Option<&mut R>, keep: usize) -> (Vec<u8>, u64) {
    let mut kept = Vec::new();
    let mut total = 0u64;
    let Some(r) = r else {
        return (kept, 0);
    };
    let mut buf = [0u8; 8192];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n as u64;
                let room = keep.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buf[..room]);
            }
        }
    }
    (kept, total)
}

/// Environment variables never passed to commands: the providers' key variables and anything
/// named like a credential.
fn secret_vars(cfg: &Config) -> Vec<String> {
    let mut v: Vec<String> = cfg
        .providers
        .values()
        .filter_map(|p| p.file.api_key_env.clone())
        .collect();
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        let up = k.to_ascii_uppercase();
        if ["_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD"]
            .iter()
            .any(|s| up.ends_with(s))
        {
            v.push(k);
        }
    }
    v
}
