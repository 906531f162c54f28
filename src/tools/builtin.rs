//! The built-in tools. File tools see only the roots; everything they return is text the
//! model reads (errors included: a refused path is a result the model sees, not a crash).

use serde_json::{Value, json};
use std::path::{Component, Path, PathBuf};

/// The most matches `search_files` returns, and entries `list_dir` lists.
const MAX_MATCHES: usize = 200;
const MAX_ENTRIES: usize = 500;

/// A built-in tool's description, parameters and whether it only reads.
pub fn spec(name: &str) -> Option<(&'static str, Value, bool)> {
    let path = |what: &str| json!({"type": "string", "description": what});
    Some(match name {
        "read_file" => (
            "Reads a text file in the working directory. Returns its lines, numbered.",
            json!({"type": "object", "properties": {
                "path": path("The file, relative to the working directory."),
                "offset": {"type": "integer", "description": "First line to return (1-based).", "minimum": 1},
                "limit": {"type": "integer", "description": "Most lines to return.", "minimum": 1}
            }, "required": ["path"]}),
            true,
        ),
        "list_dir" => (
            "Lists a directory in the working directory: names, with / after directories, and sizes.",
            json!({"type": "object", "properties": {
                "path": path("The directory, relative to the working directory (default \".\").")
            }}),
            true,
        ),
        "search_files" => (
            "Searches the files under a directory for a regular expression, as ripgrep does \
             (skipping what .gitignore ignores and hidden files). Returns path:line: text.",
            json!({"type": "object", "properties": {
                "pattern": {"type": "string", "description": "A regular expression (Rust syntax)."},
                "path": path("Where to search, relative to the working directory (default \".\")."),
                "glob": {"type": "string", "description": "Only files whose name matches this glob, e.g. *.rs."}
            }, "required": ["pattern"]}),
            true,
        ),
        "write_file" => (
            "Writes a text file in the working directory (creating it or replacing it whole). \
             The user approves the change first.",
            json!({"type": "object", "properties": {
                "path": path("The file, relative to the working directory."),
                "content": {"type": "string", "description": "The file's new content."}
            }, "required": ["path", "content"]}),
            false,
        ),
        "edit_file" => (
            "Replaces one exact piece of text in a file in the working directory. `old` must \
             occur exactly once. The user approves the change first.",
            json!({"type": "object", "properties": {
                "path": path("The file, relative to the working directory."),
                "old": {"type": "string", "description": "The exact text to replace."},
                "new": {"type": "string", "description": "What replaces it."}
            }, "required": ["path", "old", "new"]}),
            false,
        ),
        "run_command" => (
            "Runs a shell command (sh -c) in the working directory and returns its output and \
             exit status. The user approves every command first.",
            json!({"type": "object", "properties": {
                "command": {"type": "string", "description": "The command line."}
            }, "required": ["command"]}),
            false,
        ),
        "current_time" => (
            "Returns the current date and time (UTC, RFC 3339).",
            json!({"type": "object", "properties": {}}),
            true,
        ),
        _ => return None,
    })
}

/// The directories file tools are confined to, resolved (symlinks followed) once.
#[derive(Debug, Clone, PartialEq)]
pub struct Roots(pub Vec<PathBuf>);

impl Roots {
    /// `tool_roots` from the config (relative ones against the working directory), else the
    /// working directory.
    pub fn from_config(cfg: &crate::config::Config) -> Roots {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        let given: Vec<PathBuf> = match &cfg.file.tool_roots {
            Some(r) if !r.is_empty() => r.iter().map(|p| cwd.join(expand_home(p))).collect(),
            _ => vec![cwd],
        };
        Roots(
            given
                .into_iter()
                .filter_map(|p| p.canonicalize().ok())
                .collect(),
        )
    }

    pub fn main(&self) -> Option<&Path> {
        self.0.first().map(PathBuf::as_path)
    }

    fn inside(&self, p: &Path) -> bool {
        self.0.iter().any(|r| p.starts_with(r))
    }

    fn outside(&self, shown: &str) -> String {
        format!(
            "{shown} is outside the directories this tool may use ({}): refused",
            self.0
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }

    /// An existing path, resolved, if it is inside a root. A path that leaves the roots is
    /// refused before anything is looked up (whether it exists is not told).
    pub fn existing(&self, shown: &str) -> Result<PathBuf, String> {
        let main = self.main().ok_or("no working directory to use")?;
        let p = main.join(expand_home(shown));
        if !self.inside(&lexical(&p)) {
            return Err(self.outside(shown));
        }
        let real = p.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => format!("{shown}: no such file or directory"),
            _ => format!("{shown}: {e}"),
        })?;
        if !self.inside(&real) {
            return Err(self.outside(shown));
        }
        Ok(real)
    }

    /// A path to write: its deepest existing ancestor resolved must be inside a root, and
    /// the rest may not climb (`..`). An existing file (or symlink) is resolved as it is.
    pub fn writable(&self, shown: &str) -> Result<PathBuf, String> {
        let main = self.main().ok_or("no working directory to use")?;
        let p = main.join(expand_home(shown));
        if std::fs::symlink_metadata(&p).is_ok() {
            return self.existing(shown);
        }
        let mut base = p.as_path();
        let mut rest = Vec::new();
        while !base.exists() {
            let (Some(parent), Some(name)) = (base.parent(), base.file_name()) else {
                return Err(self.outside(shown));
            };
            rest.push(name.to_os_string());
            base = parent;
        }
        let real = base.canonicalize().map_err(|e| format!("{shown}: {e}"))?;
        let mut out = real;
        for n in rest.iter().rev() {
            let c = Path::new(n);
            if c.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(self.outside(shown));
            }
            out.push(n);
        }
        if !self.inside(&out) {
            return Err(self.outside(shown));
        }
        Ok(out)
    }

    /// `p` as the model should see it: relative to the root it is in.
    pub fn shown(&self, p: &Path) -> String {
        for r in &self.0 {
            if let Ok(rel) = p.strip_prefix(r) {
                let s = rel.display().to_string();
                return if s.is_empty() { ".".into() } else { s };
            }
        }
        p.display().to_string()
    }
}

/// `p` with `.` and `..` resolved as text (no symlinks followed).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn expand_home(p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(h)) => PathBuf::from(h).join(rest),
        _ => PathBuf::from(p),
    }
}

/// What a tool returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub text: String,
    pub is_error: bool,
    pub exit_code: Option<i32>,
}

impl Outcome {
    pub fn ok(text: impl Into<String>) -> Self {
        Outcome {
            text: text.into(),
            is_error: false,
            exit_code: None,
        }
    }
    pub fn err(text: impl Into<String>) -> Self {
        Outcome {
            text: text.into(),
            is_error: true,
            exit_code: None,
        }
    }
}

fn arg<'a>(args: &'a Value, k: &str) -> Result<&'a str, String> {
    args.get(k)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing the string argument `{k}`"))
}

fn opt<'a>(args: &'a Value, k: &str) -> Option<&'a str> {
    args.get(k)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Runs a file or clock tool (blocking: called on a blocking thread). `run_command` is run by
/// `run.rs`, which owns processes.
pub fn run_sync(name: &str, args: &Value, roots: &Roots, max_bytes: usize) -> Outcome {
    let r = match name {
        "read_file" => read_file(args, roots, max_bytes),
        "list_dir" => list_dir(args, roots),
        "search_files" => search_files(args, roots),
        "write_file" => write_file(args, roots),
        "edit_file" => edit_file(args, roots),
        "current_time" => Ok(crate::util::now_rfc3339()),
        other => Err(format!("{other} is not a built-in tool")),
    };
    match r {
        Ok(t) => Outcome::ok(t),
        Err(e) => Outcome::err(e),
    }
}

fn read_text(p: &Path, shown: &str) -> Result<String, String> {
    let bytes = std::fs::read(p).map_err(|e| format!("{shown}: {e}"))?;
    if crate::util::looks_binary(&bytes) {
        return Err(format!("{shown} is a binary file"));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_file(args: &Value, roots: &Roots, max_bytes: usize) -> Result<String, String> {
    let shown = arg(args, "path")?;
    let p = roots.existing(shown)?;
    if p.is_dir() {
        return Err(format!("{shown} is a directory: use list_dir"));
    }
    let text = read_text(&p, shown)?;
    let offset = args
        .get("offset")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1) as usize;
    let limit = args
        .get("limit")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .unwrap_or(usize::MAX);
    let mut out = String::new();
    let total = text.lines().count();
    for (i, line) in text.lines().enumerate().skip(offset - 1).take(limit) {
        if out.len() + line.len() > max_bytes {
            out.push_str(&format!(
                "[… stopped at line {} of {total}: read on with offset]\n",
                i + 1
            ));
            break;
        }
        out.push_str(&format!("{:>5}  {line}\n", i + 1));
    }
    if out.is_empty() {
        out = if total == 0 {
            format!("{shown} is empty")
        } else {
            format!("{shown} has {total} lines")
        };
    }
    Ok(out)
}

fn list_dir(args: &Value, roots: &Roots) -> Result<String, String> {
    let shown = opt(args, "path").unwrap_or(".");
    let p = roots.existing(shown)?;
    if !p.is_dir() {
        return Err(format!("{shown} is not a directory"));
    }
    let mut entries: Vec<(String, bool, u64)> = std::fs::read_dir(&p)
        .map_err(|e| format!("{shown}: {e}"))?
        .filter_map(Result::ok)
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let meta = e.metadata().ok();
            let dir = meta.as_ref().is_some_and(|m| m.is_dir());
            (name, dir, meta.map(|m| m.len()).unwrap_or(0))
        })
        .filter(|(n, _, _)| n != ".git")
        .collect();
    entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let n = entries.len();
    let mut out = String::new();
    for (name, dir, size) in entries.into_iter().take(MAX_ENTRIES) {
        if dir {
            out.push_str(&format!("{name}/\n"));
        } else {
            out.push_str(&format!("{name}  {}\n", crate::attach::human_bytes(size)));
        }
    }
    if n > MAX_ENTRIES {
        out.push_str(&format!("[… {} more entries]\n", n - MAX_ENTRIES));
    }
    if out.is_empty() {
        out = format!("{shown} is empty");
    }
    Ok(out)
}

fn search_files(args: &Value, roots: &Roots) -> Result<String, String> {
    let pattern = arg(args, "pattern")?;
    let re = regex::Regex::new(pattern).map_err(|e| format!("not a valid pattern: {e}"))?;
    let shown = opt(args, "path").unwrap_or(".");
    let base = roots.existing(shown)?;
    let mut walk = ignore::WalkBuilder::new(&base);
    walk.follow_links(false);
    if let Some(g) = opt(args, "glob") {
        let mut ob = ignore::overrides::OverrideBuilder::new(&base);
        ob.add(g).map_err(|e| format!("not a valid glob: {e}"))?;
        walk.overrides(ob.build().map_err(|e| format!("not a valid glob: {e}"))?);
    }
    let mut out = String::new();
    let mut found = 0;
    'files: for entry in walk.build().filter_map(Result::ok) {
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        if crate::util::looks_binary(&bytes) {
            continue;
        }
        let text = String::from_utf8_lossy(&bytes);
        for (i, line) in text.lines().enumerate() {
            if re.is_match(line) {
                found += 1;
                if found > MAX_MATCHES {
                    break 'files;
                }
                let line: String = line.chars().take(300).collect();
                out.push_str(&format!(
                    "{}:{}: {line}\n",
                    roots.shown(entry.path()),
                    i + 1
                ));
            }
        }
    }
    if found > MAX_MATCHES {
        out.push_str(&format!(
            "[stopped at {MAX_MATCHES} matches: narrow the pattern or the path]\n"
        ));
    }
    if out.is_empty() {
        out = format!("no match for {pattern} under {shown}");
    }
    Ok(out)
}

/// The file's new content for a write or an edit, and its current one ("" for a new file).
pub fn planned_change(
    name: &str,
    args: &Value,
    roots: &Roots,
) -> Result<(PathBuf, String, String), String> {
    let shown = arg(args, "path")?;
    let p = roots.writable(shown)?;
    if p.is_dir() {
        return Err(format!("{shown} is a directory"));
    }
    let old = if p.exists() {
        read_text(&p, shown)?
    } else {
        String::new()
    };
    let new = match name {
        "write_file" => arg(args, "content")?.to_string(),
        _ => {
            let from = arg(args, "old")?;
            let to = arg(args, "new")?;
            if from.is_empty() {
                return Err("`old` is empty: give the exact text to replace".into());
            }
            match old.matches(from).count() {
                0 => return Err(format!("`old` does not occur in {shown}")),
                1 => old.replacen(from, to, 1),
                n => {
                    return Err(format!(
                        "`old` occurs {n} times in {shown}: give more of the text around it"
                    ));
                }
            }
        }
    };
    Ok((p, old, new))
}

/// The unified diff a write or an edit would make (what the user approves).
pub fn diff(shown: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{shown}"), &format!("b/{shown}"))
        .to_string()
}

fn write_file(args: &Value, roots: &Roots) -> Result<String, String> {
    change(args, roots, "write_file")
}

fn edit_file(args: &Value, roots: &Roots) -> Result<String, String> {
    change(args, roots, "edit_file")
}

fn change(args: &Value, roots: &Roots, name: &str) -> Result<String, String> {
    let (p, old, new) = planned_change(name, args, roots)?;
    let shown = roots.shown(&p);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{shown}: {e}"))?;
    }
    std::fs::write(&p, &new).map_err(|e| format!("{shown}: {e}"))?;
    let d = diff(&shown, &old, &new);
    let (plus, minus) = d.lines().fold((0, 0), |(p, m), l| {
        if l.starts_with('+') && !l.starts_with("+++") {
            (p + 1, m)
        } else if l.starts_with('-') && !l.starts_with("---") {
            (p, m + 1)
        } else {
            (p, m)
        }
    });
    Ok(format!(
        "wrote {shown} ({} bytes; +{plus} -{minus} lines)",
        new.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots() -> (tempfile::TempDir, Roots) {
        let d = tempfile::tempdir().expect("tmp");
        let r = Roots(vec![d.path().canonicalize().expect("canon")]);
        (d, r)
    }

    #[test]
    fn paths_that_leave_the_root_are_refused() {
        let (d, r) = roots();
        std::fs::write(d.path().join("a.txt"), "hi\n").expect("w");
        assert!(r.existing("a.txt").is_ok());
        for bad in ["../x", "/etc/passwd", "sub/../../x"] {
            let e = r.existing(bad).err().or(r.writable(bad).err());
            assert!(e.is_some(), "{bad}");
        }
        assert!(
            r.writable("../evil.txt")
                .err()
                .unwrap_or_default()
                .contains("outside")
        );
        assert!(r.writable("/tmp/evil.txt").is_err());
        std::os::unix::fs::symlink("/etc", d.path().join("link")).expect("ln");
        assert!(
            r.existing("link/passwd")
                .err()
                .unwrap_or_default()
                .contains("outside")
        );
        assert!(
            r.writable("link/new.txt")
                .err()
                .unwrap_or_default()
                .contains("outside")
        );
        assert!(r.writable("new/dir/file.txt").is_ok());
    }

    #[test]
    fn edit_needs_one_exact_occurrence_and_diffs() {
        let (d, r) = roots();
        std::fs::write(d.path().join("f.txt"), "one\ntwo\ntwo\n").expect("w");
        let e = planned_change(
            "edit_file",
            &json!({"path": "f.txt", "old": "two", "new": "2"}),
            &r,
        );
        assert!(e.err().unwrap_or_default().contains("occurs 2 times"));
        let (_, old, new) = planned_change(
            "edit_file",
            &json!({"path": "f.txt", "old": "one", "new": "1"}),
            &r,
        )
        .expect("plan");
        let d = diff("f.txt", &old, &new);
        assert!(d.contains("-one\n+1\n"), "{d}");
    }
}
