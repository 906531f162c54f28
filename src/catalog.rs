//! The model catalogue every front end lists: the price dataset's models, charla's own table,
//! the config's `models`, and the providers' own lists, with prices per 1M tokens, context
//! size and deprecation warnings. Rows are cheap to list; their prices are computed by
//! [`priced`] (the TUI prices only the rows on screen).

use crate::config::{self, Config};
use crate::pricing::{self, Db};
use std::collections::BTreeSet;

/// A model row: name, prices per 1M, context, warning.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    pub provider: String,
    pub model: String,
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cached_input: Option<f64>,
    pub context: Option<u64>,
    pub warning: Option<String>,
    pub local: bool,
    /// Prices and context were looked up (see [`priced`]).
    pub priced: bool,
}

/// Every known model of every provider, unpriced: the config's `models`, charla's own table,
/// the dataset's models for the provider (when `db` is decoded), and the provider's own list.
pub fn model_names(
    cfg: &Config,
    remote: &std::collections::BTreeMap<String, Vec<String>>,
    db: Option<&Db>,
) -> Vec<ModelRow> {
    let mut rows = Vec::new();
    for p in cfg.providers.values() {
        let mut names: BTreeSet<String> = BTreeSet::new();
        names.extend(p.file.models.iter().flatten().cloned());
        names.extend(p.file.default_model.iter().cloned());
        names.extend(
            cfg.prices
                .for_provider(&p.price_family())
                .map(|e| e.id.clone()),
        );
        if let Some(db) = db
            && !p.is_local()
        {
            names.extend(
                pricing::dataset_models(db, p)
                    .into_iter()
                    .filter(|m| serves(&p.price_family(), m)),
            );
        }
        names.extend(remote.get(&p.name).into_iter().flatten().cloned());
        for m in names {
            let r = config::ModelRef {
                provider: p.name.clone(),
                model: m.clone(),
            };
            let warning = pricing::warning(cfg, &r);
            if warning.as_deref().is_some_and(|w| w.starts_with("retired"))
                && p.file.models.iter().flatten().all(|x| *x != m)
            {
                continue;
            }
            let local = p.is_local();
            rows.push(ModelRow {
                provider: p.name.clone(),
                model: m,
                input: local.then_some(0.0),
                output: local.then_some(0.0),
                cached_input: None,
                context: None,
                warning,
                local,
                priced: false,
            });
        }
    }
    rows
}

/// Whether a model the dataset lists under a provider is one that provider's API serves: the
/// dataset's `google` entry also prices Vertex AI's partner models (Claude, Llama…), which the
/// Gemini API does not offer.
fn serves(family: &str, model: &str) -> bool {
    match family {
        "gemini" => model.starts_with("gemini") || model.starts_with("gemma"),
        _ => true,
    }
}

/// Named by the config, the provider's own list or charla's table (always shown).
fn listed(
    cfg: &Config,
    remote: &std::collections::BTreeMap<String, Vec<String>>,
    r: &ModelRow,
) -> bool {
    cfg.providers.get(&r.provider).is_some_and(|p| {
        p.file.models.iter().flatten().any(|m| *m == r.model)
            || p.file.default_model.as_deref() == Some(&r.model)
            || cfg
                .prices
                .for_provider(&p.price_family())
                .any(|e| e.id == r.model)
    }) || remote
        .get(&r.provider)
        .is_some_and(|l| l.contains(&r.model))
}

/// `row` with its prices and context looked up (standard tier, now, a short prompt).
pub fn priced(cfg: &Config, row: &ModelRow, db: Option<&Db>) -> ModelRow {
    if row.priced {
        return row.clone();
    }
    let r = config::ModelRef {
        provider: row.provider.clone(),
        model: row.model.clone(),
    };
    let f = pricing::facts(cfg, &r, 1000, std::time::SystemTime::now(), db);
    ModelRow {
        input: f.rates.map(|r| r.input),
        output: f.rates.map(|r| r.output),
        cached_input: f.rates.and_then(|r| r.cached_input),
        context: f.context,
        priced: db.is_some(),
        ..row.clone()
    }
}

/// Every row, priced (the CLI: waits for the dataset). Models the dataset lists without an
/// output price (embeddings, images, speech) are left out unless configured.
pub fn model_rows(
    cfg: &Config,
    remote: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<ModelRow> {
    let db = pricing::db();
    model_names(cfg, remote, Some(db))
        .iter()
        .map(|r| priced(cfg, r, Some(db)))
        .filter(|r| r.local || listed(cfg, remote, r) || r.output.is_some_and(|o| o > 0.0))
        .collect()
}

/// A context size for people: `128K`, `1M`, `1.05M`, `?`.
pub fn fmt_context(n: Option<u64>) -> String {
    match n {
        Some(n) if n >= 1_000_000 => format!("{:.2}M", n as f64 / 1e6).replace(".00M", "M"),
        Some(n) => format!("{}K", n / 1000),
        None => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn context_sizes() {
        assert_eq!(super::fmt_context(Some(128_000)), "128K");
        assert_eq!(super::fmt_context(Some(1_000_000)), "1M");
        assert_eq!(super::fmt_context(Some(1_048_576)), "1.05M");
        assert_eq!(super::fmt_context(None), "?");
    }
}
