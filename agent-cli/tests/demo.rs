//! The demo runs to completion: allows, then denials after the revocation,
//! and the parent still allowed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;

#[test]
fn the_demo_tells_the_whole_story_in_human_form() {
    Command::cargo_bin("agentcap")
        .unwrap()
        .arg("demo")
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .stdout(predicate::str::contains("✔ ALLOW"))
        .stdout(predicate::str::contains("401 revoked"))
        .stdout(predicate::str::contains("The audit trail"))
        .stdout(predicate::str::contains("Done"));
}

#[test]
fn the_demo_in_json_shows_allow_then_deny_after_revocation() {
    let out = Command::cargo_bin("agentcap")
        .unwrap()
        .args(["demo", "--format", "json"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: Value = serde_json::from_slice(&out).unwrap();
    let calls = v["calls"].as_array().unwrap();
    assert!(calls.iter().all(|c| c["as_expected"] == true), "{v:#}");
    let find = |phase: &str, agent: &str, path: &str| {
        calls
            .iter()
            .find(|c| c["phase"] == phase && c["agent"] == agent && c["path"] == path)
            .unwrap_or_else(|| panic!("no call {phase} {agent} {path}"))
    };
    let route = "/flights/lis/2026-12-01";
    assert_eq!(
        find("before revocation", "lisbon-scraper", route)["decision"],
        "allow"
    );
    let after = find("after revocation", "lisbon-scraper", route);
    assert_eq!(after["decision"], "deny");
    assert_eq!(after["reason"], "revoked");
    assert_eq!(
        find("after revocation", "flight-search", route)["reason"],
        "revoked"
    );
    assert_eq!(
        find("after revocation", "travel-assistant", route)["decision"],
        "allow"
    );
    // Every call is in the audit trail, with the user and the agents.
    let audit = v["audit"].as_array().unwrap();
    assert_eq!(audit.len(), calls.len());
    assert!(audit.iter().all(|r| r["user"] == "alice"));
    assert_eq!(v["revoked"]["holder"], "flight-search");
}
