//! Helpers shared by the benchmarks: a tmux server of their own, medians.

#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server on its own socket, with one session named `b`; killed on drop.
pub struct Tmux(pub String);

impl Tmux {
    /// A new server named `name` running `cmd` in a 200×50 pane.
    pub fn launch(name: String, cmd: &str) -> Tmux {
        let t = Tmux(name);
        t.run(&["new-session", "-d", "-s", "b", "-x", "200", "-y", "50", cmd]);
        t
    }

    pub fn run(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-L")
            .arg(&self.0)
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-t", "b", "-p"])
    }
    pub fn wait_for(&self, what: &str, secs: u64) -> bool {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            if self.screen().contains(what) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.run(&["kill-server"]);
    }
}

pub fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The binary to measure: `CHARLA_BENCH_BIN`, else this build's.
pub fn bin() -> String {
    std::env::var("CHARLA_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_charla").to_string())
}
