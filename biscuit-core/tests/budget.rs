//! The evaluation budget: hostile blocks appended by a holder are refused
//! by shape, before any Datalog runs; ordinary foreign narrowings pass and
//! are enforced.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use agentcap::{Error, Grant, KeyPair, Request, Token};
use biscuit_auth::{Biscuit, BlockBuilder};

fn grant(root: &KeyPair) -> Token {
    Grant::new("alice", "travel-assistant")
        .right("flights/*", "read")
        .right("payments/charge", "write")
        .mint(root)
        .unwrap()
}

/// Appends a block written in Datalog (test-controlled source) with plain
/// biscuit-auth, as any holder can.
fn append(token: &Token, root: &KeyPair, datalog: &str) -> Vec<u8> {
    let biscuit = Biscuit::from(token.to_bytes().unwrap(), root.public().to_biscuit()).unwrap();
    let block = BlockBuilder::new().code(datalog).unwrap();
    biscuit.append(block).unwrap().to_vec().unwrap()
}

fn facts(name: &str, count: usize) -> String {
    (0..count).map(|i| format!("{name}({i});\n")).collect()
}

/// Verifying refuses the token as too complex, naming block 1. The refusal
/// comes from decoding, which runs before any authorizer exists: no
/// Datalog was evaluated.
fn assert_too_complex(bytes: &[u8], root: &KeyPair, expected: &str) {
    match Token::verify_bytes(bytes, &root.public()) {
        Err(Error::TooComplex { block, reason }) => {
            assert_eq!(block, 1, "{reason}");
            assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
        }
        other => panic!("expected TooComplex, got {other:?}"),
    }
    // Reading it without verifying (to attenuate it further) refuses too.
    assert!(matches!(
        Token::from_bytes(bytes),
        Err(Error::TooComplex { .. })
    ));
}

#[test]
fn a_join_in_a_check_is_refused_before_evaluation() {
    let root = KeyPair::generate();
    let source = format!(
        "{}check if f($a), f($b), f($c), f($d), $a + $b + $c + $d == -1;",
        facts("f", 60)
    );
    let bytes = append(&grant(&root), &root, &source);
    assert_too_complex(&bytes, &root, "cost multiplies");
}

#[test]
fn a_join_in_a_rule_is_refused_before_evaluation() {
    let root = KeyPair::generate();
    let source = format!(
        "{}g($a, $b) <- f($a), f($b);\ncheck if g(1, 2);",
        facts("f", 60)
    );
    let bytes = append(&grant(&root), &root, &source);
    assert_too_complex(&bytes, &root, "cost multiplies");
}

#[test]
fn a_join_through_a_scoped_rule_is_refused() {
    let root = KeyPair::generate();
    let source = "g($a) <- right($a, $o), right($b, $p) trusting authority;\ncheck if g(1);";
    let bytes = append(&grant(&root), &root, source);
    assert_too_complex(&bytes, &root, "cost multiplies");
}

#[test]
fn many_facts_are_refused() {
    let root = KeyPair::generate();
    let bytes = append(&grant(&root), &root, &facts("f", 300));
    assert_too_complex(&bytes, &root, "300 facts");
}

#[test]
fn facts_spread_over_blocks_are_refused_by_the_token_budget() {
    let root = KeyPair::generate();
    let mut bytes = grant(&root).to_bytes().unwrap();
    for _ in 0..5 {
        let token = Token::from_bytes(&bytes).unwrap();
        bytes = append(&token, &root, &facts("f", 250));
    }
    match Token::verify_bytes(&bytes, &root.public()) {
        Err(Error::TooComplex { reason, .. }) => assert!(reason.contains("1024 facts"), "{reason}"),
        other => panic!("expected TooComplex, got {other:?}"),
    }
}

#[test]
fn regex_heavy_blocks_are_refused() {
    let root = KeyPair::generate();
    // Too many regular expressions.
    let many: String = (0..5)
        .map(|i| format!("check if resource($r), $r.matches(\"^a{i}\");\n"))
        .collect();
    let bytes = append(&grant(&root), &root, &many);
    assert_too_complex(&bytes, &root, "regular expressions");
    // A pattern too long.
    let long = format!(
        "check if resource($r), $r.matches(\"{}\");",
        "(a|b)*".repeat(60)
    );
    let bytes = append(&grant(&root), &root, &long);
    assert_too_complex(&bytes, &root, "regular expression of");
    // A pattern that is not a literal.
    let bytes = append(
        &grant(&root),
        &root,
        "p(\"(a*)*\");\ncheck if p($p), resource($r), $r.matches($p);",
    );
    assert_too_complex(&bytes, &root, "not a literal");
}

#[test]
fn nested_expressions_and_closures_are_refused() {
    let root = KeyPair::generate();
    let nested = format!(
        "check if time($t), {} > 0;",
        (0..40)
            .map(|i| format!("{i}"))
            .collect::<Vec<_>>()
            .join(" + ")
    );
    let bytes = append(&grant(&root), &root, &nested);
    assert_too_complex(&bytes, &root, "operations");
    let closure = "check if resource($r), [1, 2, 3].all($x -> [1, 2, 3].any($y -> $x == $y));";
    let bytes = append(&grant(&root), &root, closure);
    assert_too_complex(&bytes, &root, "closure");
}

#[test]
fn restating_the_request_or_the_grant_is_refused() {
    let root = KeyPair::generate();
    let bytes = append(&grant(&root), &root, "resource(\"a\");\nresource(\"b\");");
    assert_too_complex(&bytes, &root, "only the authorizer or the grant");
    let bytes = append(
        &grant(&root),
        &root,
        "user($x) <- right($x, \"read\");\ncheck if user(\"alice\");",
    );
    assert_too_complex(&bytes, &root, "derives user");
}

#[test]
fn a_large_collection_is_refused() {
    let root = KeyPair::generate();
    let set: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    let source = format!("check if resource($r), [{}].contains(1);", set.join(", "));
    let bytes = append(&grant(&root), &root, &source);
    assert_too_complex(&bytes, &root, "100 elements");
}

#[test]
fn a_plain_biscuit_cli_narrowing_verifies_and_is_enforced() {
    let root = KeyPair::generate();
    let bytes = append(
        &grant(&root),
        &root,
        "check if resource($r), $r.starts_with(\"flights/lis/\");",
    );
    let token = Token::verify_bytes(&bytes, &root.public()).unwrap();
    token
        .check(
            &root.public(),
            &Request::new("flights/lis/2026-12-01", "read"),
        )
        .unwrap();
    let outside = token.check(&root.public(), &Request::new("flights/opo/x", "read"));
    assert!(
        matches!(outside, Err(Error::NotPermitted { .. })),
        "{outside:?}"
    );
    // So does a narrowing with one regular expression, time and operation.
    let bytes = append(
        &grant(&root),
        &root,
        "check if resource($r), operation(\"read\"), time($t), $r.matches(\"^flights/[a-z]+/\"), $t < 2100-01-01T00:00:00Z;",
    );
    let token = Token::verify_bytes(&bytes, &root.public()).unwrap();
    token
        .check(&root.public(), &Request::new("flights/lis/x", "read"))
        .unwrap();
}

#[test]
fn a_token_whose_evaluation_would_cost_too_much_is_refused() {
    let root = KeyPair::generate();
    // Every part within its per-block limit, but together: 4 rules that may
    // each derive 250 facts, and 64 checks scanning them all.
    let mut source = facts("f", 250);
    for i in 0..4 {
        source.push_str(&format!("g{i}($a) <- f($a), $a >= {i};\n"));
    }
    for i in 0..64 {
        source.push_str(&format!("check if g{}($a), $a >= {i};\n", i % 4));
    }
    let bytes = append(&grant(&root), &root, &source);
    assert_too_complex(&bytes, &root, "evaluation cost");
}
