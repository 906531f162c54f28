//! The price table (embedded `assets/pricing.toml`, overridable from the config) and the cost
//! of a turn.

use crate::provider::Usage;
use serde::Deserialize;

pub const BUILTIN: &str = include_str!("../assets/pricing.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Active,
    Deprecated,
    Retired,
}

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

    /// "deprecated (shuts down 2026-12-11)" / "retired 2026-10-23" for front ends to warn with.
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
struct TableFile {
    prices_as_of: String,
    #[serde(default)]
    model: Vec<PriceEntry>,
}

#[derive(Debug, Clone)]
pub struct PriceTable {
    pub as_of: String,
    pub entries: Vec<PriceEntry>,
}

/// Strips what providers append to a model id: a `models/` prefix, a date suffix
/// (`-20250929`, `-2025-08-07`), a `:tag` (OpenRouter's `:free` is handled by the caller).
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
        })
    }

    /// User entries replace built-in ones with the same provider and id.
    pub fn with_overrides(mut self, user: &[PriceEntry]) -> Self {
        for u in user {
            self.entries
                .retain(|e| !(e.provider == u.provider && e.id == u.id));
            self.entries.insert(0, u.clone());
        }
        self
    }

    /// Finds the entry for `model` in the price family `family` (a provider name or kind).
    pub fn lookup(&self, family: &str, model: &str) -> Option<&PriceEntry> {
        let want = [model.trim().to_lowercase(), normalise_id(model)];
        self.entries
            .iter()
            .filter(|e| e.provider == family)
            .find(|e| {
                want.iter()
                    .any(|w| e.id == *w || e.aliases.iter().any(|a| a == w))
            })
    }

    pub fn for_provider<'a>(
        &'a self,
        family: &'a str,
    ) -> impl Iterator<Item = &'a PriceEntry> + 'a {
        self.entries.iter().filter(move |e| e.provider == family)
    }
}

/// USD cost of `usage` at `rates`. `usage` follows the normalised convention of
/// [`Usage`]: cached and cache-write tokens are parts of `input_tokens`; reasoning is part of
/// `output_tokens`. Cache prices missing from the table are charged at the input rate.
pub fn cost(usage: &Usage, rates: &Rates) -> f64 {
    let cached = usage.cached_input_tokens.min(usage.input_tokens);
    let write = usage.cache_write_tokens.min(usage.input_tokens - cached);
    let plain = usage.input_tokens - cached - write;
    let m = 1_000_000.0;
    plain as f64 * rates.input / m
        + cached as f64 * rates.cached_input.unwrap_or(rates.input) / m
        + write as f64 * rates.cache_write.unwrap_or(rates.input) / m
        + usage.output_tokens as f64 * rates.output / m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        PriceTable::builtin().expect("built-in price table parses")
    }

    #[test]
    fn table_has_enough_models_and_dates() {
        let t = table();
        assert_eq!(t.as_of, "2026-11-30");
        assert!(t.entries.len() >= 30, "{}", t.entries.len());
        for fam in [
            "openai",
            "anthropic",
            "gemini",
            "openrouter",
            "groq",
            "deepseek",
            "mistral",
        ] {
            assert!(t.for_provider(fam).count() >= 1, "{fam}");
        }
    }

    #[test]
    fn lookup_strips_dates_and_uses_aliases() {
        let t = table();
        assert_eq!(
            t.lookup("anthropic", "claude-sonnet-4-5-20250929")
                .map(|e| e.id.as_str()),
            Some("claude-sonnet-4-5")
        );
        assert_eq!(
            t.lookup("openai", "gpt-5-mini-2025-08-07")
                .map(|e| e.id.as_str()),
            Some("gpt-5-mini")
        );
        assert_eq!(
            t.lookup("openai", "gpt-5.6").map(|e| e.id.as_str()),
            Some("gpt-5.6-sol")
        );
        assert_eq!(
            t.lookup("gemini", "models/gemini-2.5-flash")
                .map(|e| e.id.as_str()),
            Some("gemini-2.5-flash")
        );
        assert!(t.lookup("openai", "no-such-model").is_none());
    }

    #[test]
    fn effective_dates_and_long_context() {
        let t = table();
        let carbon = t.lookup("gemini", "gemini-4-carbon").expect("carbon");
        assert_eq!(carbon.rates_on("2026-11-30", 10).input, 2.0);
        assert_eq!(carbon.rates_on("2026-12-01", 10).input, 4.0);
        let s45 = t.lookup("anthropic", "claude-sonnet-4-5").expect("sonnet");
        assert_eq!(s45.rates_on("2026-11-30", 200_001).output, 22.5);
        assert_eq!(s45.rates_on("2026-11-30", 200_000).output, 15.0);
        let old = t.lookup("openai", "gpt-4o-mini").expect("4o-mini");
        assert_eq!(
            old.warning().as_deref(),
            Some("deprecated: shuts down 2027-01-14")
        );
    }

    /// Hand-computed: the OpenAI transcript's usage on gpt-5-mini (0.25 / cached 0.025 / 2.00).
    /// prompt 1187 incl. 1024 cached, completion 215 incl. 192 reasoning:
    /// 163 × 0.25 + 1024 × 0.025 + 215 × 2.00 = 40.75 + 25.6 + 430 = 496.35 → $0.00049635.
    #[test]
    fn openai_cost_by_hand() {
        let u = Usage {
            input_tokens: 1187,
            output_tokens: 215,
            cached_input_tokens: 1024,
            reasoning_tokens: 192,
            ..Default::default()
        };
        let r = table()
            .lookup("openai", "gpt-5-mini")
            .expect("gpt-5-mini")
            .rates_on("2026-11-30", 1187);
        assert!(
            (cost(&u, &r) - 0.000_496_35).abs() < 1e-12,
            "{}",
            cost(&u, &r)
        );
    }

    /// Anthropic transcript on claude-sonnet-4-5 (3 / read 0.30 / write 3.75 / 15):
    /// input 412 (excl. cache) + 2048 cache read, output 97 → normalised input 2460.
    /// 412 × 3 + 2048 × 0.30 + 97 × 15 = 1236 + 614.4 + 1455 = 3305.4 → $0.0033054.
    /// With 100 cache-write tokens more: + 100 × 3.75 = 375 → $0.0036804.
    #[test]
    fn anthropic_cost_by_hand() {
        let r = table()
            .lookup("anthropic", "claude-sonnet-4-5")
            .expect("sonnet")
            .rates_on("2026-11-30", 2460);
        let u = Usage {
            input_tokens: 2460,
            output_tokens: 97,
            cached_input_tokens: 2048,
            reasoning_tokens: 38,
            ..Default::default()
        };
        assert!((cost(&u, &r) - 0.003_305_4).abs() < 1e-12);
        let w = Usage {
            input_tokens: 2560,
            cache_write_tokens: 100,
            ..u
        };
        assert!((cost(&w, &r) - 0.003_680_4).abs() < 1e-12);
    }

    /// Gemini transcript on gemini-2.5-flash (0.30 / 2.50; output covers thoughts):
    /// prompt 12, candidates 34 + thoughts 84 = 118 output → 12 × 0.30 + 118 × 2.50 = 3.6 + 295
    /// = 298.6 → $0.0002986.
    #[test]
    fn gemini_cost_by_hand() {
        let r = table()
            .lookup("gemini", "gemini-2.5-flash")
            .expect("flash")
            .rates_on("2026-11-30", 12);
        let u = Usage {
            input_tokens: 12,
            output_tokens: 118,
            reasoning_tokens: 84,
            ..Default::default()
        };
        assert!((cost(&u, &r) - 0.000_298_6).abs() < 1e-12);
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
}
