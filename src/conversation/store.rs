//! One JSON file per conversation. Writes are atomic (a temp file of its own in the same
//! directory, fsync, rename, fsync of the directory), so a kill at any moment leaves the old or
//! the new file. A file that does not parse is reported by path and never overwritten.
//!
//! Several charla processes may use one conversation (a TUI and `charla ask -c`, or many
//! `ask -c` at once): every save takes the directory's advisory lock (`.lock`), reads the file
//! again and merges the messages another process appended since this one read it, so no turn
//! is ever lost. A new conversation's file is created only where none exists (another id is
//! picked when one does). Temp files left by a killed writer are removed by the next `list`.

use super::model::{Conversation, Message, VERSION};
use crate::provider::Role;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
}

/// What `charla list` shows of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub id: String,
    pub title: String,
    pub created: String,
    pub updated: String,
    pub models: Vec<String>,
    pub turns: usize,
    pub cost_usd: f64,
    pub unpriced_turns: usize,
    pub path: PathBuf,
    pub modified: Option<SystemTime>,
    /// A newer charla wrote it: it opens read-only.
    pub newer_version: Option<u32>,
    /// It is a fork of another conversation.
    pub forked_from: Option<super::ForkedFrom>,
}

/// A file that could not be read or parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    pub path: PathBuf,
    pub error: String,
    pub modified: Option<SystemTime>,
}

/// What a save did besides writing.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub path: PathBuf,
    /// Messages another process had appended, merged in (they are now in the conversation).
    pub merged: usize,
    /// The id the conversation had before its file was created under another one (the first
    /// pick was taken).
    pub renamed_from: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a charla conversation ({error}); the file was left as it is")]
    Parse { path: PathBuf, error: String },
    #[error("no conversation matches '{0}'")]
    NotFound(String),
    #[error("'{0}' matches several conversations: {1}")]
    Ambiguous(String, String),
    #[error("{path}: {error}; the file was left as it is")]
    Invalid { path: PathBuf, error: String },
}

// Lightweight view for listing: contents are skipped without being allocated.
#[derive(Deserialize)]
struct LiteConv {
    version: u32,
    id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    created: String,
    #[serde(default)]
    updated: String,
    #[serde(default)]
    messages: Vec<LiteMsg>,
    #[serde(default)]
    forked_from: Option<super::ForkedFrom>,
}

#[derive(Deserialize)]
struct LiteMsg {
    #[serde(default)]
    id: String,
    role: Role,
    #[serde(default)]
    example: bool,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    cost_usd: Option<f64>,
    #[serde(default)]
    sent_at: Option<String>,
    #[serde(default)]
    alternatives: Vec<LiteAlt>,
}

/// An alternative answer, as the listing reads it: what it cost, and its branch.
#[derive(Deserialize)]
struct LiteAlt {
    #[serde(default)]
    cost_usd: Option<f64>,
    #[serde(default)]
    sent_at: Option<String>,
    #[serde(default)]
    following: Vec<LiteMsg>,
}

impl LiteConv {
    /// How many first messages a fork took from its origin.
    fn inherited(&self) -> usize {
        self.forked_from
            .as_ref()
            .and_then(|f| self.messages.iter().position(|m| m.id == f.message))
            .map_or(0, |i| i + 1)
    }
}

impl LiteMsg {
    /// What this message and the alternatives it keeps cost: (sent at, USD) each.
    fn costs(&self, out: &mut Vec<(Option<String>, f64)>) {
        if self.role != Role::Assistant || self.example {
            return;
        }
        if let Some(x) = self.cost_usd {
            out.push((self.sent_at.clone(), x));
        }
        for a in &self.alternatives {
            if let Some(x) = a.cost_usd {
                out.push((a.sent_at.clone(), x));
            }
            for m in &a.following {
                m.costs(out);
            }
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Store {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    pub fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Saves `conv`: creates its file if it has none (picking another id if that file name is
    /// taken), else merges in what other processes appended to the file since `conv` was read,
    /// then writes atomically. Refuses to replace a file that does not parse or is newer than
    /// this charla. On success `conv` holds what was written (merged turns included).
    pub fn save(&self, conv: &mut Conversation) -> Result<Saved, StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let _lock = DirLock::acquire(&self.dir)?;
        let mut renamed_from = None;
        let mut merged = 0;
        let path = match conv.origin.path.clone() {
            None => {
                if !crate::util::is_plain_id(&conv.id) {
                    renamed_from = Some(std::mem::replace(&mut conv.id, crate::util::new_id()));
                }
                // Under the lock, no other charla creates a file between this check and the
                // rename.
                while self.path_of(&conv.id).exists() {
                    let old = std::mem::replace(&mut conv.id, crate::util::new_id());
                    renamed_from.get_or_insert(old);
                }
                self.path_of(&conv.id)
            }
            Some(path) => {
                match std::fs::read(&path) {
                    Ok(bytes) => {
                        let mut disk: Conversation =
                            serde_json::from_slice(&bytes).map_err(|e| StoreError::Parse {
                                path: path.clone(),
                                error: e.to_string(),
                            })?;
                        check_version(&path, disk.version)?;
                        disk.assign_ids();
                        merged = merge_foreign(conv, &disk.messages);
                    }
                    // Deleted meanwhile: this save puts it back.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StoreError::Io { path, source: e }),
                }
                path
            }
        };
        if let Some(why) = conv.read_only() {
            return Err(StoreError::Invalid { path, error: why });
        }
        // A file read as an older version is written as this one (it changed: it is saved).
        conv.version = VERSION;
        self.write_atomic(&path, conv)?;
        conv.origin.path = Some(path.clone());
        conv.origin.known = Arc::new(conv.message_ids());
        Ok(Saved {
            path,
            merged,
            renamed_from,
        })
    }

    fn write_atomic(&self, path: &Path, conv: &Conversation) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(conv).map_err(|e| StoreError::Parse {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
        // A name of its own per save: two saves never share a temp file.
        let tmp = self.dir.join(format!(
            ".{}.json.tmp-{}-{}",
            conv.id,
            std::process::id(),
            &crate::util::random_hex()[..8]
        ));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            // Make the rename itself durable.
            if let Ok(d) = std::fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        })
    }

    /// Reads a conversation file. Its `id` must be plain (letters, digits, `-`) and match the
    /// file name: an id is never trusted as a path.
    pub fn load_path(path: &Path) -> Result<Conversation, StoreError> {
        let bytes = std::fs::read(path).map_err(io(path))?;
        Self::parse(path, &bytes)
    }

    /// [`Store::load_path`] on bytes already read (no I/O; fuzzed). A file of a newer
    /// version than this charla knows opens read-only ([`Conversation::read_only`]): shown,
    /// exported, never written.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Conversation, StoreError> {
        let mut conv: Conversation =
            serde_json::from_slice(bytes).map_err(|e| StoreError::Parse {
                path: path.to_path_buf(),
                error: e.to_string(),
            })?;
        check_id(path, &conv.id).map_err(|error| StoreError::Invalid {
            path: path.to_path_buf(),
            error,
        })?;
        if conv.version > VERSION {
            conv.origin.newer_version = Some(conv.version);
        } else if let Some((i, kind)) = conv.messages.iter().enumerate().find_map(|(i, m)| {
            m.parts.iter().find_map(|p| match p {
                crate::parts::Part::Unknown(v) => Some((
                    i,
                    v.get("type")
                        .and_then(|t| t.as_str())
                        .unwrap_or("?")
                        .to_string(),
                )),
                _ => None,
            })
        }) {
            return Err(StoreError::Invalid {
                path: path.to_path_buf(),
                error: format!(
                    "message {} has a part of unknown type {:?} in a version {} file",
                    i + 1,
                    crate::sanitize::sanitize(&kind),
                    conv.version
                ),
            });
        }
        conv.assign_ids();
        conv.origin.path = Some(path.to_path_buf());
        conv.origin.known = Arc::new(conv.message_ids());
        Ok(conv)
    }

    /// Removes temp files that no save is writing: every writer holds the directory lock while
    /// its temp file exists, so with the lock free they are left over from a killed process.
    fn clean_stale_temps(&self, names: &[PathBuf]) {
        let temps: Vec<&PathBuf> = names
            .iter()
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with('.') && n.contains(".json.tmp-"))
            })
            .collect();
        if temps.is_empty() {
            return;
        }
        if let Ok(Some(_lock)) = DirLock::try_acquire(&self.dir) {
            for t in temps {
                let _ = std::fs::remove_file(t);
            }
        }
    }

    fn files(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        let all: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        self.clean_stale_temps(&all);
        all.into_iter()
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && !p
                        .file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
            })
            .collect()
    }

    /// Every conversation, most recently updated first, and the files that did not parse.
    pub fn list(&self) -> (Vec<Summary>, Vec<Broken>) {
        let mut out = Vec::new();
        let mut broken = Vec::new();
        for path in self.files() {
            match summary_of(&path) {
                Ok(s) => out.push(s),
                Err(b) => broken.push(b),
            }
        }
        out.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| b.id.cmp(&a.id)));
        broken.sort_by(|a, b| a.path.cmp(&b.path));
        (out, broken)
    }

    /// Every readable conversation's (id, updated, [(answer sent_at, cost)]) for the spend caps
    /// (the cheap listing parse; unpriced answers are left out).
    #[allow(clippy::type_complexity)]
    pub fn answer_costs(&self) -> Vec<(String, String, Vec<(Option<String>, f64)>)> {
        let mut out = Vec::new();
        for path in self.files() {
            let Ok(c) = read_lite(&path) else {
                continue;
            };
            let mut answers = Vec::new();
            for m in &c.messages[c.inherited()..] {
                m.costs(&mut answers);
            }
            out.push((c.id, c.updated, answers));
        }
        out
    }

    /// Finds a conversation by id, unique id prefix, or `last`.
    pub fn find(&self, key: &str) -> Result<Conversation, StoreError> {
        let (list, _) = self.list();
        if key == "last" || key == "latest" {
            let s = list
                .first()
                .ok_or_else(|| StoreError::NotFound(key.to_string()))?;
            return Self::load_path(&s.path);
        }
        if !crate::util::is_plain_id(key) {
            return Err(StoreError::NotFound(key.to_string()));
        }
        let exact = self.path_of(key);
        if exact.exists() {
            return Self::load_path(&exact);
        }
        let matches: Vec<&Summary> = list.iter().filter(|s| s.id.starts_with(key)).collect();
        match matches.as_slice() {
            [] => Err(StoreError::NotFound(key.to_string())),
            [one] => Self::load_path(&one.path),
            many => Err(StoreError::Ambiguous(
                key.to_string(),
                many.iter()
                    .take(5)
                    .map(|s| s.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            )),
        }
    }

    /// Deletes the file `conv` was read from (never a path made from its id).
    pub fn delete(&self, conv: &Conversation) -> Result<(), StoreError> {
        let Some(p) = conv.origin.path.as_ref() else {
            return Err(StoreError::NotFound(conv.id.clone()));
        };
        let _lock = DirLock::acquire(&self.dir)?;
        std::fs::remove_file(p).map_err(io(p))
    }

    /// Conversations whose title or messages hold every word of `query` (letters and digits,
    /// case-insensitive), best first: from the history index (`history.rs`), which catches up
    /// with the files first; if the index cannot be used, every file is read, with the same
    /// matches.
    pub fn search(&self, query: &str) -> Vec<Summary> {
        let words: Vec<String> = super::history::words(query).collect();
        if words.is_empty() {
            return self.list().0;
        }
        match super::history::History::for_store(self).search(&words) {
            Ok(found) => found,
            Err(_) => self.scan_search(&words),
        }
    }

    /// [`Store::search`] by reading every file (the fallback, and the reference the index is
    /// tested against), most recently updated first.
    pub fn scan_search(&self, words: &[String]) -> Vec<Summary> {
        let (list, _) = self.list();
        list.into_iter()
            .filter(|s| {
                let Ok(c) = Self::load_path(&s.path) else {
                    return false;
                };
                let mut hay = c.title.clone();
                for m in &c.messages {
                    hay.push('\n');
                    hay.push_str(&m.all_text());
                }
                super::history::matches(words, &hay)
            })
            .collect()
    }

    /// The directory of the conversation files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The listing's row of the conversation file at `path` (the cheap parse), or why not.
pub(crate) fn summary_of(path: &Path) -> Result<Summary, Broken> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let c = read_lite(path).map_err(|error| Broken {
        path: path.to_path_buf(),
        error,
        modified,
    })?;
    let mut models: Vec<String> = Vec::new();
    let (mut turns, mut cost, mut unpriced) = (0, 0.0, 0);
    let inherited = c.inherited();
    for (i, m) in c
        .messages
        .iter()
        .enumerate()
        .filter(|(_, m)| m.role == Role::Assistant && !m.example)
    {
        turns += 1;
        if let Some(model) = &m.model
            && !models.contains(model)
        {
            models.push(model.clone());
        }
        if i < inherited {
            continue; // a fork's: paid for in its origin
        }
        if m.cost_usd.is_none() {
            unpriced += 1;
        }
        let mut paid = Vec::new();
        m.costs(&mut paid);
        cost += paid.iter().map(|(_, x)| x).sum::<f64>();
    }
    Ok(Summary {
        id: c.id,
        title: c.title,
        created: c.created,
        updated: c.updated,
        models,
        turns,
        cost_usd: cost,
        unpriced_turns: unpriced,
        path: path.to_path_buf(),
        modified,
        newer_version: (c.version > VERSION).then_some(c.version),
        forked_from: c.forked_from,
    })
}

/// A conversation file read with the listing's cheap parse (contents skipped), its id checked.
fn read_lite(path: &Path) -> Result<LiteConv, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let c: LiteConv = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
    check_id(path, &c.id)?;
    Ok(c)
}

/// A file from a newer charla is refused by name (never misread, never rewritten).
fn check_version(path: &Path, version: u32) -> Result<(), StoreError> {
    if version > VERSION {
        return Err(StoreError::Invalid {
            path: path.to_path_buf(),
            error: format!(
                "file version {version} is newer than this charla understands ({VERSION})"
            ),
        });
    }
    Ok(())
}

/// Checks that a file's `id` is plain and is its file name.
fn check_id(path: &Path, id: &str) -> Result<(), String> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if !crate::util::is_plain_id(id) {
        return Err(format!(
            "its id {:?} is not a plain id (letters, digits and '-')",
            crate::sanitize::sanitize(id)
        ));
    }
    if id != stem {
        return Err(format!(
            "its id '{id}' does not match the file name (a copied file? give it a new name and id)"
        ));
    }
    Ok(())
}

/// Merges into `conv` the messages of `disk` that it neither has nor knew of (appended by
/// another process), each placed after the message it followed on disk. Returns how many.
fn merge_foreign(conv: &mut Conversation, disk: &[Message]) -> usize {
    let ours: HashSet<&str> = conv.messages.iter().map(|m| m.id.as_str()).collect();
    let foreign: Vec<usize> = (0..disk.len())
        .filter(|&i| {
            !ours.contains(disk[i].id.as_str()) && !conv.origin.known.contains(&disk[i].id)
        })
        .collect();
    if foreign.is_empty() {
        return 0;
    }
    let foreign: HashSet<usize> = foreign.into_iter().collect();
    let mut out: Vec<Message> = Vec::with_capacity(conv.messages.len() + foreign.len());
    let mut pos: HashMap<String, usize> = HashMap::new();
    // Walk our messages; before each, nothing; after the one a foreign run followed on disk,
    // the run. Foreign messages before any shared one go first.
    let mut after: HashMap<Option<String>, Vec<Message>> = HashMap::new();
    let mut anchor: Option<String> = None;
    for (i, m) in disk.iter().enumerate() {
        if foreign.contains(&i) {
            after.entry(anchor.clone()).or_default().push(m.clone());
        } else if ours.contains(m.id.as_str()) {
            anchor = Some(m.id.clone());
        }
    }
    if let Some(run) = after.remove(&None) {
        out.extend(run);
    }
    for m in conv.messages.drain(..) {
        let id = m.id.clone();
        pos.insert(id.clone(), out.len());
        out.push(m);
        if let Some(run) = after.remove(&Some(id)) {
            out.extend(run);
        }
    }
    // Anchors we no longer have (removed here): their followers go at the end.
    for (_, run) in after {
        out.extend(run);
    }
    conv.messages = out;
    foreign.len()
}

/// The conversations directory's advisory lock (`.lock`), held for a read-merge-write.
pub(crate) struct DirLock {
    file: std::fs::File,
}

impl DirLock {
    fn open(dir: &Path) -> Result<std::fs::File, StoreError> {
        let p = dir.join(".lock");
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(io(&p))
    }

    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, StoreError> {
        let file = Self::open(dir)?;
        file.lock().map_err(io(&dir.join(".lock")))?;
        Ok(DirLock { file })
    }

    fn try_acquire(dir: &Path) -> Result<Option<DirLock>, StoreError> {
        let file = Self::open(dir)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(DirLock { file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&dir.join(".lock"))(e)),
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
