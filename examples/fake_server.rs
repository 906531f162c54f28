//! Runs the test suite's fake provider server (tests/support/fake_server.rs) on 127.0.0.1 for
//! the tmux end-to-end test, the benchmark and manual trials:
//! `cargo run --example fake_server -- [PORT]` prints `http://127.0.0.1:PORT` and serves forever.

#[path = "../tests/support/fake_server.rs"]
mod fake_server;

fn main() {
    let port = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let s = fake_server::FakeServer::start_on(port);
    println!("http://{}", s.addr);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
