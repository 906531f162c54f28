//! The model catalogue every front end lists: the price table, the config's `models`, and the
//! providers' own lists, with prices per 1M tokens, context size and deprecation warnings.

use crate::config::{self, Config};
use std::collections::BTreeSet;

/// A model row: name, prices per 1M, context, warning.
#[derive(Debug, Clone)]
pub struct ModelRow {
    pub provider: String,
    pub model: String,
    pub input: Option<f64>,
    pub output: Option<f64>,
    pub cached_input: Option<f64>,
    pub context: Option<u64>,
    pub warning: Option<String>,
    pub local: bool,
}

/// Every known model of every provider: the price table, the config's `models`, and (when
/// given) the provider's own list.
pub fn model_rows(
    cfg: &Config,
    remote: &std::collections::BTreeMap<String, Vec<String>>,
) -> Vec<ModelRow> {
    let today = crate::util::today();
    let mut rows = Vec::new();
    for p in cfg.providers.values() {
        let mut names: BTreeSet<String> = BTreeSet::new();
        names.extend(p.file.models.iter().flatten().cloned());
        names.extend(p.file.default_model.iter().cloned());
        names.extend(
            cfg.prices
                .for_provider(&p.price_family())
                .filter(|e| e.status != crate::pricing::Status::Retired)
                .map(|e| e.id.clone()),
        );
        names.extend(remote.get(&p.name).into_iter().flatten().cloned());
        for m in names {
            let r = config::ModelRef {
                provider: p.name.clone(),
                model: m.clone(),
            };
            let e = crate::session::price_entry(cfg, &r);
            let local = p.is_local();
            let rates = e.map(|e| e.rates_on(&today, 0));
            rows.push(ModelRow {
                provider: p.name.clone(),
                model: m,
                input: if local {
                    Some(0.0)
                } else {
                    rates.map(|r| r.input)
                },
                output: if local {
                    Some(0.0)
                } else {
                    rates.map(|r| r.output)
                },
                cached_input: rates.and_then(|r| r.cached_input),
                context: e.and_then(|e| e.context),
                warning: e.and_then(|e| e.warning()),
                local,
            });
        }
    }
    rows
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
