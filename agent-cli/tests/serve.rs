//! `agentcap revocation serve` and `agentcap serve` as processes: a token
//! minted by the CLI is allowed over HTTP, then denied once its hop is
//! revoked with `agentcap revoke`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
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

/// Starts a server command and reads the URL it announces.
fn start(dir: &Path, args: &[&str]) -> (Running, String) {
    let (running, url, _) = start_logged(dir, args);
    (running, url)
}

/// As [`start`], also collecting what the server writes on stderr.
fn start_logged(dir: &Path, args: &[&str]) -> (Running, String, Arc<Mutex<String>>) {
    let mut child = Command::new(bin())
        .current_dir(dir)
        .env("AGENTCAP_STATE_DIR", dir.join("state"))
        .env_remove("RUST_LOG")
        .args(args)
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().unwrap();
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let v: Value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("{line:?}: {}", log.lock().unwrap()));
    (Running(child), v["url"].as_str().unwrap().to_owned(), log)
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
        if status == 401 {
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

/// GET with the headers `agentcap prove --format json` printed.
fn get_with_proof(url: &str, headers: &serde_json::Value) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut request = reqwest::Client::new().get(url);
        for (name, value) in headers.as_object().unwrap() {
            request = request.header(name.as_str(), value.as_str().unwrap());
        }
        request.send().await.unwrap().status().as_u16()
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
    let mint = |agent_key: Option<&str>| {
        let mut args = vec![
            "mint",
            "--root-key-file",
            "root.key",
            "--user",
            "alice",
            "--agent",
            "assistant",
            "--right",
            "flights/*:read",
        ];
        if let Some(key) = agent_key {
            args.extend(["--agent-public-key", key]);
        }
        run(dir, &args)["token"].as_str().unwrap().to_owned()
    };
    let token = mint(Some(&agent_pub));
    std::fs::write(dir.join("token"), &token).unwrap();
    let bearer = mint(None);
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
    let prove = |key: &str, url: &str| {
        run(
            dir,
            &[
                "prove",
                "@token",
                "--signing-key-file",
                key,
                "--method",
                "GET",
                "--url",
                url,
            ],
        )
    };
    assert_eq!(get(&url, &token).0, 401, "a token alone is not enough");
    assert_eq!(get(&url, &bearer).0, 401, "a bearer leaf is refused");
    let signed = prove("agent.key", &url);
    assert_eq!(get_with_proof(&url, &signed), 200);
    assert_eq!(get_with_proof(&url, &signed), 401, "a replayed request");
    assert_eq!(get_with_proof(&url, &prove("thief.key", &url)), 401);
    let other = format!("{tool_url}flights/opo/2026-12-01");
    assert_eq!(get_with_proof(&url, &prove("agent.key", &other)), 401);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Root key, token `t0` (alice → assistant), a revocation store whose
/// lists are exported to `published/`; returns the root and list public
/// keys.
fn setup_with_folder(dir: &Path) -> (String, String) {
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
        ],
    );
    std::fs::write(dir.join("t0"), t0["token"].as_str().unwrap()).unwrap();
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
    run(
        dir,
        &[
            "revocation",
            "publish",
            "--store",
            "store",
            "--signing-key-file",
            "list.key",
            "--out",
            "published",
        ],
    );
    (root_pub, list_pub)
}

fn serve_folder(
    dir: &Path,
    root_pub: &str,
    list_pub: &str,
) -> (Running, String, Arc<Mutex<String>>) {
    start_logged(
        dir,
        &[
            "serve",
            "--root-public-key",
            root_pub,
            "--listen",
            "127.0.0.1:0",
            "--revocation-list",
            "published",
            "--revocation-public-key",
            list_pub,
        ],
    )
}

#[test]
fn serve_restarted_with_an_older_list_keeps_refusing_the_revoked_token() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (root_pub, list_pub) = setup_with_folder(dir);
    copy_dir(&dir.join("published"), &dir.join("before-revoke"));
    run(
        dir,
        &[
            "revoke",
            "@t0",
            "--store",
            "store",
            "--signing-key-file",
            "list.key",
            "--out",
            "published",
        ],
    );
    let token = std::fs::read_to_string(dir.join("t0")).unwrap();
    {
        let (_tool, url, _) = serve_folder(dir, &root_pub, &list_pub);
        let (status, body) = get(&format!("{url}flights/lis/2026-12-01"), &token);
        assert_eq!(status, 401);
        assert_eq!(body["reason"], "revoked");
    }
    // Someone puts the signed list from before the revocation back.
    std::fs::remove_dir_all(dir.join("published")).unwrap();
    copy_dir(&dir.join("before-revoke"), &dir.join("published"));
    let (_tool, url, log) = serve_folder(dir, &root_pub, &list_pub);
    let (status, body) = get(&format!("{url}flights/lis/2026-12-01"), &token);
    assert_eq!(status, 401, "{}", log.lock().unwrap());
    assert_eq!(body["reason"], "revoked");
    wait_for_log(&log, "rollback");
}

/// Waits until the server has logged `needle`; returns the log.
fn wait_for_log(log: &Mutex<String>, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let text = log.lock().unwrap().clone();
        if text.contains(needle) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{needle:?} was never logged: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn serve_logs_a_forged_list_on_stderr_and_keeps_its_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (root_pub, list_pub) = setup_with_folder(dir);
    let token = std::fs::read_to_string(dir.join("t0")).unwrap();
    let (_tool, url, log) = serve_folder(dir, &root_pub, &list_pub);
    assert_eq!(get(&format!("{url}flights/lis/2026-12-01"), &token).0, 200);
    // The source now serves a list whose signature does not verify.
    let list = dir.join("published/list.bin");
    let mut bytes = std::fs::read(&list).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&list, &bytes).unwrap();
    let text = wait_for_log(&log, "refusing the revocation list");
    assert!(text.contains("signature does not verify"), "{text}");
    assert_eq!(get(&format!("{url}flights/lis/2026-12-01"), &token).0, 200);
}

#[test]
fn serve_with_a_resource_id_refuses_tokens_made_for_another_service() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = run(dir, &["keys", "generate", "--out", "root.key"]);
    let root_pub = root["public_key"].as_str().unwrap().to_owned();
    let mint = |audience: &str| {
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
                "--right",
                "flights/*:read",
                "--audience",
                audience,
            ],
        );
        minted["token"].as_str().unwrap().to_owned()
    };
    let for_a = mint("https://a.example/mcp");
    let for_b = mint("https://b.example/mcp");
    let (_tool, tool_url) = start(
        dir,
        &[
            "serve",
            "--root-public-key",
            &root_pub,
            "--listen",
            "127.0.0.1:0",
            "--resource-id",
            "HTTPS://a.example/mcp/",
        ],
    );
    let flights = format!("{tool_url}flights/lis");
    assert_eq!(get(&flights, &for_a).0, 200);
    let (status, body) = get(&flights, &for_b);
    assert_eq!(status, 401);
    assert_eq!(body["reason"], "audience_mismatch");
}
