//! What MCP traffic needs of the verifier: a service's resource identifier
//! against the audiences a token names, a call's arguments as request
//! facts, and token-only requests that ask for a valid token and nothing
//! more.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentcap::{Grant, Hop, KeyPair, Token};
use agentcap_revocation::{RevocationState, RevocationStateConfig, RevocationStore};
use agentcap_verifier::{
    AccessRequest, AuditRecord, ConfigError, HttpProof, MAX_ARGUMENT_BYTES, MAX_REQUEST_FACTS,
    Reason, Verifier, VerifierBuilder,
};
use biscuit_auth::{Biscuit, BlockBuilder};

const MCP_A: &str = "https://a.example/mcp";
const MCP_B: &str = "https://b.example/mcp";

fn grant(_root: &KeyPair) -> Grant {
    Grant::new("alice", "assistant")
        .right("tools/*", "call")
        .ttl(Duration::from_secs(600))
}

fn builder(root: &KeyPair) -> VerifierBuilder {
    Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
}

fn call() -> AccessRequest {
    AccessRequest::new("tools/search_flights", "call")
}

fn text(token: &Token) -> String {
    token.to_base64().unwrap()
}

#[test]
fn a_service_with_a_resource_id_refuses_tokens_made_for_another() {
    let root = KeyPair::generate();
    let for_a = text(&grant(&root).audience(MCP_A).mint(&root).unwrap());
    let for_any = text(&grant(&root).mint(&root).unwrap());
    let at_a = builder(&root)
        .resource_id("HTTPS://A.example/mcp/")
        .build()
        .unwrap();
    let at_b = builder(&root).resource_id(MCP_B).build().unwrap();
    let anonymous = builder(&root).build().unwrap();

    assert!(at_a.verify(&for_a, &call()).allowed());
    let denied = at_b.verify(&for_a, &call());
    assert_eq!(denied.reason, Reason::AudienceMismatch);
    assert!(denied.reason.is_authentication_failure());
    assert_eq!(denied.reason.code(), "audience_mismatch");
    assert!(
        denied
            .explain()
            .starts_with("denied: the token was not issued for this service")
    );
    assert!(denied.explain().contains("block 0"), "{}", denied.explain());
    assert_eq!(
        denied.client_message(),
        "the token was not issued for this service"
    );
    // No resource identifier: a token that names audiences is refused.
    assert_eq!(
        anonymous.verify(&for_a, &call()).reason,
        Reason::AudienceMismatch
    );
    // A token that names none is accepted everywhere.
    for verifier in [&at_a, &at_b, &anonymous] {
        assert!(verifier.verify(&for_any, &call()).allowed());
    }
}

#[test]
fn a_hop_for_another_service_is_refused_even_when_the_grant_is_for_this_one() {
    let root = KeyPair::generate();
    let token = grant(&root).mint(&root).unwrap();
    let hop = Hop::to("search").right("tools/*", "call").audience(MCP_B);
    let child = text(&token.delegate(&hop, None).unwrap());
    let at_a = builder(&root).resource_id(MCP_A).build().unwrap();
    let decision = at_a.verify(&child, &call());
    assert_eq!(decision.reason, Reason::AudienceMismatch);
    assert!(
        decision.explain().contains("block 1"),
        "{}",
        decision.explain()
    );
    let at_b = builder(&root).resource_id(MCP_B).build().unwrap();
    assert!(at_b.verify(&child, &call()).allowed());
}

#[test]
fn the_resource_id_is_stated_for_policies_and_must_be_a_uri() {
    let root = KeyPair::generate();
    let token = text(&grant(&root).mint(&root).unwrap());
    let policy = format!("allow if audience(\"{MCP_A}\");");
    let at_a = builder(&root)
        .resource_id(MCP_A)
        .policy(&policy)
        .build()
        .unwrap();
    assert!(at_a.verify(&token, &call()).allowed());
    let elsewhere = builder(&root)
        .resource_id(MCP_B)
        .policy(&policy)
        .build()
        .unwrap();
    assert_eq!(
        elsewhere.verify(&token, &call()).reason,
        Reason::PolicyDenied
    );
    let refused = builder(&root).resource_id("a.example/mcp").build();
    assert!(matches!(refused, Err(ConfigError::InvalidResourceId(_))));
    // A request cannot state the audience itself.
    let forged = call().fact("audience", MCP_A);
    assert_eq!(
        elsewhere.verify(&token, &forged).reason,
        Reason::MalformedRequest
    );
}

#[test]
fn a_service_policy_reads_call_arguments() {
    let root = KeyPair::generate();
    let token = text(&grant(&root).mint(&root).unwrap());
    let verifier = builder(&root)
        .policy(r#"allow if argument("origin", "AMS");"#)
        .policy(r#"allow if argument("direct", true), argument("stops", 0);"#)
        .build()
        .unwrap();
    let verify = |request: AccessRequest| verifier.verify(&token, &request);
    assert!(verify(call().argument("origin", "AMS")).allowed());
    assert_eq!(
        verify(call().argument("origin", "LIS")).reason,
        Reason::PolicyDenied
    );
    assert_eq!(verify(call()).reason, Reason::PolicyDenied);
    // The last value of a name is the one stated.
    let twice = call().argument("origin", "AMS").argument("origin", "LIS");
    assert_eq!(twice.arguments().len(), 1);
    assert_eq!(verify(twice).reason, Reason::PolicyDenied);
    assert!(verify(call().argument("origin", "LIS").argument("origin", "AMS")).allowed());
    // Booleans and integers are terms of their own type.
    assert!(verify(call().argument("direct", true).argument("stops", 0i64)).allowed());
    assert!(!verify(call().argument("direct", "true").argument("stops", 0i64)).allowed());
}

#[test]
fn a_token_s_own_check_can_bound_a_string_argument() {
    let root = KeyPair::generate();
    let token = grant(&root).mint(&root).unwrap();
    let biscuit = Biscuit::from(token.to_bytes().unwrap(), root.public().to_biscuit()).unwrap();
    let block = BlockBuilder::new()
        .code(r#"check if argument("origin", $o), {"AMS", "LIS"}.contains($o);"#)
        .unwrap();
    let bounded = biscuit.append(block).unwrap().to_base64().unwrap();
    let verifier = builder(&root).build().unwrap();
    let verify = |request: AccessRequest| verifier.verify(&bounded, &request);
    let lis = verify(call().argument("origin", "LIS"));
    assert!(lis.allowed(), "{} {:?}", lis.explain(), lis.detail);
    let denied = verify(call().argument("origin", "JFK"));
    assert_eq!(denied.reason, Reason::PolicyDenied);
    assert_eq!(denied.failing_block(), Some(1));
    assert_eq!(verify(call()).reason, Reason::PolicyDenied);
}

#[test]
fn arguments_are_bounded() {
    let root = KeyPair::generate();
    let token = text(&grant(&root).mint(&root).unwrap());
    let verifier = builder(&root).build().unwrap();
    let verify = |request: AccessRequest| verifier.verify(&token, &request).reason;
    let at_limit = "x".repeat(MAX_ARGUMENT_BYTES);
    assert_eq!(verify(call().argument("query", at_limit)), Reason::Allowed);
    let over = "x".repeat(MAX_ARGUMENT_BYTES + 1);
    let decision = verifier.verify(&token, &call().argument("query", over));
    assert_eq!(decision.reason, Reason::MalformedRequest);
    assert!(decision.detail.unwrap().contains("query"));
    assert_eq!(verify(call().argument("", "x")), Reason::MalformedRequest);
    assert_eq!(
        verify(call().argument("n".repeat(129), "x")),
        Reason::MalformedRequest
    );
    assert_eq!(
        verify(call().argument("n".repeat(128), "x")),
        Reason::Allowed
    );
    let crowded = (0..MAX_REQUEST_FACTS).fold(call().quantity("amount", 1), |r, i| {
        r.argument(format!("a{i}"), i64::try_from(i).unwrap())
    });
    assert_eq!(verify(crowded), Reason::MalformedRequest);
    let full = (1..MAX_REQUEST_FACTS).fold(call().quantity("amount", 1), |r, i| {
        r.argument(format!("a{i}"), i64::try_from(i).unwrap())
    });
    assert_eq!(verify(full), Reason::Allowed);
}

/// A revocation store and the verifier state it publishes to.
struct Revocations {
    _dir: tempfile::TempDir,
    store: RevocationStore,
    key: KeyPair,
    state: Arc<RevocationState>,
}

impl Revocations {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = RevocationStore::open(dir.path(), "issuer").unwrap();
        let key = KeyPair::generate();
        let config = RevocationStateConfig::new("issuer", key.public());
        let state = Arc::new(RevocationState::in_memory(config).unwrap());
        let revocations = Revocations {
            _dir: dir,
            store,
            key,
            state,
        };
        revocations.publish();
        revocations
    }

    fn publish(&self) {
        let publication = self
            .store
            .publish(&self.key, Duration::from_secs(600))
            .unwrap();
        self.state.accept_list(&publication.list).unwrap();
    }

    fn revoke(&self, token: &Token) {
        let expires = token.chain().expires_at().unwrap();
        self.store
            .revoke_token_block(&token.revocation_ids(), 0, expires, None)
            .unwrap();
        self.publish();
    }
}

#[test]
fn a_token_only_request_needs_a_valid_token_and_nothing_more() {
    let root = KeyPair::generate();
    let revocations = Revocations::new();
    let verifier = Verifier::builder()
        .root_key(None, root.public())
        .revocation(Arc::clone(&revocations.state))
        .resource_id(MCP_A)
        .policy(r#"allow if user("nobody");"#)
        .build()
        .unwrap();
    let token = grant(&root).audience(MCP_A).mint(&root).unwrap();
    let only = AccessRequest::token_only();
    assert!(only.is_token_only());

    // The policy allows nobody, and rights are not asked: still allowed.
    let decision = verifier.verify(&text(&token), &only);
    assert_eq!(decision.reason, Reason::Allowed, "{}", decision.explain());
    assert!(decision.token_only);
    assert_eq!(decision.matched_policy, None);
    assert_eq!(
        decision.explain(),
        "allowed: a valid token (nothing specific was asked) for alice via assistant"
    );
    assert!(decision.revocation.is_some(), "revocation was checked");
    let record = AuditRecord::new(&decision, None, None, SystemTime::now());
    assert!(record.token_only && record.allowed());
    assert_eq!(
        (record.resource.as_str(), record.operation.as_str()),
        ("", "")
    );
    assert!(!record.explanation.contains("request was"));
    // The same token asking for something specific meets the policy.
    assert_eq!(
        verifier.verify(&text(&token), &call()).reason,
        Reason::PolicyDenied
    );
    // A normal request for no resource is still malformed.
    let empty = verifier.verify(&text(&token), &AccessRequest::new("", ""));
    assert_eq!(empty.reason, Reason::MalformedRequest);
}

#[test]
fn a_token_only_request_is_denied_for_what_makes_a_token_invalid() {
    let root = KeyPair::generate();
    let revocations = Revocations::new();
    let verifier = Verifier::builder()
        .root_key(None, root.public())
        .revocation(Arc::clone(&revocations.state))
        .resource_id(MCP_A)
        .build()
        .unwrap();
    let token = grant(&root).audience(MCP_A).mint(&root).unwrap();
    let only = AccessRequest::token_only();
    assert!(verifier.verify(&text(&token), &only).allowed());
    let later = AccessRequest::token_only().at(SystemTime::now() + Duration::from_secs(3600));
    assert_eq!(
        verifier.verify(&text(&token), &later).reason,
        Reason::Expired
    );
    let for_b = grant(&root).audience(MCP_B).mint(&root).unwrap();
    assert_eq!(
        verifier.verify(&text(&for_b), &only).reason,
        Reason::AudienceMismatch
    );
    let forged = grant(&root)
        .audience(MCP_A)
        .mint(&KeyPair::generate())
        .unwrap();
    assert_eq!(
        verifier.verify(&text(&forged), &only).reason,
        Reason::BadSignature
    );
    assert_eq!(verifier.verify("", &only).reason, Reason::MissingToken);
    revocations.revoke(&token);
    let revoked = verifier.verify(&text(&token), &only);
    assert_eq!(revoked.reason, Reason::Revoked);
    assert_eq!(revoked.revoked_block, Some(0));
}

/// A holder proof for a GET of `path` on `authority`, as a service receives it.
fn proof(key: &KeyPair, token: &str, authority: &str, path: &str) -> HttpProof {
    let covered = agentcap::ProofRequest {
        method: "GET",
        authority,
        path,
        query: None,
        token,
        body: b"",
    };
    let headers = agentcap::HolderProof::sign(key, &covered, SystemTime::now()).unwrap();
    let request = http::Request::builder()
        .method("GET")
        .uri(format!("http://{authority}{path}"))
        .header("signature-input", headers.signature_input)
        .header("signature", headers.signature)
        .header("content-digest", headers.content_digest)
        .body(())
        .unwrap();
    HttpProof::from_request(&request.into_parts().0, bytes::Bytes::new()).unwrap()
}

#[test]
fn a_token_only_request_still_needs_the_holder_s_proof_when_required() {
    let root = KeyPair::generate();
    let agent = KeyPair::generate();
    let token = text(&grant(&root).agent_key(agent.public()).mint(&root).unwrap());
    let verifier = builder(&root)
        .require_holder_proof(Duration::from_secs(60))
        .audience(["gw.example"])
        .build()
        .unwrap();
    let only = AccessRequest::token_only;
    assert_eq!(
        verifier.verify(&token, &only()).reason,
        Reason::HolderProofMissing
    );
    let stranger = proof(&KeyPair::generate(), &token, "gw.example", "/mcp");
    assert_eq!(
        verifier
            .verify(&token, &only().holder_proof(stranger))
            .reason,
        Reason::HolderProofInvalid
    );
    let proven = proof(&agent, &token, "gw.example", "/mcp");
    let decision = verifier.verify(&token, &only().holder_proof(proven));
    assert!(decision.allowed(), "{}", decision.explain());
}
