//! `agentcap prove`: the headers it prints are a holder proof for exactly
//! the method, URL, body and token given, verified with the library.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime};

use agentcap::{Error, Grant, HolderProof, KeyFormat, KeyPair, Overwrite, ProofRequest};
use assert_cmd::Command;
use predicates::prelude::*;

struct Setup {
    dir: tempfile::TempDir,
    holder: KeyPair,
    token: String,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let holder = KeyPair::generate();
    holder
        .save(
            dir.path().join("agent.key"),
            KeyFormat::Text,
            Overwrite::Refuse,
        )
        .unwrap();
    let token = Grant::new("alice", "assistant")
        .agent_key(holder.public())
        .right("payments/charge", "write")
        .mint(&KeyPair::generate())
        .unwrap()
        .to_base64()
        .unwrap();
    std::fs::write(dir.path().join("agent.tok"), format!("{token}\n")).unwrap();
    std::fs::write(dir.path().join("body.json"), br#"{"amount":10,"to":"bob"}"#).unwrap();
    Setup { dir, holder, token }
}

impl Setup {
    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("agentcap").unwrap();
        c.current_dir(self.dir.path())
            .env_remove("AGENTCAP_SIGNING_KEY")
            .env_remove("AGENTCAP_ROOT_KEY");
        c
    }

    /// Runs `prove` with `args`, expects success, returns (name, value) pairs.
    fn headers(&self, args: &[&str]) -> Vec<(String, String)> {
        let out = self.cmd().arg("prove").args(args).assert().success();
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        text.lines()
            .map(|line| {
                let (name, value) = line.split_once(": ").unwrap();
                (name.to_owned(), value.to_owned())
            })
            .collect()
    }

    fn verify(
        &self,
        headers: &[(String, String)],
        request: &ProofRequest<'_>,
    ) -> Result<(), Error> {
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
                .unwrap()
        };
        assert_eq!(get("Authorization"), format!("Bearer {}", request.token));
        HolderProof::verify(
            get("Signature-Input"),
            get("Signature"),
            Some(get("Content-Digest")),
            &self.holder.public(),
            request,
            SystemTime::now(),
            Duration::from_secs(60),
            Duration::from_secs(5),
        )
        .map(|_| ())
    }
}

#[test]
fn prove_prints_headers_binding_method_url_body_and_token() {
    let s = setup();
    let headers = s.headers(&[
        "@agent.tok",
        "--signing-key-file",
        "agent.key",
        "--method",
        "POST",
        "--url",
        "http://Pay.Example:8443/payments/charge?amount=10",
        "--body",
        "@body.json",
    ]);
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "Authorization",
            "Content-Digest",
            "Signature-Input",
            "Signature"
        ]
    );
    let body = br#"{"amount":10,"to":"bob"}"#;
    let request = ProofRequest {
        method: "POST",
        authority: "pay.example:8443",
        path: "/payments/charge",
        query: Some("amount=10"),
        token: &s.token,
        body,
    };
    s.verify(&headers, &request).unwrap();
    let more = ProofRequest {
        query: Some("amount=500"),
        ..request
    };
    s.verify(&headers, &more)
        .expect_err("another amount is refused");
    let other_body = ProofRequest {
        body: br#"{"amount":500,"to":"bob"}"#,
        ..request
    };
    s.verify(&headers, &other_body)
        .expect_err("another body is refused");
}

#[test]
fn prove_omits_the_default_port_and_reads_the_body_and_key_as_told() {
    let s = setup();
    let key = std::fs::read_to_string(s.dir.path().join("agent.key")).unwrap();
    let out = s
        .cmd()
        .env("AGENTCAP_SIGNING_KEY", key.trim())
        .args([
            "prove",
            "@agent.tok",
            "--method",
            "PUT",
            "--url",
            "https://svc.example:443/notes/1",
            "--body",
            "-",
            "--format",
            "json",
        ])
        .write_stdin("hello")
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let headers: Vec<(String, String)> = json
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(headers.len(), 4);
    let request = ProofRequest {
        method: "PUT",
        authority: "svc.example",
        path: "/notes/1",
        query: None,
        token: &s.token,
        body: b"hello",
    };
    s.verify(&headers, &request).unwrap();
    let other_service = ProofRequest {
        authority: "svc.example:8443",
        ..request
    };
    s.verify(&headers, &other_service)
        .expect_err("a proof for one service is refused by another");
}

#[test]
fn prove_without_a_body_signs_the_empty_body() {
    let s = setup();
    let headers = s.headers(&[
        "@agent.tok",
        "--key-file",
        "agent.key",
        "--method",
        "GET",
        "--url",
        "http://127.0.0.1:8080/flights/lis",
    ]);
    let request = ProofRequest {
        method: "GET",
        authority: "127.0.0.1:8080",
        path: "/flights/lis",
        query: None,
        token: &s.token,
        body: b"",
    };
    s.verify(&headers, &request).unwrap();
}

#[test]
fn prove_refuses_bad_arguments_with_usage_errors() {
    let s = setup();
    let base = ["prove", "@agent.tok", "--signing-key-file", "agent.key"];
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "--method",
                "POST",
                "--url",
                "http://a/x",
                "--body",
                "literal",
            ],
            "@FILE, or - for stdin",
        ),
        (
            &["--method", "POST", "--url", "ftp://a/x"],
            "only http and https",
        ),
        (&["--method", "PO ST", "--url", "http://a/x"], "HTTP method"),
        (&["--method", "GET", "--url", "not a url"], "--url"),
    ];
    for (args, message) in cases {
        s.cmd()
            .args(base)
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    // Two inputs cannot share stdin.
    s.cmd()
        .args(["prove", "-", "--signing-key-file", "agent.key"])
        .args(["--method", "POST", "--url", "http://a/x", "--body", "-"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("only one of"));
    // A secret pasted where the key file goes is refused, not echoed.
    let secret = std::fs::read_to_string(s.dir.path().join("agent.key")).unwrap();
    s.cmd()
        .args(["prove", "@agent.tok", "--signing-key-file", secret.trim()])
        .args(["--method", "GET", "--url", "http://a/x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("looks like a private key"))
        .stderr(predicate::str::contains(secret.trim()).not());
}
