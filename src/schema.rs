//! Structured answers, checked: a JSON Schema (given as JSON, a file, or a concise field list)
//! that each provider is asked to follow in its own way (see the wire modules), and a real
//! validator run on every answer. Pure.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What checking an answer against the schema found (saved with the answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub valid: bool,
    /// Each error with where in the answer it is (`/genres/0: 5 is not of type "string"`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// The schema of `spec`: a JSON Schema (text starting with `{`), a file holding one, or a
/// concise field list (`title, year int, genres: the film's genres`). `multi` asks for an
/// array of such objects (as `{"items": [...]}`, which every provider accepts at the top).
pub fn parse_spec(spec: &str, multi: bool) -> Result<Value, String> {
    let t = spec.trim();
    let schema = if t.starts_with('{') {
        serde_json::from_str(t).map_err(|e| format!("--schema is not valid JSON: {e}"))?
    } else if !t.contains(',') && std::path::Path::new(t).is_file() {
        let text = std::fs::read_to_string(t).map_err(|e| format!("{t}: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("{t}: not a JSON Schema ({e})"))?
    } else {
        concise(t)?
    };
    compile(&schema)?;
    Ok(if multi { wrap_multi(schema) } else { schema })
}

/// [`parse_spec`] without files: JSON text or concise fields only (no I/O; presets and the
/// chat screen's `/schema`).
pub fn parse_inline(spec: &str, multi: bool) -> Result<Value, String> {
    let t = spec.trim();
    let schema = if t.starts_with('{') {
        serde_json::from_str(t).map_err(|e| format!("not valid JSON: {e}"))?
    } else {
        concise(t)?
    };
    compile(&schema)?;
    Ok(if multi { wrap_multi(schema) } else { schema })
}

/// `name [type][: description]` fields separated by commas or new lines; types `str` (the
/// default), `int`, `float`, `bool`. Every field is required.
pub fn concise(spec: &str) -> Result<Value, String> {
    let mut props = serde_json::Map::new();
    let mut required = Vec::new();
    for field in spec
        .split([',', '\n'])
        .map(str::trim)
        .filter(|f| !f.is_empty())
    {
        let (head, desc) = match field.split_once(':') {
            Some((h, d)) => (h.trim(), Some(d.trim())),
            None => (field, None),
        };
        let mut words = head.split_whitespace();
        let name = words
            .next()
            .ok_or_else(|| format!("--schema: a field with no name in {field:?}"))?;
        let ty = match words.next().unwrap_or("str") {
            "str" | "string" => "string",
            "int" | "integer" => "integer",
            "float" | "number" => "number",
            "bool" | "boolean" => "boolean",
            other => {
                return Err(format!(
                    "--schema: field {name:?} has type {other:?}; the types are str, int, float, bool"
                ));
            }
        };
        if words.next().is_some() {
            return Err(format!(
                "--schema: {field:?}: write `name type: description` (the description after a colon)"
            ));
        }
        let mut p = json!({ "type": ty });
        if let Some(d) = desc.filter(|d| !d.is_empty()) {
            p["description"] = json!(d);
        }
        props.insert(name.to_string(), p);
        required.push(json!(name));
    }
    if props.is_empty() {
        return Err("--schema: no fields".into());
    }
    Ok(json!({"type": "object", "properties": props, "required": required}))
}

pub fn wrap_multi(item: Value) -> Value {
    json!({
        "type": "object",
        "properties": {"items": {"type": "array", "items": item}},
        "required": ["items"]
    })
}

fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::validator_for(schema).map_err(|e| format!("not a usable JSON Schema: {e}"))
}

/// The JSON in an answer: the whole text, or inside a ```json fence, or from the first `{`
/// or `[` to the last matching bracket (models that add a sentence around it).
pub fn extract(text: &str) -> Option<Value> {
    let t = text.trim();
    if let Ok(v) = serde_json::from_str(t) {
        return Some(v);
    }
    if let Some(start) = t.find("```") {
        let rest = &t[start + 3..];
        let body = rest.split_once('\n').map(|(_, b)| b).unwrap_or(rest);
        if let Some(end) = body.find("```")
            && let Ok(v) = serde_json::from_str(body[..end].trim())
        {
            return Some(v);
        }
    }
    let open = t.find(['{', '['])?;
    let close = t.rfind(['}', ']'])?;
    (close > open)
        .then(|| serde_json::from_str(&t[open..=close]).ok())
        .flatten()
}

/// Checks `answer` against `schema`.
pub fn check(answer: &str, schema: &Value) -> Check {
    let v = match compile(schema) {
        Ok(v) => v,
        Err(e) => {
            return Check {
                valid: false,
                errors: vec![e],
            };
        }
    };
    let Some(instance) = extract(answer) else {
        return Check {
            valid: false,
            errors: vec!["the answer is not JSON".into()],
        };
    };
    let errors: Vec<String> = v
        .iter_errors(&instance)
        .take(20)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect();
    Check {
        valid: errors.is_empty(),
        errors,
    }
}

/// The JSON of a valid answer, compact, for `ask` to print alone.
pub fn json_of(answer: &str) -> Option<String> {
    extract(answer).map(|v| v.to_string())
}

/// The follow-up that re-asks an answer that did not conform.
pub fn retry_prompt(c: &Check) -> String {
    format!(
        "Your answer does not conform to the JSON Schema:\n{}\nAnswer again with only the corrected JSON.",
        c.errors
            .iter()
            .map(|e| format!("- {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// The instruction for a provider that cannot be given the schema natively.
pub fn instruction(schema: &Value) -> String {
    format!(
        "Answer with JSON only (no prose, no code fence), conforming to this JSON Schema:\n{schema}"
    )
}

/// `schema` without the keywords Gemini's `responseSchema` rejects (its OpenAPI subset).
pub fn for_gemini(schema: &Value) -> Value {
    const DROP: &[&str] = &[
        "$schema",
        "$id",
        "$ref",
        "$defs",
        "definitions",
        "additionalProperties",
        "default",
        "examples",
        "const",
        "patternProperties",
        "unevaluatedProperties",
        "if",
        "then",
        "else",
        "not",
        "allOf",
        "oneOf",
        "dependentRequired",
        "dependentSchemas",
        "contains",
        "uniqueItems",
        "title",
    ];
    match schema {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !DROP.contains(&k.as_str()))
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        // Property names are data, not keywords.
                        "properties" => match v {
                            Value::Object(p) => Value::Object(
                                p.iter().map(|(n, s)| (n.clone(), for_gemini(s))).collect(),
                            ),
                            other => other.clone(),
                        },
                        _ => for_gemini(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(for_gemini).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_concise_syntax_makes_a_schema_and_answers_are_checked_against_it() {
        let s = parse_spec("title, year int, genres: the film's genres", false).expect("schema");
        assert_eq!(s["properties"]["year"]["type"], "integer");
        assert_eq!(
            s["properties"]["genres"]["description"],
            "the film's genres"
        );
        assert_eq!(s["required"], json!(["title", "year", "genres"]));
        assert!(check(r#"{"title":"Alien","year":1979,"genres":"Sci-Fi"}"#, &s).valid);
        let bad = check(
            "Sure:\n```json\n{\"title\": \"Alien\", \"year\": \"1979\"}\n```",
            &s,
        );
        assert!(!bad.valid);
        assert_eq!(bad.errors.len(), 2, "{:?}", bad.errors);
        assert!(
            bad.errors.iter().any(|e| e.starts_with("/year:")),
            "{:?}",
            bad.errors
        );
        assert!(!check("I think it is Alien.", &s).valid);
        assert!(parse_spec("a, b list", false).is_err());
        let m = parse_spec("name", true).expect("multi");
        assert!(check(r#"{"items":[{"name":"a"},{"name":"b"}]}"#, &m).valid);
        assert!(!check(r#"[{"name":"a"}]"#, &m).valid);
    }

    #[test]
    fn gemini_gets_the_schema_without_the_keywords_it_rejects() {
        let s = json!({"$schema": "x", "type": "object", "additionalProperties": false,
            "properties": {"title": {"type": "string", "default": "x"}, "const": {"type": "integer"}}});
        let g = for_gemini(&s);
        assert_eq!(
            g,
            json!({"type": "object", "properties": {"title": {"type": "string"}, "const": {"type": "integer"}}})
        );
    }
}
