//! Joint authorization: an agent answering in a channel of a CFO and 19
//! employees acts with the intersection of their rights. Real keys, real
//! tokens, a real revocation store and list, real HTTP on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentcap::{Grant, Hop, KeyPair, Token};
use agentcap_revocation::{RevocationState, RevocationStateConfig, RevocationStore};
use agentcap_verifier::{
    AccessRequest, AgentcapLayer, AuditRecord, JsonLinesAuditSink, MAX_JOINT_TOKENS, Reason,
    Verifier,
};
use reqwest::StatusCode;
use serde_json::Value;

const ISSUER: &str = "revocations.example";
const AGENT: &str = "channel-assistant";

/// The issuer, the channel agent's key, a revocation authority, and one
/// token per member of the channel, each delegated to the channel agent.
struct Channel {
    root: KeyPair,
    agent: KeyPair,
    _store_dir: tempfile::TempDir,
    store: RevocationStore,
    list_key: KeyPair,
    state: Arc<RevocationState>,
    cfo: Token,
    employees: Vec<Token>,
}

impl Channel {
    /// The CFO may read salaries and the department budget; employees
    /// read the budget; `with_salaries` employees may read salaries too.
    fn new(with_salaries: usize) -> Channel {
        let root = KeyPair::generate();
        let agent = KeyPair::generate();
        let mint = |user: &str, salaries: bool| {
            let mut grant = Grant::new(user, AGENT)
                .tenant("acme")
                .agent_key(agent.public())
                .right("finance/budget/*", "read");
            if salaries {
                grant = grant.right("finance/salaries/*", "read");
            }
            grant.mint(&root).unwrap()
        };
        let cfo = mint("cfo", true);
        let employees = (1..=19)
            .map(|i| mint(&format!("employee-{i:02}"), i <= with_salaries))
            .collect();
        let store_dir = tempfile::tempdir().unwrap();
        let store = RevocationStore::open(store_dir.path(), ISSUER).unwrap();
        let list_key = KeyPair::generate();
        let state = Arc::new(
            RevocationState::in_memory(RevocationStateConfig::new(ISSUER, list_key.public()))
                .unwrap(),
        );
        let channel = Channel {
            root,
            agent,
            _store_dir: store_dir,
            store,
            list_key,
            state,
            cfo,
            employees,
        };
        channel.publish();
        channel
    }

    fn publish(&self) {
        let publication = self
            .store
            .publish(&self.list_key, Duration::from_secs(600))
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

    fn verifier(&self) -> Verifier {
        Verifier::builder()
            .root_key(None, self.root.public())
            .revocation(Arc::clone(&self.state))
            .build()
            .unwrap()
    }

    /// A verifier that requires the holder's proof of possession.
    fn verifier_with_proofs(&self) -> Verifier {
        Verifier::builder()
            .root_key(None, self.root.public())
            .revocation(Arc::clone(&self.state))
            .require_holder_proof(Duration::from_secs(60))
            .build()
            .unwrap()
    }

    fn acting(&self) -> String {
        self.cfo.to_base64().unwrap()
    }

    fn joint(&self) -> Vec<String> {
        self.employees
            .iter()
            .map(|t| t.to_base64().unwrap())
            .collect()
    }
}

fn salaries() -> AccessRequest {
    AccessRequest::new("finance/salaries/engineering", "read")
}

fn budget() -> AccessRequest {
    AccessRequest::new("finance/budget/engineering", "read")
}

#[test]
fn salary_data_is_denied_when_any_member_lacks_the_right_naming_that_member() {
    // Employees 1..=18 may read salaries; employee 19 may not.
    let channel = Channel::new(18);
    let verifier = channel.verifier();
    let decision = verifier.verify_joint(&channel.acting(), &channel.joint(), &salaries());
    assert_eq!(
        decision.reason,
        Reason::JointDenied,
        "{}",
        decision.explain()
    );
    let joint = decision.joint.as_deref().unwrap();
    assert_eq!(joint.presented, 20);
    assert_eq!(joint.principals.len(), 20, "every principal is named");
    assert_eq!(joint.refused_by, Some(19));
    let refusing = joint.refusing().unwrap();
    assert_eq!(refusing.user(), Some("employee-19"));
    assert_eq!(refusing.decision.reason, Reason::PolicyDenied);
    assert!(joint.principals[..19].iter().all(|p| p.allowed()));
    assert_eq!(joint.users()[0], "cfo");
    let explanation = decision.explain();
    assert!(
        explanation.starts_with("denied: joint request for 20 principals (cfo, employee-01,"),
        "{explanation}"
    );
    assert!(
        explanation.ends_with(
            "; principal 19 (employee-19) refused: the grant from employee-19 to \
             channel-assistant allows only finance/budget/*:read; the request was \
             finance/salaries/engineering:read"
        ),
        "{explanation}"
    );
    assert_eq!(
        decision.client_message(),
        "principal 19 of the joint request refused it: a check of the token refused the \
         request (block 0)"
    );

    // With no employee allowed, the first one is named.
    let channel = Channel::new(0);
    let decision =
        channel
            .verifier()
            .verify_joint(&channel.acting(), &channel.joint(), &salaries());
    assert_eq!(decision.reason, Reason::JointDenied);
    assert_eq!(decision.joint.as_deref().unwrap().refused_by, Some(1));
}

#[test]
fn the_department_budget_is_allowed_when_all_have_it_and_salaries_when_all_do() {
    let channel = Channel::new(19);
    let verifier = channel.verifier();
    let decision = verifier.verify_joint(&channel.acting(), &channel.joint(), &budget());
    assert!(decision.allowed(), "{}", decision.explain());
    let joint = decision.joint.as_deref().unwrap();
    assert_eq!(joint.principals.len(), 20);
    assert_eq!(joint.refused_by, None);
    assert!(
        decision
            .explain()
            .contains("jointly for 20 principals (also employee-01, employee-02,"),
        "{}",
        decision.explain()
    );
    assert!(
        verifier
            .verify_joint(&channel.acting(), &channel.joint(), &salaries())
            .allowed()
    );
    // The CFO alone may read salaries; the intersection is what narrows.
    assert!(verifier.verify(&channel.acting(), &salaries()).allowed());
}

#[test]
fn one_members_revoked_token_denies_the_joint_request() {
    let channel = Channel::new(19);
    let verifier = channel.verifier();
    assert!(
        verifier
            .verify_joint(&channel.acting(), &channel.joint(), &budget())
            .allowed()
    );
    channel.revoke(&channel.employees[6]);
    let decision = verifier.verify_joint(&channel.acting(), &channel.joint(), &budget());
    assert_eq!(decision.reason, Reason::JointDenied);
    let refusing = decision.joint.as_deref().unwrap().refusing().unwrap();
    assert_eq!(refusing.user(), Some("employee-07"));
    assert_eq!(refusing.decision.reason, Reason::Revoked);
    // The others, alone, are unaffected.
    assert!(verifier.verify(&channel.acting(), &budget()).allowed());
    // The revoked member's own token is refused outright as the acting one.
    let own = channel.employees[6].to_base64().unwrap();
    let decision = verifier.verify_joint(&own, &[channel.acting()], &budget());
    assert_eq!(decision.reason, Reason::Revoked);
    assert_eq!(decision.joint.as_deref().unwrap().refused_by, Some(0));
}

#[test]
fn a_joint_token_must_be_held_by_the_acting_agent_with_the_same_key() {
    let channel = Channel::new(19);
    let verifier = channel.verifier();
    // Delegated onwards to another agent: not this agent's to use.
    let elsewhere = channel.employees[0]
        .delegate(
            &Hop::to("someone-else").right("finance/budget/*", "read"),
            Some(&channel.agent),
        )
        .unwrap()
        .to_base64()
        .unwrap();
    let decision = verifier.verify_joint(&channel.acting(), &[elsewhere], &budget());
    assert_eq!(decision.reason, Reason::JointDenied);
    let refusing = decision.joint.as_deref().unwrap().refusing().unwrap();
    assert_eq!(refusing.decision.reason, Reason::JointHolderMismatch);
    assert!(
        refusing.decision.explain().contains("someone-else"),
        "{}",
        refusing.decision.explain()
    );
    // The same agent name bound to another key.
    let other_key = Grant::new("employee-99", AGENT)
        .agent_key(KeyPair::generate().public())
        .right("finance/budget/*", "read")
        .mint(&channel.root)
        .unwrap()
        .to_base64()
        .unwrap();
    let decision = verifier.verify_joint(&channel.acting(), &[other_key], &budget());
    let refusing = decision.joint.as_deref().unwrap().refusing().unwrap();
    assert_eq!(refusing.decision.reason, Reason::JointHolderMismatch);
}

#[test]
fn joint_tokens_from_an_unknown_root_or_forged_are_refused_and_counted() {
    let channel = Channel::new(19);
    let verifier = channel.verifier();
    let stranger = Grant::new("mallory", AGENT)
        .agent_key(channel.agent.public())
        .right("finance/*", "read")
        .mint(&KeyPair::generate())
        .unwrap()
        .to_base64()
        .unwrap();
    let decision = verifier.verify_joint(&channel.acting(), &[stranger], &budget());
    assert_eq!(decision.reason, Reason::JointDenied);
    let refusing = decision.joint.as_deref().unwrap().refusing().unwrap();
    assert_eq!(refusing.decision.reason, Reason::BadSignature);

    let too_many = vec![channel.acting(); MAX_JOINT_TOKENS + 1];
    let decision = verifier.verify_joint(&channel.acting(), &too_many, &budget());
    assert_eq!(decision.reason, Reason::MalformedRequest);
}

/// The channel's tool server behind the layer, on loopback, with an audit file.
async fn serve(channel: &Channel, audit: &std::path::Path) -> String {
    let sink = Arc::new(JsonLinesAuditSink::open(audit).unwrap());
    let layer = AgentcapLayer::new(channel.verifier_with_proofs()).audit(sink);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new()
            .fallback(|| async { "the channel's answer" })
            .layer(layer);
        axum::serve(listener, app).await.unwrap();
    });
    base
}

/// A GET with the acting token, its holder proof, and the joint header.
async fn get(channel: &Channel, base: &str, path: &str, joint: &[String]) -> (StatusCode, Value) {
    get_signed(channel, base, path, joint, Signed::AsSent).await
}

/// What the holder proof of a request covers of the joint header.
#[derive(Clone, Copy, PartialEq)]
enum Signed {
    /// The header as sent.
    AsSent,
    /// Not the header: a proof made as for a request for one principal.
    WithoutJoint,
    /// Only the first joint token (the others were added after signing).
    FirstOnly,
}

async fn get_signed(
    channel: &Channel,
    base: &str,
    path: &str,
    joint: &[String],
    signed: Signed,
) -> (StatusCode, Value) {
    let acting = channel.acting();
    let covered = agentcap::ProofRequest {
        method: "GET",
        authority: base.trim_start_matches("http://"),
        path,
        query: None,
        token: &acting,
        body: b"",
    };
    let header = joint.join(", ");
    let now = SystemTime::now();
    let proof = match signed {
        Signed::AsSent => agentcap::HolderProof::sign_joint(&channel.agent, &covered, &header, now),
        Signed::WithoutJoint => agentcap::HolderProof::sign(&channel.agent, &covered, now),
        Signed::FirstOnly => {
            agentcap::HolderProof::sign_joint(&channel.agent, &covered, &joint[0], now)
        }
    }
    .unwrap();
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(&acting)
        .header("agentcap-joint", header)
        .header("signature-input", proof.signature_input)
        .header("signature", proof.signature)
        .header("content-digest", proof.content_digest)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn over_http_the_layer_decides_for_every_principal_and_audits_them_all() {
    let channel = Channel::new(18);
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let base = serve(&channel, &audit).await;

    let (status, body) = get(
        &channel,
        &base,
        "/finance/budget/engineering",
        &channel.joint(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = get(
        &channel,
        &base,
        "/finance/salaries/engineering",
        &channel.joint(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["reason"], "joint_denied", "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("principal 19 of the joint request refused it"),
        "{body}"
    );
    assert_eq!(body["joint"]["refused_by"], 19, "{body}");
    assert_eq!(
        body["joint"]["principals"][19]["user"], "employee-19",
        "{body}"
    );
    assert_eq!(
        body["joint"]["principals"][19]["reason"], "policy_denied",
        "{body}"
    );

    let (status, body) = get(&channel, &base, "/finance/budget/x", &["%%%".to_owned()]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let too_many = vec![channel.acting(); MAX_JOINT_TOKENS + 1];
    let (status, body) = get(&channel, &base, "/finance/budget/x", &too_many).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    let records: Vec<AuditRecord> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 4);
    let allowed = &records[0];
    assert!(allowed.allowed());
    assert_eq!(allowed.principals.len(), 20);
    assert_eq!(allowed.principals[0].user.as_deref(), Some("cfo"));
    assert_eq!(allowed.principals[19].user.as_deref(), Some("employee-19"));
    assert!(allowed.principals.iter().all(|p| p.chain_verified));
    let denied = &records[1];
    assert_eq!(denied.reason, "joint_denied");
    assert_eq!(denied.principals[19].reason, "policy_denied");
    assert!(
        denied
            .explanation
            .contains("principal 19 (employee-19) refused"),
        "{}",
        denied.explanation
    );
}

#[tokio::test]
async fn the_holder_proof_covers_the_joint_header_so_principals_cannot_be_dropped() {
    let channel = Channel::new(18);
    let dir = tempfile::tempdir().unwrap();
    let base = serve(&channel, &dir.path().join("audit.jsonl")).await;
    let path = "/finance/salaries/engineering";
    let joint = channel.joint();
    // Employees 1..=18 may read salaries: with the header as signed, allowed.
    let trimmed = &joint[..18];
    let (status, body) = get_signed(&channel, &base, path, trimmed, Signed::AsSent).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A proof that covers another header than the one sent.
    let (status, body) = get_signed(&channel, &base, path, trimmed, Signed::FirstOnly).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["reason"], "holder_proof_invalid", "{body}");
    // A proof that does not cover the header at all.
    let (status, body) = get_signed(&channel, &base, path, trimmed, Signed::WithoutJoint).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["reason"], "holder_proof_invalid", "{body}");
}

#[test]
fn a_joint_proof_does_not_verify_without_the_header_it_covers() {
    let channel = Channel::new(0);
    let acting = channel.acting();
    let covered = agentcap::ProofRequest {
        method: "GET",
        authority: "channel.example",
        path: "/finance/budget/x",
        query: None,
        token: &acting,
        body: b"",
    };
    let joint = channel.joint().join(", ");
    let now = SystemTime::now();
    let proof = agentcap::HolderProof::sign_joint(&channel.agent, &covered, &joint, now).unwrap();
    let verify = |header: Option<&str>| {
        agentcap::HolderProof::verify_joint(
            &proof.signature_input,
            &proof.signature,
            Some(&proof.content_digest),
            &channel.agent.public(),
            &covered,
            header,
            now,
            Duration::from_secs(60),
            Duration::from_secs(5),
        )
    };
    assert!(verify(Some(&joint)).is_ok());
    assert!(verify(None).is_err(), "the header was stripped");
    let other = channel.joint()[1..].join(", ");
    assert!(verify(Some(&other)).is_err(), "a principal was dropped");
}
