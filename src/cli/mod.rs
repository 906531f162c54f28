//! Command-line front ends. `charla` with no subcommand opens the TUI.

pub mod agent;
pub mod ask;
pub mod compare;
pub mod manage;
pub mod out;
pub mod rag;
pub mod replay;

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Exit codes (a contract for scripts).
pub const EXIT_OK: i32 = 0;
pub const EXIT_PROVIDER: i32 = 1;
pub const EXIT_USAGE: i32 = 2;
/// A local file could not be written (the conversation's save, an export's output).
pub const EXIT_LOCAL: i32 = 3;
/// A spend cap refused the request, or stopped its answer (the partial answer is kept).
pub const EXIT_BUDGET: i32 = 4;
/// The answer still does not conform to `--schema` after the retries (it is printed as it is).
pub const EXIT_SCHEMA: i32 = 5;
/// The answer reached `max_steps` while the model was still calling tools.
pub const EXIT_STEPS: i32 = 6;
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "charla",
    version,
    about = "A terminal chat client for large language models: streaming, cost per turn, saved conversations"
)]
pub struct Cli {
    /// Config file (default: $CHARLA_CONFIG, $CHARLA_HOME/config.toml, ~/.config/charla/config.toml)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Model as provider/model, e.g. openai/gpt-4o-mini, anthropic/claude-haiku-4-5, demo/charla-demo
    /// (`compare` takes it several times)
    #[arg(short, long, global = true, value_name = "PROVIDER/MODEL", action = clap::ArgAction::Append)]
    pub model: Vec<String>,
    /// Open a saved conversation in the TUI (id, unique prefix, or `last`)
    #[arg(long, value_name = "ID")]
    pub open: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

// Parsed once per run: the size of `ask`'s many flags does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask one question and stream the answer to stdout (reads stdin when it is a pipe)
    Ask(AskArgs),
    /// List configured providers and their models with prices per 1M tokens
    Models(ModelsArgs),
    /// Where the config lives, write a commented default, or validate it
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// List saved conversations
    List {
        /// Only conversations whose title or messages contain all these words
        #[arg(long, value_name = "WORDS")]
        search: Option<String>,
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// Print a saved conversation with per-turn model, tokens, cost and timing
    Show {
        /// Conversation id, unique prefix, or `last`
        id: String,
        /// Print model output as it is (escape sequences included)
        #[arg(long)]
        raw: bool,
    },
    /// Export a conversation as Markdown or JSON
    Export {
        id: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Md)]
        format: ExportFormat,
        /// Write to this file instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Re-ask every question of a conversation on another model and compare
    Replay {
        id: String,
        /// One JSON object per line instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Ask several models one question at once and compare their answers, speed and cost
    Compare(compare::CompareArgs),
    /// Start a new conversation from the first N turns of a saved one (linked to it), on
    /// another model with -m
    Fork {
        /// Conversation id, unique prefix, or `last`
        id: String,
        /// Keep the first N turns (a turn: a question and its answer); default: all
        #[arg(long, value_name = "N")]
        at: Option<usize>,
        /// Print the new conversation as JSON
        #[arg(long)]
        json: bool,
    },
    /// List shipped and user presets
    Presets {
        #[arg(long)]
        json: bool,
    },
    /// Which price data is in use (and its date); `prices update` fetches the current one
    Prices {
        #[command(subcommand)]
        action: Option<PricesAction>,
    },
    /// List the tools the model can be given (built-in, [tools.NAME], MCP servers) and how
    /// their calls are approved
    Tools {
        /// Start this MCP server and list its tools too (repeatable)
        #[arg(long, value_name = "NAME", value_delimiter = ',')]
        mcp: Vec<String>,
        /// One JSON object per line
        #[arg(long)]
        json: bool,
    },
    /// Collections of local files to answer from (retrieval): add, list, search, refresh, rm
    Rag {
        #[command(subcommand)]
        action: RagAction,
    },
    /// Delete a saved conversation
    Delete { id: String },
    /// Print shell completions
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum ExportFormat {
    Md,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum RagAction {
    /// Index files and directories into a collection (made if new); only what changed is read
    Add {
        name: String,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Collections: files, passages, size, updated
    List {
        #[arg(long)]
        json: bool,
    },
    /// The best passages for a query, with path:lines and score
    Search {
        name: String,
        /// The query (joined with spaces)
        #[arg(required = true)]
        query: Vec<String>,
        /// How many passages
        #[arg(short = 'k', long, default_value_t = 5)]
        top: usize,
        #[arg(long)]
        json: bool,
    },
    /// Re-read a collection's files: changed ones are indexed again, deleted ones leave it
    Refresh { name: String },
    /// Delete a collection's index (the files are not touched)
    Rm { name: String },
}

#[derive(Debug, Subcommand)]
pub enum PricesAction {
    /// Fetch the genai-prices dataset, validate it and store it in the data dir (the data in
    /// use is never replaced by a failed download or an invalid file)
    Update {
        /// A file or an http(s) URL (default: the dataset's published URL)
        #[arg(long, value_name = "FILE|URL")]
        from: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the config file path (and the data directory)
    Path,
    /// Write a commented default config (never overwrites)
    Init,
    /// Validate the config and show providers and key status
    Check,
}

#[derive(Debug, Args)]
pub struct ModelsArgs {
    /// One JSON object per line
    #[arg(long)]
    pub json: bool,
    /// Also ask each provider with a key for its model list (OpenAI-compatible /models, Ollama /api/tags)
    #[arg(long)]
    pub remote: bool,
}

#[derive(Debug, Args, Default)]
pub struct AskArgs {
    /// The question (joined with spaces); stdin, when piped, is appended after a blank line
    pub prompt: Vec<String>,
    /// System prompt
    #[arg(short, long, value_name = "TEXT")]
    pub system: Option<String>,
    /// Attach a text file or an image (png, jpeg, gif, webp); repeatable
    #[arg(short = 'a', long = "attach", value_name = "PATH")]
    pub attach: Vec<String>,
    /// One JSON object per line: start, delta, reasoning, retry, usage, done / error
    #[arg(long)]
    pub json: bool,
    /// After the answer, one line on stderr: model, tokens, cost, TTFT, tok/s
    #[arg(long)]
    pub stats: bool,
    /// Print model output unfiltered (escape sequences reach the terminal)
    #[arg(long)]
    pub raw: bool,
    /// Show reasoning / thinking text on stderr
    #[arg(long)]
    pub reasoning: bool,
    /// Start a new saved conversation and print its id on stderr
    #[arg(long, conflicts_with_all = ["continue_", "conversation"])]
    pub new: bool,
    /// Continue the most recent conversation
    #[arg(short = 'c', long = "continue", conflicts_with = "conversation")]
    pub continue_: bool,
    /// Continue this conversation (id or unique prefix)
    #[arg(long, value_name = "ID")]
    pub conversation: Option<String>,
    /// Use a preset (system prompt and few-shot examples)
    #[arg(short, long, value_name = "NAME")]
    pub preset: Option<String>,
    /// Preset variable, NAME=VALUE (repeatable)
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Do not save this exchange
    #[arg(long)]
    pub no_save: bool,
    /// The answer must be JSON following this schema: a JSON Schema, a file holding one, or
    /// fields like 'title, year int, genres: the genres' (types str, int, float, bool)
    #[arg(long, value_name = "SCHEMA")]
    pub schema: Option<String>,
    /// With --schema: ask for a list of such objects ({"items": [...]})
    #[arg(long, requires = "schema")]
    pub schema_multi: bool,
    /// What to do with likely prompt injections in attachments (over the config's `injection`)
    #[arg(long, value_name = "MODE", value_parser = ["off", "warn", "block"])]
    pub injection: Option<String>,
    /// Re-ask an answer that does not conform, with the errors, up to N times
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub schema_retries: u32,
    /// Offer these tools to the model (built-in: read_file, list_dir, search_files,
    /// write_file, edit_file, run_command, current_time; or a [tools.NAME] of the config)
    #[arg(long, value_name = "NAME,…", value_delimiter = ',')]
    pub tools: Vec<String>,
    /// Offer the tools of this MCP server ([mcp.NAME] in the config); repeatable
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub mcp: Vec<String>,
    /// Run calls of these tools without asking (MCP tools: SERVER__TOOL)
    #[arg(long, value_name = "NAME,…", value_delimiter = ',')]
    pub approve: Vec<String>,
    /// Run every tool call without asking
    #[arg(long)]
    pub yes: bool,
    /// Answer from this collection (charla rag): its best passages go with the question
    #[arg(long, value_name = "NAME")]
    pub rag: Option<String>,
    /// Maximum tokens to generate
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Spend at most this many dollars on this request: the answer is bounded to fit, and
    /// stopped if its running cost reaches it (exit code 4)
    #[arg(long, value_name = "USD", value_parser = dollars_arg)]
    pub max_cost: Option<f64>,
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
}

/// A `--max-cost`: dollars, finite and not negative (a usage error otherwise, exit 2).
pub fn dollars_arg(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(c) if c.is_finite() && c >= 0.0 => Ok(c),
        _ => Err(format!("--max-cost takes dollars, e.g. 0.05 (not {s})")),
    }
}
