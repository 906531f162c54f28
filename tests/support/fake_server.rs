//! A fake LLM provider for tests, the tmux end-to-end test and the benchmark. Binds 127.0.0.1
//! only. It replays the byte-exact transcripts of `tests/fixtures/wire/` and injects faults.
//!
//! The first path segment selects the behaviour, as comma-separated options; the rest of the path
//! selects the wire format: `/chat/completions` (OpenAI), `/messages` (Anthropic),
//! `:streamGenerateContent` (Gemini), `/api/chat` (Ollama), `/models`, `/api/tags`.
//! Example base URL: `http://127.0.0.1:PORT/chunk=5,bom/v1`.
//!
//! Options:
//! - `ok` (default): the transcript as recorded; `openrouter`: the OpenRouter transcript
//! - `echo`: answer "echo: <last user message>" in the request's format, with usage computed
//!   from the request (input = words of all messages, output = words of the answer)
//! - `chunk=N`: write the body N bytes at a time; `slow=MS`: sleep between writes; `batch=N`:
//!   N events per write
//! - `bom`: a leading UTF-8 BOM; `nofinal`: no blank line after the last event
//! - `status=CODE`: answer with that HTTP error (body in the format's own error shape);
//!   `ra=SECS`, `ra-ms=MS`, `ra-date=SECS`: Retry-After forms; `times=N`: fault only the first N
//!   requests of this exact option string, then behave normally
//! - `drop`: close the connection after the first content event; `dropearly`: after the first
//!   event, before any content
//! - `malformed`: a broken JSON chunk after the first content event
//! - `stall=MS`: stop for MS after the first content event
//! - `hold`: send nothing at all (first-token timeout)
//! - `badutf8`: invalid UTF-8 bytes inside the first content delta
//! - `midstream`: the provider's mid-stream error after partial text
//! - `truncate`: end the body before the terminal marker (Gemini: no finishReason)
//! - `big=N`: an OpenAI stream of N content chunks (benchmarks)
//! - `md=N`: an OpenAI stream of N chunks of Markdown with fenced Rust blocks (benchmarks;
//!   with `slow=MS` it types at a human pace)
//! - `words=N`: the echo answer padded to N words (a long answer for TUI scrolling tests)
//! - `evil`: the echo answer carries a title change, a screen clear and an OSC 52 write; a
//!   model list carries an id with the same and a bidi override
//! - `noretry`: error responses carry `x-should-retry: false`
//! - `dropend`: every event is sent, then the connection is cut (no terminating chunk)
//! - a path ending in `prices.json`: [`PRICES_JSON`] (with `truncate`: its first half)
//! - `film=N`: with `echo`, a JSON answer about a film that breaks the schema
//!   `title, year int, genres` for the first N requests of this option string, then conforms
//! - `count=N`: the token-counting endpoints (Anthropic `messages/count_tokens`, Gemini
//!   `countTokens`) answer N (else the request body's word count)
//! - `leak`: the echo answer repeats the request's system prompt (as sent: with its canary)
//! - `tool=SCENARIO`: the model calls tools, step by step (the step is the number of tool
//!   results the request carries), then answers "done: " and the last result's text. Each
//!   format streams calls its own way: OpenAI `tool_calls` deltas with the arguments in
//!   3-byte fragments (finish_reason `tool_calls`), Anthropic `tool_use` blocks with
//!   `input_json_delta`, Gemini `functionCall` parts with a `thoughtSignature`, Ollama
//!   `tool_calls` objects. Scenarios: see [`scenario`]; `cut` ends the stream mid-arguments and
//!   `badargs` sends arguments that are not JSON.
//! - embeddings endpoints (`/embeddings`, `/api/embed`, `:batchEmbedContents`): hashed-word
//!   vectors with synonyms folded ([`fake_embedding`]), usage counted in words
//! - `keyecho`: the API key the request carried is echoed: in the error message (with
//!   `status=`), in the model list, and in the answer text (with `echo`), as hostile or careless
//!   servers do ("Incorrect API key provided: sk-…")

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The Markdown (with fenced Rust) that `md=N` streams, in pieces split at spaces and newlines.
pub const MD_SAMPLE: &str = "## Reading a config file\n\nThe idea is simple: read the file, parse it with **serde**, and report errors with the path and the line, so that a user knows *where* to look.\n\n```rust\nuse std::path::Path;\n\n#[derive(Debug, serde::Deserialize)]\nstruct Config {\n    name: String,\n    retries: u32,\n}\n\nfn load(path: &Path) -> Result<Config, String> {\n    let text = std::fs::read_to_string(path).map_err(|e| format!(\"{}: {e}\", path.display()))?;\n    toml::from_str(&text).map_err(|e| format!(\"{}: {e}\", path.display()))\n}\n```\n\nA few things to note:\n\n- the error names the file;\n- `retries` has no default, so a missing key is an error;\n- the function returns early with `?`.\n\n> Tip: keep the parsing separate from the reading, so it can be tested without files.\n\nNext, the same with a default value for every field, which many users prefer when the file is optional and most keys are left out.\n\n";

pub const OPENAI: &[u8] = include_bytes!("../fixtures/wire/openai_chat_stream.txt");
pub const OPENAI_429: &[u8] = include_bytes!("../fixtures/wire/openai_chat_error.txt");
pub const OPENROUTER: &[u8] = include_bytes!("../fixtures/wire/openrouter_stream.txt");
pub const ANTHROPIC: &[u8] = include_bytes!("../fixtures/wire/anthropic_messages_stream.txt");
pub const ANTHROPIC_ERR: &[u8] = include_bytes!("../fixtures/wire/anthropic_error_midstream.txt");
pub const GEMINI: &[u8] = include_bytes!("../fixtures/wire/gemini_stream.txt");
pub const OLLAMA: &[u8] = include_bytes!("../fixtures/wire/ollama_chat.ndjson");
/// A small genai-prices v2 dataset (`…/prices.json`): gpt-4o at $99 in and out per 1M, so a
/// test can tell it from the bundled data.
pub const PRICES_JSON: &str = r#"[{"id":"openai","name":"OpenAI","api_pattern":"https://api\\.openai\\.com","models":[{"id":"gpt-4o","match":{"equals":"gpt-4o"},"context_window":128000,"prices":{"input_mtok":99,"output_mtok":99}}]},{"id":"anthropic","name":"Anthropic","api_pattern":"https://api\\.anthropic\\.com","models":[{"id":"claude-sonnet-4-5","match":{"starts_with":"claude-sonnet-4-5"},"prices":{"input_mtok":3,"output_mtok":15}}]}]"#;

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Clone, Default)]
struct Shared {
    requests: Arc<Mutex<Vec<Recorded>>>,
    counters: Arc<Mutex<HashMap<String, u32>>>,
}

pub struct FakeServer {
    pub addr: SocketAddr,
    shared: Shared,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Format {
    OpenAi,
    Anthropic,
    Gemini,
    Ollama,
    ModelsOpenAi,
    ModelsOllama,
}

#[derive(Default, Debug)]
struct Opts {
    raw: String,
    echo: bool,
    openrouter: bool,
    chunk: Option<usize>,
    slow: Option<u64>,
    batch: Option<u64>,
    bom: bool,
    nofinal: bool,
    status: Option<u16>,
    ra: Option<String>,
    ra_ms: Option<String>,
    ra_date: Option<u64>,
    times: Option<u32>,
    drop: bool,
    dropearly: bool,
    malformed: bool,
    stall: Option<u64>,
    hold: bool,
    badutf8: bool,
    midstream: bool,
    truncate: bool,
    big: Option<usize>,
    md: Option<usize>,
    words: Option<usize>,
    leak: bool,
    film: Option<u32>,
    count: Option<u64>,
    evil: bool,
    noretry: bool,
    dropend: bool,
    keyecho: bool,
    tool: Option<String>,
}

fn parse_opts(seg: &str) -> Opts {
    let mut o = Opts {
        raw: seg.to_string(),
        ..Default::default()
    };
    for part in seg.split(',') {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let n = v.parse::<u64>().ok();
        match k {
            "echo" => o.echo = true,
            "openrouter" => o.openrouter = true,
            "chunk" => o.chunk = n.map(|n| n as usize),
            "slow" => o.slow = n,
            "batch" => o.batch = n,
            "bom" => o.bom = true,
            "nofinal" => o.nofinal = true,
            "status" => o.status = n.map(|n| n as u16),
            "ra" => o.ra = Some(v.to_string()),
            "ra-ms" => o.ra_ms = Some(v.to_string()),
            "ra-date" => o.ra_date = n,
            "times" => o.times = n.map(|n| n as u32),
            "drop" => o.drop = true,
            "dropearly" => o.dropearly = true,
            "malformed" => o.malformed = true,
            "stall" => o.stall = n,
            "hold" => o.hold = true,
            "badutf8" => o.badutf8 = true,
            "midstream" => o.midstream = true,
            "truncate" => o.truncate = true,
            "big" => o.big = n.map(|n| n as usize),
            "md" => o.md = n.map(|n| n as usize),
            "words" => o.words = n.map(|n| n as usize),
            "evil" => o.evil = true,
            "noretry" => o.noretry = true,
            "dropend" => o.dropend = true,
            "keyecho" => o.keyecho = true,
            "leak" => o.leak = true,
            "film" => o.film = n.map(|n| n as u32),
            "count" => o.count = n,
            "tool" => o.tool = Some(v.to_string()),
            _ => {}
        }
    }
    o
}

impl FakeServer {
    /// Starts the server on its own thread and runtime; returns once it listens.
    pub fn start() -> FakeServer {
        Self::start_on(0)
    }

    pub fn start_on(port: u16) -> FakeServer {
        let shared = Shared::default();
        let s2 = shared.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let l = TcpListener::bind(("127.0.0.1", port))
                    .await
                    .expect("bind 127.0.0.1");
                tx.send(l.local_addr().expect("addr")).expect("send addr");
                loop {
                    let Ok((sock, _)) = l.accept().await else {
                        continue;
                    };
                    let s = s2.clone();
                    tokio::spawn(async move {
                        let _ = handle(sock, s).await;
                    });
                }
            });
        });
        let addr = rx.recv().expect("server address");
        FakeServer { addr, shared }
    }

    /// Base of a URL with the given options segment, e.g. `url("ok") + "/v1"`.
    pub fn url(&self, opts: &str) -> String {
        format!("http://{}/{}", self.addr, opts)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Requests whose options segment is exactly `opts`.
    pub fn requests_for(&self, opts: &str) -> Vec<Recorded> {
        let prefix = format!("/{opts}/");
        self.requests()
            .into_iter()
            .filter(|r| r.path.starts_with(&prefix))
            .collect()
    }
}

async fn read_request(sock: &mut TcpStream) -> std::io::Result<Option<Recorded>> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let header_end = loop {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_string();
    let mut path = first.next().unwrap_or("/").to_string();
    // Absolute-form (through a proxy): keep only the path.
    if let Some(rest) = path.strip_prefix("http://") {
        path = rest
            .find('/')
            .map(|i| rest[i..].to_string())
            .unwrap_or_else(|| "/".into());
    }
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let len = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[header_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Ok(Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }))
}

fn format_of(rest: &str, opts: &Opts) -> Format {
    if rest.ends_with("/api/tags") {
        Format::ModelsOllama
    } else if rest.ends_with("/models") {
        Format::ModelsOpenAi
    } else if rest.contains(":streamGenerateContent") {
        Format::Gemini
    } else if rest.ends_with("/messages") {
        Format::Anthropic
    } else if rest.ends_with("/api/chat") {
        Format::Ollama
    } else {
        let _ = opts;
        Format::OpenAi
    }
}

fn error_body(fmt: Format, status: u16) -> String {
    let (msg, otype, atype, gstatus) = match status {
        401 => (
            "Incorrect API key provided: sk-te*******123.",
            "invalid_request_error",
            "authentication_error",
            "UNAUTHENTICATED",
        ),
        429 => ("", "tokens", "rate_limit_error", "RESOURCE_EXHAUSTED"),
        529 => (
            "Overloaded",
            "server_error",
            "overloaded_error",
            "UNAVAILABLE",
        ),
        503 => (
            "The service is temporarily unavailable.",
            "server_error",
            "overloaded_error",
            "UNAVAILABLE",
        ),
        404 => (
            "The model does not exist.",
            "invalid_request_error",
            "not_found_error",
            "NOT_FOUND",
        ),
        _ => (
            "The server had an error while processing your request.",
            "server_error",
            "api_error",
            "INTERNAL",
        ),
    };
    match fmt {
        Format::OpenAi | Format::ModelsOpenAi => {
            if status == 429 {
                let s = String::from_utf8_lossy(OPENAI_429).to_string();
                s.split("\r\n\r\n").nth(1).unwrap_or("").to_string()
            } else {
                serde_json::json!({"error": {"message": msg, "type": otype, "param": null, "code": null}}).to_string()
            }
        }
        Format::Anthropic => {
            let m = if msg.is_empty() {
                "Number of request tokens has exceeded your per-minute rate limit"
            } else {
                msg
            };
            serde_json::json!({"type": "error", "error": {"type": atype, "message": m}, "request_id": "req_011CTest"}).to_string()
        }
        Format::Gemini => {
            let m = if msg.is_empty() {
                "Resource has been exhausted (e.g. check quota)."
            } else {
                msg
            };
            serde_json::json!({"error": {"code": status, "message": m, "status": gstatus}})
                .to_string()
        }
        Format::Ollama | Format::ModelsOllama => {
            let m = if msg.is_empty() {
                "too many requests"
            } else {
                msg
            };
            serde_json::json!({"error": m}).to_string()
        }
    }
}

fn last_user_text(fmt: Format, body: &serde_json::Value) -> (String, usize) {
    let mut words = 0usize;
    let mut last = String::new();
    let msgs = match fmt {
        Format::Gemini => body.get("contents"),
        _ => body.get("messages"),
    };
    for m in msgs.and_then(|m| m.as_array()).into_iter().flatten() {
        // Content is a string, or (with images) a list of blocks: the texts count, and the
        // message's last text is its question (attachments come first).
        let blocks: Vec<&serde_json::Value> = match fmt {
            Format::Gemini => m
                .get("parts")
                .and_then(|p| p.as_array())
                .map(|a| a.iter().collect())
                .unwrap_or_default(),
            _ => match m.get("content") {
                Some(serde_json::Value::Array(a)) => a.iter().collect(),
                Some(c) => vec![c],
                None => vec![],
            },
        };
        let texts: Vec<&str> = blocks
            .iter()
            .filter_map(|b| {
                b.as_str()
                    .or_else(|| b.get("text").and_then(|t| t.as_str()))
            })
            .collect();
        let images = blocks
            .iter()
            .filter(|b| {
                b.get("inlineData").is_some()
                    || matches!(
                        b.get("type").and_then(|t| t.as_str()),
                        Some("image" | "image_url")
                    )
            })
            .count()
            + m.get("images")
                .and_then(|i| i.as_array())
                .map_or(0, Vec::len);
        for t in &texts {
            words += t.split_whitespace().count();
        }
        if m.get("role").and_then(|r| r.as_str()) == Some("user") {
            last = texts.last().copied().unwrap_or("").to_string();
            if images > 0 {
                last.push_str(&format!(" [{images} image(s)]"));
            }
        }
    }
    for k in ["system"] {
        if let Some(s) = body.get(k).and_then(|s| s.as_str()) {
            words += s.split_whitespace().count();
        }
    }
    if let Some(s) = body
        .pointer("/systemInstruction/parts/0/text")
        .and_then(|s| s.as_str())
    {
        words += s.split_whitespace().count();
    }
    (last, words)
}

/// The events (each a complete framed unit) of a generated answer in `fmt`.
fn generated(fmt: Format, model: &str, pieces: &[String], input: usize) -> Vec<Vec<u8>> {
    let output = pieces
        .iter()
        .map(|p| p.split_whitespace().count())
        .sum::<usize>();
    let mut ev: Vec<Vec<u8>> = Vec::new();
    match fmt {
        Format::OpenAi | Format::ModelsOpenAi => {
            let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
                format!(
                    "data: {}\n\n",
                    serde_json::json!({"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1763581203,"model":model,
                        "choices":[{"index":0,"delta":delta,"logprobs":null,"finish_reason":finish}],"usage":null})
                )
                .into_bytes()
            };
            ev.push(chunk(
                serde_json::json!({"role":"assistant","content":""}),
                serde_json::Value::Null,
            ));
            for p in pieces {
                ev.push(chunk(
                    serde_json::json!({"content": p}),
                    serde_json::Value::Null,
                ));
            }
            ev.push(chunk(serde_json::json!({}), serde_json::json!("stop")));
            ev.push(
                format!(
                    "data: {}\n\n",
                    serde_json::json!({"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1763581203,"model":model,"choices":[],
                        "usage":{"prompt_tokens":input,"completion_tokens":output,"total_tokens":input+output,"prompt_tokens_details":{"cached_tokens":0}}})
                )
                .into_bytes(),
            );
            ev.push(b"data: [DONE]\n\n".to_vec());
        }
        Format::Anthropic => {
            let e = |name: &str, v: serde_json::Value| {
                format!("event: {name}\ndata: {v}\n\n").into_bytes()
            };
            ev.push(e("message_start", serde_json::json!({"type":"message_start","message":{"model":model,"id":"msg_fake","type":"message","role":"assistant","content":[],"usage":{"input_tokens":input,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}})));
            ev.push(e("content_block_start", serde_json::json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})));
            for p in pieces {
                ev.push(e("content_block_delta", serde_json::json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":p}})));
            }
            ev.push(e(
                "content_block_stop",
                serde_json::json!({"type":"content_block_stop","index":0}),
            ));
            ev.push(e("message_delta", serde_json::json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":output}})));
            ev.push(e(
                "message_stop",
                serde_json::json!({"type":"message_stop"}),
            ));
        }
        Format::Gemini => {
            let n = pieces.len();
            for (i, p) in pieces.iter().enumerate() {
                let mut cand =
                    serde_json::json!({"content":{"parts":[{"text":p}],"role":"model"},"index":0});
                if i + 1 == n {
                    cand["finishReason"] = serde_json::json!("STOP");
                }
                let v = serde_json::json!({"candidates":[cand],"usageMetadata":{"promptTokenCount":input,"candidatesTokenCount":output,"totalTokenCount":input+output},"modelVersion":model});
                ev.push(format!("data: {v}\r\n\r\n").into_bytes());
            }
        }
        Format::Ollama | Format::ModelsOllama => {
            for p in pieces {
                ev.push(format!("{}\n", serde_json::json!({"model":model,"created_at":"2025-10-26T17:15:24Z","message":{"role":"assistant","content":p},"done":false})).into_bytes());
            }
            ev.push(format!("{}\n", serde_json::json!({"model":model,"created_at":"2025-10-26T17:15:25Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":input,"eval_count":output,"eval_duration":1000000000u64})).into_bytes());
        }
    }
    ev
}

/// The fake embedding of a text: 32 dimensions of hashed words, synonyms folded together.
pub fn fake_embedding(text: &str) -> Vec<f32> {
    let mut v = vec![0f32; 32];
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
    {
        let w = w.to_lowercase();
        let w = match w.as_str() {
            "baby" | "infant" | "infants" | "child" | "kid" | "toddler" => "child",
            "luggage" | "baggage" | "bag" | "bags" | "suitcase" => "bag",
            other => other,
        };
        let h = w.bytes().fold(2166136261u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(16777619)
        });
        v[(h % 32) as usize] += 1.0;
    }
    v
}

/// The calls of each step of a `tool=` scenario: (tool name, arguments).
pub fn scenario(name: &str) -> Vec<Vec<(String, serde_json::Value)>> {
    use serde_json::json;
    let c = |n: &str, a: serde_json::Value| (n.to_string(), a);
    match name {
        // "What files are in this directory and what does the README say?"
        "agent" => vec![
            vec![c("list_dir", json!({"path": "."}))],
            vec![c("read_file", json!({"path": "README.md"}))],
        ],
        // Two independent calls in one step.
        "parallel" => vec![vec![
            c("list_dir", json!({"path": "."})),
            c("current_time", json!({})),
        ]],
        "rm" => vec![vec![c("run_command", json!({"command": "rm -rf victim"}))]],
        "sleep" => vec![vec![c(
            "run_command",
            json!({"command": "echo $$ > sleeper.pid; sleep 60; echo woke"}),
        )]],
        "write" => vec![vec![c(
            "write_file",
            json!({"path": "notes/new.txt", "content": "written by the model\n"}),
        )]],
        "edit" => vec![vec![c(
            "edit_file",
            json!({"path": "README.md", "old": "Hello", "new": "Howdy"}),
        )]],
        "escape" => vec![vec![c("read_file", json!({"path": "../outside.txt"}))]],
        "unknown" => vec![vec![c("format_disk", json!({}))]],
        "loop" => (0..50)
            .map(|_| vec![c("current_time", json!({}))])
            .collect(),
        "echo" => vec![vec![c(
            "everything__echo",
            json!({"message": "hello from the model"}),
        )]],
        "wc" => vec![vec![c("wc", json!({"text": "one two three"}))]],
        "getenv" => vec![vec![c("everything__get-env", json!({}))]],
        "httpmcp" => vec![vec![c(
            "wc__count_words",
            json!({"text": "one two three four"}),
        )]],
        "cut" | "badargs" => vec![vec![c("read_file", json!({"path": "README.md"}))]],
        _ => vec![],
    }
}

/// How many tool results a request carries, and the last one's text.
fn tool_results(fmt: Format, body: &serde_json::Value) -> (usize, String) {
    let mut n = 0;
    let mut last = String::new();
    let msgs = match fmt {
        Format::Gemini => body.get("contents"),
        _ => body.get("messages"),
    };
    for m in msgs.and_then(|m| m.as_array()).into_iter().flatten() {
        match fmt {
            Format::Gemini => {
                for p in m
                    .get("parts")
                    .and_then(|p| p.as_array())
                    .into_iter()
                    .flatten()
                {
                    if let Some(r) = p.get("functionResponse") {
                        n += 1;
                        let resp = &r["response"];
                        last = resp["result"]
                            .as_str()
                            .or(resp["error"].as_str())
                            .unwrap_or("")
                            .to_string();
                    }
                }
            }
            Format::Anthropic => {
                for b in m
                    .get("content")
                    .and_then(|c| c.as_array())
                    .into_iter()
                    .flatten()
                {
                    if b["type"] == "tool_result" {
                        n += 1;
                        last = b["content"].as_str().unwrap_or("").to_string();
                    }
                }
            }
            _ => {
                if m["role"] == "tool" {
                    n += 1;
                    last = m["content"].as_str().unwrap_or("").to_string();
                }
            }
        }
    }
    (n, last)
}

/// The events of a step that calls `calls` (ids `call_S_I`), in `fmt`.
fn tool_events(
    fmt: Format,
    model: &str,
    step: usize,
    calls: &[(String, serde_json::Value)],
    input: usize,
    cut: bool,
    bad: bool,
) -> Vec<Vec<u8>> {
    use serde_json::json;
    let args_of = |a: &serde_json::Value| {
        if bad {
            "{\"path\": README.md".to_string()
        } else {
            a.to_string()
        }
    };
    let mut ev: Vec<Vec<u8>> = Vec::new();
    match fmt {
        Format::OpenAi | Format::ModelsOpenAi => {
            let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
                format!(
                    "data: {}\n\n",
                    json!({"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1763581203,"model":model,
                        "choices":[{"index":0,"delta":delta,"logprobs":null,"finish_reason":finish}],"usage":null})
                )
                .into_bytes()
            };
            ev.push(chunk(
                json!({"role":"assistant","content":null}),
                serde_json::Value::Null,
            ));
            for (i, (name, a)) in calls.iter().enumerate() {
                ev.push(chunk(
                    json!({"tool_calls":[{"index":i,"id":format!("call_{step}_{i}"),"type":"function","function":{"name":name,"arguments":""}}]}),
                    serde_json::Value::Null,
                ));
                let args = args_of(a);
                let bytes: Vec<char> = args.chars().collect();
                let frags: Vec<String> = bytes.chunks(3).map(|c| c.iter().collect()).collect();
                let take = if cut { frags.len() / 2 } else { frags.len() };
                for f in frags.iter().take(take) {
                    ev.push(chunk(
                        json!({"tool_calls":[{"index":i,"function":{"arguments":f}}]}),
                        serde_json::Value::Null,
                    ));
                }
                if cut {
                    return ev;
                }
            }
            ev.push(chunk(json!({}), json!("tool_calls")));
            ev.push(format!("data: {}\n\n", json!({"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1763581203,"model":model,"choices":[],
                "usage":{"prompt_tokens":input,"completion_tokens":20,"total_tokens":input+20}})).into_bytes());
            ev.push(b"data: [DONE]\n\n".to_vec());
        }
        Format::Anthropic => {
            let e = |name: &str, v: serde_json::Value| {
                format!("event: {name}\ndata: {v}\n\n").into_bytes()
            };
            ev.push(e("message_start", json!({"type":"message_start","message":{"model":model,"id":"msg_fake","type":"message","role":"assistant","content":[],"usage":{"input_tokens":input,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1}}})));
            ev.push(e("content_block_start", json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})));
            ev.push(e("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me look."}})));
            ev.push(e(
                "content_block_stop",
                json!({"type":"content_block_stop","index":0}),
            ));
            for (i, (name, a)) in calls.iter().enumerate() {
                let idx = i + 1;
                ev.push(e("content_block_start", json!({"type":"content_block_start","index":idx,"content_block":{"type":"tool_use","id":format!("toolu_{step}_{i}"),"name":name,"input":{}}})));
                let args = args_of(a);
                let chars: Vec<char> = args.chars().collect();
                let frags: Vec<String> = chars.chunks(4).map(|c| c.iter().collect()).collect();
                let take = if cut { frags.len() / 2 } else { frags.len() };
                for f in frags.iter().take(take) {
                    ev.push(e("content_block_delta", json!({"type":"content_block_delta","index":idx,"delta":{"type":"input_json_delta","partial_json":f}})));
                }
                if cut {
                    return ev;
                }
                ev.push(e(
                    "content_block_stop",
                    json!({"type":"content_block_stop","index":idx}),
                ));
            }
            ev.push(e("message_delta", json!({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":20}})));
            ev.push(e("message_stop", json!({"type":"message_stop"})));
        }
        Format::Gemini => {
            let parts: Vec<serde_json::Value> = calls
                .iter()
                .enumerate()
                .map(|(i, (name, a))| {
                    if bad {
                        json!({"functionCall":{"name":name,"args":"not an object"}})
                    } else {
                        json!({"functionCall":{"name":name,"args":a},"thoughtSignature":format!("sig-{step}-{i}")})
                    }
                })
                .collect();
            let mut cand = json!({"content":{"parts":parts,"role":"model"},"index":0});
            if !cut {
                cand["finishReason"] = json!("STOP");
            }
            let v = json!({"candidates":[cand],"usageMetadata":{"promptTokenCount":input,"candidatesTokenCount":20,"totalTokenCount":input+20},"modelVersion":model});
            ev.push(format!("data: {v}\r\n\r\n").into_bytes());
        }
        Format::Ollama | Format::ModelsOllama => {
            let tc: Vec<serde_json::Value> = calls
                .iter()
                .map(|(name, a)| {
                    if bad {
                        json!({"function":{"name":name,"arguments":args_of(a)}})
                    } else {
                        json!({"function":{"name":name,"arguments":a}})
                    }
                })
                .collect();
            ev.push(format!("{}\n", json!({"model":model,"created_at":"2025-10-26T17:15:24Z","message":{"role":"assistant","content":"","tool_calls":tc},"done":false})).into_bytes());
            if !cut {
                ev.push(format!("{}\n", json!({"model":model,"created_at":"2025-10-26T17:15:25Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":input,"eval_count":20,"eval_duration":1000000000u64})).into_bytes());
            }
        }
    }
    ev
}

/// Splits a transcript into its framed events (SSE blocks or NDJSON lines), keeping bytes exact.
fn split_events(fmt: Format, bytes: &[u8]) -> Vec<Vec<u8>> {
    let sep: &[u8] = match fmt {
        Format::Ollama => b"\n",
        Format::Gemini => b"\r\n\r\n",
        _ => b"\n\n",
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= bytes.len() {
        if &bytes[i..i + sep.len()] == sep {
            out.push(bytes[start..i + sep.len()].to_vec());
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    if start < bytes.len() {
        out.push(bytes[start..].to_vec());
    }
    out
}

fn is_content(fmt: Format, ev: &[u8]) -> bool {
    let s = String::from_utf8_lossy(ev);
    match fmt {
        Format::Anthropic => s.contains("text_delta") || s.contains("thinking_delta"),
        Format::Gemini => s.contains("\"text\""),
        Format::Ollama => s.contains("\"content\":\"") && !s.contains("\"content\":\"\""),
        _ => s.contains("\"content\":\"") && !s.contains("\"content\":\"\""),
    }
}

/// A whole JSON body with its length, then the connection closes.
async fn json_response(sock: &mut TcpStream, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(head.as_bytes()).await?;
    sock.write_all(body.as_bytes()).await?;
    sock.shutdown().await
}

/// One HTTP chunk in one write, as real servers send it (hyper writes the size line, the data
/// and the CRLF in one vectored write; h11 and Go's net/http in one buffer): with TCP_NODELAY,
/// three writes would be three segments and could wake the client three times per event.
async fn write_chunked(sock: &mut TcpStream, data: &[u8]) -> std::io::Result<()> {
    if data.is_empty() {
        return Ok(());
    }
    let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(b"\r\n");
    sock.write_all(&chunk).await?;
    sock.flush().await
}

async fn handle(mut sock: TcpStream, shared: Shared) -> std::io::Result<()> {
    let _ = sock.set_nodelay(true);
    let Some(req) = read_request(&mut sock).await? else {
        return Ok(());
    };
    if let Ok(mut r) = shared.requests.lock() {
        r.push(req.clone());
    }
    let path = req.path.split('?').next().unwrap_or("").to_string();
    let trimmed = path.trim_start_matches('/');
    let (seg, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
    let opts = parse_opts(seg);
    let fmt = format_of(&format!("/{rest}"), &opts);
    let count = {
        let mut c = shared
            .counters
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?;
        let n = c.entry(opts.raw.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let faulty = opts.times.is_none_or(|t| count <= t);

    if opts.hold && faulty {
        tokio::time::sleep(Duration::from_secs(30)).await;
        return Ok(());
    }
    let key = req
        .header("authorization")
        .map(|v| v.trim_start_matches("Bearer ").to_string())
        .or_else(|| req.header("x-api-key").map(str::to_string))
        .or_else(|| req.header("x-goog-api-key").map(str::to_string))
        .unwrap_or_default();
    if let (Some(status), true) = (opts.status, faulty) {
        let mut body = error_body(fmt, status);
        if opts.keyecho {
            let msg = format!(
                "Incorrect API key provided: {key}. Authorization: Bearer {key} was rejected."
            );
            body = match fmt {
                Format::Ollama | Format::ModelsOllama => serde_json::json!({"error": msg}),
                Format::Gemini => {
                    serde_json::json!({"error": {"code": status, "message": msg, "status": "UNAUTHENTICATED"}})
                }
                _ => serde_json::json!({"error": {"message": msg, "type": "invalid_request_error", "code": "invalid_api_key"}}),
            }
            .to_string();
        }
        let mut head = format!(
            "HTTP/1.1 {status} Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if let Some(ra) = &opts.ra {
            head.push_str(&format!("Retry-After: {ra}\r\n"));
        }
        if let Some(ms) = &opts.ra_ms {
            head.push_str(&format!("retry-after-ms: {ms}\r\n"));
        }
        if opts.noretry {
            head.push_str("x-should-retry: false\r\n");
        }
        if let Some(secs) = opts.ra_date {
            let when = std::time::SystemTime::now() + Duration::from_secs(secs);
            head.push_str(&format!(
                "Retry-After: {}\r\n",
                httpdate::fmt_http_date(when)
            ));
        }
        head.push_str("\r\n");
        sock.write_all(head.as_bytes()).await?;
        sock.write_all(body.as_bytes()).await?;
        return sock.shutdown().await;
    }
    // The token-counting endpoints: `count=N` answers N (else the request's words).
    if rest.ends_with("/messages/count_tokens") || rest.contains(":countTokens") {
        let words = req.body.split_whitespace().count() as u64;
        let n = opts.count.unwrap_or(words);
        let body = if rest.contains(":countTokens") {
            serde_json::json!({"totalTokens": n})
        } else {
            serde_json::json!({"input_tokens": n})
        };
        return json_response(&mut sock, &body.to_string()).await;
    }
    // Embeddings (OpenAI `/embeddings`, Ollama `/api/embed`, Gemini `:batchEmbedContents`):
    // vectors of hashed words in which synonyms meet, so that a question in other words still
    // finds its passage.
    let slashed = format!("/{rest}");
    if slashed.ends_with("/embeddings")
        || slashed.ends_with("/api/embed")
        || rest.contains(":batchEmbedContents")
    {
        let body = req.json();
        let texts: Vec<String> = if rest.contains(":batchEmbedContents") {
            body["requests"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| {
                    r["content"]["parts"][0]["text"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        } else {
            body["input"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| t.as_str().unwrap_or("").to_string())
                .collect()
        };
        let vectors: Vec<Vec<f32>> = texts.iter().map(|t| fake_embedding(t)).collect();
        let tokens: usize = texts.iter().map(|t| t.split_whitespace().count()).sum();
        let out = if rest.contains(":batchEmbedContents") {
            serde_json::json!({"embeddings": vectors.iter().map(|v| serde_json::json!({"values": v})).collect::<Vec<_>>()})
        } else if slashed.ends_with("/api/embed") {
            serde_json::json!({"model": body["model"], "embeddings": vectors, "prompt_eval_count": tokens})
        } else {
            serde_json::json!({"object": "list", "model": body["model"],
                "data": vectors.iter().enumerate().map(|(i, v)| serde_json::json!({"object": "embedding", "index": i, "embedding": v})).collect::<Vec<_>>(),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
        };
        return json_response(&mut sock, &out.to_string()).await;
    }
    if rest.ends_with("prices.json") {
        let body = if opts.truncate {
            &PRICES_JSON[..PRICES_JSON.len() / 2]
        } else {
            PRICES_JSON
        };
        return json_response(&mut sock, body).await;
    }
    if matches!(fmt, Format::ModelsOpenAi | Format::ModelsOllama) {
        let body = if fmt == Format::ModelsOllama {
            r#"{"models":[{"name":"qwen3:8b","model":"qwen3:8b"},{"name":"llama3.2:latest","model":"llama3.2:latest"}]}"#.to_string()
        } else {
            r#"{"object":"list","data":[{"id":"fake-large","object":"model"},{"id":"fake-small","object":"model"}]}"#.to_string()
        };
        let body = if opts.keyecho {
            body.replace("fake-small", &format!("fake-small-{key}"))
        } else {
            body
        };
        // `evil`: a model id that sets the window title, writes the clipboard and reorders text.
        let body = if opts.evil {
            body.replace(
                "fake-large",
                "fake-\\u001b]0;pwned\\u0007-\\u001b]52;c;cHduZWQ=\\u0007-\\u009b31m-G\\u202egnp.exe",
            )
        } else {
            body
        };
        return json_response(&mut sock, &body).await;
    }

    // The body as a list of framed events.
    let reqjson = req.json();
    let model = reqjson
        .get("model")
        .and_then(|m| m.as_str())
        .unwrap_or("fake-model")
        .to_string();
    let mut events: Vec<Vec<u8>> = if let Some(n) = opts.md {
        let pieces: Vec<String> = MD_SAMPLE
            .split_inclusive([' ', '\n'])
            .cycle()
            .take(n)
            .map(str::to_string)
            .collect();
        generated(Format::OpenAi, &model, &pieces, 10)
    } else if let Some(n) = opts.big {
        let pieces: Vec<String> = (0..n).map(|i| format!("tok{} ", i % 100)).collect();
        generated(Format::OpenAi, &model, &pieces, 10)
    } else if let Some(name) = &opts.tool {
        let steps = scenario(name);
        let (done, last) = tool_results(fmt, &reqjson);
        let (_, input) = last_user_text(fmt, &reqjson);
        match steps.get(done) {
            Some(calls) => tool_events(
                fmt,
                &model,
                done,
                calls,
                input,
                name == "cut",
                name == "badargs",
            ),
            None => {
                let answer = format!("done: {last}");
                let pieces: Vec<String> = answer.split_inclusive(' ').map(str::to_string).collect();
                generated(fmt, &model, &pieces, input)
            }
        }
    } else if opts.echo {
        let (last, input) = last_user_text(fmt, &reqjson);
        let mut answer = format!("echo: {last}");
        if let Some(bad) = opts.film {
            // A structured answer: one that breaks the schema for the first N requests.
            answer = if count <= bad {
                "Here it is:\n```json\n{\"title\": \"Alien\", \"year\": \"1979\"}\n```".into()
            } else {
                r#"{"title": "Alien", "year": 1979, "genres": "Sci-Fi"}"#.into()
            };
        }
        if opts.leak {
            // A model that was talked into repeating its instructions.
            let system = reqjson
                .pointer("/system")
                .or_else(|| reqjson.pointer("/systemInstruction/parts/0/text"))
                .or_else(|| {
                    reqjson
                        .pointer("/messages/0")
                        .filter(|m| m["role"] == "system")
                        .and_then(|m| m.get("content"))
                })
                .and_then(|s| s.as_str())
                .unwrap_or("");
            answer = format!("Sure. My instructions are: {system}");
        }
        if opts.evil {
            answer.push_str(" \u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}]52;c;cHduZWQ=\u{7} after");
        }
        if opts.keyecho {
            answer.push_str(&format!(" your key is {key} ok"));
        }
        if let Some(n) = opts.words {
            for i in 0..n {
                answer.push_str(if i % 12 == 11 { " word.\n\n" } else { " word" });
            }
        }
        let mut pieces: Vec<String> = answer.split_inclusive(' ').map(str::to_string).collect();
        if opts.keyecho && key.len() > 2 {
            // The key split across two deltas.
            if let Some(i) = pieces.iter().position(|p| p.contains(&key)) {
                let p = pieces.remove(i);
                let cut = p.find(&key).unwrap_or(0) + key.len() / 2;
                pieces.insert(i, p[cut..].to_string());
                pieces.insert(i, p[..cut].to_string());
            }
        }
        generated(fmt, &model, &pieces, input)
    } else {
        let t = match fmt {
            Format::Anthropic if opts.midstream => ANTHROPIC_ERR,
            Format::Anthropic => ANTHROPIC,
            Format::Gemini => GEMINI,
            Format::Ollama => OLLAMA,
            _ if opts.openrouter => OPENROUTER,
            _ => OPENAI,
        };
        split_events(fmt, t)
    };
    if faulty {
        let first_content = events.iter().position(|e| is_content(fmt, e)).unwrap_or(0);
        if opts.midstream && fmt != Format::Anthropic {
            let err: Vec<u8> = match fmt {
                Format::Ollama => b"{\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n".to_vec(),
                Format::Gemini => b"{\n  \"error\": {\n    \"code\": 499,\n    \"message\": \"The operation was cancelled.\",\n    \"status\": \"CANCELLED\"\n  }\n}\n".to_vec(),
                _ => b"data: {\"error\":{\"message\":\"The server had an error while processing your request.\",\"type\":\"server_error\",\"code\":\"server_error\"}}\n\n".to_vec(),
            };
            events.truncate(first_content + 1);
            events.push(err);
        }
        if opts.malformed {
            let bad: &[u8] = match fmt {
                Format::Ollama => b"{\"model\":\"qwen3:8b\",\"message\":{\"content\":\"oops\"\n",
                Format::Gemini => b"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"oops\"\r\n\r\n",
                Format::Anthropic => b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"oops\"\n\n",
                _ => b"data: {\"id\":\"chatcmpl-x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"oops\"}\n\n",
            };
            events.insert(first_content + 1, bad.to_vec());
        }
        if opts.badutf8
            && let Some(e) = events.get_mut(first_content)
        {
            // Insert an invalid byte right after the first `"content":"`/`"text":"`.
            let s = e.clone();
            let key: &[u8] = if fmt == Format::Anthropic || fmt == Format::Gemini {
                b"\"text\":"
            } else {
                b"\"content\":\""
            };
            if let Some(i) = s.windows(key.len()).rposition(|w| w == key) {
                let at = i + key.len() + if key.ends_with(b"\"") { 0 } else { 2 };
                let at = at.min(s.len());
                let mut n = s[..at].to_vec();
                n.extend_from_slice(b"\xFF\xFE");
                n.extend_from_slice(&s[at..]);
                *e = n;
            }
        }
        if opts.truncate {
            events.pop();
        }
    }
    let mut body: Vec<u8> = Vec::new();
    if opts.bom && faulty {
        body.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let ctype = if fmt == Format::Ollama {
        "application/x-ndjson"
    } else {
        "text/event-stream"
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\nCache-Control: no-cache\r\n\r\n"
    );
    sock.write_all(head.as_bytes()).await?;
    let first_content = events.iter().position(|e| is_content(fmt, e));
    let n_events = events.len();
    for (i, mut ev) in events.into_iter().enumerate() {
        if i + 1 == n_events && opts.nofinal && faulty {
            while ev.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                ev.pop();
            }
            ev.push(b'\n');
        }
        body.extend_from_slice(&ev);
        let after_first = Some(i) == first_content;
        if i == 0 && opts.dropearly && faulty {
            return sock.shutdown().await;
        }
        if let Some(n) = opts.batch
            && !((i + 1) as u64).is_multiple_of(n.max(1))
            && i + 1 < n_events
        {
            continue;
        }
        if let Some(c) = opts.chunk {
            for piece in body.chunks(c.max(1)) {
                write_chunked(&mut sock, piece).await?;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        } else {
            write_chunked(&mut sock, &body).await?;
        }
        body.clear();
        if after_first && faulty {
            if opts.drop {
                // Abrupt close: no terminating chunk.
                return sock.shutdown().await;
            }
            if let Some(ms) = opts.stall {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
        }
        if let Some(ms) = opts.slow {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
    if opts.dropend && faulty {
        // Every event sent, then an abrupt close: no terminating chunk.
        return sock.shutdown().await;
    }
    sock.write_all(b"0\r\n\r\n").await?;
    sock.shutdown().await
}
