//! `charla rag`: collections of local files to answer from.

use super::{EXIT_OK, EXIT_USAGE, RagAction, out};
use crate::config::Config;
use crate::rag::{Collection, Report, Settings};
use crate::util::thousands;
use serde_json::json;

pub async fn run(cfg: &Config, action: RagAction) -> i32 {
    let data = &cfg.paths.data_dir;
    let s = Settings::of(cfg);
    match action {
        RagAction::Add { name, paths } => {
            let mut c = match Collection::open_or_new(data, &name) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            match c.add(&paths, s) {
                Ok(r) => {
                    report(&c, &r);
                    embed(cfg, &c, s).await
                }
                Err(e) => fail(e),
            }
        }
        RagAction::Refresh { name } => {
            let mut c = match Collection::open(data, &name) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            match c.refresh(s) {
                Ok(r) => {
                    report(&c, &r);
                    embed(cfg, &c, s).await
                }
                Err(e) => fail(e),
            }
        }
        RagAction::List { json: as_json } => {
            let all = Collection::list(data);
            if all.is_empty() && !as_json {
                out::line("no collections yet: charla rag add NAME PATH… makes one");
            }
            for c in all {
                match c {
                    Ok(c) => {
                        let m = &c.meta;
                        if as_json {
                            let _ = out::json(&json!({
                                "name": m.name, "roots": m.roots, "files": m.files.len(),
                                "passages": m.passages(), "bytes": m.bytes(), "updated": m.updated
                            }));
                        } else {
                            out::line(format!(
                                "{:<16} {:>7} files {:>9} passages {:>9}  {}  {}",
                                m.name,
                                thousands(m.files.len() as u64),
                                thousands(m.passages() as u64),
                                crate::attach::human_bytes(m.bytes()),
                                m.updated.get(..16).unwrap_or(&m.updated),
                                m.roots
                                    .iter()
                                    .map(|r| r.display().to_string())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                    }
                    Err(e) => out::err(e),
                }
            }
            EXIT_OK
        }
        RagAction::Search {
            name,
            query,
            top,
            json: as_json,
        } => {
            let c = match Collection::open(data, &name) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            let q = query.join(" ");
            if cfg.file.embedding_model.is_some() {
                return hybrid_search(cfg, &c, &q, Settings { top_k: top, ..s }, as_json).await;
            }
            match c.search(&q, top) {
                Ok(hits) => {
                    if hits.is_empty() && !as_json {
                        out::err(format!("no passage of {name} matches {q:?}"));
                    }
                    for (i, h) in hits.iter().enumerate() {
                        let shown = c.shown(&h.path);
                        if as_json {
                            let _ = out::json(&json!({
                                "rank": i + 1, "path": shown, "start_line": h.start,
                                "end_line": h.end, "score": h.score, "text": h.text
                            }));
                        } else {
                            out::line(format!(
                                "[{}] {shown}:{}-{}  score {:.2}",
                                i + 1,
                                h.start,
                                h.end,
                                h.score
                            ));
                            for l in h.text.lines().take(4) {
                                let l: String = l.chars().take(110).collect();
                                out::line(format!("    {l}"));
                            }
                        }
                    }
                    EXIT_OK
                }
                Err(e) => fail(e),
            }
        }
        RagAction::Rm { name } => match Collection::remove(data, &name) {
            Ok(()) => {
                out::line(format!(
                    "removed collection {name} (its files are untouched)"
                ));
                EXIT_OK
            }
            Err(e) => fail(e),
        },
    }
}

/// Every `rag` failure (a missing collection or path, a busy index, nothing to search for)
/// is said on stderr and exits 2; nothing was changed.
fn fail(e: String) -> i32 {
    out::err(&e);
    EXIT_USAGE
}

/// What an add or a refresh did, in a few lines on stdout (skips and rebuilds on stderr).
fn report(c: &Collection, r: &Report) -> i32 {
    let m = &c.meta;
    if let Some(why) = &r.rebuilt {
        out::err(format!(
            "note: the index of {} was rebuilt from the files: {why}",
            m.name
        ));
    }
    out::line(format!(
        "{}: {} files ({} new, {} changed, {} removed, {} unchanged; {} read), {} passages, {}",
        m.name,
        thousands(m.files.len() as u64),
        r.added,
        r.changed,
        r.removed,
        r.unchanged,
        r.read,
        thousands(m.passages() as u64),
        crate::attach::human_bytes(m.bytes())
    ));
    let s = &r.skipped;
    if s.binary > 0 {
        out::err(format!("skipped {} binary files", s.binary));
    }
    if !s.too_large.is_empty() {
        out::err(format!(
            "skipped {} files over the size limit ([rag] max_file_bytes): {}",
            s.too_large.len(),
            s.too_large
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !s.unreadable.is_empty() {
        out::err(format!(
            "could not read {}: {}",
            s.unreadable.len(),
            s.unreadable
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    EXIT_OK
}

/// With an `embedding_model`: the passages' vectors, made for what changed.
async fn embed(cfg: &Config, c: &Collection, s: Settings) -> i32 {
    match c.embed(cfg, s).await {
        Ok(None) => EXIT_OK,
        Ok(Some(r)) => {
            out::line(format!(
                "{}: vectors from {}: {} passages embedded, {} kept; {} tokens, {}",
                c.meta.name,
                r.model,
                r.embedded,
                r.reused,
                thousands(r.input_tokens),
                r.cost_usd
                    .map(crate::util::dollars)
                    .unwrap_or_else(|| "price unknown".into())
            ));
            EXIT_OK
        }
        Err(e) => {
            out::err(format!(
                "{e}; the keyword index is complete, `charla rag refresh {}` makes the vectors later",
                c.meta.name
            ));
            super::EXIT_PROVIDER
        }
    }
}

/// `rag search` with vectors: BM25 fused with the nearest passages.
async fn hybrid_search(cfg: &Config, c: &Collection, q: &str, s: Settings, as_json: bool) -> i32 {
    match c.retrieve(cfg, q, s, u64::MAX).await {
        Ok((ctx, _)) => {
            for (i, p) in ctx.passages.iter().enumerate() {
                let lines = p.location.as_deref().unwrap_or("");
                if as_json {
                    let _ = out::json(&json!({
                        "rank": i + 1, "path": p.source, "location": lines,
                        "score": p.score, "text": p.text, "fused": true
                    }));
                } else {
                    out::line(format!(
                        "[{}] {} {lines}  fused {}",
                        i + 1,
                        p.source,
                        p.score.map(|s| s.to_string()).unwrap_or_default()
                    ));
                    for l in p.text.lines().take(4) {
                        let l: String = l.chars().take(110).collect();
                        out::line(format!("    {l}"));
                    }
                }
            }
            EXIT_OK
        }
        Err(e) => fail(e),
    }
}
