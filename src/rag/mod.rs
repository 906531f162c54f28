//! Retrieval over local files: named collections of files, split into passages
//! (`chunk.rs`), indexed for BM25 with tantivy under `<data dir>/rag/NAME/`, searched for a
//! question; the top passages go to the model as a `context` part, fenced and labelled with
//! their sources, and are saved with the question.
//!
//! A collection is `collection.json` (its roots and, per file, size, mtime, sha256 and
//! passage count: what a refresh compares) and `index/` (tantivy's segments). The index is
//! never the source of truth: a damaged one, or one of another format version, is rebuilt
//! from the files. tantivy's writer lock keeps two processes from indexing one collection at
//! once (the second is refused, and nothing is lost).

pub mod chunk;
pub mod vectors;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{Field, STORED, STRING, Schema, TEXT, Value};
use tantivy::{Index, IndexWriter, TantivyDocument, Term, doc};

/// The format of `collection.json` and the index's schema; another one is rebuilt.
pub const FORMAT: u32 = 1;

/// Indexing threads (this is a 2-core class of machine: both; tantivy splits its 100 MB heap
/// between them).
const WRITER_THREADS: usize = 2;

/// Settings (`[rag]` in the config).
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Passage size, in characters.
    pub chunk_chars: usize,
    /// Lines repeated where a passage was cut by size.
    pub overlap_lines: usize,
    /// Files larger than this are skipped (and counted).
    pub max_file_bytes: u64,
    /// How many passages a question gets at most, and their token budget.
    pub top_k: usize,
    pub context_tokens: u64,
}

impl Settings {
    pub fn of(cfg: &crate::config::Config) -> Settings {
        let r = cfg.file.rag.unwrap_or_default();
        Settings {
            chunk_chars: r.chunk_chars.unwrap_or(1500).max(200) as usize,
            overlap_lines: r.overlap_lines.unwrap_or(2) as usize,
            max_file_bytes: r.max_file_bytes.unwrap_or(10 * 1024 * 1024),
            top_k: r.top_k.unwrap_or(6).max(1) as usize,
            context_tokens: r.context_tokens.unwrap_or(3000),
        }
    }
}

/// What a refresh knows of an indexed file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileState {
    pub size: u64,
    pub mtime_ns: u128,
    pub sha256: String,
    pub passages: usize,
}

/// `collection.json`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Meta {
    pub format: u32,
    pub name: String,
    pub roots: Vec<PathBuf>,
    pub files: BTreeMap<String, FileState>,
    pub updated: String,
    /// Files skipped at the last refresh: binaries, over the size limit, unreadable.
    #[serde(default)]
    pub skipped: Skipped,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub binary: usize,
    pub too_large: Vec<String>,
    pub unreadable: Vec<String>,
}

impl Meta {
    pub fn passages(&self) -> usize {
        self.files.values().map(|f| f.passages).sum()
    }
    pub fn bytes(&self) -> u64 {
        self.files.values().map(|f| f.size).sum()
    }
}

/// What a refresh did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Files whose bytes were read (new, or size or mtime changed).
    pub read: usize,
    pub skipped: Skipped,
    /// The index was rebuilt (damaged, or another format): why.
    pub rebuilt: Option<String>,
}

/// One passage found for a query.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub path: String,
    pub start: u64,
    pub end: u64,
    pub score: f32,
    pub text: String,
}

struct Fields {
    path: Field,
    start: Field,
    end: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut sb = Schema::builder();
    let path = sb.add_text_field("path", STRING | STORED);
    let start = sb.add_u64_field("start", STORED);
    let end = sb.add_u64_field("end", STORED);
    let body = sb.add_text_field("body", TEXT | STORED);
    (
        sb.build(),
        Fields {
            path,
            start,
            end,
            body,
        },
    )
}

/// Where collections live.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("rag")
}

/// A collection name: letters, digits, `-`, `_`, `.` (it names a directory).
pub fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && !n.starts_with('.')
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub struct Collection {
    pub dir: PathBuf,
    pub meta: Meta,
}

fn err(name: &str, e: impl std::fmt::Display) -> String {
    format!("collection {name}: {e}")
}

impl Collection {
    fn meta_path(&self) -> PathBuf {
        self.dir.join("collection.json")
    }
    fn index_dir(&self) -> PathBuf {
        self.dir.join("index")
    }

    /// An existing collection.
    pub fn open(data_dir: &Path, name: &str) -> Result<Collection, String> {
        if !valid_name(name) {
            return Err(format!(
                "{name:?} is not a collection name (letters, digits, -, _ and .)"
            ));
        }
        let dir = dir(data_dir).join(name);
        let path = dir.join("collection.json");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!(
                "no collection named {name} (charla rag add {name} PATH… makes one; charla rag list shows them)"
            ),
            _ => format!("{}: {e}", path.display()),
        })?;
        let meta: Meta = serde_json::from_str(&text).map_err(|e| {
            format!(
                "{} cannot be read ({e}); `charla rag rm {name}` and add it again",
                path.display()
            )
        })?;
        Ok(Collection { dir, meta })
    }

    /// Opens `name`, or makes it empty.
    pub fn open_or_new(data_dir: &Path, name: &str) -> Result<Collection, String> {
        match Self::open(data_dir, name) {
            Ok(c) => Ok(c),
            Err(e) if e.starts_with("no collection named") => Ok(Collection {
                dir: dir(data_dir).join(name),
                meta: Meta {
                    format: FORMAT,
                    name: name.into(),
                    ..Meta::default()
                },
            }),
            Err(e) => Err(e),
        }
    }

    /// Every collection, by name.
    pub fn list(data_dir: &Path) -> Vec<Result<Collection, String>> {
        let Ok(rd) = std::fs::read_dir(dir(data_dir)) else {
            return vec![];
        };
        let mut names: Vec<String> = rd
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names.iter().map(|n| Self::open(data_dir, n)).collect()
    }

    fn open_index(&self) -> Result<Index, String> {
        Index::open_in_dir(self.index_dir()).map_err(|e| err(&self.meta.name, e))
    }

    /// Adds `roots` (checked to exist first) and indexes what changed under every root.
    pub fn add(&mut self, roots: &[PathBuf], s: Settings) -> Result<Report, String> {
        let mut new = Vec::new();
        for r in roots {
            let real = r
                .canonicalize()
                .map_err(|e| format!("{}: {e}", r.display()))?;
            if !self.meta.roots.contains(&real) {
                new.push(real);
            }
        }
        self.meta.roots.extend(new);
        self.refresh(s)
    }

    /// Re-reads the roots: new and changed files (by size and mtime, then sha256) are
    /// indexed again, deleted ones leave the index, the others are not read.
    pub fn refresh(&mut self, s: Settings) -> Result<Report, String> {
        let name = self.meta.name.clone();
        let mut report = Report::default();
        std::fs::create_dir_all(self.index_dir()).map_err(|e| err(&name, e))?;
        let (schema, f) = schema();
        // A damaged index, or one of another format, is rebuilt from the files.
        let index = match (self.meta.format == FORMAT, self.open_index()) {
            (true, Ok(i)) if i.schema() == schema => i,
            (format_ok, opened) => {
                if !self.meta.files.is_empty() || opened.is_ok() {
                    report.rebuilt = Some(if !format_ok {
                        "it was made by another version of charla".into()
                    } else {
                        match opened {
                            Ok(_) => "its schema is not this charla's".into(),
                            Err(e) => format!("it could not be opened ({e})"),
                        }
                    });
                }
                let _ = std::fs::remove_dir_all(self.index_dir());
                std::fs::create_dir_all(self.index_dir()).map_err(|e| err(&name, e))?;
                self.meta.files.clear();
                self.meta.format = FORMAT;
                Index::create_in_dir(self.index_dir(), schema.clone()).map_err(|e| err(&name, e))?
            }
        };
        let mut w: IndexWriter = match index.writer_with_num_threads(WRITER_THREADS, 100_000_000) {
            Ok(w) => w,
            Err(tantivy::TantivyError::LockFailure(..)) => {
                return Err(format!(
                    "another charla is indexing collection {name} right now; try again when it is done"
                ));
            }
            Err(e) => return Err(err(&name, e)),
        };
        let mut seen: BTreeMap<String, FileState> = BTreeMap::new();
        let mut skipped = Skipped::default();
        for root in self.meta.roots.clone() {
            if !root.exists() {
                skipped.unreadable.push(root.display().to_string());
                continue;
            }
            let walk = ignore::WalkBuilder::new(&root)
                .follow_links(false)
                .sort_by_file_name(|a, b| a.cmp(b))
                .build();
            for entry in walk {
                let Ok(entry) = entry else {
                    continue;
                };
                if !entry.file_type().is_some_and(|t| t.is_file()) {
                    continue;
                }
                let path = entry.path();
                let key = path.display().to_string();
                let Ok(md) = entry.metadata() else {
                    skipped.unreadable.push(key);
                    continue;
                };
                if md.len() > s.max_file_bytes {
                    skipped.too_large.push(key);
                    continue;
                }
                let mtime_ns = crate::util::mtime_ns(&md);
                let old = self.meta.files.get(&key);
                if let Some(o) = old
                    && o.size == md.len()
                    && o.mtime_ns == mtime_ns
                {
                    seen.insert(key, o.clone());
                    report.unchanged += 1;
                    continue;
                }
                report.read += 1;
                let bytes = match std::fs::read(path) {
                    Ok(b) => b,
                    Err(_) => {
                        skipped.unreadable.push(key);
                        continue;
                    }
                };
                if crate::util::looks_binary(&bytes) {
                    skipped.binary += 1;
                    continue;
                }
                let sha256 = crate::conversation::blobs::sha256_hex(&bytes);
                if let Some(o) = old
                    && o.sha256 == sha256
                {
                    let mut st = o.clone();
                    st.mtime_ns = mtime_ns;
                    seen.insert(key, st);
                    report.unchanged += 1;
                    continue;
                }
                if old.is_some() {
                    w.delete_term(Term::from_field_text(f.path, &key));
                    report.changed += 1;
                } else {
                    report.added += 1;
                }
                let text = String::from_utf8_lossy(&bytes);
                let pieces = chunk::split(&key, &text, s.chunk_chars, s.overlap_lines);
                for p in &pieces {
                    w.add_document(doc!(
                        f.path => key.as_str(),
                        f.start => p.start as u64,
                        f.end => p.end as u64,
                        f.body => p.text.as_str(),
                    ))
                    .map_err(|e| err(&name, e))?;
                }
                seen.insert(
                    key,
                    FileState {
                        size: md.len(),
                        mtime_ns,
                        sha256,
                        passages: pieces.len(),
                    },
                );
            }
        }
        for gone in self.meta.files.keys().filter(|k| !seen.contains_key(*k)) {
            w.delete_term(Term::from_field_text(f.path, gone));
            report.removed += 1;
        }
        w.commit().map_err(|e| err(&name, e))?;
        self.meta.files = seen;
        self.meta.skipped = skipped.clone();
        self.meta.updated = crate::util::now_rfc3339();
        report.skipped = skipped;
        self.save()?;
        drop(w);
        Ok(report)
    }

    /// Writes `collection.json` atomically.
    fn save(&self) -> Result<(), String> {
        let path = self.meta_path();
        let body = serde_json::to_vec_pretty(&self.meta).map_err(|e| e.to_string())?;
        crate::util::write_atomic(&path, &body).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The `k` best passages for `query` (BM25). A query with nothing to search for (only
    /// symbols) is an error that says so.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>, String> {
        let name = &self.meta.name;
        let index = self
            .open_index()
            .map_err(|e| format!("{e}; `charla rag refresh {name}` rebuilds it"))?;
        let (_, f) = schema();
        let reader = index.reader().map_err(|e| err(name, e))?;
        let searcher = reader.searcher();
        let parser = QueryParser::for_index(&index, vec![f.body]);
        // Words only: the query language's operators are not the user's to trip over.
        let words: String = query
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect();
        if words.split_whitespace().next().is_none() {
            return Err(format!(
                "nothing to search for in {query:?}: give some words"
            ));
        }
        let (q, _) = parser.parse_query_lenient(&words);
        let hits = searcher
            .search(&q, &TopDocs::with_limit(k).order_by_score())
            .map_err(|e| err(name, e))?;
        let mut out = Vec::new();
        for (score, addr) in hits {
            let d: TantivyDocument = searcher.doc(addr).map_err(|e| err(name, e))?;
            let text = |fl: Field| {
                d.get_first(fl)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string()
            };
            let num = |fl: Field| d.get_first(fl).and_then(|v| v.as_u64()).unwrap_or(0);
            out.push(Hit {
                path: text(f.path),
                start: num(f.start),
                end: num(f.end),
                score,
                text: text(f.body),
            });
        }
        Ok(out)
    }

    /// The passages to send with `query`: the best ones that fit in `budget` tokens.
    pub fn context(
        &self,
        query: &str,
        s: Settings,
        budget: u64,
    ) -> Result<crate::parts::Context, String> {
        let hits = self.search(query, s.top_k)?;
        Ok(self.pack(query, hits, budget))
    }

    /// Ranked hits packed into a context part within `budget` tokens (the best always goes).
    fn pack(&self, query: &str, hits: Vec<Hit>, budget: u64) -> crate::parts::Context {
        let mut used = 0u64;
        let mut passages = Vec::new();
        for h in hits {
            let t = crate::tokens::approx(&h.text) + 12;
            if used + t > budget && !passages.is_empty() {
                break;
            }
            used += t;
            passages.push(crate::parts::Passage {
                source: self.shown(&h.path),
                location: Some(format!("lines {}-{}", h.start, h.end)),
                text: h.text,
                score: Some((f64::from(h.score) * 100.0).round() / 100.0),
            });
        }
        crate::parts::Context {
            query: query.to_string(),
            passages,
            collection: Some(self.meta.name.clone()),
        }
    }

    /// A path as shown and cited: relative to its root's parent (`handbook/travel.md`).
    pub fn shown(&self, path: &str) -> String {
        let p = Path::new(path);
        for r in &self.meta.roots {
            if let Ok(rel) = p.strip_prefix(r.parent().unwrap_or(r)) {
                return rel.display().to_string();
            }
        }
        path.to_string()
    }

    /// Deletes the collection (its index and list; the files themselves are not touched).
    pub fn remove(data_dir: &Path, name: &str) -> Result<(), String> {
        let c = Self::open(data_dir, name)?;
        std::fs::remove_dir_all(&c.dir).map_err(|e| format!("{}: {e}", c.dir.display()))
    }
}

/// What making the vectors of a collection did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EmbedReport {
    pub model: String,
    /// Passages embedded now, and those whose vector was kept (their text did not change).
    pub embedded: usize,
    pub reused: usize,
    pub input_tokens: u64,
    /// What the embeddings cost (None: the model's price is unknown).
    pub cost_usd: Option<f64>,
}

/// The embedding model the config names, with its endpoint.
fn embedder(
    cfg: &crate::config::Config,
) -> Result<Option<(crate::config::ModelRef, crate::provider::stream::Endpoint)>, String> {
    let Some(m) = cfg.file.embedding_model.as_deref() else {
        return Ok(None);
    };
    let r = cfg
        .resolve_model(m)
        .map_err(|e| format!("embedding_model: {e}"))?;
    let ep = cfg
        .endpoint(&r.provider)
        .map_err(|e| format!("embedding_model {m}: {e}"))?;
    Ok(Some((r, ep)))
}

fn price(cfg: &crate::config::Config, m: &crate::config::ModelRef, tokens: u64) -> Option<f64> {
    let u = crate::provider::Usage {
        input_tokens: tokens,
        ..Default::default()
    };
    crate::pricing::turn_cost(
        cfg,
        m,
        &u,
        std::time::SystemTime::now(),
        crate::pricing::Outcome::Accepted,
    )
}

impl Collection {
    fn vectors_path(&self) -> PathBuf {
        self.dir.join("vectors.bin")
    }

    /// With an `embedding_model`, gives every passage a vector: those whose text did not
    /// change keep theirs; the rest are embedded in batches. None without a model.
    pub async fn embed(
        &self,
        cfg: &crate::config::Config,
        s: Settings,
    ) -> Result<Option<EmbedReport>, String> {
        let Some((model, ep)) = embedder(cfg)? else {
            return Ok(None);
        };
        let mut old = vectors::Vectors::load(&self.vectors_path());
        if old.model != model.to_string() {
            old = vectors::Vectors::default();
        }
        let known = old.by_sha();
        let mut entries: Vec<vectors::Entry> = Vec::new();
        let mut missing: Vec<usize> = Vec::new();
        for path in self.meta.files.keys() {
            let Ok(bytes) = std::fs::read(path) else {
                continue;
            };
            let text = String::from_utf8_lossy(&bytes);
            for p in chunk::split(path, &text, s.chunk_chars, s.overlap_lines) {
                let sha256 = crate::conversation::blobs::sha256_hex(p.text.as_bytes());
                let vector = known.get(sha256.as_str()).map(|v| (*v).clone());
                if vector.is_none() {
                    missing.push(entries.len());
                }
                entries.push(vectors::Entry {
                    path: path.clone(),
                    start: p.start as u64,
                    end: p.end as u64,
                    sha256,
                    text: p.text,
                    vector: vector.unwrap_or_default(),
                });
            }
        }
        let mut report = EmbedReport {
            model: model.to_string(),
            reused: entries.len() - missing.len(),
            ..Default::default()
        };
        for batch in missing.chunks(64) {
            let texts: Vec<String> = batch.iter().map(|i| entries[*i].text.clone()).collect();
            let got = crate::provider::embed::embed(&ep, &model.model, &texts)
                .await
                .map_err(|e| format!("embedding with {model}: {e}"))?;
            report.input_tokens += if got.input_tokens > 0 {
                got.input_tokens
            } else {
                texts.iter().map(|t| crate::tokens::approx(t)).sum()
            };
            for (i, v) in batch.iter().zip(got.vectors) {
                entries[*i].vector = v;
            }
            report.embedded += batch.len();
        }
        report.cost_usd = price(cfg, &model, report.input_tokens);
        vectors::Vectors {
            model: model.to_string(),
            entries,
        }
        .save(&self.vectors_path())?;
        Ok(Some(report))
    }

    /// The passages for `query`: BM25, fused by reciprocal rank with the nearest vectors when
    /// the collection has vectors of the configured `embedding_model` (the query is embedded:
    /// its tokens and cost come back too). BM25 alone otherwise, never an error for it.
    pub async fn retrieve(
        &self,
        cfg: &crate::config::Config,
        query: &str,
        s: Settings,
        budget: u64,
    ) -> Result<(crate::parts::Context, Option<EmbedReport>), String> {
        let vecs = match embedder(cfg)? {
            Some((m, ep)) => {
                let v = vectors::Vectors::load(&self.vectors_path());
                (v.model == m.to_string() && !v.entries.is_empty()).then_some((m, ep, v))
            }
            None => None,
        };
        let Some((model, ep, vecs)) = vecs else {
            return Ok((self.context(query, s, budget)?, None));
        };
        let lexical = self.search(query, 30).unwrap_or_default();
        let q = crate::provider::embed::embed(&ep, &model.model, &[query.to_string()])
            .await
            .map_err(|e| format!("embedding the question with {model}: {e}"))?;
        let qv = q.vectors.into_iter().next().unwrap_or_default();
        let near = vecs.nearest(&qv, 30);
        let key = |p: &str, start: u64| format!("{p}:{start}");
        let mut texts: std::collections::HashMap<String, Hit> = std::collections::HashMap::new();
        for h in &lexical {
            texts.insert(key(&h.path, h.start), h.clone());
        }
        for (e, score) in &near {
            texts.entry(key(&e.path, e.start)).or_insert(Hit {
                path: e.path.clone(),
                start: e.start,
                end: e.end,
                score: *score,
                text: e.text.clone(),
            });
        }
        let fused = vectors::fuse(&[
            lexical.iter().map(|h| key(&h.path, h.start)).collect(),
            near.iter().map(|(e, _)| key(&e.path, e.start)).collect(),
        ]);
        let hits: Vec<Hit> = fused
            .into_iter()
            .take(s.top_k)
            .filter_map(|(k, score)| {
                let mut h = texts.remove(&k)?;
                h.score = (score * 1000.0) as f32;
                Some(h)
            })
            .collect();
        let tokens = if q.input_tokens > 0 {
            q.input_tokens
        } else {
            crate::tokens::approx(query)
        };
        let report = EmbedReport {
            model: model.to_string(),
            embedded: 1,
            reused: 0,
            input_tokens: tokens,
            cost_usd: price(cfg, &model, tokens),
        };
        Ok((self.pack(query, hits, budget), Some(report)))
    }
}

/// The passages' token budget for a model with `context_window`: the setting, at most a
/// quarter of the window.
pub fn budget(s: Settings, context_window: Option<u64>) -> u64 {
    match context_window {
        Some(w) => s.context_tokens.min(w / 4).max(200),
        None => s.context_tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            chunk_chars: 400,
            overlap_lines: 1,
            max_file_bytes: 1000,
            top_k: 3,
            context_tokens: 1000,
        }
    }

    #[test]
    fn index_search_refresh_and_remove() {
        let data = tempfile::tempdir().expect("tmp");
        let tree = tempfile::tempdir().expect("tmp");
        let root = tree.path().join("handbook");
        std::fs::create_dir(&root).expect("dir");
        std::fs::write(
            root.join("travel.md"),
            "# Travel\n\n## Baggage\n\nAn infant travels with one bag of 10 kg and a stroller.\n\n## Meals\n\nVegetarian meals on request.\n",
        )
        .expect("w");
        std::fs::write(root.join("pay.md"), "# Pay\n\nSalaries are paid monthly.\n").expect("w");
        std::fs::write(root.join("logo.png"), [0u8, 1, 2, 0, 5]).expect("w");
        std::fs::write(root.join("big.log"), "x".repeat(5000)).expect("w");
        let mut c = Collection::open_or_new(data.path(), "notes").expect("new");
        let r = c.add(std::slice::from_ref(&root), settings()).expect("add");
        assert_eq!((r.added, r.read), (2, 3), "{r:?}");
        assert_eq!(r.skipped.binary, 1);
        assert_eq!(r.skipped.too_large.len(), 1);
        let hits = c.search("baggage for an infant", 3).expect("search");
        assert!(hits[0].path.ends_with("travel.md"), "{hits:?}");
        assert!(hits[0].text.contains("10 kg"));
        assert_eq!((hits[0].start, hits[0].end), (3, 5));
        assert_eq!(c.shown(&hits[0].path), "handbook/travel.md");
        assert!(c.search("?! ...", 3).is_err(), "symbols only");
        // Unchanged: nothing read.
        let mut c = Collection::open(data.path(), "notes").expect("open");
        let r = c.refresh(settings()).expect("refresh");
        assert_eq!(
            (r.read, r.unchanged, r.changed),
            (1, 2, 0),
            "only the binary is read again: {r:?}"
        );
        // One file changed, one removed.
        std::fs::write(
            root.join("pay.md"),
            "# Pay\n\nSalaries are paid weekly now.\n",
        )
        .expect("w");
        std::fs::remove_file(root.join("travel.md")).expect("rm");
        let r = c.refresh(settings()).expect("refresh");
        assert_eq!((r.changed, r.removed), (1, 1), "{r:?}");
        assert!(
            c.search("baggage", 3).expect("s").is_empty(),
            "removed from the index"
        );
        assert!(c.search("weekly", 3).expect("s")[0].text.contains("weekly"));
        Collection::remove(data.path(), "notes").expect("rm");
        assert!(Collection::open(data.path(), "notes").is_err());
    }

    #[test]
    fn a_second_writer_is_refused_and_a_damaged_index_rebuilt() {
        let data = tempfile::tempdir().expect("tmp");
        let tree = tempfile::tempdir().expect("tmp");
        std::fs::write(tree.path().join("a.md"), "# A\n\nalpha beta\n").expect("w");
        let mut c = Collection::open_or_new(data.path(), "x").expect("new");
        c.add(&[tree.path().to_path_buf()], settings())
            .expect("add");
        let index = c.open_index().expect("index");
        let held: IndexWriter = index
            .writer_with_num_threads(1, 15_000_000)
            .expect("writer");
        let e = c.refresh(settings()).err().unwrap_or_default();
        assert!(e.contains("another charla is indexing"), "{e}");
        drop(held);
        // Damage: the index's meta file is garbage.
        std::fs::write(c.index_dir().join("meta.json"), "{not json").expect("w");
        let r = c.refresh(settings()).expect("rebuilt");
        assert!(r.rebuilt.is_some(), "{r:?}");
        assert_eq!(r.added, 1);
        assert!(!c.search("alpha", 3).expect("s").is_empty());
    }
}
