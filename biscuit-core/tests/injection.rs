//! Values that look like Datalog are data: they round-trip through mint, hop
//! and inspect unchanged and never add authority.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use agentcap::{Error, Grant, Hop, KeyPair, Request, Token, inspect};

const NASTY: &[&str] = &[
    "alice\"",
    "a\\\"b",
    "x\"), right(\"*\", \"admin\"), user(\"root",
    "x\"); check if true; //",
    "bob\nallow if true",
    "right(\"*\", \"read\")",
    "user(\"admin\")",
    "allow if true",
    "(((",
    ";",
    "\\",
    "é\u{0}\u{7f}\u{202e}",
    "$resource",
    "{param}",
];

/// Operations have no wildcard: `*` alone is the one operation refused.
fn op(value: &str) -> String {
    if value == "*" {
        "star".to_owned()
    } else {
        value.to_owned()
    }
}

fn resource(segment: &str) -> String {
    // Slashes would change the path's shape; everything else is fair game.
    format!("docs/{}", segment.replace('/', "_"))
}

#[test]
fn datalog_lookalikes_round_trip_as_data_and_add_no_authority() {
    let root = KeyPair::generate();
    for value in NASTY {
        let token = Grant::new(*value, *value)
            .tenant(*value)
            .right(resource(value), op(value))
            .intent(*value)
            .mint(&root)
            .unwrap();
        let child = token
            .delegate(
                &Hop::to(*value)
                    .right(resource(value), op(value))
                    .ttl(Duration::from_secs(60)),
                None,
            )
            .unwrap();
        let narrowed = child
            .narrow(&resource(value), &op(value), Duration::from_secs(10))
            .unwrap();

        let chain = inspect(&narrowed.to_base64().unwrap(), Some(&root.public())).unwrap();
        assert_eq!(chain.user, *value);
        assert_eq!(chain.tenant.as_deref(), Some(*value));
        assert_eq!(chain.intent.as_deref(), Some(*value));
        assert_eq!(chain.agents(), [*value, *value]);
        for block in &chain.blocks {
            assert_eq!(block.rights.len(), 1, "{value:?}");
            assert_eq!(block.rights[0].resource.as_str(), resource(value));
            assert_eq!(block.rights[0].operation, op(value));
            assert_eq!(block.other_checks(), 0);
        }
        assert_eq!(&chain, narrowed.chain());

        // The one right works; nothing else does.
        let key = root.public();
        assert!(
            narrowed
                .check(&key, &Request::new(resource(value), op(value)))
                .is_ok()
        );
        for (r, o) in [
            ("*", "admin"),
            ("docs/x", "read"),
            ("anything", "*x"),
            ("admin", "read"),
        ] {
            let denied = narrowed.check(&key, &Request::new(r, o));
            assert!(
                matches!(
                    denied,
                    Err(Error::NotPermitted { .. } | Error::InvalidRequest(_))
                ),
                "{value:?} allowed {r}:{o}"
            );
        }
    }
}

#[test]
fn request_values_that_look_like_datalog_match_nothing() {
    let root = KeyPair::generate();
    let token = Grant::new("alice", "agent")
        .right("docs/public", "read")
        .mint(&root)
        .unwrap();
    for value in NASTY {
        let request = Request::new(resource(value), "read");
        assert!(token.check(&root.public(), &request).is_err(), "{value:?}");
        let request = Request::new("docs/public", *value);
        assert!(token.check(&root.public(), &request).is_err(), "{value:?}");
    }
}

#[test]
fn malformed_input_is_a_typed_error_not_a_panic() {
    for text in ["", "!!!", "AAAA", "EhIS", &"A".repeat(10_000)] {
        assert!(Token::from_base64(text).is_err());
        assert!(inspect(text, None).is_err());
    }
    let huge = "A".repeat(agentcap::MAX_TOKEN_BYTES * 2);
    assert!(matches!(
        Token::from_base64(&huge),
        Err(Error::TokenTooLarge { .. })
    ));
}
