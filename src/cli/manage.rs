//! `models`, `prices`, `config`, `list`, `show`, `export`, `presets`, `delete`, `completions`.

use super::{
    ConfigAction, EXIT_LOCAL, EXIT_OK, EXIT_PROVIDER, EXIT_USAGE, ExportFormat, ModelsArgs, out,
    out::err,
};
use crate::catalog::model_rows;
use crate::config::{self, Config, Paths};
use crate::conversation::{Store, export};
use crate::provider::{Kind, Role};
use crate::sanitize::sanitize;
use crate::util::{dollars, thousands};
use serde_json::json;

fn price(x: f64) -> String {
    if x == 0.0 { "0".into() } else { format!("{x}") }
}

/// Which price data is in use, for people.
pub fn prices_source() -> String {
    let i = &crate::pricing::db().info;
    let mut s = format!("the genai-prices data {}", i.source);
    if let Some(f) = &i.fetched {
        s.push_str(&format!(" on {}", f.get(..10).unwrap_or(f)));
    }
    s
}

pub async fn models(cfg: &Config, args: ModelsArgs) -> i32 {
    let mut remote = std::collections::BTreeMap::new();
    let mut remote_errors = Vec::new();
    if args.remote {
        for p in cfg.providers.values().filter(|p| p.can_list_models()) {
            match crate::provider::list::fetch(cfg, &p.name).await {
                Ok(list) => {
                    remote.insert(p.name.clone(), list);
                }
                Err(e) => remote_errors.push(format!("{}: {e}", p.name)),
            }
        }
    }
    let rows = model_rows(cfg, &remote);
    if args.json {
        for r in &rows {
            let _ = out::json(
                &json!({"model": format!("{}/{}", r.provider, r.model), "input_per_m": r.input, "output_per_m": r.output,
                       "cached_input_per_m": r.cached_input, "context": r.context, "warning": r.warning, "local": r.local}),
            );
        }
    } else {
        out::line(format!(
            "Prices in USD per 1M tokens (input / output / cached input), from {}.",
            prices_source()
        ));
        let mut current = String::new();
        for r in &rows {
            if r.provider != current {
                current = r.provider.clone();
                let p = &cfg.providers[&current];
                let key = if p.kind == Kind::Demo {
                    "offline, no key needed".to_string()
                } else if p.is_local() {
                    format!("local at {}", p.base_url())
                } else if p.file.api_key_cmd.is_some() {
                    "key from api_key_cmd".to_string()
                } else if let Some(var) = &p.file.api_key_env {
                    format!(
                        "{var} {}",
                        if p.has_key_in_env() {
                            "is set"
                        } else {
                            "not set"
                        }
                    )
                } else {
                    "no key configured".into()
                };
                out::line(format!("\n{} ({}; {})", current, p.kind.as_str(), key));
            }
            let prices = match (r.input, r.output) {
                (Some(i), Some(out)) => format!(
                    "{} / {} / {}",
                    price(i),
                    price(out),
                    r.cached_input.map(price).unwrap_or_else(|| "-".into())
                ),
                _ => "price unknown".into(),
            };
            let warn = r
                .warning
                .as_deref()
                .map(|w| format!("  [{w}]"))
                .unwrap_or_default();
            out::line(format!(
                "  {}/{:<32} {:<24} ctx {:>6}{}",
                r.provider,
                r.model,
                prices,
                crate::catalog::fmt_context(r.context),
                warn
            ));
        }
        let (def, why) = cfg.default_model();
        out::line(format!("\nDefault model: {def} ({why})."));
    }
    for e in &remote_errors {
        err(format!("model list: {e}"));
    }
    EXIT_OK
}

pub fn config_cmd(
    paths: &Paths,
    cfg: Result<&Config, &config::ConfigError>,
    action: ConfigAction,
) -> i32 {
    match action {
        ConfigAction::Path => {
            out::line(format!("{}", paths.config_file.display()));
            out::eline(format!("data: {}", paths.data_dir.display()));
            EXIT_OK
        }
        ConfigAction::Init => {
            let p = &paths.config_file;
            if p.exists() {
                err(format!(
                    "{} already exists; not overwriting it",
                    p.display()
                ));
                return EXIT_USAGE;
            }
            if let Some(dir) = p.parent()
                && let Err(e) = std::fs::create_dir_all(dir)
            {
                err(format!("{}: {e}", dir.display()));
                return EXIT_USAGE;
            }
            match std::fs::write(p, config::EXAMPLE) {
                Ok(()) => {
                    out::line(format!("wrote {}", p.display()));
                    EXIT_OK
                }
                Err(e) => {
                    err(format!("{}: {e}", p.display()));
                    EXIT_USAGE
                }
            }
        }
        ConfigAction::Check => match cfg {
            Err(e) => {
                err(e);
                EXIT_USAGE
            }
            Ok(cfg) => {
                if cfg.user_file_loaded {
                    out::line(format!("{}: ok", paths.config_file.display()));
                } else {
                    out::line(format!(
                        "{}: not present; using built-in defaults",
                        paths.config_file.display()
                    ));
                }
                for p in cfg.providers.values() {
                    let key = match p.api_key() {
                        _ if p.kind == Kind::Demo => "offline".to_string(),
                        Ok(Some(_)) => "key found".into(),
                        Ok(None) => "no key needed".into(),
                        Err(e) => e.message,
                    };
                    out::line(format!(
                        "  {:<12} {:<9} {:<48} {key}",
                        p.name,
                        p.kind.as_str(),
                        p.base_url()
                    ));
                }
                let (m, why) = cfg.default_model();
                out::line(format!("default model: {m} ({why})"));
                EXIT_OK
            }
        },
    }
}

pub fn list(cfg: &Config, search: Option<String>, json_out: bool) -> i32 {
    let store = Store::new(cfg.paths.conversations_dir());
    let (all, broken) = store.list();
    let rows = match &search {
        Some(w) => store.search(w),
        None => all,
    };
    for s in &rows {
        if json_out {
            let _ = out::json(
                &json!({"id": s.id, "title": s.title, "created": s.created, "updated": s.updated, "models": s.models,
                       "turns": s.turns, "cost_usd": s.cost_usd, "unpriced_turns": s.unpriced_turns,
                       "read_only": s.newer_version.is_some(), "forked_from": s.forked_from}),
            );
        } else {
            let cost = if s.unpriced_turns > 0 {
                format!("{}+?", dollars(s.cost_usd))
            } else {
                dollars(s.cost_usd)
            };
            let mut ro = match s.newer_version {
                Some(v) => format!("  (read-only: version {v}, from a newer charla)"),
                None => String::new(),
            };
            if let Some(f) = &s.forked_from {
                ro.push_str(&format!(
                    "  (fork of {} at turn {})",
                    sanitize(&f.id),
                    f.turns
                ));
            }
            out::line(format!(
                "{}  {}  {:>3} turns  {:>10}  {}  [{}]{ro}",
                s.id,
                s.updated.get(..16).unwrap_or(&s.updated).replace('T', " "),
                s.turns,
                cost,
                sanitize(&s.title),
                s.models.join(", ")
            ));
        }
    }
    for b in &broken {
        err(format!(
            "{}: cannot be read ({}); left untouched",
            b.path.display(),
            b.error
        ));
    }
    EXIT_OK
}

pub fn show(cfg: &Config, id: &str, raw: bool) -> i32 {
    let store = Store::new(cfg.paths.conversations_dir());
    let conv = match store.find(id) {
        Ok(c) => c,
        Err(e) => {
            err(e);
            return EXIT_USAGE;
        }
    };
    // Every field of the file is untrusted; `--raw` prints it as it is.
    let o = out::Out::new(raw);
    let _ = o.line(format!("# {}  ({})", &conv.title, conv.id));
    if let Some(s) = &conv.system_prompt {
        let _ = o.line(format!("system: {}", s));
    }
    if let Some(p) = &conv.preset {
        let _ = o.line(format!("preset: {p}"));
    }
    for m in &conv.messages {
        let who = match (m.role, m.example) {
            (Role::User, true) => "example user",
            (Role::Assistant, true) => "example assistant",
            (Role::User, false) => "user",
            (Role::Assistant, false) => "assistant",
        };
        let _ = o.line(format!("\n── {who} ──"));
        let kind = m
            .answer
            .as_ref()
            .and_then(|a| crate::config::ModelRef::parse(&a.model))
            .or_else(|| {
                conv.answers()
                    .last()
                    .and_then(|a| crate::config::ModelRef::parse(&a.model))
            })
            .and_then(|r| cfg.provider(&r.provider).map(|p| p.kind))
            .unwrap_or(crate::provider::Kind::Openai);
        for p in &m.parts {
            let _ = o.line(format!(
                "[{} {}]",
                p.kind().replace('_', " "),
                crate::attach::describe(p, kind)
            ));
            // What a tool returned, and what the model said between its calls.
            match p {
                crate::parts::Part::ToolResult(r) => {
                    for l in r.text.lines() {
                        let _ = o.line(format!("  │ {l}"));
                    }
                }
                crate::parts::Part::Text { text, source: None } if m.role == Role::Assistant => {
                    let _ = o.line(text.trim_end());
                }
                _ => {}
            }
        }
        for f in &m.flags {
            let _ = o.line(format!("[guard {}: {}]", f.kind, f.detail));
        }
        let _ = o.line(m.content.trim_end());
        if let Some(a) = &m.answer {
            let _ = o.line(format!("   [{}]", &export::answer_footer(a)));
            for g in &a.guards {
                let _ = o.line(format!("   [guard {}: {}]", g.kind, g.detail));
            }
            for (k, alt) in a.alternatives.iter().enumerate() {
                let _ = o.line(format!(
                    "\n   ── alternative {}/{} · {} ──",
                    k + 1,
                    a.alternatives.len(),
                    export::answer_footer(&alt.answer)
                ));
                if let Some(q) = &alt.question {
                    let _ = o.line(format!("   (to the question: {})", q.trim_end()));
                }
                let _ = o.line(alt.content.trim_end());
                if !alt.following.is_empty() {
                    let _ = o.line(format!(
                        "   (+{} later messages on this branch)",
                        alt.following.len()
                    ));
                }
            }
        }
    }
    if let Some(f) = &conv.forked_from {
        let _ = o.line(format!(
            "\nforked from {} at turn {} (message {})",
            f.id, f.turns, f.message
        ));
    }
    let t = conv.totals();
    let _ = o.line(format!(
        "\ntotal: {} turns · in {} · out {} · {}{}",
        t.turns,
        thousands(t.usage.input_tokens),
        thousands(t.usage.output_tokens),
        dollars(t.cost_usd),
        if t.unpriced_turns > 0 {
            format!(" (+{} of unknown price)", t.unpriced_turns)
        } else {
            String::new()
        }
    ));
    EXIT_OK
}

/// `charla fork ID [--at N] [-m MODEL]`: a new conversation with the first N turns of `id`,
/// linked to it; its id is printed.
pub fn fork(
    cfg: &Config,
    id: &str,
    at: Option<usize>,
    model: Option<String>,
    json_out: bool,
) -> i32 {
    let store = Store::new(cfg.paths.conversations_dir());
    let conv = match store.find(id) {
        Ok(c) => c,
        Err(e) => {
            err(e);
            return EXIT_USAGE;
        }
    };
    let turns = conv.questions().len();
    let n = at.unwrap_or(turns);
    let Some(upto) = conv.turn_end(n) else {
        err(format!(
            "conversation {} has {turns} turn{}: --at takes 1 to {turns}",
            conv.id,
            if turns == 1 { "" } else { "s" }
        ));
        return EXIT_USAGE;
    };
    let model = match model.map(|m| cfg.resolve_model(&m)) {
        Some(Ok(m)) => Some(m.to_string()),
        Some(Err(e)) => {
            err(e);
            return EXIT_USAGE;
        }
        None => None,
    };
    let mut fork = conv.fork(upto, model);
    if let Err(e) = store.save(&mut fork) {
        err(format!("could not save the fork: {e}"));
        return EXIT_LOCAL;
    }
    if json_out {
        let _ = out::json(
            &json!({"id": fork.id, "forked_from": fork.forked_from, "model": fork.continue_model(), "messages": fork.messages.len()}),
        );
    } else {
        out::line(&fork.id);
        out::eline(format!(
            "forked {} at turn {n} of {turns}{}: charla --open {} or charla ask --conversation {} …",
            conv.id,
            fork.model
                .as_deref()
                .map(|m| format!(", continuing on {m}"))
                .unwrap_or_default(),
            fork.id,
            fork.id
        ));
    }
    EXIT_OK
}

pub fn export_cmd(
    cfg: &Config,
    id: &str,
    format: ExportFormat,
    output: Option<std::path::PathBuf>,
) -> i32 {
    let store = Store::new(cfg.paths.conversations_dir());
    let conv = match store.find(id) {
        Ok(c) => c,
        Err(e) => {
            err(e);
            return EXIT_USAGE;
        }
    };
    let text = match format {
        ExportFormat::Md => export::to_markdown_in(&conv, Some(&cfg.paths.data_dir)),
        ExportFormat::Json => export::to_json(&conv),
    };
    match output {
        Some(path) => match std::fs::write(&path, text) {
            Ok(()) => {
                out::eline(format!("wrote {}", path.display()));
                EXIT_OK
            }
            Err(e) => {
                err(format!("{}: {e}", path.display()));
                EXIT_LOCAL
            }
        },
        None => {
            // Markdown goes to a terminal: neutralise escape sequences. JSON escapes them itself.
            if format == ExportFormat::Md {
                out::line(text.trim_end());
            } else {
                let _ = out::Out::raw().line(crate::sanitize::json_safe(text.trim_end()));
            }
            EXIT_OK
        }
    }
}

pub fn presets_cmd(cfg: &Config, json_out: bool) -> i32 {
    let (all, errors) = crate::presets::load_all(&cfg.paths.presets_dir());
    for p in all.values() {
        if json_out {
            let _ = out::json(
                &json!({"name": p.name, "description": p.description, "examples": p.examples.len(), "variables": p.variables, "model": p.model, "source": p.source}),
            );
        } else {
            let vars = if p.variables.is_empty() {
                String::new()
            } else {
                format!(
                    "  vars: {}",
                    p.variables
                        .iter()
                        .map(|(k, v)| if v.is_empty() {
                            k.clone()
                        } else {
                            format!("{k}={v}")
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            let ex = if p.examples.is_empty() {
                String::new()
            } else {
                format!("  ({} examples)", p.examples.len())
            };
            out::line(format!("{:<20} {}{ex}{vars}", p.name, p.description));
        }
    }
    for e in &errors {
        err(e);
    }
    if errors.is_empty() {
        EXIT_OK
    } else {
        EXIT_USAGE
    }
}

pub fn delete(cfg: &Config, id: &str) -> i32 {
    let store = Store::new(cfg.paths.conversations_dir());
    match store.find(id).and_then(|c| store.delete(&c).map(|_| c)) {
        Ok(c) => {
            out::eline(format!("deleted {} ({})", c.id, sanitize(&c.title)));
            EXIT_OK
        }
        Err(e) => {
            err(e);
            EXIT_USAGE
        }
    }
}

/// `charla prices` and `charla prices update [--from FILE|URL]`.
pub async fn prices_cmd(cfg: &Config, action: Option<super::PricesAction>) -> i32 {
    let data_dir = &cfg.paths.data_dir;
    match action {
        None => {
            let db = crate::pricing::db();
            let i = &db.info;
            out::line(format!("prices: {}", prices_source()));
            out::line(format!("  {} providers, {} models", i.providers, i.models));
            if let Some(p) = &i.problem {
                err(p);
            }
            let own = cfg.prices.entries.len() - cfg.prices.user_entries;
            out::line(format!(
                "  charla's own table: {own} models the dataset lacks, {} deprecation dates (as of {})",
                cfg.prices.lifecycle.len(),
                cfg.prices.as_of
            ));
            out::line(format!(
                "  your [[pricing]] entries: {} (they win over both)",
                cfg.prices.user_entries
            ));
            out::line(format!(
                "  update with `charla prices update` (stored in {})",
                data_dir.join(crate::pricing::DATA_FILE).display()
            ));
            EXIT_OK
        }
        Some(super::PricesAction::Update { from }) => {
            let src = from.unwrap_or_else(|| genai_prices::REMOTE_DATA_URL.to_string());
            let bytes = if src.starts_with("http://") || src.starts_with("https://") {
                match fetch_prices(&src).await {
                    Ok(b) => b,
                    Err(e) => {
                        err(format!("{e}; the price data in use was not changed"));
                        return EXIT_PROVIDER;
                    }
                }
            } else {
                match std::fs::read(&src) {
                    Ok(b) => b,
                    Err(e) => {
                        err(format!("{src}: {e}; the price data in use was not changed"));
                        return EXIT_USAGE;
                    }
                }
            };
            let (providers, models) = match crate::pricing::validate_data(&bytes) {
                Ok(n) => n,
                Err(e) => {
                    err(format!(
                        "{src}: not valid price data ({e}); the price data in use was not changed"
                    ));
                    return EXIT_PROVIDER;
                }
            };
            match crate::pricing::store_data(data_dir, &bytes, &src) {
                Ok(path) => {
                    out::line(format!(
                        "stored {providers} providers and {models} models from {src} in {}",
                        path.display()
                    ));
                    EXIT_OK
                }
                Err(e) => {
                    err(format!("{e}; the price data in use was not changed"));
                    EXIT_LOCAL
                }
            }
        }
    }
}

/// Downloads the dataset with charla's own HTTP client (proxies from the environment are
/// honoured), at most 64 MiB, within 60 s.
async fn fetch_prices(url: &str) -> Result<Vec<u8>, String> {
    use futures::StreamExt;
    let ep = crate::provider::stream::Endpoint::new("prices", Kind::Openai, url);
    let client = ep.client().map_err(|e| e.to_string())?;
    let resp = client
        .get(url)
        .timeout(std::time::Duration::from_secs(60))
        .send()
        .await
        .map_err(|e| {
            format!(
                "{url}: {}",
                crate::provider::stream::network_error(e).message
            )
        })?;
    let status = resp.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(format!("{url}: HTTP {status}"));
    }
    let mut body = Vec::new();
    let mut s = resp.bytes_stream();
    while let Some(chunk) = s.next().await {
        let chunk = chunk.map_err(|e| {
            format!(
                "{url}: the download broke ({})",
                crate::provider::stream::network_error(e).message
            )
        })?;
        body.extend_from_slice(&chunk);
        if body.len() > 64 << 20 {
            return Err(format!("{url}: more than 64 MiB; not price data"));
        }
    }
    Ok(body)
}
