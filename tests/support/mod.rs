//! Shared helpers for the integration tests: one fake server per test binary, an isolated
//! CHARLA_HOME per test, and a runner for the real binary.

#![allow(dead_code)]

pub mod fake_server;

use fake_server::FakeServer;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub const KEY: &str = "sk-test-SECRET-4b1d";

pub fn server() -> &'static FakeServer {
    static S: OnceLock<FakeServer> = OnceLock::new();
    S.get_or_init(FakeServer::start)
}

/// The newest request the fake server saw under `opts` that matches `pred`.
pub fn last_request(
    opts: &str,
    pred: impl Fn(&fake_server::Recorded) -> bool,
) -> fake_server::Recorded {
    server()
        .requests_for(opts)
        .into_iter()
        .rev()
        .find(|r| pred(r))
        .unwrap_or_else(|| panic!("no matching request under {opts:?}"))
}

/// An isolated charla home whose providers all point at the fake server with `opts`.
pub struct Home {
    pub dir: tempfile::TempDir,
}

impl Home {
    pub fn new(opts: &str) -> Home {
        Self::with_extra(opts, "")
    }

    pub fn with_extra(opts: &str, extra: &str) -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        let h = Home { dir };
        h.write_config(opts, extra);
        h
    }

    pub fn config_text(opts: &str, extra: &str) -> String {
        let u = server().url(opts);
        format!(
            r#"
[retry]
max_attempts = 3
base_delay_ms = 20
max_delay_ms = 100

[timeouts]
connect_secs = 2
first_token_secs = 3
idle_secs = 1

[providers.openai]
base_url = "{u}/v1"
api_key_env = "CHARLA_TEST_KEY"
local = false

[providers.anthropic]
base_url = "{u}/v1"
api_key_env = "CHARLA_TEST_KEY"
local = false

[providers.gemini]
base_url = "{u}/v1beta"
api_key_env = "CHARLA_TEST_KEY"
local = false

[providers.ollama]
base_url = "{u}"

[providers.openrouter]
base_url = "{u}/api/v1"
api_key_env = "CHARLA_TEST_KEY"
local = false

{extra}
"#
        )
    }

    pub fn write_config(&self, opts: &str, extra: &str) {
        std::fs::write(
            self.path().join("config.toml"),
            Self::config_text(opts, extra),
        )
        .expect("config");
    }

    /// Puts `lines` (top-level keys) at the top of the config file.
    pub fn prepend_config(&self, lines: &str) {
        let p = self.path().join("config.toml");
        let cfg = std::fs::read_to_string(&p).expect("config");
        std::fs::write(&p, format!("{lines}\n{cfg}")).expect("write config");
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn conversations(&self) -> PathBuf {
        self.path().join("data").join("conversations")
    }

    /// The saved conversations, parsed.
    pub fn saved(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let Ok(rd) = std::fs::read_dir(self.conversations()) else {
            return out;
        };
        let mut paths: Vec<PathBuf> = rd
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        for p in paths {
            let text = std::fs::read_to_string(&p).expect("read");
            out.push(serde_json::from_str(&text).expect("saved conversation parses"));
        }
        out
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_charla"));
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CHARLA_HOME", self.path())
            .env("CHARLA_TEST_KEY", KEY)
            .env("CHARLA_DEMO_PACE_MS", "0")
            .env("NO_COLOR", "1");
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.run_stdin(args, None)
    }

    /// Runs charla with the home as its working directory (relative attachment paths).
    pub fn run_here(&self, args: &[&str]) -> Out {
        let mut c = self.cmd(args);
        c.current_dir(self.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Out::from(c.output().expect("run charla"))
    }

    /// Copies `tests/fixtures/attach/NAME` into the home; returns its path there.
    pub fn fixture(&self, name: &str) -> PathBuf {
        let to = self.path().join(name);
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/attach")
                .join(name),
            &to,
        )
        .expect("copy fixture");
        to
    }

    pub fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut c = self.cmd(args);
        c.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn charla");
        if let Some(s) = stdin {
            let mut i = child.stdin.take().expect("stdin");
            i.write_all(s.as_bytes()).expect("write stdin");
        }
        Out::from(child.wait_with_output().expect("wait"))
    }
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Out {
    /// The `--json` lines, parsed.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    /// All delta texts of a `--json` run, joined.
    pub fn text(&self) -> String {
        self.lines()
            .iter()
            .filter(|l| l["type"] == "delta")
            .filter_map(|l| l["text"].as_str())
            .collect()
    }

    pub fn reasoning(&self) -> String {
        self.lines()
            .iter()
            .filter(|l| l["type"] == "reasoning")
            .filter_map(|l| l["text"].as_str())
            .collect()
    }

    pub fn of_type(&self, t: &str) -> Vec<serde_json::Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["type"] == t)
            .collect()
    }

    pub fn one(&self, t: &str) -> serde_json::Value {
        let v = self.of_type(t);
        assert_eq!(
            v.len(),
            1,
            "expected one '{t}' line in:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        v.into_iter().next().unwrap_or_default()
    }

    pub fn assert_no_key(&self) {
        assert!(
            !self.stdout.contains(KEY) && !self.stderr.contains(KEY),
            "the API key leaked:\n{}\n{}",
            self.stdout,
            self.stderr
        );
    }
}

pub fn approx(a: &serde_json::Value, b: f64) -> bool {
    a.as_f64().is_some_and(|a| (a - b).abs() < 1e-12)
}
