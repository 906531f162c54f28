//! The streaming driver: one task per request. Sends the HTTP request, checks the status before
//! parsing, decodes the body into [`StreamEvent`]s, retries before the first token, enforces the
//! connect / first-token / idle timeouts, and stops at once when cancelled.

use super::pace::{self, Pace};
use super::retry::{self, RetryPolicy};
use super::sse::{self, ByteStream};
use super::{
    ChatRequest, ErrorKind, Kind, ProviderError, StreamEvent, anthropic, decoder_for, demo, gemini,
    ollama, openai,
};
use futures::StreamExt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A secret that never prints itself.
#[derive(Clone, PartialEq)]
pub struct Secret(String);

impl Secret {
    /// A key charla resolved; it is registered for [`crate::redact`] so that nothing charla
    /// prints, logs or saves can contain it.
    pub fn new(s: impl Into<String>) -> Self {
        let s = s.into();
        crate::redact::register(&s);
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_token: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(120),
            idle: Duration::from_secs(60),
        }
    }
}

/// A provider resolved from the configuration: everything needed to send a request.
#[derive(Debug)]
pub struct Endpoint {
    pub name: String,
    pub kind: Kind,
    pub base_url: String,
    pub api_key: Option<Secret>,
    pub headers: Vec<(String, String)>,
    pub proxy: Option<String>,
    pub timeouts: Timeouts,
    pub retry: RetryPolicy,
    /// The data dir whose blob store holds the images a request names (loaded just before
    /// sending, off the UI task).
    pub data_dir: Option<std::path::PathBuf>,
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl Endpoint {
    /// An endpoint with no key, headers or proxy and the default timeouts and retry policy;
    /// set the public fields for the rest.
    pub fn new(name: impl Into<String>, kind: Kind, base_url: impl Into<String>) -> Self {
        Endpoint {
            name: name.into(),
            kind,
            base_url: base_url.into(),
            api_key: None,
            headers: Vec::new(),
            proxy: None,
            timeouts: Timeouts::default(),
            retry: RetryPolicy::default(),
            data_dir: None,
            client: OnceLock::new(),
        }
    }

    /// The HTTP client, built on first use (TLS roots are not loaded for the demo model) and
    /// shared by every endpoint with the same settings for the life of the process: a chat
    /// screen's later turns neither load the system's certificates again nor open a new
    /// connection.
    pub fn client(&self) -> Result<&reqwest::Client, ProviderError> {
        self.client
            .get_or_init(|| {
                shared_client(
                    self.timeouts.connect,
                    self.proxy.as_deref(),
                    plain_http(&self.base_url, self.proxy.as_deref()),
                )
            })
            .as_ref()
            .map_err(|e| ProviderError::new(ErrorKind::Config, e.clone()))
    }

    /// Builds the HTTP request for `req` (URL, auth, headers, JSON body).
    pub fn request(&self, req: &ChatRequest) -> Result<reqwest::RequestBuilder, ProviderError> {
        let client = self.client()?;
        let (url, body) = match self.kind {
            Kind::Openai | Kind::Demo => (openai::url(&self.base_url), openai::body(req)),
            Kind::Anthropic => (anthropic::url(&self.base_url), anthropic::body(req)),
            Kind::Gemini => (gemini::url(&self.base_url, &req.model), gemini::body(req)),
            Kind::Ollama => (ollama::url(&self.base_url), ollama::body(req)),
        };
        let mut b = client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if self.kind == Kind::Anthropic && body.get("output_format").is_some() {
            b = b.header("anthropic-beta", anthropic::STRUCTURED_OUTPUTS_BETA);
        }
        Ok(self.auth(b))
    }

    /// Adds the provider's auth and custom headers.
    pub fn auth(&self, mut b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if let Some(key) = &self.api_key {
            b = match self.kind {
                Kind::Anthropic => b.header("x-api-key", key.expose()),
                Kind::Gemini => b.header("x-goog-api-key", key.expose()),
                _ => b.bearer_auth(key.expose()),
            };
        }
        if self.kind == Kind::Anthropic {
            b = b.header("anthropic-version", "2023-06-01");
        }
        for (k, v) in &self.headers {
            b = b.header(k, v);
        }
        b
    }
}

/// Whether requests to `base_url` never need TLS: a plain `http://` server (Ollama, llama.cpp,
/// a local gateway) reached directly or through a plain HTTP proxy. Its client is built without
/// loading the system's CA certificates.
fn plain_http(base_url: &str, proxy: Option<&str>) -> bool {
    let http = |u: &str| u.trim().to_ascii_lowercase().starts_with("http://");
    let env_tls_proxy = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .any(|v| !v.trim().is_empty() && !http(&v));
    http(base_url) && proxy.is_none_or(http) && !env_tls_proxy
}

/// Clients by (connect timeout, proxy, plain HTTP): building one loads the system's CA
/// certificates (hundreds of files) and each keeps its own connection pool.
fn shared_client(
    connect: Duration,
    proxy: Option<&str>,
    plain: bool,
) -> Result<reqwest::Client, String> {
    type Key = (Duration, Option<String>, bool);
    type Clients = std::sync::Mutex<Vec<(Key, reqwest::Client)>>;
    static CLIENTS: Clients = std::sync::Mutex::new(Vec::new());
    let key = (connect, proxy.map(str::to_string), plain);
    let mut clients = CLIENTS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = clients.iter().find(|(k, _)| *k == key) {
        return Ok(c.clone());
    }
    install_crypto();
    let mut b = reqwest::Client::builder()
        .connect_timeout(connect)
        .user_agent(concat!("charla/", env!("CARGO_PKG_VERSION")));
    if let Some(p) = proxy {
        b = b.proxy(reqwest::Proxy::all(p).map_err(|e| format!("bad proxy {p:?}: {e}"))?);
    }
    if plain {
        b = b.tls_certs_only([]);
    }
    let c = b.build().map_err(|e| e.to_string())?;
    clients.push((key, c.clone()));
    Ok(c)
}

/// POSTs `body` to `url` with `ep`'s auth and headers, and returns the JSON answer (the
/// counting and embeddings endpoints). An HTTP error is the provider's own error; a body that
/// is not JSON is named as `what`.
pub(crate) async fn post_json(
    ep: &Endpoint,
    url: String,
    body: &serde_json::Value,
    what: &str,
) -> Result<serde_json::Value, ProviderError> {
    let b = ep
        .client()?
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .timeout(ep.timeouts.first_token);
    let resp = ep.auth(b).send().await.map_err(network_error)?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(network_error)?;
    if !(200..300).contains(&status) {
        return Err(ProviderError::from_http(status, &text, None));
    }
    serde_json::from_str(&text).map_err(|e| {
        ProviderError::new(
            ErrorKind::MalformedStream,
            format!("{what} is not JSON ({e})"),
        )
    })
}

/// A shared HTTPS client for other HTTP work (MCP servers over streamable HTTP).
pub fn http_client(connect: Duration) -> Result<reqwest::Client, String> {
    shared_client(connect, None, false)
}

fn install_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Starts streaming `req` on `ep`; events arrive on the returned channel, ending with
/// `Finished` or `Error`. Cancelling the token ends the request at once with `Error(Cancelled)`.
pub fn spawn(
    ep: Arc<Endpoint>,
    req: ChatRequest,
    cancel: CancellationToken,
) -> mpsc::Receiver<StreamEvent> {
    spawn_paced(ep, req, cancel, None)
}

/// [`spawn`], reading the body no sooner than `pace` allows once the answer has begun.
pub fn spawn_paced(
    ep: Arc<Endpoint>,
    req: ChatRequest,
    cancel: CancellationToken,
    pace: Option<Arc<Pace>>,
) -> mpsc::Receiver<StreamEvent> {
    let (tx, rx) = mpsc::channel(512);
    tokio::spawn(async move {
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = tx.send(StreamEvent::Error(ProviderError::new(ErrorKind::Cancelled, "cancelled by the user"))).await;
            }
            _ = run(&ep, req, &tx, pace.as_deref()) => {}
        }
    });
    rx
}

/// Reads the bytes of every image in `req` that has none yet from the blob store.
async fn load_images(ep: &Endpoint, req: &mut ChatRequest) -> Result<(), ProviderError> {
    let missing = req
        .messages
        .iter()
        .flat_map(|m| &m.parts)
        .any(|p| matches!(p, crate::parts::Part::Image(i) if i.bytes.0.is_none()));
    if !missing {
        return Ok(());
    }
    let Some(dir) = ep.data_dir.clone() else {
        return Err(ProviderError::new(
            ErrorKind::Config,
            "the conversation has images but no data dir to read them from",
        ));
    };
    let mut messages = std::mem::take(&mut req.messages);
    let (messages, res) = tokio::task::spawn_blocking(move || {
        let blobs = crate::conversation::blobs::Blobs::new(dir);
        let mut res = Ok(());
        'all: for m in &mut messages {
            for p in &mut m.parts {
                if let crate::parts::Part::Image(i) = p
                    && i.bytes.0.is_none()
                {
                    match blobs.get(&i.sha256) {
                        Ok(b) => i.bytes.0 = Some(b),
                        Err(e) => {
                            res = Err(format!("image {}: {e}", i.name));
                            break 'all;
                        }
                    }
                }
            }
        }
        (messages, res)
    })
    .await
    .map_err(|e| ProviderError::new(ErrorKind::Config, e.to_string()))?;
    req.messages = messages;
    res.map_err(|e| ProviderError::new(ErrorKind::Config, e))
}

async fn run(
    ep: &Endpoint,
    mut req: ChatRequest,
    tx: &mpsc::Sender<StreamEvent>,
    pace: Option<&Pace>,
) {
    if let Err(e) = load_images(ep, &mut req).await {
        let _ = tx.send(StreamEvent::Error(e)).await;
        return;
    }
    let req = &req;
    if ep.kind == Kind::Demo {
        demo::run(req, tx).await;
        return;
    }
    let mut failed = 0u32;
    loop {
        let (err, content_sent) = match attempt(ep, req, tx, pace).await {
            Ok(()) => {
                crate::log::line(format!("done provider={} model={}", ep.name, req.model));
                return;
            }
            Err(e) => e,
        };
        failed += 1;
        let may_retry = !content_sent
            && err.kind.retryable()
            && !err.no_retry
            && failed < ep.retry.max_attempts;
        match retry::delay(&ep.retry, failed, err.retry_after).filter(|_| may_retry) {
            Some(wait) => {
                crate::log::line(format!(
                    "retry provider={} attempt={} wait_ms={} error={} status={:?}",
                    ep.name,
                    failed + 1,
                    wait.as_millis(),
                    err.kind.as_str(),
                    err.status
                ));
                let ev = StreamEvent::Retry {
                    attempt: failed + 1,
                    wait,
                    reason: err.to_string(),
                };
                if tx.send(ev).await.is_err() {
                    return;
                }
                tokio::time::sleep(wait).await;
            }
            None => {
                // Kind and status only: the log records no text from a server.
                crate::log::line(format!(
                    "error provider={} model={} kind={} status={:?} after_content={content_sent}",
                    ep.name,
                    req.model,
                    err.kind.as_str(),
                    err.status,
                ));
                let _ = tx.send(StreamEvent::Error(err)).await;
                return;
            }
        }
    }
}

/// One try. On failure returns the error and whether any answer text was already sent.
async fn attempt(
    ep: &Endpoint,
    req: &ChatRequest,
    tx: &mpsc::Sender<StreamEvent>,
    pace: Option<&Pace>,
) -> Result<(), (ProviderError, bool)> {
    let deadline = tokio::time::Instant::now() + ep.timeouts.first_token;
    let first_token_timeout = || {
        ProviderError::new(
            ErrorKind::Timeout,
            format!(
                "no answer within {:.0} s (first-token timeout)",
                ep.timeouts.first_token.as_secs_f64()
            ),
        )
    };
    let builder = ep.request(req).map_err(|e| (e, false))?;
    let started = std::time::Instant::now();
    if crate::log::enabled() {
        let url = builder
            .try_clone()
            .and_then(|b| b.build().ok())
            .map(|r| r.url().to_string())
            .unwrap_or_default();
        crate::log::line(format!(
            "request provider={} model={} messages={} POST {}",
            ep.name,
            req.model,
            req.messages.len(),
            crate::log::url_path(&url)
        ));
    }
    let resp = tokio::select! {
        r = builder.send() => r.map_err(|e| (network_error(e), false))?,
        _ = tokio::time::sleep_until(deadline) => return Err((first_token_timeout(), false)),
    };
    let status = resp.status().as_u16();
    crate::log::line(format!(
        "response provider={} status={status} after_ms={}",
        ep.name,
        started.elapsed().as_millis()
    ));
    if !(200..300).contains(&status) {
        let h = resp.headers().clone();
        let header = |k: &str| h.get(k).and_then(|v| v.to_str().ok());
        let retry_after = retry::parse_retry_after(header, SystemTime::now());
        let no_retry = header("x-should-retry") == Some("false");
        let body = tokio::select! {
            b = read_limited(resp, 64 * 1024) => b,
            _ = tokio::time::sleep(ep.timeouts.idle) => String::new(),
        };
        let mut e = ProviderError::from_http(status, &body, retry_after);
        e.no_retry = no_retry;
        return Err((e, false));
    }
    let _ = tx.send(StreamEvent::Started).await;
    // The connection's two addresses (its socket is found by them).
    let addrs = resp
        .extensions()
        .get::<hyper_util::client::legacy::connect::HttpInfo>()
        .map(|i| (i.local_addr(), i.remote_addr()));
    let bytes: ByteStream = resp
        .bytes_stream()
        .map(|r| r.map_err(network_error))
        .boxed();
    let bytes = sse::idle_timeout(bytes, ep.timeouts.idle);
    let non_sse = std::sync::Arc::new(std::sync::Mutex::new(sse::NonSseLines::default()));
    let mut events = match ep.kind {
        Kind::Ollama => sse::ndjson_lines(bytes),
        _ => sse::sse_events_keeping(bytes, Some(non_sse.clone())),
    };
    let non_sse_text = || non_sse.lock().map(|n| n.text.clone()).unwrap_or_default();
    let mut dec = decoder_for(ep.kind);
    let mut content_sent = false;
    // A server that echoes the key inside the answer cannot get it onto a screen either.
    let mut redact = Redactors::default();
    // Once the answer has begun, the body is read at the front end's pace (see `pace`).
    let mut reader = pace.map(|p| pace::Reader::new(p, addrs));
    loop {
        let next = match &mut reader {
            Some(r) if content_sent => {
                r.next(&mut events, |e| {
                    e.as_ref().map_or(0, |raw| raw.data.len() + raw.event.len())
                })
                .await
            }
            _ => tokio::select! {
                n = events.next() => n,
                _ = tokio::time::sleep_until(deadline), if !content_sent => return Err((first_token_timeout(), false)),
            },
        };
        let out = match next {
            Some(Ok(raw)) => dec.feed(&raw.event, &raw.data),
            Some(Err(e)) => {
                // The body broke. If the protocol already said the answer is complete (Gemini's
                // finishReason, an OpenAI finish_reason without [DONE]), it is.
                if !dec.done()
                    && let Some(fin) = dec
                        .finish(&non_sse_text())
                        .into_iter()
                        .find(|ev| matches!(ev, StreamEvent::Finished { .. }))
                {
                    redact.flush(tx).await;
                    let _ = tx.send(fin).await;
                    return Ok(());
                }
                redact.flush(tx).await;
                return Err((e, content_sent));
            }
            None => dec.finish(&non_sse_text()),
        };
        for ev in out {
            let ev = match redact.apply(ev) {
                Some(ev) => ev,
                None => continue,
            };
            match ev {
                StreamEvent::Error(e) => {
                    redact.flush(tx).await;
                    return Err((e, content_sent));
                }
                ev => {
                    if matches!(ev, StreamEvent::Finished { .. }) {
                        redact.flush(tx).await;
                    }
                    let terminal = matches!(ev, StreamEvent::Finished { .. });
                    content_sent |= matches!(
                        ev,
                        StreamEvent::TextDelta(_) | StreamEvent::ReasoningDelta(_)
                    );
                    if tx.send(ev).await.is_err() {
                        return Ok(()); // receiver gone: nobody is listening any more
                    }
                    if terminal {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Known keys masked in answer and reasoning text, across delta boundaries.
#[derive(Default)]
struct Redactors {
    text: Option<crate::redact::StreamRedactor>,
    reasoning: Option<crate::redact::StreamRedactor>,
}

impl Redactors {
    /// The event as it may be passed on (None: everything in it is held back for now).
    fn apply(&mut self, ev: StreamEvent) -> Option<StreamEvent> {
        let pass = |r: &mut Option<crate::redact::StreamRedactor>, t: &str| {
            r.get_or_insert_with(crate::redact::StreamRedactor::new)
                .push(t)
        };
        match ev {
            StreamEvent::TextDelta(t) => {
                let t = pass(&mut self.text, &t);
                (!t.is_empty()).then_some(StreamEvent::TextDelta(t))
            }
            StreamEvent::ReasoningDelta(t) => {
                let t = pass(&mut self.reasoning, &t);
                (!t.is_empty()).then_some(StreamEvent::ReasoningDelta(t))
            }
            ev => Some(ev),
        }
    }

    /// Sends what was held back (the stream is ending).
    async fn flush(&mut self, tx: &mpsc::Sender<StreamEvent>) {
        if let Some(t) = self.reasoning.as_mut().map(|r| r.finish())
            && !t.is_empty()
        {
            let _ = tx.send(StreamEvent::ReasoningDelta(t)).await;
        }
        if let Some(t) = self.text.as_mut().map(|r| r.finish())
            && !t.is_empty()
        {
            let _ = tx.send(StreamEvent::TextDelta(t)).await;
        }
    }
}

async fn read_limited(resp: reqwest::Response, limit: usize) -> String {
    let mut body = Vec::new();
    let mut s = resp.bytes_stream();
    while let Some(Ok(chunk)) = s.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= limit {
            body.truncate(limit);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

pub(crate) fn network_error(e: reqwest::Error) -> ProviderError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Network
    };
    // Describe the error chain without the URL.
    let mut causes = Vec::new();
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        causes.push(s.to_string());
        src = s.source();
    }
    let mut msg = e.without_url().to_string();
    for c in causes {
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    ProviderError::new(kind, msg)
}
