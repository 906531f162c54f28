//! Presets: a system prompt, few-shot example exchanges, variables with defaults, and an
//! optional default model. Shipped in `assets/presets/`; user presets in the config dir's
//! `presets/` override shipped ones by name.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SHIPPED: &[(&str, &str)] = &[
    (
        "summarise-abstract.toml",
        include_str!("../assets/presets/summarise-abstract.toml"),
    ),
    (
        "review-genre.toml",
        include_str!("../assets/presets/review-genre.toml"),
    ),
    (
        "code-review.toml",
        include_str!("../assets/presets/code-review.toml"),
    ),
    (
        "translate.toml",
        include_str!("../assets/presets/translate.toml"),
    ),
    (
        "context-only.toml",
        include_str!("../assets/presets/context-only.toml"),
    ),
    (
        "explore.toml",
        include_str!("../assets/presets/explore.toml"),
    ),
];

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub user: String,
    pub assistant: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub system: String,
    #[serde(default)]
    pub examples: Vec<Example>,
    /// Variable names and their defaults (an empty default means the user must give it).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// `provider/model` to use unless the user picks one.
    pub model: Option<String>,
    /// The JSON Schema its answers must follow: JSON text or concise fields (see `--schema`).
    pub schema: Option<String>,
    /// Tools its conversations offer the model (built-in or `[tools.NAME]`).
    #[serde(default)]
    pub tools: Vec<String>,
    /// MCP servers whose tools its conversations offer.
    #[serde(default)]
    pub mcp: Vec<String>,
    /// The collection its questions are answered from (`charla rag`).
    pub rag: Option<String>,
    #[serde(skip)]
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PresetError {
    #[error("{0}: {1}")]
    Malformed(String, String),
    #[error("no preset named '{0}' (see `charla presets`)")]
    NotFound(String),
    #[error("preset '{preset}' needs a value for {{{{{var}}}}}: pass --var {var}=VALUE")]
    MissingVar { preset: String, var: String },
    #[error("preset '{preset}' has no variable '{var}' (it has: {known})")]
    UnknownVar {
        preset: String,
        var: String,
        known: String,
    },
}

/// A preset with its variables filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub name: String,
    pub system: String,
    pub examples: Vec<Example>,
    pub model: Option<String>,
    pub schema: Option<serde_json::Value>,
    pub tools: Vec<String>,
    pub mcp: Vec<String>,
    pub rag: Option<String>,
}

fn parse(src: &str, source: &str) -> Result<Preset, PresetError> {
    let mut p: Preset = toml::from_str(src)
        .map_err(|e| PresetError::Malformed(source.to_string(), e.to_string()))?;
    p.source = source.to_string();
    Ok(p)
}

/// All presets by name: shipped ones, then the user's (which override by name). Files that do
/// not parse are returned as errors, and the others still load.
pub fn load_all(user_dir: &Path) -> (BTreeMap<String, Preset>, Vec<PresetError>) {
    let mut out = BTreeMap::new();
    let mut errors = Vec::new();
    for (file, src) in SHIPPED {
        match parse(src, &format!("(built-in) {file}")) {
            Ok(p) => {
                out.insert(p.name.clone(), p);
            }
            Err(e) => errors.push(e),
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(user_dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    for path in files {
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path)
            .map_err(|e| PresetError::Malformed(shown.clone(), e.to_string()))
            .and_then(|s| parse(&s, &shown))
        {
            Ok(p) => {
                out.insert(p.name.clone(), p);
            }
            Err(e) => errors.push(e),
        }
    }
    (out, errors)
}

impl Preset {
    /// Fills `{{var}}` from `vars`, then defaults. Every variable used must have a value.
    pub fn render(&self, vars: &BTreeMap<String, String>) -> Result<Rendered, PresetError> {
        for k in vars.keys() {
            if !self.variables.contains_key(k) {
                return Err(PresetError::UnknownVar {
                    preset: self.name.clone(),
                    var: k.clone(),
                    known: if self.variables.is_empty() {
                        "none".into()
                    } else {
                        self.variables
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                });
            }
        }
        let fill = |text: &str| -> Result<String, PresetError> {
            let mut out = String::with_capacity(text.len());
            let mut rest = text;
            while let Some(start) = rest.find("{{") {
                out.push_str(&rest[..start]);
                let after = &rest[start + 2..];
                let Some(end) = after.find("}}") else {
                    out.push_str(&rest[start..]);
                    return Ok(out);
                };
                let name = after[..end].trim();
                let value = vars
                    .get(name)
                    .or_else(|| self.variables.get(name))
                    .filter(|v| !v.is_empty());
                match value {
                    Some(v) => out.push_str(v),
                    None => {
                        return Err(PresetError::MissingVar {
                            preset: self.name.clone(),
                            var: name.to_string(),
                        });
                    }
                }
                rest = &after[end + 2..];
            }
            out.push_str(rest);
            Ok(out)
        };
        Ok(Rendered {
            name: self.name.clone(),
            system: fill(&self.system)?,
            examples: self
                .examples
                .iter()
                .map(|e| {
                    Ok(Example {
                        user: fill(&e.user)?,
                        assistant: fill(&e.assistant)?,
                    })
                })
                .collect::<Result<_, PresetError>>()?,
            model: self.model.clone(),
            schema: self
                .schema
                .as_deref()
                .map(|s| crate::schema::parse_inline(s, false))
                .transpose()
                .map_err(|e| PresetError::Malformed(self.source.clone(), format!("schema: {e}")))?,
            tools: self.tools.clone(),
            mcp: self.mcp.clone(),
            rag: self.rag.clone(),
        })
    }
}

impl Rendered {
    /// Puts this preset on `conv`: its name, system prompt and example exchanges (replacing any
    /// earlier examples). Returns the preset's default model, if it has one.
    pub fn apply(self, conv: &mut crate::conversation::Conversation) -> Option<String> {
        use crate::conversation::Message;
        use crate::provider::Role;
        conv.messages.retain(|m| !m.example);
        conv.preset = Some(self.name);
        conv.system_prompt = (!self.system.is_empty()).then_some(self.system);
        if self.schema.is_some() {
            conv.schema = self.schema;
        }
        for t in self.tools {
            if !conv.tools.contains(&t) {
                conv.tools.push(t);
            }
        }
        for m in self.mcp {
            if !conv.mcp.contains(&m) {
                conv.mcp.push(m);
            }
        }
        if self.rag.is_some() {
            conv.rag = self.rag;
        }
        let examples = self.examples.into_iter().flat_map(|e| {
            [
                Message::example(Role::User, e.user),
                Message::example(Role::Assistant, e.assistant),
            ]
        });
        // Examples go first: they are sent before the real questions.
        let rest = std::mem::take(&mut conv.messages);
        conv.messages = examples.chain(rest).collect();
        self.model
    }
}

/// Parses `k=v` pairs from `--var`.
pub fn parse_vars(pairs: &[String]) -> Result<BTreeMap<String, String>, String> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| format!("--var {p:?}: expected NAME=VALUE"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_presets_parse() {
        let (all, errors) = load_all(Path::new("/nonexistent"));
        assert!(errors.is_empty(), "{errors:?}");
        for n in [
            "summarise-abstract",
            "review-genre",
            "code-review",
            "translate",
            "context-only",
        ] {
            assert!(all.contains_key(n), "{n}");
        }
        let genre = &all["review-genre"];
        assert_eq!(genre.examples.len(), 4);
        let answers: Vec<&str> = genre
            .examples
            .iter()
            .map(|e| e.assistant.as_str())
            .collect();
        assert_eq!(answers[0], r#"{"genre": "Action"}"#);
        let schema = genre
            .render(&BTreeMap::new())
            .expect("render")
            .schema
            .expect("schema");
        for a in answers {
            assert!(crate::schema::check(a, &schema).valid, "{a}");
        }
        assert!(!crate::schema::check(r#"{"genre": "Horror"}"#, &schema).valid);
    }

    #[test]
    fn variables_fill_with_defaults_and_overrides() {
        let (all, _) = load_all(Path::new("/nonexistent"));
        let p = &all["summarise-abstract"];
        let r = p.render(&BTreeMap::new()).expect("defaults");
        assert!(r.system.contains("at most 3 sentences"), "{}", r.system);
        let r = p
            .render(&parse_vars(&["max_sentences=2".into()]).expect("vars"))
            .expect("override");
        assert!(r.system.contains("at most 2 sentences"));
        let e = p
            .render(&parse_vars(&["nope=1".into()]).expect("vars"))
            .expect_err("unknown");
        assert!(matches!(e, PresetError::UnknownVar { .. }));
        let t = &all["translate"];
        assert!(t.render(&BTreeMap::new()).is_ok());
    }

    #[test]
    fn missing_variable_and_malformed_user_file() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("bad.toml"), "name = \"bad\"\nsystem = [\n").expect("write");
        std::fs::write(
            dir.path().join("need.toml"),
            "name = \"need\"\nsystem = \"Use {{lang}}\"\n[variables]\nlang = \"\"\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("mine.toml"),
            "name = \"translate\"\nsystem = \"mine\"\n",
        )
        .expect("write");
        let (all, errors) = load_all(dir.path());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("bad.toml"), "{}", errors[0]);
        assert_eq!(
            all["translate"].system, "mine",
            "user preset overrides the shipped one"
        );
        let e = all["need"].render(&BTreeMap::new()).expect_err("missing");
        assert_eq!(
            e.to_string(),
            "preset 'need' needs a value for {{lang}}: pass --var lang=VALUE"
        );
    }
}
