//! One JSON file per conversation. Writes are atomic (temp file in the same directory, fsync,
//! rename, fsync of the directory), so a kill at any moment leaves the old or the new file.
//! A file that does not parse is reported by path and never overwritten.

use super::model::{Conversation, VERSION};
use crate::provider::Role;
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};

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
}

/// A file that could not be read or parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Broken {
    pub path: PathBuf,
    pub error: String,
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
}

#[derive(Deserialize)]
struct LiteMsg {
    role: Role,
    #[serde(default)]
    example: bool,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    cost_usd: Option<f64>,
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

    /// Writes `conv` atomically. Refuses to replace a file that exists but does not parse.
    pub fn save(&self, conv: &Conversation) -> Result<PathBuf, StoreError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.path_of(&conv.id);
        if let Ok(existing) = std::fs::read(&path)
            && let Err(e) = serde_json::from_slice::<serde_json::Value>(&existing)
        {
            return Err(StoreError::Parse {
                path,
                error: e.to_string(),
            });
        }
        let json = serde_json::to_vec_pretty(conv).map_err(|e| StoreError::Parse {
            path: path.clone(),
            error: e.to_string(),
        })?;
        let tmp = self
            .dir
            .join(format!(".{}.json.tmp-{}", conv.id, std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            // Make the rename itself durable.
            if let Ok(d) = std::fs::File::open(&self.dir) {
                let _ = d.sync_all();
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            StoreError::Io {
                path: path.clone(),
                source: e,
            }
        })?;
        Ok(path)
    }

    pub fn load_path(path: &Path) -> Result<Conversation, StoreError> {
        let bytes = std::fs::read(path).map_err(io(path))?;
        let conv: Conversation = serde_json::from_slice(&bytes).map_err(|e| StoreError::Parse {
            path: path.to_path_buf(),
            error: e.to_string(),
        })?;
        if conv.version > VERSION {
            return Err(StoreError::Parse {
                path: path.to_path_buf(),
                error: format!(
                    "file version {} is newer than this charla understands ({VERSION})",
                    conv.version
                ),
            });
        }
        Ok(conv)
    }

    fn files(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return vec![];
        };
        rd.filter_map(Result::ok)
            .map(|e| e.path())
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
            let parsed = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<LiteConv>(&b).map_err(|e| e.to_string()));
            match parsed {
                Ok(c) if c.version <= VERSION => {
                    let mut models: Vec<String> = Vec::new();
                    let (mut turns, mut cost, mut unpriced) = (0, 0.0, 0);
                    for m in c
                        .messages
                        .iter()
                        .filter(|m| m.role == Role::Assistant && !m.example)
                    {
                        turns += 1;
                        match m.cost_usd {
                            Some(x) => cost += x,
                            None => unpriced += 1,
                        }
                        if let Some(model) = &m.model
                            && !models.contains(model)
                        {
                            models.push(model.clone());
                        }
                    }
                    out.push(Summary {
                        id: c.id,
                        title: c.title,
                        created: c.created,
                        updated: c.updated,
                        models,
                        turns,
                        cost_usd: cost,
                        unpriced_turns: unpriced,
                        path,
                    });
                }
                Ok(c) => broken.push(Broken {
                    path,
                    error: format!("file version {} is newer than this charla", c.version),
                }),
                Err(error) => broken.push(Broken { path, error }),
            }
        }
        out.sort_by(|a, b| b.updated.cmp(&a.updated).then_with(|| b.id.cmp(&a.id)));
        broken.sort_by(|a, b| a.path.cmp(&b.path));
        (out, broken)
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

    pub fn delete(&self, id: &str) -> Result<(), StoreError> {
        let p = self.path_of(id);
        std::fs::remove_file(&p).map_err(io(&p))
    }

    /// Conversations whose title or any message contains every word (case-insensitive).
    pub fn search(&self, words: &str) -> Vec<Summary> {
        let words: Vec<String> = words.split_whitespace().map(str::to_lowercase).collect();
        let (list, _) = self.list();
        if words.is_empty() {
            return list;
        }
        list.into_iter()
            .filter(|s| {
                let Ok(c) = Self::load_path(&s.path) else {
                    return false;
                };
                let mut hay = c.title.to_lowercase();
                for m in &c.messages {
                    hay.push('\n');
                    hay.push_str(&m.content.to_lowercase());
                }
                words.iter().all(|w| hay.contains(w))
            })
            .collect()
    }
}
