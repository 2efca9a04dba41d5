//! `agentcap revocation serve` and `agentcap serve` as processes: a token
//! minted by the CLI is allowed over HTTP, then denied once its hop is
//! revoked with `agentcap revoke`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin() -> std::path::PathBuf {
    assert_cmd::cargo::cargo_bin("agentcap")
}

fn run(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(bin())
        .current_dir(dir)
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

/// Starts a server command and reads the URL it announces.
fn start(dir: &Path, args: &[&str]) -> (Running, String) {
    let mut child = Command::new(bin())
        .current_dir(dir)
        .args(args)
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line:?}"));
    (Running(child), v["url"].as_str().unwrap().to_owned())
}

fn get(url: &str, token: &str) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.bytes().await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    })
}

#[test]
fn serve_allows_then_denies_after_revoke_through_the_revocation_server() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = run(dir, &["keys", "generate", "--out", "root.key"]);
    let root_pub = root["public_key"].as_str().unwrap().to_owned();
    let t0 = run(
        dir,
        &[
            "mint",
            "--root-key-file",
            "root.key",
            "--user",
            "alice",
            "--agent",
            "assistant",
            "--right",
            "flights/*:read",
            "--ttl",
            "1h",
        ],
    );
    std::fs::write(dir.join("t0"), t0["token"].as_str().unwrap()).unwrap();
    let t1 = run(
        dir,
        &[
            "attenuate",
            "@t0",
            "--to",
            "search",
            "--right",
            "flights/lis/*:read",
            "--ttl",
            "10m",
        ],
    );
    let t1 = t1["token"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("t1"), &t1).unwrap();
    let init = run(
        dir,
        &[
            "revocation",
            "init",
            "--store",
            "store",
            "--signing-key-file",
            "list.key",
        ],
    );
    let list_pub = init["public_key"].as_str().unwrap().to_owned();

    let (_rev, rev_url) = start(
        dir,
        &[
            "revocation",
            "serve",
            "--store",
            "store",
            "--signing-key-file",
            "list.key",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    let (_tool, tool_url) = start(
        dir,
        &[
            "serve",
            "--root-public-key",
            &root_pub,
            "--listen",
            "127.0.0.1:0",
            "--revocation-list",
            &rev_url,
            "--revocation-public-key",
            &list_pub,
            "--audit-log",
            "audit.jsonl",
        ],
    );
    let flights = format!("{tool_url}flights/lis/2026-12-01");
    assert_eq!(get(&flights, &t1).0, 200);
    assert_eq!(get(&format!("{tool_url}hotels/lisbon"), &t1).0, 403);
    assert_eq!(get(&flights, "garbage").0, 401);

    run(
        dir,
        &[
            "revoke",
            "@t1",
            "--store",
            "store",
            "--signing-key-file",
            "list.key",
        ],
    );
    // The revocation server announces the new list; the tool server polls it.
    let started = Instant::now();
    loop {
        let (status, body) = get(&flights, &t1);
        if status == 403 {
            assert_eq!(body["reason"], "revoked");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "never revoked");
        std::thread::sleep(Duration::from_millis(200));
    }
    let t0 = std::fs::read_to_string(dir.join("t0")).unwrap();
    assert_eq!(get(&flights, &t0).0, 200, "the parent stays allowed");

    let q = run(
        dir,
        &[
            "audit",
            "query",
            "--log",
            "audit.jsonl",
            "--decision",
            "deny",
        ],
    );
    assert!(q["count"].as_u64().unwrap() >= 3);
    let q = run(
        dir,
        &[
            "audit",
            "query",
            "--log",
            "audit.jsonl",
            "--agent",
            "search",
        ],
    );
    assert!(q["count"].as_u64().unwrap() >= 2);
}

fn get_with_proof(url: &str, token: &str, proof: &str) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .header("Agentcap-Proof", proof)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
}

#[test]
fn serve_requiring_holder_proofs_accepts_only_requests_signed_with_prove() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = run(dir, &["keys", "generate", "--out", "root.key"]);
    let root_pub = root["public_key"].as_str().unwrap().to_owned();
    let agent = run(dir, &["keys", "generate", "--out", "agent.key"]);
    let agent_pub = agent["public_key"].as_str().unwrap().to_owned();
    run(dir, &["keys", "generate", "--out", "thief.key"]);
    let minted = run(
        dir,
        &[
            "mint",
            "--root-key-file",
            "root.key",
            "--user",
            "alice",
            "--agent",
            "assistant",
            "--agent-public-key",
            &agent_pub,
            "--right",
            "flights/*:read",
        ],
    );
    let token = minted["token"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("token"), &token).unwrap();
    let (_tool, tool_url) = start(
        dir,
        &[
            "serve",
            "--root-public-key",
            &root_pub,
            "--listen",
            "127.0.0.1:0",
            "--require-holder-proof",
            "60s",
        ],
    );
    let url = format!("{tool_url}flights/lis/2026-12-01");
    let prove = |key: &str, request: &str| {
        run(
            dir,
            &["prove", "@token", "--key-file", key, "--request", request],
        )["proof"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(get(&url, &token).0, 401, "a token alone is not enough");
    assert_eq!(
        get_with_proof(
            &url,
            &token,
            &prove("agent.key", "flights/lis/2026-12-01:read")
        ),
        200
    );
    assert_eq!(
        get_with_proof(
            &url,
            &token,
            &prove("thief.key", "flights/lis/2026-12-01:read")
        ),
        401
    );
    assert_eq!(
        get_with_proof(
            &url,
            &token,
            &prove("agent.key", "flights/opo/2026-12-01:read")
        ),
        401
    );
}
