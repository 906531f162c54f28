//! Configuration: built-in defaults (`assets/config.toml`) < user file < environment < flags.

use crate::pricing::{PriceEntry, PriceTable};
use crate::provider::retry::RetryPolicy;
use crate::provider::stream::{Endpoint, Secret, Timeouts};
use crate::provider::{ErrorKind, Kind, ProviderError};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const BUILTIN: &str = include_str!("../assets/config.toml");
pub const EXAMPLE: &str = include_str!("../assets/config.example.toml");
pub const DEMO_MODEL: &str = "demo/charla-demo";
/// Providers tried, in order, for a key in the environment when no default model is set.
pub const AUTO_ORDER: &[&str] = &[
    "openai",
    "anthropic",
    "gemini",
    "openrouter",
    "groq",
    "deepseek",
    "mistral",
    "xai",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryFile {
    pub max_attempts: Option<u32>,
    pub base_delay_ms: Option<u64>,
    pub max_delay_ms: Option<u64>,
    pub max_retry_after_secs: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsFile {
    pub connect_secs: Option<f64>,
    pub first_token_secs: Option<f64>,
    pub idle_secs: Option<f64>,
}

impl TimeoutsFile {
    fn merge(&mut self, o: &TimeoutsFile) {
        self.connect_secs = o.connect_secs.or(self.connect_secs);
        self.first_token_secs = o.first_token_secs.or(self.first_token_secs);
        self.idle_secs = o.idle_secs.or(self.idle_secs);
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFile {
    pub kind: Option<Kind>,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub api_key_cmd: Option<String>,
    pub headers: Option<BTreeMap<String, String>>,
    pub models: Option<Vec<String>>,
    pub default_model: Option<String>,
    pub proxy: Option<String>,
    pub timeouts: Option<TimeoutsFile>,
    pub max_tokens: Option<u32>,
    /// Runs on this machine: costs nothing.
    pub local: Option<bool>,
    /// Which price-table family to use (default: the provider's name, then its kind).
    pub pricing: Option<String>,
    /// Models of this provider that read images (ids, or prefixes ending in `*`). When set, it
    /// replaces charla's own model data for this provider.
    pub vision_models: Option<Vec<String>>,
}

/// `[tools.NAME]`: a user tool (with `command`), or the settings of a built-in one.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolFile {
    pub description: Option<String>,
    /// The arguments' JSON Schema: a TOML table, or a JSON text.
    pub parameters: Option<serde_json::Value>,
    /// Run with the arguments as JSON on stdin; its stdout is the result. A string runs in
    /// `sh -c`; an array is the program and its arguments.
    pub command: Option<CommandLine>,
    /// `ask` (default), `auto` (read-only tools only: run without asking) or `always`.
    pub approve: Option<String>,
    /// The tool only reads: it may be marked `auto`.
    pub read_only: Option<bool>,
    pub timeout_secs: Option<f64>,
}

/// A command as a shell line or as a program with its arguments.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum CommandLine {
    Shell(String),
    Argv(Vec<String>),
}

/// `[mcp.NAME]`: an MCP server, started with only the environment given here (plus `PATH`,
/// `HOME`, `LANG` and the like): charla's API keys are not passed on unless listed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpFile {
    pub command: Option<String>,
    #[serde(default)]
    pub args: Vec<String>,
    /// Variables to set; a value `"$NAME"` is taken from charla's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A streamable-HTTP server instead of a command.
    pub url: Option<String>,
    /// `ask` (default) or `always` for every tool of this server.
    pub approve: Option<String>,
    /// Tools of this server that run without asking.
    #[serde(default)]
    pub always_allow: Vec<String>,
    pub timeout_secs: Option<f64>,
}

/// `[rag]`: how collections are split and how much of them a question gets.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RagFile {
    pub chunk_chars: Option<u64>,
    pub overlap_lines: Option<u64>,
    pub max_file_bytes: Option<u64>,
    pub top_k: Option<u64>,
    pub context_tokens: Option<u64>,
}

/// `[attachments]`: limits on attached files.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentsFile {
    /// No attachment larger than this many bytes is read.
    pub max_file_bytes: Option<u64>,
    /// A text file may take at most this share (0 < share <= 1) of the model's context window.
    pub max_context_share: Option<f64>,
}

impl ProviderFile {
    fn merge(&mut self, o: &ProviderFile) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* };
        }
        take!(
            kind,
            base_url,
            headers,
            models,
            default_model,
            proxy,
            max_tokens,
            local,
            pricing,
            vision_models
        );
        // A key source replaces the other one.
        if o.api_key_env.is_some() || o.api_key_cmd.is_some() {
            self.api_key_env = o.api_key_env.clone();
            self.api_key_cmd = o.api_key_cmd.clone();
        }
        match (&mut self.timeouts, &o.timeouts) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => self.timeouts = Some(*b),
            _ => {}
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub default_model: Option<String>,
    pub theme: Option<String>,
    /// The system prompt of every new conversation (a preset's or `-s` replaces it).
    pub system_prompt: Option<String>,
    /// Capture the mouse (wheel scrolling) in the TUI; false leaves selection to the terminal.
    pub mouse: Option<bool>,
    pub max_cost_per_session: Option<f64>,
    /// Caps on what every conversation together may spend per UTC day / month.
    pub max_cost_per_day: Option<f64>,
    pub max_cost_per_month: Option<f64>,
    /// Plant a canary in system prompts and flag answers that leak them (default true).
    pub canary: Option<bool>,
    /// An answer repeating this many words of the system prompt in a row is flagged (default 8).
    pub leak_ngram: Option<u32>,
    /// `warn` (default) or `redact` (also hide the leaked text on screen).
    pub on_leak: Option<String>,
    /// What to do with likely prompt injections in untrusted content: `off`, `warn` (default),
    /// `block` (refuse to send until confirmed).
    pub injection: Option<String>,
    /// Datamark untrusted content (spotlighting): its spaces become `ˆ` (default false).
    pub spotlight: Option<bool>,
    /// Ask Anthropic and Gemini for the exact input count before sending (their free counting
    /// endpoints), for the estimate and the spend caps.
    pub exact_estimates: Option<bool>,
    pub probe_ollama: Option<bool>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub retry: Option<RetryFile>,
    pub timeouts: Option<TimeoutsFile>,
    pub attachments: Option<AttachmentsFile>,
    /// Retrieval (`charla rag`): passage size, limits, how much context a question gets.
    pub rag: Option<RagFile>,
    /// `provider/model` whose embeddings make retrieval hybrid (BM25 fused with vectors).
    pub embedding_model: Option<String>,
    /// Most model steps one answer may take with tools (default 10).
    pub max_steps: Option<u32>,
    /// A tool call is stopped after this many seconds (default 60; per tool `timeout_secs`).
    pub tool_timeout_secs: Option<f64>,
    /// A tool's output is kept (and sent) up to this many bytes (default 65536).
    pub tool_output_bytes: Option<u64>,
    /// The directories file tools may read and write (default: the working directory).
    pub tool_roots: Option<Vec<String>>,
    /// The tools every conversation starts with (`ask --tools` and `/tools` change it).
    pub default_tools: Option<Vec<String>>,
    /// User tools (`command`) and settings of the built-in ones (`approve`).
    #[serde(default)]
    pub tools: BTreeMap<String, ToolFile>,
    /// MCP servers: `command`/`args`/`env` (stdio) or `url` (streamable HTTP).
    #[serde(default)]
    pub mcp: BTreeMap<String, McpFile>,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderFile>,
    #[serde(default)]
    pub pricing: Vec<PriceEntry>,
}

impl FileConfig {
    fn merge(&mut self, o: FileConfig) {
        macro_rules! take {
            ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* };
        }
        take!(
            default_model,
            theme,
            system_prompt,
            mouse,
            max_cost_per_session,
            max_cost_per_day,
            max_cost_per_month,
            canary,
            leak_ngram,
            on_leak,
            injection,
            spotlight,
            exact_estimates,
            probe_ollama,
            max_tokens,
            temperature,
            max_steps,
            tool_timeout_secs,
            tool_output_bytes,
            tool_roots,
            default_tools,
            embedding_model
        );
        self.tools.extend(o.tools);
        self.mcp.extend(o.mcp);
        if let Some(r) = o.retry {
            let mine = self.retry.get_or_insert_with(RetryFile::default);
            mine.max_attempts = r.max_attempts.or(mine.max_attempts);
            mine.base_delay_ms = r.base_delay_ms.or(mine.base_delay_ms);
            mine.max_delay_ms = r.max_delay_ms.or(mine.max_delay_ms);
            mine.max_retry_after_secs = r.max_retry_after_secs.or(mine.max_retry_after_secs);
        }
        if let Some(a) = o.attachments {
            let mine = self
                .attachments
                .get_or_insert_with(AttachmentsFile::default);
            mine.max_file_bytes = a.max_file_bytes.or(mine.max_file_bytes);
            mine.max_context_share = a.max_context_share.or(mine.max_context_share);
        }
        if let Some(r) = o.rag {
            let mine = self.rag.get_or_insert_with(RagFile::default);
            mine.chunk_chars = r.chunk_chars.or(mine.chunk_chars);
            mine.overlap_lines = r.overlap_lines.or(mine.overlap_lines);
            mine.max_file_bytes = r.max_file_bytes.or(mine.max_file_bytes);
            mine.top_k = r.top_k.or(mine.top_k);
            mine.context_tokens = r.context_tokens.or(mine.context_tokens);
        }
        if let Some(t) = o.timeouts {
            self.timeouts
                .get_or_insert_with(TimeoutsFile::default)
                .merge(&t);
        }
        for (name, p) in o.providers {
            self.providers.entry(name).or_default().merge(&p);
        }
        self.pricing.extend(o.pricing);
    }
}

/// Where charla keeps its files.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_file: PathBuf,
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    /// The config file was named explicitly (--config / CHARLA_CONFIG): it must exist.
    pub explicit: bool,
}

impl Paths {
    pub fn conversations_dir(&self) -> PathBuf {
        self.data_dir.join("conversations")
    }
    pub fn presets_dir(&self) -> PathBuf {
        self.config_dir.join("presets")
    }
    pub fn themes_dir(&self) -> PathBuf {
        self.config_dir.join("themes")
    }
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join("charla.log")
    }

    /// `--config PATH` > `CHARLA_CONFIG` > `CHARLA_HOME/config.toml` > `$XDG_CONFIG_HOME/charla`
    /// (also on macOS, like atuin and gitui). Data: `CHARLA_DATA_DIR` > `CHARLA_HOME/data` >
    /// the platform data dir.
    pub fn resolve(flag: Option<&Path>) -> Paths {
        let env = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let home = env("CHARLA_HOME");
        let xdg_config = || {
            env("XDG_CONFIG_HOME")
                .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().join(".config")))
                .unwrap_or_else(|| PathBuf::from(".config"))
                .join("charla")
        };
        let (config_file, explicit) = match (flag, env("CHARLA_CONFIG"), &home) {
            (Some(p), _, _) => (p.to_path_buf(), true),
            (None, Some(p), _) => (p, true),
            (None, None, Some(h)) => (h.join("config.toml"), false),
            (None, None, None) => (xdg_config().join("config.toml"), false),
        };
        let config_dir = match &home {
            Some(h) => h.clone(),
            None => config_file
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(xdg_config),
        };
        let data_dir = env("CHARLA_DATA_DIR")
            .or_else(|| home.as_ref().map(|h| h.join("data")))
            .unwrap_or_else(|| {
                directories::ProjectDirs::from("", "", "charla")
                    .map(|d| d.data_dir().to_path_buf())
                    .unwrap_or_else(|| PathBuf::from(".charla"))
            });
        Paths {
            config_file,
            config_dir,
            data_dir,
            explicit,
        }
    }
}

/// A configuration problem, reported before the terminal is touched (exit code 2).
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for ConfigError {}

/// 1-based line of the first occurrence of `needle` in `src`.
fn line_of(src: &str, needle: &str) -> Option<usize> {
    src.find(needle).map(|i| src[..i].matches('\n').count() + 1)
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: Kind,
    pub file: ProviderFile,
    /// The key, once resolved (api_key_cmd runs once per process, not once per request).
    key: std::sync::Arc<std::sync::OnceLock<Option<Secret>>>,
}

impl ProviderConfig {
    pub fn new(name: impl Into<String>, kind: Kind, file: ProviderFile) -> Self {
        ProviderConfig {
            name: name.into(),
            kind,
            file,
            key: Default::default(),
        }
    }

    pub fn base_url(&self) -> &str {
        self.file.base_url.as_deref().unwrap_or("")
    }

    /// Runs on this machine and costs nothing: `local = true`, Ollama, the demo. A loopback
    /// base_url alone is not local: a gateway on localhost (LiteLLM) fronts paid APIs.
    pub fn is_local(&self) -> bool {
        if let Some(l) = self.file.local {
            return l;
        }
        matches!(self.kind, Kind::Ollama | Kind::Demo)
    }

    /// The server is on this machine (its key is optional: llama.cpp, LM Studio, a gateway).
    pub fn is_loopback(&self) -> bool {
        is_loopback_url(self.base_url())
    }

    pub fn price_family(&self) -> String {
        self.file
            .pricing
            .clone()
            .unwrap_or_else(|| self.name.clone())
    }

    /// A key is required unless the server runs here (local, or on loopback with `local` not
    /// set to false: llama.cpp, LM Studio and many gateways take none).
    fn needs_key(&self) -> bool {
        let optional_here = self.is_loopback() && self.file.local.is_none();
        !self.is_local() && !optional_here && self.kind != Kind::Ollama
    }

    /// Resolves the API key: `api_key_cmd` output, else `api_key_env`'s value.
    /// Resolves the API key (cached after the first success).
    pub fn api_key(&self) -> Result<Option<Secret>, ProviderError> {
        if let Some(k) = self.key.get() {
            return Ok(k.clone());
        }
        let key = self.resolve_key()?;
        let _ = self.key.set(key.clone());
        Ok(key)
    }

    fn resolve_key(&self) -> Result<Option<Secret>, ProviderError> {
        if let Some(cmd) = &self.file.api_key_cmd {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| {
                    ProviderError::new(
                        ErrorKind::Config,
                        format!(
                            "api_key_cmd of provider '{}' failed to start: {e}",
                            self.name
                        ),
                    )
                })?;
            if !out.status.success() {
                return Err(ProviderError::new(
                    ErrorKind::Config,
                    format!(
                        "api_key_cmd of provider '{}' exited with {}",
                        self.name, out.status
                    ),
                ));
            }
            let key = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            return Ok((!key.is_empty()).then(|| Secret::new(key)));
        }
        if let Some(var) = &self.file.api_key_env {
            if let Some(v) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) {
                return Ok(Some(Secret::new(v.trim())));
            }
            if self.needs_key() {
                return Err(ProviderError::new(
                    ErrorKind::Auth,
                    format!(
                        "no API key for provider '{}': set {var} (or api_key_cmd in the config)",
                        self.name
                    ),
                ));
            }
        }
        Ok(None)
    }

    /// Worth asking for its model list: not the demo, and a key, a key command, or local.
    pub fn can_list_models(&self) -> bool {
        self.kind != Kind::Demo
            && (self.has_key_in_env()
                || self.file.api_key_cmd.is_some()
                || self.is_local()
                || self.is_loopback())
    }

    pub fn has_key_in_env(&self) -> bool {
        self.file
            .api_key_env
            .as_ref()
            .is_some_and(|v| std::env::var(v).is_ok_and(|v| !v.trim().is_empty()))
    }
}

/// A URL whose host is this machine (127.0.0.0/8, localhost, [::1]).
pub fn is_loopback_url(u: &str) -> bool {
    ["://127.", "://localhost", "://[::1]"]
        .iter()
        .any(|h| u.contains(h))
}

/// A model reference: `provider/model`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub provider: String,
    pub model: String,
}

impl ModelRef {
    pub fn parse(s: &str) -> Option<ModelRef> {
        let (p, m) = s.trim().split_once('/')?;
        (!p.is_empty() && !m.is_empty()).then(|| ModelRef {
            provider: p.to_string(),
            model: m.to_string(),
        })
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

/// The resolved configuration every front end uses.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: FileConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub paths: Paths,
    pub prices: PriceTable,
    /// The user's config file existed and was read.
    pub user_file_loaded: bool,
    /// Tools the user chose to always allow in an approval dialog (`approvals.toml`).
    pub always_allowed: std::collections::BTreeSet<String>,
}

/// `approvals.toml` beside the config file: what "always allow" saved. charla writes it (never
/// the user's own config.toml, whose comments and layout stay as they are).
#[derive(Debug, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
struct ApprovalsFile {
    #[serde(default)]
    always: Vec<String>,
}

impl Paths {
    pub fn approvals_file(&self) -> PathBuf {
        self.config_dir.join("approvals.toml")
    }
}

fn read_approvals(paths: &Paths) -> Result<std::collections::BTreeSet<String>, ConfigError> {
    let path = paths.approvals_file();
    match std::fs::read_to_string(&path) {
        Ok(src) => {
            let f: ApprovalsFile = toml::from_str(&src)
                .map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
            Ok(f.always.into_iter().collect())
        }
        Err(_) => Ok(Default::default()),
    }
}

/// Adds `tool` to the tools always allowed (`approvals.toml`), written atomically. A file
/// that does not parse is named and left as it is.
pub fn save_always(paths: &Paths, tool: &str) -> Result<(), String> {
    let path = paths.approvals_file();
    let mut set = read_approvals(paths).map_err(|e| e.0)?;
    set.insert(tool.to_string());
    let f = ApprovalsFile {
        always: set.into_iter().collect(),
    };
    let body = format!(
        "# Tools charla runs without asking, chosen with \"always allow\" in an approval.\n# Remove a line to be asked again.\n{}",
        toml::to_string(&f).map_err(|e| e.to_string())?
    );
    std::fs::create_dir_all(&paths.config_dir)
        .map_err(|e| format!("{}: {e}", paths.config_dir.display()))?;
    crate::util::write_atomic(&path, body.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

impl Config {
    /// Loads built-ins, then the user file at `paths`, then the environment.
    pub fn load(paths: Paths) -> Result<Config, ConfigError> {
        let mut file: FileConfig =
            toml::from_str(BUILTIN).map_err(|e| ConfigError(format!("built-in config: {e}")))?;
        let path = &paths.config_file;
        let mut user_file_loaded = false;
        match std::fs::read_to_string(path) {
            Ok(src) => {
                let user = parse_user(&src, path)?;
                file.merge(user);
                user_file_loaded = true;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !paths.explicit => {}
            Err(e) => return Err(ConfigError(format!("{}: cannot read: {e}", path.display()))),
        }
        if let Some(m) = std::env::var("CHARLA_MODEL")
            .ok()
            .filter(|m| !m.trim().is_empty())
        {
            file.default_model = Some(m);
        }
        let prices = PriceTable::builtin()
            .map_err(|e| ConfigError(format!("built-in price table: {e}")))?
            .with_overrides(&file.pricing);
        let mut providers = BTreeMap::new();
        for (name, p) in &file.providers {
            let kind = p
                .kind
                .ok_or_else(|| ConfigError(format!("provider '{name}' has no `kind`")))?;
            providers.insert(
                name.clone(),
                ProviderConfig::new(name.clone(), kind, p.clone()),
            );
        }
        crate::tools::validate(&file)
            .map_err(|e| ConfigError(format!("{}: {e}", paths.config_file.display())))?;
        let always_allowed = read_approvals(&paths)?;
        let cfg = Config {
            file,
            providers,
            paths,
            prices,
            user_file_loaded,
            always_allowed,
        };
        if let Some(m) = &cfg.file.default_model {
            cfg.resolve_model(m).map_err(|e| {
                ConfigError(format!(
                    "{}: default_model: {e}",
                    cfg.paths.config_file.display()
                ))
            })?;
        }
        // Every key in the environment is known to the redactor from the start, whichever
        // provider is in use: one that turns up elsewhere (an attached .env, a server's echo of
        // another provider's key) is masked too.
        for p in cfg.providers.values() {
            if let Some(v) = p
                .file
                .api_key_env
                .as_ref()
                .and_then(|k| std::env::var(k).ok())
            {
                crate::redact::register(&v);
            }
        }
        Ok(cfg)
    }

    /// Built-in defaults only (tests, benches).
    pub fn builtin() -> Config {
        let paths = Paths {
            config_file: PathBuf::from("/nonexistent/charla/config.toml"),
            config_dir: PathBuf::from("/nonexistent/charla"),
            data_dir: PathBuf::from("/nonexistent/charla/data"),
            explicit: false,
        };
        let file: FileConfig = toml::from_str(BUILTIN).unwrap_or_default();
        let prices = PriceTable::builtin().unwrap_or(PriceTable {
            as_of: String::new(),
            entries: vec![],
            user_entries: 0,
            lifecycle: vec![],
            vision: vec![],
        });
        let providers = file
            .providers
            .iter()
            .filter_map(|(n, p)| {
                Some((
                    n.clone(),
                    ProviderConfig::new(n.clone(), p.kind?, p.clone()),
                ))
            })
            .collect();
        Config {
            file,
            providers,
            paths,
            prices,
            user_file_loaded: false,
            always_allowed: Default::default(),
        }
    }

    pub fn provider(&self, name: &str) -> Option<&ProviderConfig> {
        self.providers.get(name)
    }

    /// Parses `provider/model`. A bare model name is looked up in the providers' model lists
    /// and the price table.
    pub fn resolve_model(&self, s: &str) -> Result<ModelRef, String> {
        if let Some(r) = ModelRef::parse(s)
            && self.providers.contains_key(&r.provider)
        {
            return Ok(r);
        }
        let s = s.trim();
        let mut found: Vec<ModelRef> = Vec::new();
        for p in self.providers.values() {
            let listed = p.file.models.iter().flatten().any(|m| m == s)
                || p.file.default_model.as_deref() == Some(s)
                || self.prices.lookup(&p.price_family(), s).is_some();
            if listed {
                found.push(ModelRef {
                    provider: p.name.clone(),
                    model: s.to_string(),
                });
            }
        }
        // Not in a model list or charla's table: the price dataset knows most models.
        if found.is_empty() && worth_looking_up(s) {
            let db = crate::pricing::db();
            for p in self.providers.values().filter(|p| p.kind != Kind::Demo) {
                if crate::pricing::dataset_models(db, p).iter().any(|m| m == s) {
                    found.push(ModelRef {
                        provider: p.name.clone(),
                        model: s.to_string(),
                    });
                }
            }
        }
        // Prefer a provider with a key (or a local one).
        found.sort_by_key(|r| {
            self.providers
                .get(&r.provider)
                .is_some_and(|p| !(p.has_key_in_env() || p.is_local()))
        });
        match found.into_iter().next() {
            Some(r) => Ok(r),
            None => {
                let known: Vec<&str> = self.providers.keys().map(String::as_str).collect();
                Err(format!(
                    "unknown model '{s}': use provider/model, with provider one of {}",
                    known.join(", ")
                ))
            }
        }
    }

    /// The model to use when none is given: `default_model` (config or CHARLA_MODEL), else the
    /// first provider with a key in the environment, else a local Ollama that answers, else demo.
    /// Returns the model and a short reason.
    pub fn default_model(&self) -> (ModelRef, String) {
        if let Some(m) = &self.file.default_model
            && let Ok(r) = self.resolve_model(m)
        {
            return (r, "default_model".into());
        }
        for name in AUTO_ORDER {
            if let Some(p) = self.providers.get(*name).filter(|p| p.has_key_in_env())
                && let Some(m) = &p.file.default_model
            {
                let var = p.file.api_key_env.clone().unwrap_or_default();
                return (
                    ModelRef {
                        provider: p.name.clone(),
                        model: m.clone(),
                    },
                    format!("{var} is set"),
                );
            }
        }
        if self.file.probe_ollama.unwrap_or(true)
            && let Some(p) = self.providers.get("ollama")
            && ollama_answers(p.base_url())
        {
            let m = p
                .file
                .default_model
                .clone()
                .unwrap_or_else(|| "llama3.2".into());
            return (
                ModelRef {
                    provider: "ollama".into(),
                    model: m,
                },
                "a local Ollama answers".into(),
            );
        }
        let r = ModelRef::parse(DEMO_MODEL).unwrap_or(ModelRef {
            provider: "demo".into(),
            model: "charla-demo".into(),
        });
        (r, "no API key found".into())
    }

    fn duration(secs: Option<f64>, default: Duration) -> Duration {
        secs.filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(default)
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        let d = RetryPolicy::default();
        let Some(r) = &self.file.retry else { return d };
        RetryPolicy {
            max_attempts: r.max_attempts.unwrap_or(d.max_attempts).max(1),
            base_delay: r
                .base_delay_ms
                .map(Duration::from_millis)
                .unwrap_or(d.base_delay),
            max_delay: r
                .max_delay_ms
                .map(Duration::from_millis)
                .unwrap_or(d.max_delay),
            max_retry_after: Self::duration(r.max_retry_after_secs, d.max_retry_after),
        }
    }

    pub fn timeouts(&self, p: &ProviderConfig) -> Timeouts {
        let mut t = self.file.timeouts.unwrap_or_default();
        if let Some(pt) = &p.file.timeouts {
            t.merge(pt);
        }
        let d = Timeouts::default();
        Timeouts {
            connect: Self::duration(t.connect_secs, d.connect),
            first_token: Self::duration(t.first_token_secs, d.first_token),
            idle: Self::duration(t.idle_secs, d.idle),
        }
    }

    /// Everything needed to send a request to `provider` (resolves its key).
    pub fn endpoint(&self, provider: &str) -> Result<Endpoint, ProviderError> {
        let p = self.providers.get(provider).ok_or_else(|| {
            ProviderError::new(ErrorKind::Config, format!("unknown provider '{provider}'"))
        })?;
        let key = if p.kind == Kind::Demo {
            None
        } else {
            p.api_key()?
        };
        let headers = p
            .file
            .headers
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut ep = Endpoint::new(p.name.clone(), p.kind, p.base_url());
        ep.api_key = key;
        ep.headers = headers;
        ep.proxy = p.file.proxy.clone();
        ep.timeouts = self.timeouts(p);
        ep.retry = self.retry_policy();
        ep.data_dir = Some(self.paths.data_dir.clone());
        Ok(ep)
    }

    pub fn max_tokens(&self, provider: &str) -> Option<u32> {
        self.providers
            .get(provider)
            .and_then(|p| p.file.max_tokens)
            .or(self.file.max_tokens)
    }
}

/// Parses and checks a user config file's text (no I/O; fuzzed). Errors name `path`, the line
/// and the key.
pub fn parse_user(src: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    let user: FileConfig =
        toml::from_str(src).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    validate_user(&user, src, path)?;
    Ok(user)
}

/// A timeout or delay given in seconds must be a positive, finite number.
fn check_secs(
    t: &TimeoutsFile,
    prefix: &str,
    src: &str,
    path: &Path,
    section_line: usize,
) -> Result<(), ConfigError> {
    for (key, v) in [
        ("connect_secs", t.connect_secs),
        ("first_token_secs", t.first_token_secs),
        ("idle_secs", t.idle_secs),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v > 0.0)
        {
            let line = src[..]
                .lines()
                .enumerate()
                .skip(section_line.saturating_sub(1))
                .find(|(_, l)| l.trim_start().starts_with(key))
                .map(|(i, _)| i + 1)
                .unwrap_or(section_line);
            return Err(ConfigError(format!(
                "{}:{line}: {prefix}{key}: must be a positive number of seconds (got {v})",
                path.display()
            )));
        }
    }
    Ok(())
}

/// An http(s) URL with a host.
fn is_http_url(u: &str) -> bool {
    (u.starts_with("http://") || u.starts_with("https://"))
        && reqwest::Url::parse(u)
            .ok()
            .is_some_and(|p| p.host_str().is_some_and(|h| !h.is_empty()))
}

/// Checks what serde cannot: every user provider has what it needs. Names file, line and key.
fn validate_user(user: &FileConfig, src: &str, path: &Path) -> Result<(), ConfigError> {
    let builtin: FileConfig = toml::from_str(BUILTIN).unwrap_or_default();
    if let Some(t) = &user.timeouts {
        let line = line_of(src, "[timeouts]").unwrap_or(1);
        check_secs(t, "timeouts.", src, path, line)?;
    }
    if let Some(r) = &user.retry
        && let Some(v) = r.max_retry_after_secs
        && !(v.is_finite() && v >= 0.0)
    {
        let line = line_of(src, "max_retry_after_secs").unwrap_or(1);
        return Err(ConfigError(format!(
            "{}:{line}: retry.max_retry_after_secs: must be zero or a positive number of seconds (got {v})",
            path.display()
        )));
    }
    for (key, v) in [
        ("max_cost_per_session", user.max_cost_per_session),
        ("max_cost_per_day", user.max_cost_per_day),
        ("max_cost_per_month", user.max_cost_per_month),
    ] {
        if let Some(v) = v
            && !(v.is_finite() && v >= 0.0)
        {
            let line = line_of(src, key).unwrap_or(1);
            return Err(ConfigError(format!(
                "{}:{line}: {key}: must be zero (no cap) or a positive number of dollars (got {v})",
                path.display()
            )));
        }
    }
    if let Some(v) = user.injection.as_deref()
        && !matches!(v, "off" | "warn" | "block")
    {
        let line = line_of(src, "injection").unwrap_or(1);
        return Err(ConfigError(format!(
            "{}:{line}: injection: \"off\", \"warn\" or \"block\" (got {v:?})",
            path.display()
        )));
    }
    if let Some(v) = user.on_leak.as_deref()
        && !matches!(v, "warn" | "redact")
    {
        let line = line_of(src, "on_leak").unwrap_or(1);
        return Err(ConfigError(format!(
            "{}:{line}: on_leak: \"warn\" or \"redact\" (got {v:?})",
            path.display()
        )));
    }
    if let Some(a) = &user.attachments {
        let line = line_of(src, "[attachments]").unwrap_or(1);
        if let Some(v) = a.max_context_share
            && !(v.is_finite() && v > 0.0 && v <= 1.0)
        {
            return Err(ConfigError(format!(
                "{}:{line}: attachments.max_context_share: must be more than 0 and at most 1 (got {v})",
                path.display()
            )));
        }
        if a.max_file_bytes == Some(0) {
            return Err(ConfigError(format!(
                "{}:{line}: attachments.max_file_bytes: must be more than 0",
                path.display()
            )));
        }
    }
    for (name, p) in &user.providers {
        let is_builtin = builtin.providers.contains_key(name);
        let line = line_of(src, &format!("[providers.{name}]"))
            .or_else(|| line_of(src, name))
            .unwrap_or(1);
        let at = |key: &str| format!("{}:{line}: providers.{name}.{key}", path.display());
        if !is_builtin && p.kind.is_none() {
            return Err(ConfigError(format!(
                "{}: missing (one of openai, anthropic, gemini, ollama)",
                at("kind")
            )));
        }
        if !is_builtin && p.base_url.is_none() && p.kind != Some(Kind::Demo) {
            return Err(ConfigError(format!(
                "{}: missing (the API root, e.g. http://127.0.0.1:8080/v1)",
                at("base_url")
            )));
        }
        if let Some(u) = &p.base_url
            && p.kind != Some(Kind::Demo)
            && !is_http_url(u)
            && !(is_builtin && name == "demo")
        {
            return Err(ConfigError(format!(
                "{}: {u:?} is not an http(s) URL with a host",
                at("base_url")
            )));
        }
        if let Some(t) = &p.timeouts {
            let section = line_of(src, &format!("[providers.{name}.timeouts]")).unwrap_or(line);
            check_secs(
                t,
                &format!("providers.{name}.timeouts."),
                src,
                path,
                section,
            )?;
        }
        if let Some(pr) = &p.proxy
            && reqwest::Proxy::all(pr).is_err()
        {
            return Err(ConfigError(format!(
                "{}: {pr:?} is not a proxy URL",
                at("proxy")
            )));
        }
    }
    Ok(())
}

/// A bare model name worth looking up (not empty, no spaces).
fn worth_looking_up(s: &str) -> bool {
    !s.is_empty() && !s.contains(char::is_whitespace)
}

/// A quick TCP check for a local Ollama (refused at once when nothing listens).
fn ollama_answers(base_url: &str) -> bool {
    let hostport = base_url
        .split("://")
        .nth(1)
        .unwrap_or(base_url)
        .split('/')
        .next()
        .unwrap_or("");
    use std::net::ToSocketAddrs;
    let Ok(mut addrs) = hostport.to_socket_addrs() else {
        return false;
    };
    addrs.next().is_some_and(|a| {
        std::net::TcpStream::connect_timeout(&a, Duration::from_millis(150)).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_config_parses_with_all_providers() {
        let f: FileConfig = toml::from_str(BUILTIN).expect("built-in config parses");
        for name in [
            "openai",
            "anthropic",
            "gemini",
            "ollama",
            "openrouter",
            "groq",
            "deepseek",
            "mistral",
            "demo",
        ] {
            assert!(f.providers.contains_key(name), "{name}");
        }
        let _: FileConfig = toml::from_str(EXAMPLE).expect("example config parses");
    }

    #[test]
    fn user_entry_overrides_builtin_fields() {
        let mut base: FileConfig = toml::from_str(BUILTIN).expect("builtin");
        let user: FileConfig =
            toml::from_str("[providers.openai]\nbase_url = \"http://127.0.0.1:9/v1\"\n")
                .expect("user");
        base.merge(user);
        let p = &base.providers["openai"];
        assert_eq!(p.base_url.as_deref(), Some("http://127.0.0.1:9/v1"));
        assert_eq!(p.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
        assert_eq!(p.kind, Some(Kind::Openai));
    }

    #[test]
    fn default_system_prompt_key() {
        let mut base: FileConfig = toml::from_str(BUILTIN).expect("builtin");
        base.merge(toml::from_str("system_prompt = \"Be terse.\"\n").expect("user"));
        assert_eq!(base.system_prompt.as_deref(), Some("Be terse."));
    }

    #[test]
    fn mouse_and_budget_keys() {
        let mut base: FileConfig = toml::from_str(BUILTIN).expect("builtin");
        assert_eq!(base.mouse, None);
        base.merge(toml::from_str("mouse = false\nmax_cost_per_session = 0.5\n").expect("user"));
        assert_eq!(
            (base.mouse, base.max_cost_per_session),
            (Some(false), Some(0.5))
        );
    }

    #[test]
    fn model_refs() {
        assert_eq!(
            ModelRef::parse("openrouter/openai/gpt-4o-mini"),
            Some(ModelRef {
                provider: "openrouter".into(),
                model: "openai/gpt-4o-mini".into()
            })
        );
        assert_eq!(ModelRef::parse("gpt-4o"), None);
        let c = Config::builtin();
        assert_eq!(
            c.resolve_model("claude-haiku-4-5").map(|r| r.provider),
            Ok("anthropic".to_string())
        );
        assert!(c.resolve_model("nope/x").is_err());
    }

    #[test]
    fn local_detection() {
        let c = Config::builtin();
        assert!(c.providers["ollama"].is_local());
        assert!(c.providers["demo"].is_local());
        assert!(!c.providers["openai"].is_local());
    }
}
