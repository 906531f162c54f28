//! MCP servers, through the official SDK (rmcp): a child process over stdio, or a streamable
//! HTTP endpoint. A stdio server gets only a small fixed environment and what its `env` table
//! lists; its stderr is discarded (it would write over the chat screen).

use crate::config::{Config, McpFile};
use rmcp::ServiceExt;
use rmcp::model::CallToolRequestParams;
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, transport::StreamableHttpClientTransport};
use std::collections::BTreeMap;

/// Variables a server inherits from charla's environment without being listed (what a
/// program needs to start: no credentials).
pub const PASSED_ON: [&str; 8] = [
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "TMPDIR", "TERM", "SHELL",
];

/// A connected server.
pub struct Server {
    pub name: String,
    service: RunningService<RoleClient, ()>,
}

/// A tool a server lists: (name, description, input schema).
pub type Listed = (String, String, serde_json::Value);

/// The environment a stdio server starts with.
pub fn environment(m: &McpFile) -> BTreeMap<String, String> {
    let mut env: BTreeMap<String, String> = PASSED_ON
        .iter()
        .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect();
    for (k, v) in &m.env {
        let v = match v.strip_prefix('$') {
            Some(from) => std::env::var(from).unwrap_or_default(),
            None => v.clone(),
        };
        env.insert(k.clone(), v);
    }
    env
}

impl Server {
    /// Starts (or connects to) server `name` and lists its tools.
    pub async fn connect(cfg: &Config, name: &str) -> Result<(Server, Vec<Listed>), String> {
        let m =
            cfg.file.mcp.get(name).ok_or_else(|| {
                format!("no MCP server named {name} in the config ([mcp.{name}])")
            })?;
        let what = |e: &dyn std::fmt::Display| {
            crate::redact::redact_known(&format!("MCP server {name}: {e}"))
        };
        let service = match (&m.command, &m.url) {
            (Some(cmd), _) => {
                let mut c = tokio::process::Command::new(cmd);
                c.args(&m.args)
                    .env_clear()
                    .envs(environment(m))
                    .stderr(std::process::Stdio::null());
                if let Ok(dir) = std::env::current_dir() {
                    c.current_dir(dir);
                }
                let mut w = process_wrap::tokio::CommandWrap::from(c);
                w.wrap(process_wrap::tokio::ProcessGroup::leader());
                let (t, _) = TokioChildProcess::builder(w)
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .map_err(|e| what(&format!("cannot start {cmd}: {e}")))?;
                ().serve(t).await.map_err(|e| what(&e))?
            }
            (None, Some(url)) => {
                let client =
                    crate::provider::stream::http_client(std::time::Duration::from_secs(10))
                        .map_err(|e| what(&e))?;
                let t = StreamableHttpClientTransport::with_client(
                    client,
                    rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig::with_uri(
                        url.as_str(),
                    ),
                );
                ().serve(t).await.map_err(|e| what(&e))?
            }
            (None, None) => return Err(what(&"neither `command` nor `url` is set")),
        };
        let tools = service
            .list_all_tools()
            .await
            .map_err(|e| what(&format!("listing its tools: {e}")))?;
        let listed = tools
            .into_iter()
            .filter(|t| super::valid_name(&super::mcp_name(name, &t.name)))
            .map(|t| {
                (
                    t.name.to_string(),
                    t.description.map(|d| d.to_string()).unwrap_or_default(),
                    serde_json::Value::Object((*t.input_schema).clone()),
                )
            })
            .collect();
        Ok((
            Server {
                name: name.to_string(),
                service,
            },
            listed,
        ))
    }

    /// Calls `tool` with `arguments`: its text content joined (other content named), and
    /// whether the server said it failed.
    pub async fn call(
        &self,
        tool: &str,
        arguments: &serde_json::Value,
    ) -> Result<(String, bool), String> {
        let mut p = CallToolRequestParams::new(tool.to_string());
        if let Some(o) = arguments.as_object() {
            p = p.with_arguments(o.clone());
        }
        let r = self
            .service
            .call_tool(p)
            .await
            .map_err(|e| format!("MCP server {}: {e}", self.name))?;
        let mut text = Vec::new();
        for c in &r.content {
            match c {
                rmcp::model::ContentBlock::Text(t) => text.push(t.text.clone()),
                rmcp::model::ContentBlock::Image(i) => {
                    text.push(format!("[an image, {}]", i.mime_type))
                }
                rmcp::model::ContentBlock::Audio(_) => text.push("[audio]".into()),
                rmcp::model::ContentBlock::Resource(_) => {
                    text.push("[an embedded resource]".into())
                }
                rmcp::model::ContentBlock::ResourceLink(l) => {
                    text.push(format!("[resource {}]", l.uri))
                }
                _ => text.push("[content of a kind charla does not show]".into()),
            }
        }
        if text.is_empty()
            && let Some(s) = &r.structured_content
        {
            text.push(s.to_string());
        }
        Ok((text.join("\n"), r.is_error == Some(true)))
    }

    /// Ends the session and the server's process (group).
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }
}
