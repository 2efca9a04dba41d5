//! `--audience` on `mint` and `attenuate`, shown by `inspect`, and
//! `verify --resource-id`: a token made for one service is refused by
//! another.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

const MCP_A: &str = "https://a.example/mcp";

fn cmd(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("agentcap").unwrap();
    c.current_dir(dir)
        .env_remove("AGENTCAP_ROOT_KEY")
        .env_remove("AGENTCAP_SIGNING_KEY")
        .env("AGENTCAP_STATE_DIR", dir.join("state"));
    c
}

/// Runs with `--format json`; returns the exit code and the JSON on stdout.
fn json(dir: &Path, args: &[&str]) -> (i32, Value) {
    let out = cmd(dir)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    let value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap(), value)
}

/// A root key and a token for alice's assistant, for `audiences`, in `t0`;
/// returns the root public key.
fn minted(dir: &Path, audiences: &[&str]) -> String {
    let (code, key) = json(dir, &["keys", "generate", "--out", "root.key"]);
    assert_eq!(code, 0);
    let mut args = vec![
        "mint",
        "--root-key-file",
        "root.key",
        "--user",
        "alice",
        "--agent",
        "assistant",
        "--right",
        "tools/*:call",
    ];
    for a in audiences {
        args.extend(["--audience", a]);
    }
    let (code, token) = json(dir, &args);
    assert_eq!(code, 0);
    std::fs::write(dir.join("t0"), token["token"].as_str().unwrap()).unwrap();
    key["public_key"].as_str().unwrap().to_owned()
}

fn verify(dir: &Path, token: &str, root: &str, resource_id: Option<&str>) -> (i32, Value) {
    let mut args = vec![
        "verify",
        token,
        "--root-public-key",
        root,
        "--request",
        "tools/search:call",
    ];
    if let Some(id) = resource_id {
        args.extend(["--resource-id", id]);
    }
    json(dir, &args)
}

#[test]
fn verify_with_a_resource_id_refuses_a_token_made_for_another_service() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = minted(dir, &[MCP_A]);
    let (code, denied) = verify(dir, "@t0", &root, Some("https://b.example/mcp"));
    assert_eq!(code, 1);
    assert_eq!(denied["reason"], "audience_mismatch");
    assert!(
        denied["explanation"]
            .as_str()
            .unwrap()
            .contains("not issued for this service")
    );
    let (code, allowed) = verify(dir, "@t0", &root, Some("https://A.example/mcp/"));
    assert_eq!(code, 0, "{allowed}");
    assert_eq!(allowed["reason"], "allowed");
    // Without --resource-id, a token that names audiences is refused.
    let (code, anonymous) = verify(dir, "@t0", &root, None);
    assert_eq!(code, 1);
    assert_eq!(anonymous["reason"], "audience_mismatch");
    // An invalid identifier is a usage error, not a denial.
    let (code, _) = verify(dir, "@t0", &root, Some("a.example/mcp"));
    assert_eq!(code, 2);
}

#[test]
fn audiences_are_shown_per_block() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let root = minted(dir, &[MCP_A, "https://b.example/"]);
    let (code, hop) = json(
        dir,
        &[
            "attenuate",
            "@t0",
            "--to",
            "search",
            "--right",
            "tools/search:call",
            "--audience",
            "https://B.example",
        ],
    );
    assert_eq!(code, 0);
    std::fs::write(dir.join("t1"), hop["token"].as_str().unwrap()).unwrap();
    let (code, chain) = json(dir, &["inspect", "@t1", "--root-public-key", &root]);
    assert_eq!(code, 0);
    assert_eq!(
        chain["blocks"][0]["audiences"],
        serde_json::json!(["https://a.example/mcp", "https://b.example"])
    );
    assert_eq!(
        chain["blocks"][1]["audiences"],
        serde_json::json!(["https://b.example"])
    );
    assert_eq!(chain["audiences"], serde_json::json!(["https://b.example"]));
    let text = cmd(dir).args(["inspect", "@t1"]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("audience: https://a.example/mcp, https://b.example"),
        "{text}"
    );
    assert!(text.contains("audience: https://b.example\n"), "{text}");
}

#[test]
fn a_hop_cannot_widen_the_audiences_nor_name_an_invalid_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    minted(dir, &["https://b.example/"]);
    let widen = [
        "attenuate",
        "@t0",
        "--to",
        "other",
        "--right",
        "tools/search:call",
        "--audience",
        MCP_A,
    ];
    let out = cmd(dir).args(widen).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let bad = cmd(dir)
        .args([
            "attenuate",
            "@t1",
            "--to",
            "x",
            "--right",
            "tools/search:call",
        ])
        .args(["--audience", "https://u:hunter2@b.example"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&bad.stderr).contains("hunter2"));
}
