//! The unsafe printing path is hard to write: outside `cli/out.rs` (which sanitises) and the
//! TUI's terminal code, nothing in `src/` writes to stdout or stderr directly.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn only_the_sanitising_sink_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    // The sink itself; main's shell completions (static text); the TUI, which owns the
    // terminal (its OSC 52 copy is base64) and draws through a sanitised buffer.
    let allowed = ["src/cli/out.rs", "src/main.rs", "src/tui/mod.rs"];
    let mut offenders = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(root)
            .expect("rel")
            .to_string_lossy()
            .replace('\\', "/");
        if allowed.contains(&rel.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("read");
        // The code without string literals and comments, line by line.
        let mut code = String::new();
        let (mut in_str, mut escaped) = (false, false);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if in_str {
                if c == '\n' {
                    code.push('\n');
                }
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_str = false;
                }
                continue;
            }
            match c {
                '"' => in_str = true,
                '/' if chars.peek() == Some(&'/') => {
                    for c in chars.by_ref() {
                        if c == '\n' {
                            code.push('\n');
                            break;
                        }
                    }
                }
                c => code.push(c),
            }
        }
        for (n, line) in code.lines().enumerate() {
            for bad in [
                "println!",
                "eprintln!",
                "print!(",
                "eprint!(",
                "io::stdout()",
                "io::stderr()",
            ] {
                if line.contains(bad) {
                    offenders.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "print through cli::out instead:\n{}",
        offenders.join("\n")
    );
}
