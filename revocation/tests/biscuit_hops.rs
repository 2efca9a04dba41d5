//! Revocation with real biscuit-auth tokens: revoking a hop in the middle of
//! a delegation chain revokes that token and every token derived from it,
//! and nothing upstream or beside it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use agentcap_revocation::{
    RevocationReason, RevocationState, RevocationStateConfig, RevocationStatus, RevocationStore,
    TrustedListKeys,
};
use biscuit_auth::builder::BlockBuilder;
use biscuit_auth::{Biscuit, KeyPair};
use common::{ISSUER, key};

fn hop(token: &Biscuit, from: &str, to: &str) -> Biscuit {
    let block = BlockBuilder::new()
        .code(format!(
            "delegated(\"{from}\", \"{to}\"); check if operation(\"read\");"
        ))
        .unwrap();
    token.append(block).unwrap()
}

/// Serialises and re-parses, as a token crossing the wire would.
fn over_the_wire(token: &Biscuit, root: &KeyPair) -> Biscuit {
    Biscuit::from(token.to_vec().unwrap(), root.public()).unwrap()
}

#[test]
fn revoking_a_middle_hop_revokes_that_token_and_descendants_only() {
    let root = KeyPair::new();
    let user_token = Biscuit::builder()
        .code(r#"user("alice"); right("calendar/alice", "read");"#)
        .unwrap()
        .build(&root)
        .unwrap();
    let agent_a = hop(&user_token, "alice", "agent-a");
    // The middle hop: agent-a delegates to agent-b.
    let agent_b = hop(&agent_a, "agent-a", "agent-b");
    let agent_c = hop(&agent_b, "agent-b", "agent-c");
    let agent_c_call = hop(&agent_c, "agent-c", "agent-c");
    let sibling = hop(&agent_a, "agent-a", "agent-s");
    let tokens: Vec<(&str, Biscuit)> = [
        ("user", &user_token),
        ("agent-a (parent)", &agent_a),
        ("agent-b (revoked hop)", &agent_b),
        ("agent-c (child)", &agent_c),
        ("agent-c call (grandchild)", &agent_c_call),
        ("agent-s (sibling)", &sibling),
    ]
    .into_iter()
    .map(|(name, t)| (name, over_the_wire(t, &root)))
    .collect();

    let dir = tempfile::tempdir().unwrap();
    let store = RevocationStore::open(dir.path(), ISSUER).unwrap();
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let b_ids = tokens[2].1.revocation_identifiers();
    assert_eq!(b_ids.len(), 3);
    store
        .revoke_token_block(
            &b_ids,
            2,
            expires,
            Some(RevocationReason::AGENT_COMPROMISED),
        )
        .unwrap();
    let k = key(5);
    let publication = store.publish(&k, Duration::from_secs(600)).unwrap();

    let verifier = RevocationState::in_memory(RevocationStateConfig::new(
        ISSUER,
        TrustedListKeys::from(k.public()),
    ))
    .unwrap();
    verifier.accept_list(&publication.list).unwrap();

    let now = SystemTime::now();
    for (name, token) in &tokens {
        let ids = token.revocation_identifiers();
        let check = verifier.check(&ids, now).unwrap();
        let expect_revoked = name.starts_with("agent-b") || name.starts_with("agent-c");
        if expect_revoked {
            assert!(
                matches!(
                    check.status,
                    RevocationStatus::Revoked { block_index: 2, entry }
                        if entry.reason() == Some(RevocationReason::AGENT_COMPROMISED)
                ),
                "{name} should be revoked at block 2, got {:?}",
                check.status
            );
        } else {
            assert_eq!(check.status, RevocationStatus::NotRevoked, "{name}");
        }
        assert_eq!(
            verifier.is_revoked(&ids),
            expect_revoked.then_some(2),
            "{name}"
        );
    }
}
