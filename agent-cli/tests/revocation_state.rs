//! `agentcap verify` keeps the revocation state across runs: an older
//! signed list, or a list older than its own head, is not accepted as
//! current; the revocation download is bounded; `--clock-skew`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A scratch folder with its own revocation state folder.
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

    fn state_dir(&self) -> PathBuf {
        self.path("state")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(assert_cmd::cargo::cargo_bin("agentcap"))
            .current_dir(self.dir.path())
            .env_remove("AGENTCAP_ROOT_KEY")
            .env_remove("AGENTCAP_SIGNING_KEY")
            .env_remove("AGENTCAP_LIST_SIGNING_KEY")
            .env("AGENTCAP_STATE_DIR", self.state_dir())
            .args(args)
            .args(["--format", "json"])
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Root key, a token `t0` for alice's assistant, a revocation store
    /// (list key public part returned) with its first list exported to
    /// `published/`.
    fn setup(&self) -> (String, String) {
        let root = self.json(&["keys", "generate", "--out", "root.key"]);
        let root_pub = root["public_key"].as_str().unwrap().to_owned();
        let t0 = self.json(&[
            "mint",
            "--root-key-file",
            "root.key",
            "--user",
            "alice",
            "--agent",
            "assistant",
            "--right",
            "flights/*:read",
        ]);
        std::fs::write(self.path("t0"), t0["token"].as_str().unwrap()).unwrap();
        let init = self.json(&[
            "revocation",
            "init",
            "--store",
            "store",
            "--signing-key-file",
            "list.key",
        ]);
        let list_pub = init["public_key"].as_str().unwrap().to_owned();
        self.publish();
        (root_pub, list_pub)
    }

    /// Publishes the next list to `published/`.
    fn publish(&self) {
        self.json(&[
            "revocation",
            "publish",
            "--store",
            "store",
            "--signing-key-file",
            "list.key",
            "--out",
            "published",
        ]);
    }

    fn verify(&self, root_pub: &str, list_pub: &str, source: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "verify",
            "@t0",
            "--root-public-key",
            root_pub,
            "--request",
            "flights/lis/2026-12-01:read",
            "--revocation-list",
            source,
            "--revocation-public-key",
            list_pub,
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }
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

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn verify_refuses_an_older_list_once_a_newer_one_was_accepted() {
    let s = Scratch::new();
    let (root_pub, list_pub) = s.setup();
    // Keep the signed list of sequence 2, then publish sequence 3.
    copy_dir(&s.path("published"), &s.path("old"));
    s.publish();

    let out = s.verify(&root_pub, &list_pub, "published", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // An untrusted folder (a relay, a stale mirror) now serves sequence 2.
    std::fs::remove_dir_all(s.path("published")).unwrap();
    copy_dir(&s.path("old"), &s.path("published"));
    let out = s.verify(&root_pub, &list_pub, "published", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.contains("rollback"), "{err}");
    assert!(err.contains("refusing the revocation list"), "{err}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = s.state_dir();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "state"))
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let mode = std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn verify_with_an_explicit_state_file_refuses_the_older_list_too() {
    let s = Scratch::new();
    let (root_pub, list_pub) = s.setup();
    copy_dir(&s.path("published"), &s.path("old"));
    s.publish();
    let state = s.path("elsewhere/verifier.state");
    let state = state.to_str().unwrap();
    let flag = ["--revocation-state", state];
    let out = s.verify(&root_pub, &list_pub, "published", &flag);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = s.verify(&root_pub, &list_pub, "old", &flag);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("rollback"), "{}", stderr(&out));
}

#[test]
fn a_head_newer_than_the_list_makes_verify_deny_as_stale() {
    let s = Scratch::new();
    let (root_pub, list_pub) = s.setup();
    copy_dir(&s.path("published"), &s.path("mixed"));
    s.publish();
    // The new head beside the old list: the list is known to be outdated.
    std::fs::copy(s.path("published/head.bin"), s.path("mixed/head.bin")).unwrap();
    let out = s.verify(&root_pub, &list_pub, "mixed", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let decision: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision["reason"], "revocation_list_stale");
    assert_eq!(decision["allowed"], false);
    assert!(stderr(&out).contains("out of date"), "{}", stderr(&out));

    // The announced list arrives: allowed again.
    let out = s.verify(&root_pub, &list_pub, "published", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn clock_skew_0s_denies_a_token_just_past_its_expiry_that_the_default_allows() {
    let s = Scratch::new();
    let root = s.json(&["keys", "generate", "--out", "root.key"]);
    let root_pub = root["public_key"].as_str().unwrap().to_owned();
    let t = s.json(&[
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
        "1s",
    ]);
    std::fs::write(s.path("t"), t["token"].as_str().unwrap()).unwrap();
    // Let the token expire (by about two seconds).
    std::thread::sleep(std::time::Duration::from_millis(3_000));
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "verify",
            "@t",
            "--root-public-key",
            &root_pub,
            "--request",
            "flights/lis/2026-12-01:read",
        ];
        args.extend_from_slice(extra);
        s.run(&args)
    };
    let out = verify(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = verify(&["--clock-skew", "0s"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let decision: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decision["reason"], "expired");
    let out = verify(&["--clock-skew", "2h"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

/// A loopback server answering every request with an endless body.
fn endless_body_server() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, "x".repeat(16 * 1024));
                while stream.write_all(chunk.as_bytes()).is_ok() {}
            });
        }
    });
    format!("http://{addr}/")
}

#[test]
fn verify_stops_reading_an_endless_revocation_download_with_a_size_error() {
    let s = Scratch::new();
    let (root_pub, list_pub) = s.setup();
    let url = endless_body_server();
    let out = s.verify(&root_pub, &list_pub, &url, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("exceeds"), "{}", stderr(&out));
}
