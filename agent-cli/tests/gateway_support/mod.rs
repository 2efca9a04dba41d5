//! Helpers shared by the gateway tests that run software no one here
//! wrote (the MCP Python SDK, nginx): child processes killed on drop, lines
//! read with a deadline, the CLI run with `--format json`, and the checks
//! that find (or, where required, demand) the outside software.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(60);

/// A child process killed when dropped.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The lines a child writes on one stream, read on a thread.
pub struct Lines(Receiver<String>);

impl Lines {
    /// Starts reading `stream` line by line.
    pub fn spawn(stream: impl Read + Send + 'static) -> Self {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Lines(rx)
    }

    /// The next line, or `None` if the stream ended or `WAIT` passed.
    pub fn next(&self) -> Option<String> {
        self.0.recv_timeout(WAIT).ok()
    }
}

/// What a child wrote on stderr so far, collected on a thread.
pub fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let log = Arc::new(Mutex::new(String::new()));
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    log
}

/// The `agentcap` binary under test.
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("agentcap")
}

/// Runs `agentcap ARGS --format json` in `dir`; its JSON output.
pub fn run(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(bin())
        .current_dir(dir)
        .env("AGENTCAP_STATE_DIR", dir.join("state"))
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Starts `command`, whose first stdout line is JSON with a `url`; the
/// process, that URL and its stderr so far.
pub fn start_announced(mut command: Command) -> (Running, String, Arc<Mutex<String>>) {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect(child.stderr.take().unwrap());
    let lines = Lines::spawn(child.stdout.take().unwrap());
    let running = Running(child);
    let line = lines.next().unwrap_or_default();
    let announced: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
    let Some(url) = announced["url"].as_str() else {
        panic!("no URL announced ({line:?}): {}", log.lock().unwrap());
    };
    (running, url.to_owned(), log)
}

/// Starts `agentcap ARGS --format json` in `dir` (a server): the process,
/// the URL it announces and its stderr.
pub fn start_agentcap(dir: &Path, args: &[&str]) -> (Running, String, Arc<Mutex<String>>) {
    let mut command = Command::new(bin());
    command
        .current_dir(dir)
        .env("AGENTCAP_STATE_DIR", dir.join("state"))
        .env_remove("RUST_LOG")
        .args(args)
        .args(["--format", "json"]);
    start_announced(command)
}

/// Finds outside software: `$VAR`, else the `fallbacks` in order, the
/// first for which `works` holds. When it is missing the test is skipped
/// (with a note), unless `$REQUIRE_VAR` is set: then it fails.
pub fn require_tool(
    var: &str,
    require_var: &str,
    fallbacks: &[&str],
    works: impl Fn(&str) -> bool,
) -> Option<String> {
    let candidates: Vec<String> = match std::env::var(var) {
        Ok(program) => vec![program],
        Err(_) => fallbacks.iter().map(|s| (*s).to_owned()).collect(),
    };
    if let Some(found) = candidates.into_iter().find(|p| works(p)) {
        return Some(found);
    }
    assert!(
        std::env::var_os(require_var).is_none(),
        "{require_var} is set but no working program was found (${var}, or {fallbacks:?})"
    );
    eprintln!("note: skipping: not found (set ${var}; .ci/run installs it)");
    None
}

/// Whether `program ARGS` runs and exits 0.
pub fn runs_ok(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A loopback port free right now (the OS picks it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `addr`.
pub fn wait_for_port(addr: SocketAddr, log: &Arc<Mutex<String>>) {
    let started = Instant::now();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        assert!(
            started.elapsed() < WAIT,
            "nothing listens on {addr}: {}",
            log.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The JSON lines of a file (none if it does not exist yet).
pub fn json_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A token minted by the CLI for alice → travel-assistant with `grant`
/// (`--right`/`--cap` arguments), then attenuated to flight-search with
/// `narrowed`: `(root public key, parent token, holder's token)`, each
/// token also written to `dir/t0` and `dir/t1`.
pub fn alice_chain(dir: &Path, grant: &[&str], narrowed: &[&str]) -> (String, String, String) {
    let root = run(dir, &["keys", "generate", "--out", "root.key"]);
    let root_pub = root["public_key"].as_str().unwrap().to_owned();
    let mut args = vec![
        "mint",
        "--root-key-file",
        "root.key",
        "--user",
        "alice",
        "--agent",
        "travel-assistant",
        "--ttl",
        "1h",
    ];
    args.extend_from_slice(grant);
    let t0 = run(dir, &args)["token"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("t0"), &t0).unwrap();
    let mut args = vec!["attenuate", "@t0", "--to", "flight-search", "--ttl", "30m"];
    args.extend_from_slice(narrowed);
    let t1 = run(dir, &args)["token"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("t1"), &t1).unwrap();
    (root_pub, t0, t1)
}
