//! Black-box tests of the `agentcap` binary: every command's happy path
//! and its failures, with exit codes and JSON output checked.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

/// A scratch folder and a way to run `agentcap` in it with a clean
/// environment.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("agentcap").unwrap();
        c.current_dir(self.dir.path())
            .env_remove("AGENTCAP_ROOT_KEY")
            .env_remove("AGENTCAP_SIGNING_KEY")
            .env_remove("AGENTCAP_LIST_SIGNING_KEY")
            .env("AGENTCAP_STATE_DIR", self.dir.path().join("state"));
        c
    }

    /// Runs with `--format json`, expects success, returns the JSON.
    fn json(&self, args: &[&str]) -> Value {
        let out = self
            .cmd()
            .args(args)
            .args(["--format", "json"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    }

    /// Generates a key file, returns its public key.
    fn key(&self, name: &str) -> String {
        let v = self.json(&["keys", "generate", "--out", name]);
        let public = v["public_key"].as_str().unwrap().to_owned();
        std::fs::write(self.path(&format!("{name}.pub")), &public).unwrap();
        public
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }
}

/// alice → travel-assistant → flight-search → scraper, all hops signed.
/// Token files t0, t1, t2; keys root, assistant, search.
fn delegation(s: &Scratch) {
    s.key("root.key");
    s.key("assistant.key");
    s.key("search.key");
    let t0 = s.json(&[
        "mint",
        "--root-key-file",
        "root.key",
        "--user",
        "alice",
        "--agent",
        "travel-assistant",
        "--agent-public-key",
        "@assistant.key.pub",
        "--right",
        "flights/*:read",
        "--right",
        "payments/charge:write",
        "--cap",
        "payments/charge:write:amount<=500",
        "--ttl",
        "1h",
        "--intent",
        "Book me a flight to Lisbon",
        "--tenant",
        "acme",
    ]);
    s.write("t0", t0["token"].as_str().unwrap());
    let t1 = s.json(&[
        "attenuate",
        "@t0",
        "--to",
        "flight-search",
        "--signing-key-file",
        "assistant.key",
        "--to-public-key",
        "@search.key.pub",
        "--right",
        "flights/*:read",
        "--ttl",
        "10m",
    ]);
    s.write("t1", t1["token"].as_str().unwrap());
    let t2 = s.json(&[
        "attenuate",
        "@t1",
        "--to",
        "scraper",
        "--signing-key-file",
        "search.key",
        "--right",
        "flights/lis/*:read",
        "--ttl",
        "5m",
    ]);
    s.write("t2", t2["token"].as_str().unwrap());
}

fn verify_json(s: &Scratch, token: &str, request: &str, extra: &[&str]) -> (i32, Value) {
    let out = s
        .cmd()
        .args([
            "verify",
            token,
            "--root-public-key",
            "@root.key.pub",
            "--request",
            request,
            "--format",
            "json",
        ])
        .args(extra)
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let v = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, v)
}

#[test]
fn keys_generate_writes_an_owner_only_file_and_prints_the_public_key() {
    let s = Scratch::new();
    let out = s
        .cmd()
        .args(["keys", "generate", "--out", "k"])
        .assert()
        .success()
        .stderr(predicate::str::contains("0600"))
        .get_output()
        .stdout
        .clone();
    let public = String::from_utf8(out).unwrap();
    assert!(public.starts_with("ed25519/"), "{public}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.path("k")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let v = s.json(&["keys", "public", "--key-file", "k"]);
    assert_eq!(v["public_key"].as_str().unwrap(), public.trim());
}

#[test]
fn keys_generate_refuses_to_overwrite_without_force() {
    let s = Scratch::new();
    let first = s.key("k");
    let before = s.read("k");
    s.cmd()
        .args(["keys", "generate", "--out", "k"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--force"));
    assert_eq!(s.read("k"), before, "the key file was changed");
    let second = s.json(&["keys", "generate", "--out", "k", "--force"]);
    assert_ne!(second["public_key"].as_str().unwrap(), first);
}

#[test]
fn a_private_key_passed_where_a_file_is_expected_is_refused_without_echo() {
    let s = Scratch::new();
    s.key("root.key");
    let secret = s.read("root.key").trim().to_owned();
    let hex = secret.trim_start_matches("ed25519-private/").to_owned();
    for value in [secret.as_str(), hex.as_str()] {
        let out = s
            .cmd()
            .args([
                "mint",
                "--root-key-file",
                value,
                "--user",
                "u",
                "--agent",
                "a",
            ])
            .args(["--right", "x:read"])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("looks like a private key"), "{stderr}");
        assert!(!stderr.contains(&hex), "the secret was echoed: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    // Also where a list signing key file is expected.
    let out = s
        .cmd()
        .args(["revocation", "publish", "--store", "st", "--out", "pub"])
        .args(["--signing-key-file", &secret])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(!String::from_utf8(out.stderr).unwrap().contains(&hex));
}

#[test]
fn secrets_are_read_from_the_environment_and_stdin() {
    let s = Scratch::new();
    let public = s.key("root.key");
    let secret = s.read("root.key");
    let mint = ["mint", "--user", "u", "--agent", "a", "--right", "x:read"];
    let token = s
        .cmd()
        .args(mint)
        .env("AGENTCAP_ROOT_KEY", &secret)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let token = String::from_utf8(token).unwrap();
    s.cmd()
        .args(["inspect", token.trim(), "--root-public-key", &public])
        .assert()
        .success()
        .stdout(predicate::str::contains("signatures verified"));
    s.cmd()
        .args(mint)
        .args(["--root-key-file", "-"])
        .write_stdin(secret)
        .assert()
        .success();
}

#[test]
fn a_missing_key_file_is_an_io_error() {
    let s = Scratch::new();
    s.cmd()
        .args(["mint", "--root-key-file", "nope.key", "--user", "u"])
        .args(["--agent", "a", "--right", "x:read"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nope.key"));
    s.cmd()
        .args(["mint", "--user", "u", "--agent", "a", "--right", "x:read"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("AGENTCAP_ROOT_KEY"));
}

#[test]
fn usage_errors_exit_2_and_help_shows_an_example() {
    let s = Scratch::new();
    s.cmd().args(["mint", "--bogus"]).assert().code(2);
    s.cmd().args(["frobnicate"]).assert().code(2);
    s.cmd()
        .args([
            "mint",
            "--root-key-file",
            "k",
            "--user",
            "u",
            "--agent",
            "a",
        ])
        .args(["--right", "no-colon"])
        .assert()
        .code(2);
    for cmd in [
        vec!["keys", "generate"],
        vec!["keys", "public"],
        vec!["mint"],
        vec!["attenuate"],
        vec!["narrow"],
        vec!["inspect"],
        vec!["verify"],
        vec!["revoke"],
        vec!["revocation", "init"],
        vec!["revocation", "list"],
        vec!["revocation", "publish"],
        vec!["revocation", "serve"],
        vec!["serve"],
        vec!["audit", "query"],
        vec!["completions"],
        vec!["demo"],
    ] {
        s.cmd()
            .args(&cmd)
            .arg("--help")
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
}

#[test]
fn mint_attenuate_and_inspect_show_the_whole_chain() {
    let s = Scratch::new();
    delegation(&s);
    let v = s.json(&["inspect", "@t2", "--root-public-key", "@root.key.pub"]);
    assert_eq!(v["user"], "alice");
    assert_eq!(v["tenant"], "acme");
    assert_eq!(v["intent"], "Book me a flight to Lisbon");
    assert_eq!(v["verified"], true);
    assert_eq!(
        v["agents"],
        serde_json::json!(["travel-assistant", "flight-search", "scraper"])
    );
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 3);
    assert_eq!(blocks[0]["signer"]["kind"], "root");
    assert_eq!(
        blocks[0]["caps"],
        serde_json::json!(["payments/charge:write:amount<=500"])
    );
    assert_eq!(blocks[1]["delegation_proven"], true);
    assert_eq!(blocks[1]["signer"]["is_delegator"], true);
    assert_eq!(
        blocks[2]["rights"],
        serde_json::json!(["flights/lis/*:read"])
    );
    assert_eq!(v["revocation_ids"].as_array().unwrap().len(), 3);

    // Without a root key: readable, but marked unverified.
    let v = s.json(&["inspect", "@t2"]);
    assert_eq!(v["verified"], false);
    s.cmd()
        .args(["inspect", "@t2"])
        .assert()
        .success()
        .stdout(predicate::str::contains("NOT verified"))
        .stdout(predicate::str::contains("→ scraper"));

    // From stdin.
    s.cmd()
        .args(["inspect", "-", "--root-public-key", "@root.key.pub"])
        .write_stdin(s.read("t1"))
        .assert()
        .success()
        .stdout(predicate::str::contains("travel-assistant's key"));

    // Against the wrong root key: invalid.
    s.cmd()
        .args(["inspect", "@t2", "--root-public-key", "@search.key.pub"])
        .assert()
        .code(1);
}

#[test]
fn attenuate_refuses_more_rights_and_a_wrong_signing_key() {
    let s = Scratch::new();
    delegation(&s);
    s.cmd()
        .args([
            "attenuate",
            "@t1",
            "--to",
            "x",
            "--signing-key-file",
            "search.key",
        ])
        .args(["--right", "payments/charge:write"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not hold"));
    s.cmd()
        .args([
            "attenuate",
            "@t1",
            "--to",
            "x",
            "--signing-key-file",
            "assistant.key",
        ])
        .args(["--right", "flights/*:read"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("not the key bound"));
    s.cmd()
        .args(["attenuate", "@t1", "--to", "x", "--right", "flights/*:read"])
        .assert()
        .code(1);
}

#[test]
fn verify_allows_inside_the_chain_and_denies_outside() {
    let s = Scratch::new();
    delegation(&s);
    let (code, v) = verify_json(&s, "@t2", "flights/lis/2026-12-01:read", &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["user"], "alice");

    let (code, v) = verify_json(&s, "@t2", "flights/opo/x:read", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["decision"], "deny");

    // Caps: within and beyond.
    let (code, _) = verify_json(
        &s,
        "@t0",
        "payments/charge:write",
        &["--fact", "amount=120"],
    );
    assert_eq!(code, 0);
    let (code, _) = verify_json(
        &s,
        "@t0",
        "payments/charge:write",
        &["--fact", "amount=900"],
    );
    assert_eq!(code, 1);

    // Human output explains.
    s.cmd()
        .args(["verify", "@t2", "--root-public-key", "@root.key.pub"])
        .args(["--request", "payments/charge:write"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("DENY"));
}

#[test]
fn verify_denies_a_wrong_root_key_a_malformed_and_a_tampered_token() {
    let s = Scratch::new();
    delegation(&s);
    let out = s
        .cmd()
        .args(["verify", "@t1", "--root-public-key", "@search.key.pub"])
        .args(["--request", "flights/x:read", "--format", "json"])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["decision"], "deny");

    let (code, v) = verify_json(&s, "not-a-token", "flights/x:read", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["reason"], "malformed");

    // Flip one character in the middle of the token.
    let mut token = s.read("t1").trim().to_owned().into_bytes();
    let i = token.len() / 2;
    token[i] = if token[i] == b'A' { b'B' } else { b'A' };
    s.write("tampered", &String::from_utf8(token).unwrap());
    let (code, v) = verify_json(&s, "@tampered", "flights/x:read", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["decision"], "deny");

    // A missing token file is an I/O error, not a denial.
    let (code, _) = verify_json(&s, "@missing", "flights/x:read", &[]);
    assert_eq!(code, 2);
}

#[test]
fn verify_denies_an_expired_token() {
    let s = Scratch::new();
    s.key("root.key");
    let root = agentcap::KeyPair::load(s.path("root.key")).unwrap();
    let token = agentcap::Grant::new("alice", "assistant")
        .right("mail/*", "read")
        .issued_at(SystemTime::now() - Duration::from_secs(120))
        .ttl(Duration::from_secs(60))
        .mint(&root)
        .unwrap();
    s.write("old", &token.to_base64().unwrap());
    let (code, v) = verify_json(&s, "@old", "mail/inbox:read", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["reason"], "expired");
    s.cmd()
        .args(["attenuate", "@old", "--to", "x", "--right", "mail/*:read"])
        .assert()
        .code(1);
}

#[test]
fn narrow_restricts_to_one_resource() {
    let s = Scratch::new();
    delegation(&s);
    let v = s.json(&[
        "narrow",
        "@t1",
        "--right",
        "flights/lis/x:read",
        "--ttl",
        "30s",
    ]);
    s.write("n", v["token"].as_str().unwrap());
    assert_eq!(verify_json(&s, "@n", "flights/lis/x:read", &[]).0, 0);
    assert_eq!(verify_json(&s, "@n", "flights/lis/y:read", &[]).0, 1);
}

#[test]
fn cli_tokens_verify_with_plain_biscuit_auth() {
    let s = Scratch::new();
    delegation(&s);
    let root = agentcap::PublicKey::from_text(&s.read("root.key.pub")).unwrap();
    for t in ["t0", "t1", "t2"] {
        let token = biscuit_auth::Biscuit::from_base64(s.read(t).trim(), root.to_biscuit())
            .expect("biscuit-auth accepts the CLI's token");
        assert_eq!(token.block_count(), t[1..].parse::<usize>().unwrap() + 1);
    }
    let other = biscuit_auth::KeyPair::new();
    assert!(biscuit_auth::Biscuit::from_base64(s.read("t2").trim(), other.public()).is_err());
}

/// `revocation init --store STORE --signing-key-file KEY`, as JSON.
fn revocation_init(s: &Scratch, store: &str, key: &str) -> Value {
    s.json(&[
        "revocation",
        "init",
        "--store",
        store,
        "--signing-key-file",
        key,
    ])
}

/// `revoke TOKEN` into `store`, publishing to `published/`, as JSON.
fn revoke_and_publish(s: &Scratch, token: &str) -> Value {
    s.json(&[
        "revoke",
        token,
        "--store",
        "store",
        "--signing-key-file",
        "list.key",
        "--out",
        "published",
    ])
}

fn init_store(s: &Scratch) -> String {
    let v = revocation_init(s, "store", "list.key");
    let public = v["public_key"].as_str().unwrap().to_owned();
    assert_eq!(v["key_created"], true);
    s.write("list.pub", &public);
    public
}

#[test]
fn revoking_a_middle_hop_denies_its_descendants_only() {
    let s = Scratch::new();
    delegation(&s);
    init_store(&s);
    let rev = [
        "--revocation-list",
        "published",
        "--revocation-public-key",
        "@list.pub",
    ];
    s.json(&[
        "revocation",
        "publish",
        "--store",
        "store",
        "--signing-key-file",
        "list.key",
        "--out",
        "published",
    ]);
    assert_eq!(verify_json(&s, "@t2", "flights/lis/x:read", &rev).0, 0);

    // Revoke flight-search's hop (block 1).
    let v = revoke_and_publish(&s, "@t1");
    assert_eq!(v["revoked"][0]["block"], 1);
    assert_eq!(v["revoked"][0]["holder"], "flight-search");

    let (code, v) = verify_json(&s, "@t2", "flights/lis/x:read", &rev);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["reason"], "revoked");
    assert_eq!(v["revoked_block"], 1);
    assert_eq!(verify_json(&s, "@t1", "flights/lis/x:read", &rev).0, 1);
    let (code, v) = verify_json(&s, "@t0", "flights/lis/x:read", &rev);
    assert_eq!(code, 0, "the parent stays allowed: {v}");

    // The store lists the entry; a store folder works as a source too.
    let v = s.json(&["revocation", "list", "--store", "store"]);
    assert_eq!(v["entries"].as_array().unwrap().len(), 1);
    let from_store = [
        "--revocation-list",
        "store",
        "--revocation-public-key",
        "@list.pub",
    ];
    assert_eq!(
        verify_json(&s, "@t2", "flights/lis/x:read", &from_store).0,
        1
    );

    // A list signed by another key is refused.
    s.key("other.key");
    let wrong = init_store_other(&s);
    let bad = [
        "--revocation-list",
        "published",
        "--revocation-public-key",
        &wrong,
    ];
    assert_eq!(verify_json(&s, "@t0", "flights/lis/x:read", &bad).0, 1);
}

fn init_store_other(s: &Scratch) -> String {
    let v = revocation_init(s, "store2", "list2.key");
    v["public_key"].as_str().unwrap().to_owned()
}

#[test]
fn revoke_by_id_and_revocation_init_reuses_its_key() {
    let s = Scratch::new();
    delegation(&s);
    let public = init_store(&s);
    let v = revocation_init(&s, "store", "list.key");
    assert_eq!(v["key_created"], false);
    assert_eq!(v["public_key"], public.as_str());

    let chain = s.json(&["inspect", "@t2"]);
    let id = chain["revocation_ids"][2].as_str().unwrap().to_owned();
    let v = s.json(&[
        "revoke",
        "--id",
        &id,
        "--store",
        "store",
        "--signing-key-file",
        "list.key",
        "--out",
        "published",
    ]);
    assert!(v["sequence"].as_u64().unwrap() >= 2);
    let rev = [
        "--revocation-list",
        "published",
        "--revocation-public-key",
        "@list.pub",
    ];
    assert_eq!(verify_json(&s, "@t2", "flights/lis/x:read", &rev).0, 1);
    assert_eq!(verify_json(&s, "@t1", "flights/lis/x:read", &rev).0, 0);

    // Revoking into a folder that is not a store is a usage error.
    s.cmd()
        .args([
            "revoke",
            "--id",
            &id,
            "--store",
            "nowhere",
            "--signing-key-file",
            "list.key",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("revocation init"));
}

#[test]
fn audit_query_filters_records() {
    let s = Scratch::new();
    let lines = [
        r#"{"time":"2026-01-01T10:00:00Z","decision":"allow","reason":"allowed","user":"alice","agents":["travel-assistant","flight-search"],"method":"GET","path":"/flights/lis"}"#,
        r#"{"time":"2026-01-01T10:05:00Z","decision":"deny","reason":"revoked","user":"alice","agents":["travel-assistant","flight-search","scraper"],"method":"GET","path":"/flights/lis"}"#,
        r#"{"time":"2026-01-01T11:00:00Z","decision":"allow","reason":"allowed","user":"bob","agents":["mailer"],"method":"GET","path":"/mail"}"#,
    ];
    s.write("audit.jsonl", &(lines.join("\n") + "\n"));
    let q = |extra: &[&str]| {
        let mut args = vec!["audit", "query", "--log", "audit.jsonl"];
        args.extend_from_slice(extra);
        s.json(&args)["count"].as_u64().unwrap()
    };
    assert_eq!(q(&[]), 3);
    assert_eq!(q(&["--user", "alice"]), 2);
    assert_eq!(q(&["--agent", "scraper"]), 1);
    assert_eq!(q(&["--decision", "deny"]), 1);
    assert_eq!(q(&["--since", "2026-01-01T10:01:00Z"]), 2);
    assert_eq!(
        q(&["--until", "2026-01-01T10:01:00Z", "--decision", "allow"]),
        1
    );
    s.cmd()
        .args(["audit", "query", "--log", "audit.jsonl", "--user", "bob"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ALLOW"));
    s.cmd()
        .args(["audit", "query", "--log", "missing.jsonl"])
        .assert()
        .code(2);
}

#[test]
fn completions_are_printed() {
    Scratch::new()
        .cmd()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("agentcap"));
}

#[test]
fn verify_applies_a_service_policy_with_request_facts() {
    let s = Scratch::new();
    delegation(&s);
    s.write(
        "policy.dl",
        "allow if user($u), $u != \"mallory\", region(\"eu\");\n",
    );
    let policy = ["--policy-file", "policy.dl"];
    let (code, v) = verify_json(
        &s,
        "@t2",
        "flights/lis/x:read",
        &[&policy[..], &["--fact", "region=eu"]].concat(),
    );
    assert_eq!(code, 0, "{v}");
    let (code, v) = verify_json(
        &s,
        "@t2",
        "flights/lis/x:read",
        &[&policy[..], &["--fact", "region=us"]].concat(),
    );
    assert_eq!(code, 1);
    assert_eq!(v["reason"], "policy_denied");
    // A policy that does not parse, or a missing file: usage / I/O errors.
    s.write("bad.dl", "allow if (((\n");
    let (code, _) = verify_json(
        &s,
        "@t2",
        "flights/lis/x:read",
        &["--policy-file", "bad.dl"],
    );
    assert_eq!(code, 2);
    let (code, _) = verify_json(
        &s,
        "@t2",
        "flights/lis/x:read",
        &["--policy-file", "none.dl"],
    );
    assert_eq!(code, 2);
}

#[test]
fn errors_in_json_mode_are_one_json_line_on_stderr() {
    let s = Scratch::new();
    let out = s
        .cmd()
        .args([
            "keys",
            "public",
            "--key-file",
            "missing.key",
            "--format",
            "json",
        ])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let v: Value = serde_json::from_str(&stderr).unwrap();
    assert_eq!(v["kind"], "io");
}

#[test]
fn a_private_key_is_never_written_to_stdout_or_accepted_as_a_public_key() {
    let s = Scratch::new();
    s.cmd()
        .args(["keys", "generate", "--out", "-"])
        .assert()
        .code(2);
    s.key("root.key");
    let secret = s.read("root.key");
    let out = s
        .cmd()
        .args(["inspect", "x", "--root-public-key", secret.trim()])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains(secret.trim().trim_start_matches("ed25519-private/")));
    // Nor as a token.
    s.cmd()
        .args(["inspect", secret.trim()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("looks like a private key"));
}

/// Mints with `extra` arguments (root key `root.key`), returns the token.
fn mint(s: &Scratch, user: &str, agent: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "mint",
        "--root-key-file",
        "root.key",
        "--user",
        user,
        "--agent",
        agent,
        "--ttl",
        "1h",
    ];
    args.extend_from_slice(extra);
    s.json(&args)["token"].as_str().unwrap().to_owned()
}

#[test]
fn a_cap_on_one_tool_does_not_block_another_tool_with_the_same_operation() {
    let s = Scratch::new();
    s.key("root.key");
    let token = mint(
        &s,
        "alice",
        "assistant",
        &[
            "--right",
            "tools/*:call",
            "--cap",
            "tools/buy:call:max_price<=500",
        ],
    );
    s.write("t", &token);
    assert_eq!(verify_json(&s, "@t", "tools/search:call", &[]).0, 0);
    let (code, v) = verify_json(&s, "@t", "tools/buy:call", &["--fact", "max_price=600"]);
    assert_eq!(code, 1);
    let why = v["explanation"].as_str().unwrap();
    assert!(
        why.contains("on tools/buy") && why.contains("caps max_price at 500"),
        "{why}"
    );
    assert_eq!(
        verify_json(&s, "@t", "tools/buy:call", &["--fact", "max_price=500"]).0,
        0
    );
    // The old form still reads, meaning every resource.
    let old = mint(
        &s,
        "alice",
        "assistant",
        &["--right", "tools/*:call", "--cap", "call:max_price<=5"],
    );
    s.write("old", &old);
    let v = s.json(&["inspect", "@old"]);
    assert_eq!(
        v["blocks"][0]["caps"],
        serde_json::json!(["*:call:max_price<=5"])
    );
}

#[test]
fn below_minimum_amounts_are_refused_and_looser_caps_cannot_be_delegated() {
    let s = Scratch::new();
    s.key("root.key");
    let token = mint(
        &s,
        "alice",
        "shopper",
        &[
            "--right",
            "payments/charge:write",
            "--cap",
            "payments/charge:write:10<=amount<=500",
        ],
    );
    s.write("t", &token);
    for amount in ["amount=-100000", "amount=9"] {
        let (code, v) = verify_json(&s, "@t", "payments/charge:write", &["--fact", amount]);
        assert_eq!(code, 1, "{amount}: {v}");
    }
    assert_eq!(
        verify_json(&s, "@t", "payments/charge:write", &["--fact", "amount=10"]).0,
        0
    );
    s.cmd()
        .args([
            "attenuate",
            "@t",
            "--to",
            "sub",
            "--right",
            "payments/charge:write",
            "--cap",
            "payments/*:write:0<=amount<=100",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("looser"));
}

/// A name that, printed raw, would end its line and forge a signed hop.
const FORGERY: &str = "evil\n   └─ → travel-assistant   [block 1 · hop · signed by travel-assistant's key ✓]\u{1b}[2K\u{202e}";

fn assert_no_forgery(text: &str) {
    assert!(!text.contains('\u{1b}'), "escape sequence printed: {text}");
    assert!(!text.contains('\u{202e}'), "bidi override printed: {text}");
    assert!(
        !text.contains("\n   └─ → travel-assistant"),
        "forged line printed: {text}"
    );
}

#[test]
fn names_cannot_forge_lines_or_drive_the_terminal() {
    let s = Scratch::new();
    s.key("root.key");
    let token = mint(
        &s,
        FORGERY,
        FORGERY,
        &["--right", "flights/*:read", "--intent", FORGERY],
    );
    s.write("t0", &token);
    let child = s.json(&[
        "attenuate",
        "@t0",
        "--to",
        FORGERY,
        "--right",
        "flights/*:read",
    ]);
    s.write("t1", child["token"].as_str().unwrap());
    for args in [
        vec!["inspect", "@t1", "--root-public-key", "@root.key.pub"],
        vec!["inspect", "@t1"],
    ] {
        let out = s.cmd().args(&args).assert().success().get_output().clone();
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_no_forgery(&stdout);
        assert!(stdout.contains("evil\\u{a}"), "{stdout}");
    }
    // JSON stays exact.
    let v = s.json(&["inspect", "@t1"]);
    assert_eq!(v["user"], FORGERY);
    // The verifier's explanation is escaped.
    let (_, v) = verify_json(&s, "@t1", "flights/x:read", &[]);
    assert_no_forgery(v["explanation"].as_str().unwrap());
    let (_, v) = verify_json(&s, "@t1", "hotels/x:read", &[]);
    assert_no_forgery(v["explanation"].as_str().unwrap());
}

#[test]
fn a_hop_bound_by_a_claimed_key_is_not_shown_as_proven() {
    let s = Scratch::new();
    s.key("root.key");
    let mallory = s.key("mallory.key");
    // The grant binds no key; an unsigned hop then claims one for "mallory".
    let token = mint(
        &s,
        "alice",
        "travel-assistant",
        &["--right", "flights/*:read"],
    );
    s.write("t0", &token);
    let t1 = s.json(&[
        "attenuate",
        "@t0",
        "--to",
        "mallory",
        "--to-public-key",
        &mallory,
        "--right",
        "flights/*:read",
    ]);
    s.write("t1", t1["token"].as_str().unwrap());
    let t2 = s.json(&[
        "attenuate",
        "@t1",
        "--to",
        "x",
        "--signing-key-file",
        "mallory.key",
        "--right",
        "flights/*:read",
    ]);
    s.write("t2", t2["token"].as_str().unwrap());
    let v = s.json(&["inspect", "@t2", "--root-public-key", "@root.key.pub"]);
    assert_eq!(v["verified"], true);
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["delegation_proven"], true);
    assert_eq!(blocks[1]["delegation_proven"], false);
    assert_eq!(blocks[1]["holder_key_proven"], false);
    assert_eq!(blocks[2]["signer"]["is_delegator"], false);
    assert_eq!(blocks[2]["delegation_proven"], false);
    let out = s
        .cmd()
        .args(["inspect", "@t2", "--root-public-key", "@root.key.pub"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let hop2 = stdout.lines().find(|l| l.contains("[block 2")).unwrap();
    assert!(
        !hop2.contains('✓') && !hop2.contains("mallory's key"),
        "{hop2}"
    );
    assert!(stdout.contains("(a claim, not proven)"), "{stdout}");
}

/// A raw biscuit-auth token in agentcap's vocabulary whose expiry is `expires`,
/// written with biscuit-auth alone (values passed as parameters).
fn raw_token(root: &biscuit_auth::KeyPair, expires: u64) -> String {
    use biscuit_auth::builder::Term;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let params = std::collections::HashMap::from([
        ("now".to_owned(), Term::Date(now)),
        ("expires".to_owned(), Term::Date(expires)),
    ]);
    let block = biscuit_auth::builder::BlockBuilder::new()
        .code_with_params(
            r#"agentcap(1); user("alice"); agent("bot"); issued_at({now});
            check if time($time), $time <= {expires};
            check if resource($resource), operation("read"), $resource.starts_with("flights/");"#,
            params,
            std::collections::HashMap::new(),
        )
        .unwrap();
    biscuit_auth::Biscuit::builder()
        .merge(block)
        .build(root)
        .unwrap()
        .to_base64()
        .unwrap()
}

#[test]
fn a_token_expiring_after_year_9999_is_shown_without_a_panic() {
    let s = Scratch::new();
    let root = biscuit_auth::KeyPair::new();
    s.write("root.key.pub", &root.public().to_string());
    for expires in [253_402_300_800 + 3600, i64::MAX as u64, u64::MAX] {
        s.write("t", &raw_token(&root, expires));
        for format in ["human", "json"] {
            let code = s
                .cmd()
                .args(["inspect", "@t", "--root-public-key", "@root.key.pub"])
                .args(["--format", format])
                .output()
                .unwrap()
                .status
                .code();
            assert!(matches!(code, Some(0 | 1)), "inspect {expires}: {code:?}");
            let code = s
                .cmd()
                .args(["verify", "@t", "--root-public-key", "@root.key.pub"])
                .args(["--request", "flights/x:read", "--format", format])
                .output()
                .unwrap()
                .status
                .code();
            assert!(matches!(code, Some(0 | 1)), "verify {expires}: {code:?}");
        }
    }
    // The first one reads fine, its date saturated at the last second
    // every time conversion uses (agentcap::unix_time).
    s.write("t", &raw_token(&root, 253_402_300_800 + 3600));
    s.cmd()
        .args(["inspect", "@t", "--root-public-key", "@root.key.pub"])
        .assert()
        .success()
        .stdout(predicate::str::contains("9999-12-31T23:59:59Z"));
}

#[test]
fn a_private_key_or_bare_hex_is_refused_as_a_public_key_without_echo() {
    let s = Scratch::new();
    s.key("root.key");
    s.cmd()
        .args([
            "keys",
            "generate",
            "--out",
            "agent.pem",
            "--pem",
            "--format",
            "json",
        ])
        .assert()
        .success();
    let secret = s.read("root.key");
    let hex = secret
        .trim()
        .trim_start_matches("ed25519-private/")
        .to_owned();
    s.write("bare.hex", &hex);
    for arg in ["@root.key", "@bare.hex", "@agent.pem", "bare.hex"] {
        let out = s
            .cmd()
            .args([
                "mint",
                "--root-key-file",
                "root.key",
                "--user",
                "alice",
                "--agent",
                "bot",
                "--right",
                "a:read",
                "--agent-public-key",
                arg,
            ])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.contains(&hex[..16]), "{arg}: {stderr}");
        assert!(out.stdout.is_empty(), "{arg}: a token was minted");
    }
    // Bare hex as the argument itself: refused, not echoed.
    let out = s
        .cmd()
        .args(["inspect", "x", "--root-public-key", &hex])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(!String::from_utf8(out.stderr).unwrap().contains(&hex[..16]));
    // The documented flow still works: `keys generate` prints ed25519/<hex>.
    s.key("agent.key");
    mint(
        &s,
        "alice",
        "bot",
        &["--right", "a:read", "--agent-public-key", "@agent.key.pub"],
    );
}

#[test]
fn audit_query_shows_claimed_names_as_such_and_escaped() {
    let s = Scratch::new();
    let record = serde_json::json!({
        "time": "2026-01-01T10:00:00Z",
        "decision": "deny",
        "reason": "bad_signature",
        "user": FORGERY,
        "agents": ["travel-assistant", FORGERY],
        "chain_verified": false,
        "user_proven": false,
        "agents_proven": [false, false],
        "resource": "payments/charge",
        "operation": "write",
    });
    let proven = serde_json::json!({
        "time": "2026-01-01T10:00:00Z",
        "decision": "allow",
        "reason": "allowed",
        "user": "bob",
        "agents": ["mailer", "helper"],
        "chain_verified": true,
        "user_proven": true,
        "agents_proven": [true, false],
        "resource": "mail",
        "operation": "read",
        "time_overflow": 1,
    });
    // Not an audit record (its time is not RFC 3339): skipped, and counted.
    let huge_time = r#"{"time": 18446744073709551615, "decision": "allow", "user": "carol"}"#;
    s.write("audit.jsonl", &format!("{record}\n{proven}\n{huge_time}\n"));
    let out = s
        .cmd()
        .args(["audit", "query", "--log", "audit.jsonl"])
        .assert()
        .success()
        .get_output()
        .clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_no_forgery(&stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("skipped 1 line"), "{stderr}");
    assert!(lines[0].contains("evil\\u{a}") && lines[0].contains("(claimed)"));
    assert!(
        lines[0].contains("travel-assistant (claimed)"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("bob → mailer → helper (claimed)"),
        "{}",
        lines[1]
    );
}

#[test]
fn a_generated_key_signs_revocation_lists_and_its_printed_key_verifies_them() {
    for pem in [false, true] {
        let s = Scratch::new();
        delegation(&s);
        let mut generate = vec!["keys", "generate", "--out", "list.key"];
        if pem {
            generate.push("--pem");
        }
        let generated = s.json(&generate)["public_key"].as_str().unwrap().to_owned();
        assert!(generated.starts_with("ed25519/"), "{generated}");

        // `revocation init` takes the generated key as it is, and prints
        // the same public key, in the same form.
        let v = revocation_init(&s, "store", "list.key");
        assert_eq!(v["key_created"], false);
        assert_eq!(v["public_key"], generated.as_str());
        revoke_and_publish(&s, "@t1");
        let rev = [
            "--revocation-list",
            "published",
            "--revocation-public-key",
            &generated,
        ];
        let (code, v) = verify_json(&s, "@t2", "flights/lis/x:read", &rev);
        assert_eq!(code, 1, "{v}");
        assert_eq!(v["reason"], "revoked");
        assert_eq!(verify_json(&s, "@t0", "flights/lis/x:read", &rev).0, 0);

        // The PEM form of the public key works too; bare hex does not.
        let public_pem = s
            .cmd()
            .args(["keys", "public", "--key-file", "list.key", "--pem"])
            .output()
            .unwrap()
            .stdout;
        s.write("list.pub.pem", &String::from_utf8(public_pem).unwrap());
        let rev = [
            "--revocation-list",
            "published",
            "--revocation-public-key",
            "@list.pub.pem",
        ];
        assert_eq!(verify_json(&s, "@t0", "flights/lis/x:read", &rev).0, 0);
        let bare = generated.trim_start_matches("ed25519/");
        let rev = [
            "--revocation-list",
            "published",
            "--revocation-public-key",
            bare,
        ];
        assert_eq!(verify_json(&s, "@t0", "flights/lis/x:read", &rev).0, 2);
    }
}

#[test]
fn verify_with_several_tokens_allows_only_what_every_principal_allows() {
    let s = Scratch::new();
    s.key("root.key");
    let budget = ["--right", "finance/budget/*:read"];
    let both = [
        "--right",
        "finance/budget/*:read",
        "--right",
        "finance/salaries/*:read",
    ];
    s.write("cfo", &mint(&s, "cfo", "channel-assistant", &both));
    s.write("ana", &mint(&s, "ana", "channel-assistant", &both));
    s.write("bo", &mint(&s, "bo", "channel-assistant", &budget));
    let run = |request: &str, tokens: &[&str]| {
        let mut args = vec![
            "verify",
            "--root-public-key",
            "@root.key.pub",
            "--request",
            request,
            "--format",
            "json",
        ];
        for token in tokens {
            args.extend(["--token", token]);
        }
        let out = s.cmd().args(&args).output().unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), v)
    };
    let (code, v) = run("finance/budget/q3:read", &["@cfo", "@ana", "@bo"]);
    assert_eq!(code, 0, "{v}");
    let users: Vec<&str> = v["joint"]["principals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["cfo", "ana", "bo"]);

    let (code, v) = run("finance/salaries/q3:read", &["@cfo", "@ana", "@bo"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["reason"], "joint_denied");
    assert_eq!(v["joint"]["refused_by"], 2);
    assert_eq!(v["joint"]["principals"][2]["reason"], "policy_denied");
    assert!(
        v["explanation"]
            .as_str()
            .unwrap()
            .contains("principal 2 (bo) refused"),
        "{v}"
    );
    let (code, _) = run("finance/salaries/q3:read", &["@cfo", "@ana"]);
    assert_eq!(code, 0);

    // The positional token is the acting one; --token adds principals.
    let out = s
        .cmd()
        .args([
            "verify",
            "@cfo",
            "--token",
            "@bo",
            "--root-public-key",
            "@root.key.pub",
            "--request",
            "finance/salaries/q3:read",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("principal 1: bo via channel-assistant: policy_denied"),
        "{text}"
    );
}
