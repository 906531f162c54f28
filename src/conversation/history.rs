//! The search index of the saved conversations (tantivy, in `conversations/.index/`), so that
//! `list --search` and the chat screen's browser stay fast over years of history. It is never
//! the source of truth: the JSON files are. Before a search it catches up with the directory
//! (one `stat` tells whether anything was written, renamed or deleted since; then only the
//! files whose mtime or size changed are read again); a missing, damaged or busy index is
//! rebuilt, or the search falls back to reading every file — with the same matches.
//!
//! A conversation matches when every word of the query is a word of its title or messages
//! (letters and digits, case-insensitive), as [`matches`] says for the full scan.

use super::store::{Store, Summary, summary_of};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, Value};
use tantivy::{Index, IndexWriter, TantivyDocument, Term, doc};

const FORMAT: u32 = 2;
/// tantivy's default tokenizer drops longer tokens; the full scan does too.
const MAX_TOKEN: usize = 40;

/// The words of `text` as the index and the full scan see them.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.len() <= MAX_TOKEN)
        .map(str::to_lowercase)
}

/// The full scan's test: every query word is a word of `hay`.
pub fn matches(query: &[String], hay: &str) -> bool {
    let have: std::collections::HashSet<String> = words(hay).collect();
    query.iter().all(|w| have.contains(w))
}

/// What the index knows of the directory.
#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    format: u32,
    dir_mtime_ns: u128,
    /// File name → (mtime ns, size).
    files: BTreeMap<String, (u128, u64)>,
}

struct Fields {
    file: Field,
    body: Field,
    id: Field,
    title: Field,
    created: Field,
    updated: Field,
    models: Field,
    turns: Field,
    cost: Field,
    unpriced: Field,
    mtime: Field,
    newer: Field,
    /// A fork's `forked_from`, as JSON ("" when it is none).
    forked: Field,
}

fn schema() -> (Schema, Fields) {
    let mut sb = Schema::builder();
    let f = Fields {
        file: sb.add_text_field("file", STRING | STORED),
        body: sb.add_text_field("body", TEXT),
        id: sb.add_text_field("id", STORED),
        title: sb.add_text_field("title", STORED),
        created: sb.add_text_field("created", STORED),
        updated: sb.add_text_field("updated", STORED),
        models: sb.add_text_field("models", STORED),
        turns: sb.add_u64_field("turns", STORED),
        cost: sb.add_f64_field("cost", STORED),
        unpriced: sb.add_u64_field("unpriced", STORED),
        mtime: sb.add_u64_field("mtime", STORED | INDEXED),
        newer: sb.add_u64_field("newer", STORED),
        forked: sb.add_text_field("forked", STORED),
    };
    (sb.build(), f)
}

pub struct History {
    dir: PathBuf,
    conversations: PathBuf,
}

impl History {
    pub fn for_store(store: &Store) -> History {
        History {
            dir: store.dir().join(".index"),
            conversations: store.dir().to_path_buf(),
        }
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    fn open(&self) -> Result<(Index, State), String> {
        let (schema, _) = schema();
        let state: State = std::fs::read(self.state_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|s: &State| s.format == FORMAT)
            .unwrap_or_default();
        let index_dir = self.dir.join("tantivy");
        if state.format == FORMAT
            && let Ok(i) = Index::open_in_dir(&index_dir)
            && i.schema() == schema
        {
            return Ok((i, state));
        }
        // Missing, damaged or of another format: made again from the files.
        let _ = std::fs::remove_dir_all(&index_dir);
        std::fs::create_dir_all(&index_dir).map_err(|e| e.to_string())?;
        let i = Index::create_in_dir(&index_dir, schema).map_err(|e| e.to_string())?;
        Ok((
            i,
            State {
                format: FORMAT,
                ..State::default()
            },
        ))
    }

    /// Brings the index up to the directory: files written, renamed or removed since are
    /// indexed again or dropped. Returns the index.
    fn stamp_path(&self) -> PathBuf {
        self.dir.join("stamp")
    }

    fn sync(&self) -> Result<Index, String> {
        let dir_mtime = std::fs::metadata(&self.conversations)
            .map(|m| crate::util::mtime_ns(&m))
            .unwrap_or(0);
        // Nothing written, renamed or deleted since the last catching-up: two small reads.
        let stamp = std::fs::read_to_string(self.stamp_path())
            .ok()
            .and_then(|s| s.trim().parse::<u128>().ok());
        if stamp == Some(dir_mtime)
            && dir_mtime != 0
            && let Ok(i) = Index::open_in_dir(self.dir.join("tantivy"))
            && i.schema() == schema().0
        {
            return Ok(i);
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| e.to_string())?;
        // One catching-up at a time (threads and processes): a search waits for another's.
        let _lock = super::store::DirLock::acquire(&self.dir).map_err(|e| e.to_string())?;
        let (index, mut state) = self.open()?;
        if state.dir_mtime_ns == dir_mtime && dir_mtime != 0 {
            return Ok(index);
        }
        let (_, f) = schema();
        let mut w: IndexWriter = index
            .writer_with_num_threads(1, 30_000_000)
            .map_err(|e| e.to_string())?;
        let mut seen: BTreeMap<String, (u128, u64)> = BTreeMap::new();
        let rd = std::fs::read_dir(&self.conversations).map_err(|e| e.to_string())?;
        for e in rd.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json") || name.starts_with('.') {
                continue;
            }
            let Ok(md) = e.metadata() else {
                continue;
            };
            let now = (crate::util::mtime_ns(&md), md.len());
            if state.files.get(&name) == Some(&now) {
                seen.insert(name, now);
                continue;
            }
            w.delete_term(Term::from_field_text(f.file, &name));
            let path = e.path();
            // An unreadable file is the listing's to report; it is not searchable.
            let (Ok(s), Ok(conv)) = (summary_of(&path), Store::load_path(&path)) else {
                seen.insert(name, now);
                continue;
            };
            let mut body = conv.title.clone();
            for m in &conv.messages {
                body.push('\n');
                body.push_str(&m.all_text());
            }
            w.add_document(doc!(
                f.file => name.as_str(),
                f.body => body,
                f.id => s.id,
                f.title => s.title,
                f.created => s.created,
                f.updated => s.updated,
                f.models => s.models.join("\n"),
                f.turns => s.turns as u64,
                f.cost => s.cost_usd,
                f.unpriced => s.unpriced_turns as u64,
                f.mtime => now.0 as u64,
                f.newer => u64::from(s.newer_version.unwrap_or(0)),
                f.forked => s
                    .forked_from
                    .as_ref()
                    .and_then(|x| serde_json::to_string(x).ok())
                    .unwrap_or_default(),
            ))
            .map_err(|e| e.to_string())?;
            seen.insert(name, now);
        }
        for gone in state.files.keys().filter(|k| !seen.contains_key(*k)) {
            w.delete_term(Term::from_field_text(f.file, gone));
        }
        w.commit().map_err(|e| e.to_string())?;
        state.files = seen;
        state.dir_mtime_ns = dir_mtime;
        let state_json = serde_json::to_vec(&state).map_err(|e| e.to_string())?;
        crate::util::write_atomic(&self.state_path(), &state_json).map_err(|e| e.to_string())?;
        // Written last: a stamp that matches always has its state and index beside it.
        crate::util::write_atomic(&self.stamp_path(), dir_mtime.to_string().as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(index)
    }

    /// The conversations matching every word of `query`, best first.
    pub fn search(&self, query: &[String]) -> Result<Vec<Summary>, String> {
        let index = self.sync()?;
        let (_, f) = schema();
        let reader = index.reader().map_err(|e| e.to_string())?;
        let searcher = reader.searcher();
        let clauses: Vec<(Occur, Box<dyn Query>)> = query
            .iter()
            .map(|w| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(
                    Term::from_field_text(f.body, w),
                    IndexRecordOption::WithFreqs,
                ));
                (Occur::Must, q)
            })
            .collect();
        let q = BooleanQuery::new(clauses);
        let limit = (searcher.num_docs() as usize).max(1);
        let hits = searcher
            .search(&q, &TopDocs::with_limit(limit).order_by_score())
            .map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(hits.len());
        for (_, addr) in hits {
            let d: TantivyDocument = searcher.doc(addr).map_err(|e| e.to_string())?;
            let s = |fl: Field| {
                d.get_first(fl)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let n = |fl: Field| d.get_first(fl).and_then(|v| v.as_u64()).unwrap_or(0);
            let models = s(f.models);
            let mtime = n(f.mtime);
            out.push(Summary {
                id: s(f.id),
                title: s(f.title),
                created: s(f.created),
                updated: s(f.updated),
                models: models
                    .split('\n')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
                turns: n(f.turns) as usize,
                cost_usd: d.get_first(f.cost).and_then(|v| v.as_f64()).unwrap_or(0.0),
                unpriced_turns: n(f.unpriced) as usize,
                path: self.conversations.join(s(f.file)),
                modified: Some(std::time::UNIX_EPOCH + std::time::Duration::from_nanos(mtime)),
                newer_version: Some(n(f.newer) as u32).filter(|v| *v > 0),
                forked_from: serde_json::from_str(&s(f.forked)).ok(),
            });
        }
        Ok(out)
    }
}
