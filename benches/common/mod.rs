//! Helpers shared by the benchmarks: a tmux server of their own, medians.

#![allow(dead_code)]

use std::process::{Command, Stdio};
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

/// CPU time (wait4) and peak RSS of a child. Peak RSS is the child's own `VmHWM`, sampled from
/// /proc while it runs: wait4's ru_maxrss also counts the pre-exec fork of this (larger) process.
pub fn rusage_of(mut cmd: Command) -> (Duration, u64, bool) {
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn");
    let pid = child.id() as libc::pid_t;
    let status_path = format!("/proc/{pid}/status");
    let mut hwm_kb = 0u64;
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter for wait4 on our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_path)
            && let Some(v) = s.lines().find_map(|l| l.strip_prefix("VmHWM:"))
        {
            hwm_kb = hwm_kb.max(v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0));
        }
        // SAFETY: pid is our child; pointers are valid for the call.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == pid {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let cpu = Duration::from_micros(
        (ru.ru_utime.tv_sec * 1_000_000
            + ru.ru_utime.tv_usec
            + ru.ru_stime.tv_sec * 1_000_000
            + ru.ru_stime.tv_usec) as u64,
    );
    std::mem::forget(child);
    (cpu, hwm_kb, status == 0)
}

/// CPU seconds (utime + stime) of a running process.
pub fn cpu_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (f.get(11).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
        / tick
}

/// Types up to twenty letters into charla's input while something streams, each once the one
/// before is on screen, until `done` appears: how long each took to show, in ms (tmux's
/// capture included). Returns (median, max, keys).
pub fn key_latency(t: &Tmux, done: &str) -> (f64, f64, usize) {
    let letters: Vec<char> = "abcdefghijklmnopqrst".chars().collect();
    let mut lat = vec![];
    for (i, c) in letters.iter().enumerate() {
        let typed: String = letters[..=i].iter().collect();
        let start = Instant::now();
        t.run(&["send-keys", "-t", "b", "-l", &c.to_string()]);
        while !t.screen().contains(&format!("│{typed}")) && start.elapsed() < Duration::from_secs(2)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        lat.push(start.elapsed().as_secs_f64() * 1000.0);
        if t.screen().contains(done) {
            break; // the stream ended: the rest would measure an idle screen
        }
        std::thread::sleep(Duration::from_millis(40));
    }
    let max = lat.iter().cloned().fold(0.0, f64::max);
    let n = lat.len();
    (median_f64(lat), max, n)
}
