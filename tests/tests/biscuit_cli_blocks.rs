//! Blocks appended by the real biscuit-cli (`biscuit attenuate`), software
//! no one here wrote: a plain narrowing is verified and enforced; a block
//! whose cost multiplies is refused as too complex before any Datalog runs.
//!
//! `.ci/run` installs biscuit-cli and sets `AGENTCAP_REQUIRE_BISCUIT_CLI=1`,
//! so there a missing binary fails the test. Elsewhere, without the binary,
//! the test says so and passes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};

use agentcap::{Grant, KeyPair};
use agentcap_verifier::{AccessRequest, Reason, Verifier};

/// The biscuit-cli binary: `$BISCUIT_CLI`, else `biscuit` on the PATH.
fn biscuit_cli() -> Option<String> {
    let program = std::env::var("BISCUIT_CLI").unwrap_or_else(|_| "biscuit".to_owned());
    let found = Command::new(&program)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return Some(program);
    }
    assert!(
        std::env::var_os("AGENTCAP_REQUIRE_BISCUIT_CLI").is_none(),
        "biscuit-cli is required here but `{program}` does not run"
    );
    eprintln!("biscuit-cli not found: skipping (install it with `cargo install biscuit-cli`)");
    None
}

/// `biscuit attenuate - --block DATALOG`, the token on stdin.
fn attenuate(program: &str, token: &str, block: &str) -> String {
    let mut child = Command::new(program)
        .args(["attenuate", "-", "--block", block])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "biscuit attenuate failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn blocks_appended_by_biscuit_cli_are_enforced_or_refused_by_shape() {
    let Some(program) = biscuit_cli() else {
        return;
    };
    let root = KeyPair::generate();
    let token = Grant::new("alice", "travel-assistant")
        .right("flights/*", "read")
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    let verifier = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .build()
        .unwrap();

    // A plain narrowing: verified, and enforced.
    let narrowed = attenuate(
        &program,
        &token,
        r#"check if resource($r), $r.starts_with("flights/lis/");"#,
    );
    let inside = verifier.verify(
        &narrowed,
        &AccessRequest::new("flights/lis/2026-12-01", "read"),
    );
    assert!(inside.allowed(), "{}", inside.explain());
    let outside = verifier.verify(
        &narrowed,
        &AccessRequest::new("flights/opo/2026-12-01", "read"),
    );
    assert_eq!(outside.reason, Reason::PolicyDenied);
    assert_eq!(outside.failing_block(), Some(1));

    // The attack of issue 8: 60 facts and a 4-way join in a check.
    let facts: String = (0..60).map(|i| format!("f({i});")).collect();
    let hostile = attenuate(
        &program,
        &token,
        &format!("{facts} check if f($a), f($b), f($c), f($d), $a + $b + $c + $d == -1;"),
    );
    let decision = verifier.verify(&hostile, &AccessRequest::new("flights/lis/x", "read"));
    assert_eq!(
        decision.reason,
        Reason::TooComplex,
        "{}",
        decision.explain()
    );
    assert_eq!(decision.complex_block, Some(1));
}
