//! The price of a turn, in one place for every front end.
//!
//! Sources, most specific first:
//! 1. the user's `[[pricing]]` entries in the config;
//! 2. the genai-prices dataset (pydantic's maintained price database, with its own calculator:
//!    effective dates, long-context tiers, cache reads and 5-minute/1-hour writes, service
//!    tiers, time-of-day prices): the copy `charla prices update` stored in the data dir, else
//!    the one bundled with the crate;
//! 3. charla's own small table (`assets/pricing.toml`): only what the dataset lacks, each entry
//!    saying why; it also carries deprecation and shutdown dates.
//!
//! A model found in none of them has an unknown price (`None`), never $0. Decoding the dataset
//! takes tens of milliseconds, so it is loaded lazily ([`warm`] on a blocking thread at start).

use crate::config::{Config, ModelRef, ProviderConfig};
use crate::provider::{Kind, Usage};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

pub const BUILTIN: &str = include_str!("../assets/pricing.toml");
/// The dataset file `charla prices update` writes, under the data dir.
pub const DATA_FILE: &str = "prices/genai-prices.json";
const META_FILE: &str = "prices/genai-prices.meta.json";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Active,
    Deprecated,
    Retired,
}

/// USD per 1M tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    pub cached_input: Option<f64>,
    pub cache_write: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContext {
    pub above: u64,
    #[serde(flatten)]
    pub rates: Rates,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceChange {
    pub from: String,
    #[serde(flatten)]
    pub rates: Rates,
}

/// A price entry: the user's `[[pricing]]`, or charla's own table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    pub provider: String,
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub input: f64,
    pub output: f64,
    pub cached_input: Option<f64>,
    pub cache_write: Option<f64>,
    pub context: Option<u64>,
    #[serde(default)]
    pub status: Status,
    pub retires: Option<String>,
    pub note: Option<String>,
    /// Why charla's own table has it (the dataset lacks it).
    pub why: Option<String>,
    #[serde(default)]
    pub changes: Vec<PriceChange>,
    pub long_context: Option<LongContext>,
}

impl PriceEntry {
    /// The rates in force on `date` (YYYY-MM-DD) for a prompt of `prompt_tokens`.
    pub fn rates_on(&self, date: &str, prompt_tokens: u64) -> Rates {
        if let Some(lc) = self
            .long_context
            .as_ref()
            .filter(|lc| prompt_tokens > lc.above)
        {
            return lc.rates;
        }
        let mut r = Rates {
            input: self.input,
            output: self.output,
            cached_input: self.cached_input,
            cache_write: self.cache_write,
        };
        for ch in &self.changes {
            if ch.from.as_str() <= date {
                r = ch.rates;
            }
        }
        r
    }
}

/// Deprecation and shutdown dates (the dataset has none).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifecycle {
    pub provider: String,
    pub id: String,
    #[serde(default)]
    pub status: Status,
    pub retires: Option<String>,
    pub why: Option<String>,
}

impl Lifecycle {
    /// "deprecated: shuts down 2026-12-11" / "retired 2026-10-23: requests may fail".
    pub fn warning(&self) -> Option<String> {
        match (self.status, &self.retires) {
            (Status::Deprecated, Some(d)) => Some(format!("deprecated: shuts down {d}")),
            (Status::Deprecated, None) => Some("deprecated".into()),
            (Status::Retired, Some(d)) => Some(format!("retired {d}: requests may fail")),
            (Status::Retired, None) => Some("retired: requests may fail".into()),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    prices_as_of: String,
    #[serde(default)]
    model: Vec<PriceEntry>,
    #[serde(default)]
    lifecycle: Vec<Lifecycle>,
    #[serde(default)]
    vision: Vec<VisionRule>,
}

/// Which models of a provider family read images (`[[vision]]`): the dataset does not say.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisionRule {
    pub provider: String,
    /// Model ids, or prefixes ending in `*`; the first rule that matches decides.
    pub models: Vec<String>,
    pub images: bool,
    pub why: Option<String>,
}

/// charla's own table and the user's entries (the user's first).
#[derive(Debug, Clone)]
pub struct PriceTable {
    pub as_of: String,
    pub entries: Vec<PriceEntry>,
    /// How many of `entries` are the user's (they come first).
    pub user_entries: usize,
    pub lifecycle: Vec<Lifecycle>,
    pub vision: Vec<VisionRule>,
}

/// Strips what providers append to a model id: a `models/` prefix, a date suffix
/// (`-20250929`, `-2025-08-07`).
pub fn normalise_id(id: &str) -> String {
    let id = id.trim().trim_start_matches("models/").to_lowercase();
    let bytes = id.as_bytes();
    // -YYYY-MM-DD
    if id.len() > 11 && bytes[id.len() - 11] == b'-' {
        let tail = &id[id.len() - 10..];
        if tail.len() == 10
            && tail.chars().enumerate().all(|(i, c)| {
                if i == 4 || i == 7 {
                    c == '-'
                } else {
                    c.is_ascii_digit()
                }
            })
        {
            return id[..id.len() - 11].to_string();
        }
    }
    // -YYYYMMDD
    if id.len() > 9
        && bytes[id.len() - 9] == b'-'
        && id[id.len() - 8..].chars().all(|c| c.is_ascii_digit())
    {
        return id[..id.len() - 9].to_string();
    }
    id
}

impl PriceTable {
    pub fn builtin() -> Result<Self, toml::de::Error> {
        let f: TableFile = toml::from_str(BUILTIN)?;
        Ok(PriceTable {
            as_of: f.prices_as_of,
            entries: f.model,
            user_entries: 0,
            lifecycle: f.lifecycle,
            vision: f.vision,
        })
    }

    /// The user's entries go first (they win over everything); a built-in entry with the same
    /// provider and id is dropped.
    pub fn with_overrides(mut self, user: &[PriceEntry]) -> Self {
        for u in user.iter().rev() {
            self.entries
                .retain(|e| !(e.provider == u.provider && e.id == u.id));
            self.entries.insert(0, u.clone());
        }
        self.user_entries = user.len();
        self
    }

    fn matches(e_id: &str, aliases: &[String], model: &str) -> bool {
        let want = [model.trim().to_lowercase(), normalise_id(model)];
        want.iter()
            .any(|w| e_id == w || aliases.iter().any(|a| a == w))
    }

    /// The entry for `model` in the price family `family` (a provider name or kind), user's first.
    pub fn lookup(&self, family: &str, model: &str) -> Option<&PriceEntry> {
        self.entries
            .iter()
            .filter(|e| e.provider == family)
            .find(|e| Self::matches(&e.id, &e.aliases, model))
    }

    /// A user entry only.
    fn lookup_user(&self, family: &str, model: &str) -> Option<&PriceEntry> {
        self.entries[..self.user_entries]
            .iter()
            .filter(|e| e.provider == family)
            .find(|e| Self::matches(&e.id, &e.aliases, model))
    }

    /// charla's own entry only.
    fn lookup_own(&self, family: &str, model: &str) -> Option<&PriceEntry> {
        self.entries[self.user_entries..]
            .iter()
            .filter(|e| e.provider == family)
            .find(|e| Self::matches(&e.id, &e.aliases, model))
    }

    pub fn lifecycle_of(&self, family: &str, model: &str) -> Option<&Lifecycle> {
        self.lifecycle
            .iter()
            .filter(|l| l.provider == family)
            .find(|l| Self::matches(&l.id, &[], model))
    }

    pub fn for_provider<'a>(
        &'a self,
        family: &'a str,
    ) -> impl Iterator<Item = &'a PriceEntry> + 'a {
        self.entries.iter().filter(move |e| e.provider == family)
    }
}

/// USD cost of `usage` at `rates`. `usage` follows the normalised convention of [`Usage`]:
/// cached and cache-write tokens are parts of `input_tokens`; reasoning is part of
/// `output_tokens`. Cache prices missing from the entry are charged at the input rate; one-hour
/// cache writes at twice the input rate (Anthropic's rule) unless the entry says otherwise.
pub fn cost(usage: &Usage, rates: &Rates) -> f64 {
    let cached = usage.cached_input_tokens.min(usage.input_tokens);
    let write = usage.cache_write_tokens.min(usage.input_tokens - cached);
    let write_1h = usage.cache_write_1h_tokens.min(write);
    let plain = usage.input_tokens - cached - write;
    let m = 1_000_000.0;
    plain as f64 * rates.input / m
        + cached as f64 * rates.cached_input.unwrap_or(rates.input) / m
        + (write - write_1h) as f64 * rates.cache_write.unwrap_or(rates.input) / m
        + write_1h as f64 * 2.0 * rates.input / m
        + usage.output_tokens as f64 * rates.output / m
}

// ---------------------------------------------------------------------------------------------
// The dataset.

/// Which dataset is in use, for `charla prices` and `charla models`.
#[derive(Debug, Clone)]
pub struct DataInfo {
    /// "bundled with genai-prices 0.2.1" or "downloaded from URL".
    pub source: String,
    /// When it was fetched (RFC 3339), for a downloaded copy.
    pub fetched: Option<String>,
    pub providers: usize,
    pub models: usize,
    /// A downloaded copy that could not be used (the bundled data is used instead).
    pub problem: Option<String>,
}

pub struct Db {
    calc: Calc,
    pub info: DataInfo,
}

enum Calc {
    Bundled(&'static genai_prices::Calculator),
    Loaded(Box<genai_prices::Calculator>),
}

impl Db {
    pub fn calculator(&self) -> &genai_prices::Calculator {
        match &self.calc {
            Calc::Bundled(c) => c,
            Calc::Loaded(c) => c,
        }
    }
}

static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();
static DB: OnceLock<Db> = OnceLock::new();

/// Where a downloaded dataset is looked for (the data dir); call before the first price.
pub fn set_data_dir(dir: &Path) {
    let _ = DATA_DIR.set(dir.to_path_buf());
}

fn bundled_version() -> &'static str {
    "0.2.1"
}

fn count(c: &genai_prices::Calculator) -> (usize, usize) {
    let providers = c.providers().count();
    let models = c.providers().map(|p| p.models().count()).sum();
    (providers, models)
}

fn load_db() -> Db {
    let bundled = || {
        let c = genai_prices::Calculator::bundled();
        let (providers, models) = count(c);
        (
            Calc::Bundled(c),
            DataInfo {
                source: format!("bundled with genai-prices {}", bundled_version()),
                fetched: None,
                providers,
                models,
                problem: None,
            },
        )
    };
    let Some(dir) = DATA_DIR.get() else {
        let (calc, info) = bundled();
        return Db { calc, info };
    };
    let file = dir.join(DATA_FILE);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(_) => {
            let (calc, info) = bundled();
            return Db { calc, info };
        }
    };
    match genai_prices::Calculator::from_json(&bytes) {
        Ok(c) => {
            let meta: serde_json::Value = std::fs::read(dir.join(META_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            let (providers, models) = count(&c);
            Db {
                calc: Calc::Loaded(Box::new(c)),
                info: DataInfo {
                    source: format!(
                        "downloaded from {}",
                        meta["source"].as_str().unwrap_or("an unknown source")
                    ),
                    fetched: meta["fetched"].as_str().map(str::to_string),
                    providers,
                    models,
                    problem: None,
                },
            }
        }
        Err(e) => {
            let (calc, mut info) = bundled();
            info.problem = Some(format!(
                "{}: cannot be used ({e}); using the bundled data",
                file.display()
            ));
            Db { calc, info }
        }
    }
}

/// The dataset (decoded on first use: tens of milliseconds).
pub fn db() -> &'static Db {
    DB.get_or_init(load_db)
}

/// The dataset if it is already decoded (front ends that must not wait for it).
pub fn try_db() -> Option<&'static Db> {
    DB.get()
}

/// Decodes the dataset now (call on a blocking thread at start).
pub fn warm() {
    let _ = db();
}

/// Checks a downloaded dataset: it decodes and it prices the major providers.
pub fn validate_data(bytes: &[u8]) -> Result<(usize, usize), String> {
    let c = genai_prices::Calculator::from_json(bytes).map_err(|e| e.to_string())?;
    for (p, m) in [("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4-5")] {
        let u = genai_prices::Usage::from([(genai_prices::UsageKey::INPUT_TOKENS, 1000.0)]);
        c.calculate(&genai_prices::PriceRequest::new(m, &u).with_provider_id(p))
            .map_err(|e| format!("it does not price {p}/{m} ({e}): not the genai-prices data?"))?;
    }
    Ok(count(&c))
}

/// Stores a validated dataset atomically in the data dir (the old one stays if anything fails).
pub fn store_data(data_dir: &Path, bytes: &[u8], source: &str) -> Result<PathBuf, String> {
    let file = data_dir.join(DATA_FILE);
    let dir = file.parent().unwrap_or(data_dir).to_path_buf();
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |path: &Path, data: &[u8]| -> Result<(), String> {
        crate::util::write_atomic(path, data).map_err(|e| format!("{}: {e}", path.display()))
    };
    write(&file, bytes)?;
    let meta = serde_json::json!({"source": source, "fetched": crate::util::now_rfc3339(), "bytes": bytes.len()});
    write(&data_dir.join(META_FILE), meta.to_string().as_bytes())?;
    Ok(file)
}

/// The dataset's id for a charla price family (a provider name or kind).
fn dataset_provider(family: &str) -> &str {
    match family {
        "gemini" => "google",
        "xai" | "grok" => "x-ai",
        other => other,
    }
}

/// What a turn is priced with: usage, when it was sent, and the tier.
fn to_dataset_usage(u: &Usage) -> genai_prices::Usage {
    use genai_prices::UsageKey as K;
    let mut out = genai_prices::Usage::new();
    out.insert(K::INPUT_TOKENS, u.input_tokens as f64);
    out.insert(K::OUTPUT_TOKENS, u.output_tokens as f64);
    let cached = u.cached_input_tokens.min(u.input_tokens);
    if cached > 0 {
        out.insert(K::CACHE_READ_TOKENS, cached as f64);
    }
    let write = u.cache_write_tokens.min(u.input_tokens - cached);
    if write > 0 {
        out.insert(K::CACHE_WRITE_TOKENS, write as f64);
        let h1 = u.cache_write_1h_tokens.min(write);
        if h1 > 0 {
            out.insert(K::CACHE_WRITE_1H_TOKENS, h1 as f64);
        }
    }
    out
}

/// Where the dataset may know `model` of provider `p`, in order: (dataset provider id, model
/// id) by the provider's price family, by a `provider/` prefix of the model id (gateways such
/// as LiteLLM), by the provider's kind.
fn candidates(p: &ProviderConfig, model: &str) -> Vec<(String, String)> {
    let mut out = vec![(
        dataset_provider(&p.price_family()).to_string(),
        model.to_string(),
    )];
    if let Some((prefix, rest)) = model.split_once('/') {
        out.push((dataset_provider(prefix).to_string(), rest.to_string()));
    }
    out.push((
        dataset_provider(p.kind.as_str()).to_string(),
        model.to_string(),
    ));
    out
}

/// Prices `usage` for `model` on provider `p` in the dataset: by the provider's price family,
/// then a `provider/` prefix of the model id (gateways such as LiteLLM), then the provider's
/// kind, then its API URL. None when the dataset does not know the model.
fn dataset_cost(
    db: &Db,
    p: &ProviderConfig,
    model: &str,
    usage: &genai_prices::Usage,
    at: SystemTime,
    tier: Option<&str>,
) -> Option<f64> {
    let c = db.calculator();
    for (provider, m) in &candidates(p, model) {
        let mut req = genai_prices::PriceRequest::new(m, usage)
            .with_provider_id(provider)
            .with_timestamp(at);
        if let Some(t) = tier {
            req = req.with_price_context("service_tier", t);
        }
        if let Ok(r) = c.calculate(&req) {
            return Some(r.total_price);
        }
    }
    let url = p.base_url();
    if url.starts_with("http") && !crate::config::is_loopback_url(url) {
        let req = genai_prices::PriceRequest::new(model, usage)
            .with_provider_api_url(url)
            .with_timestamp(at);
        if let Ok(r) = c.calculate(&req) {
            return Some(r.total_price);
        }
    }
    None
}

/// How a turn ended, for pricing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The provider accepted the request (the stream started), whatever happened after.
    Accepted,
    /// It failed before the provider accepted it (no key, connection refused, an HTTP error
    /// before the stream, cancelled before it started): nothing is billed.
    NotAccepted,
}

/// The cost of a turn on `model`: $0 for local models and for requests the provider never
/// accepted; the provider's own figure when it reported one (OpenRouter); else the user's
/// entry, the dataset, charla's own table, in that order; None when the price is unknown.
/// `at` is when the request was sent (prices are effective-dated and may depend on the hour).
pub fn turn_cost(
    cfg: &Config,
    model: &ModelRef,
    usage: &Usage,
    at: SystemTime,
    outcome: Outcome,
) -> Option<f64> {
    if outcome == Outcome::NotAccepted {
        return Some(0.0);
    }
    let p = cfg.provider(&model.provider)?;
    if is_free(p) {
        return Some(0.0);
    }
    if let Some(c) = usage.provider_cost_usd {
        return Some(c);
    }
    let family = p.price_family();
    let date = crate::util::rfc3339_of(at);
    let date = &date[..10];
    if let Some(e) = cfg
        .prices
        .lookup_user(&family, &model.model)
        .or_else(|| cfg.prices.lookup_user(p.kind.as_str(), &model.model))
    {
        return Some(cost(usage, &e.rates_on(date, usage.input_tokens)));
    }
    let du = to_dataset_usage(usage);
    if let Some(c) = dataset_cost(
        db(),
        p,
        &model.model,
        &du,
        at,
        usage.service_tier.map(|t| t.as_str()),
    ) {
        return Some(c);
    }
    cfg.prices
        .lookup_own(&family, &model.model)
        .or_else(|| cfg.prices.lookup_own(p.kind.as_str(), &model.model))
        .map(|e| cost(usage, &e.rates_on(date, usage.input_tokens)))
}

/// What a model costs per 1M tokens and how much context it has, for lists and estimates.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ModelFacts {
    /// Rates for a prompt of the size asked (long-context tiers applied); None: unknown.
    pub rates: Option<Rates>,
    pub context: Option<u64>,
    pub local: bool,
}

/// The rates of `model` for a prompt of `prompt_tokens` sent at `at`, and its context window.
/// `db` None: the dataset is not decoded yet (the front end must not wait); only the user's
/// entries and charla's own table are asked then.
pub fn facts(
    cfg: &Config,
    model: &ModelRef,
    prompt_tokens: u64,
    at: SystemTime,
    db: Option<&Db>,
) -> ModelFacts {
    let Some(p) = cfg.provider(&model.provider) else {
        return ModelFacts::default();
    };
    let family = p.price_family();
    let date = crate::util::rfc3339_of(at);
    let date = &date[..10];
    let own = cfg
        .prices
        .lookup(&family, &model.model)
        .or_else(|| cfg.prices.lookup(p.kind.as_str(), &model.model));
    let user = cfg
        .prices
        .lookup_user(&family, &model.model)
        .or_else(|| cfg.prices.lookup_user(p.kind.as_str(), &model.model));
    let dataset_context = db.and_then(|db| dataset_context(db, p, &model.model));
    let context = user
        .and_then(|e| e.context)
        .or(dataset_context)
        .or(own.and_then(|e| e.context));
    if is_free(p) {
        return ModelFacts {
            rates: Some(Rates::default()),
            context,
            local: true,
        };
    }
    if let Some(e) = user {
        return ModelFacts {
            rates: Some(e.rates_on(date, prompt_tokens)),
            context,
            local: false,
        };
    }
    if let Some(db) = db {
        // Per-1M rates from the calculator itself, at this prompt size (its tier).
        let n = prompt_tokens.max(1) as f64;
        let price = |u: Usage| dataset_cost(db, p, &model.model, &to_dataset_usage(&u), at, None);
        let base = Usage {
            input_tokens: prompt_tokens.max(1),
            ..Usage::default()
        };
        if let Some(input_cost) = price(base) {
            let with = |f: &dyn Fn(&mut Usage)| {
                let mut u = base;
                f(&mut u);
                price(u)
            };
            let output = with(&|u| u.output_tokens = 1000).map(|c| (c - input_cost) * 1000.0);
            let cached = with(&|u| u.cached_input_tokens = u.input_tokens).map(|c| c / n * 1e6);
            let write = with(&|u| u.cache_write_tokens = u.input_tokens).map(|c| c / n * 1e6);
            let round = |x: f64| (x * 1e9).round() / 1e9;
            let input = round(input_cost / n * 1e6);
            return ModelFacts {
                rates: Some(Rates {
                    input,
                    output: round(output.unwrap_or(0.0)),
                    cached_input: cached.map(round).filter(|c| (c - input).abs() > 1e-12),
                    cache_write: write.map(round).filter(|c| (c - input).abs() > 1e-12),
                }),
                context,
                local: false,
            };
        }
    }
    ModelFacts {
        rates: own.map(|e| e.rates_on(date, prompt_tokens)),
        context,
        local: false,
    }
}

fn dataset_context(db: &Db, p: &ProviderConfig, model: &str) -> Option<u64> {
    let c = db.calculator();
    for (provider, m) in candidates(p, model) {
        if let Ok(Some(info)) = c.find_provider(Some(&provider), None) {
            let want = normalise_id(&m);
            if let Some(mi) = info.models().find(|mi| mi.id() == m || mi.id() == want) {
                return mi.context_window();
            }
        }
    }
    None
}

/// Every model the dataset knows for provider `p` (ids as the dataset spells them).
pub fn dataset_models(db: &Db, p: &ProviderConfig) -> Vec<String> {
    let id = dataset_provider(&p.price_family()).to_string();
    match db.calculator().find_provider(Some(&id), None) {
        Ok(Some(info)) => info.models().map(|m| m.id().to_string()).collect(),
        _ => vec![],
    }
}

/// A deprecation or shutdown warning for `model`, if charla's table has one.
pub fn warning(cfg: &Config, model: &ModelRef) -> Option<String> {
    let p = cfg.provider(&model.provider)?;
    cfg.prices
        .lifecycle_of(&p.price_family(), &model.model)
        .or_else(|| cfg.prices.lifecycle_of(p.kind.as_str(), &model.model))
        .and_then(Lifecycle::warning)
}

/// A model is free only when it runs here: `local = true`, Ollama, or the demo. A gateway on
/// localhost in front of paid APIs is not free.
pub fn is_free(p: &ProviderConfig) -> bool {
    p.is_local() || p.kind == Kind::Demo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_table_parses_and_says_why() {
        let t = PriceTable::builtin().expect("built-in price table parses");
        assert!(!t.entries.is_empty());
        for e in &t.entries {
            assert!(
                e.why.is_some(),
                "{}/{} says why it is here",
                e.provider,
                e.id
            );
        }
        assert!(t.lifecycle.iter().all(|l| l.why.is_some()));
    }

    #[test]
    fn normalise() {
        assert_eq!(
            normalise_id("claude-3-5-haiku-20241022"),
            "claude-3-5-haiku"
        );
        assert_eq!(normalise_id("gpt-4o-2024-08-06"), "gpt-4o");
        assert_eq!(normalise_id("gpt-4o"), "gpt-4o");
        assert_eq!(normalise_id("mistral-large-2512"), "mistral-large-2512");
    }

    /// Anthropic's published rule: 5-minute writes 1.25x input, 1-hour writes 2x input.
    /// claude-sonnet-4-5 at $3 input: 1,000 5m + 1,000 1h writes + 1,000 plain input, no output:
    /// 1000 × 3 + 1000 × 3.75 + 1000 × 6 = 12,750 per 1M → $0.01275.
    #[test]
    fn own_cost_bills_one_hour_writes_at_twice_input() {
        let r = Rates {
            input: 3.0,
            output: 15.0,
            cached_input: Some(0.3),
            cache_write: Some(3.75),
        };
        let u = Usage {
            input_tokens: 3000,
            cache_write_tokens: 2000,
            cache_write_1h_tokens: 1000,
            ..Default::default()
        };
        assert!((cost(&u, &r) - 0.012_75).abs() < 1e-12, "{}", cost(&u, &r));
    }
}
