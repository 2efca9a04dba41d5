//! A hostile token or request cannot hurt a service: over-budget tokens are
//! refused unevaluated, a slow decision never holds the executor, dead
//! tokens never fill the cache, denials do not leak the policy, audit can
//! be mandatory, request facts cannot impersonate the token, and the clock
//! skew is bounded and applied both ways.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use agentcap::{Grant, Hop, KeyPair, Token};
use agentcap_verifier::{
    AccessRequest, AgentcapLayer, AuditError, AuditRecord, AuditSink, ConfigError,
    JsonLinesAuditSink, Reason, Verifier, tool_server,
};
use biscuit_auth::{Biscuit, BlockBuilder};
use reqwest::StatusCode;
use serde_json::Value;

fn grant(root: &KeyPair) -> Token {
    Grant::new("alice", "travel-assistant")
        .right("flights/*", "read")
        .right("payments/charge", "write")
        .max_depth(8)
        .mint(root)
        .unwrap()
}

fn verifier(root: &KeyPair) -> Verifier {
    Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .build()
        .unwrap()
}

/// A block in Datalog (test-controlled source) appended with biscuit-auth.
fn append(token: &Token, root: &KeyPair, datalog: &str) -> String {
    let biscuit = Biscuit::from(token.to_bytes().unwrap(), root.public().to_biscuit()).unwrap();
    let block = BlockBuilder::new().code(datalog).unwrap();
    biscuit.append(block).unwrap().to_base64().unwrap()
}

fn hostile(root: &KeyPair) -> Vec<(&'static str, String)> {
    let facts: String = (0..60).map(|i| format!("f({i});\n")).collect();
    let token = grant(root);
    vec![
        (
            "join in a check",
            append(
                &token,
                root,
                &format!("{facts}check if f($a), f($b), f($c), f($d), $a + $b + $c + $d == -1;"),
            ),
        ),
        (
            "join in a rule",
            append(
                &token,
                root,
                &format!("{facts}g($a, $b) <- f($a), f($b);\ncheck if g(1, 2);"),
            ),
        ),
        (
            "many facts",
            append(
                &token,
                root,
                &(0..300).map(|i| format!("f({i});\n")).collect::<String>(),
            ),
        ),
        (
            "regex heavy",
            append(
                &token,
                root,
                &(0..6)
                    .map(|i| format!("check if resource($r), $r.matches(\"^(a|b)*{i}$\");\n"))
                    .collect::<String>(),
            ),
        ),
        (
            "nested expressions",
            append(
                &token,
                root,
                &format!(
                    "check if time($t), {} > 0;",
                    (0..40)
                        .map(|i| i.to_string())
                        .collect::<Vec<_>>()
                        .join(" + ")
                ),
            ),
        ),
    ]
}

#[test]
fn every_hostile_shape_is_denied_as_too_complex_naming_its_block() {
    let root = KeyPair::generate();
    let verifier = verifier(&root);
    for (shape, token) in hostile(&root) {
        let decision = verifier.verify(&token, &AccessRequest::new("flights/lis/x", "read"));
        assert_eq!(decision.reason, Reason::TooComplex, "{shape}");
        assert_eq!(decision.complex_block, Some(1), "{shape}");
        assert_eq!(decision.reason.code(), "token_too_complex");
        assert!(
            decision.explain().contains("block 1"),
            "{shape}: {}",
            decision.explain()
        );
        // Nothing over budget is cached.
        assert_eq!(verifier.cache_entries(), 0, "{shape}");
    }
}

#[test]
fn a_biscuit_cli_style_narrowing_is_verified_and_enforced() {
    let root = KeyPair::generate();
    let verifier = verifier(&root);
    let token = append(
        &grant(&root),
        &root,
        "check if resource($r), $r.starts_with(\"flights/lis/\");",
    );
    let allowed = verifier.verify(
        &token,
        &AccessRequest::new("flights/lis/2026-12-01", "read"),
    );
    assert!(allowed.allowed(), "{}", allowed.explain());
    let denied = verifier.verify(
        &token,
        &AccessRequest::new("flights/opo/2026-12-01", "read"),
    );
    assert_eq!(denied.reason, Reason::PolicyDenied);
    assert_eq!(denied.failing_block(), Some(1));
}

/// An audit sink that holds every denial until opened: a decision that
/// takes as long as the test wants.
#[derive(Default)]
struct GatedSink {
    open: Mutex<bool>,
    opened: Condvar,
    waiting: AtomicUsize,
}

impl GatedSink {
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl AuditSink for GatedSink {
    fn record(&self, record: &AuditRecord) -> Result<(), AuditError> {
        if record.decision == "deny" {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let mut open = self.open.lock().unwrap();
            while !*open {
                open = self.opened.wait(open).unwrap();
            }
        }
        Ok(())
    }
}

async fn serve(layer: AgentcapLayer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, tool_server::router(layer))
            .await
            .unwrap();
    });
    base
}

/// On a single-threaded runtime, with hostile requests whose decisions are
/// still running, a legitimate request is answered: decisions never run on
/// the executor's thread.
#[tokio::test(flavor = "current_thread")]
async fn a_legitimate_request_is_answered_while_hostile_ones_are_in_flight() {
    let root = KeyPair::generate();
    let sink = Arc::new(GatedSink::default());
    let layer = AgentcapLayer::new(verifier(&root)).audit(Arc::clone(&sink) as Arc<dyn AuditSink>);
    let base = serve(layer).await;
    let client = reqwest::Client::new();
    let mut in_flight = Vec::new();
    for (_, token) in hostile(&root) {
        let request = client
            .get(format!("{base}/flights/lis/2026-12-01"))
            .bearer_auth(token)
            .send();
        in_flight.push(tokio::spawn(request));
    }
    while sink.waiting.load(Ordering::SeqCst) < in_flight.len() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Every hostile decision is now blocked in the audit sink.
    let legit = tokio::time::timeout(
        Duration::from_secs(60),
        client
            .get(format!("{base}/flights/lis/2026-12-01"))
            .bearer_auth(grant(&root).to_base64().unwrap())
            .send(),
    )
    .await
    .expect("the legitimate request was stalled by the hostile ones")
    .unwrap();
    assert_eq!(legit.status(), StatusCode::OK);
    sink.open();
    for request in in_flight {
        let response = request.await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["reason"], "token_too_complex");
        assert_eq!(body["block"], 1);
    }
}

#[test]
fn expired_revoked_and_structurally_denied_tokens_are_never_cached() {
    let root = KeyPair::generate();
    let verifier = verifier(&root);
    let long_ago = SystemTime::now() - Duration::from_secs(7200);
    for i in 0..20 {
        let expired = Grant::new("alice", format!("agent-{i}"))
            .right("flights/*", "read")
            .issued_at(long_ago)
            .ttl(Duration::from_secs(60))
            .mint(&root)
            .unwrap()
            .to_base64()
            .unwrap();
        let decision = verifier.verify(&expired, &AccessRequest::new("flights/x", "read"));
        assert_eq!(decision.reason, Reason::Expired);
    }
    // A chain deeper than the service allows.
    let shallow = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .max_depth(1)
        .build()
        .unwrap();
    let mut deep = grant(&root);
    for i in 0..3 {
        deep = deep
            .delegate(
                &Hop::to(format!("sub-{i}")).right("flights/*", "read"),
                None,
            )
            .unwrap();
    }
    let decision = shallow.verify(
        &deep.to_base64().unwrap(),
        &AccessRequest::new("flights/x", "read"),
    );
    assert_eq!(decision.reason, Reason::DepthExceeded);
    assert_eq!(verifier.cache_entries(), 0);
    assert_eq!(shallow.cache_entries(), 0);
    // A live token is cached once, whatever it asks.
    let live = grant(&root).to_base64().unwrap();
    verifier.verify(&live, &AccessRequest::new("flights/x", "read"));
    verifier.verify(&live, &AccessRequest::new("hotels/x", "read"));
    assert_eq!(verifier.cache_entries(), 1);
    assert_eq!(verifier.cache_hits(), 1);
}

#[test]
fn a_cached_token_that_expires_leaves_the_cache() {
    let root = KeyPair::generate();
    let verifier = verifier(&root);
    let token = grant(&root);
    let narrowed = token
        .narrow("flights/lis/x", "read", Duration::from_secs(1))
        .unwrap()
        .to_base64()
        .unwrap();
    let request = AccessRequest::new("flights/lis/x", "read");
    assert!(verifier.verify(&narrowed, &request).allowed());
    assert_eq!(verifier.cache_entries(), 1);
    let later = request.at(SystemTime::now() + Duration::from_secs(60));
    assert_eq!(verifier.verify(&narrowed, &later).reason, Reason::Expired);
    assert_eq!(verifier.cache_entries(), 0);
}

#[test]
fn the_cache_stays_within_its_byte_budget_when_filled_with_distinct_tokens() {
    let root = KeyPair::generate();
    let budget = 256 * 1024;
    let verifier = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .cache_bytes(budget)
        .build()
        .unwrap();
    let token = grant(&root);
    let mut largest_entry = 0;
    for i in 0..300 {
        // A new narrowing per call, as any holder can make offline.
        let resource = format!("flights/lis/{i}");
        let narrowed = token
            .narrow(&resource, "read", Duration::from_secs(60))
            .unwrap()
            .to_base64()
            .unwrap();
        let before = verifier.cache_bytes();
        assert!(
            verifier
                .verify(&narrowed, &AccessRequest::new(&resource, "read"))
                .allowed()
        );
        largest_entry = largest_entry.max(verifier.cache_bytes().saturating_sub(before));
        assert!(
            verifier.cache_bytes() <= budget,
            "{} > {budget}",
            verifier.cache_bytes()
        );
    }
    assert!(verifier.cache_entries() < 300, "nothing was evicted");
    assert!(verifier.cache_entries() > 0);
    assert!(largest_entry > 0);
}

#[test]
fn custom_request_facts_cannot_use_vocabulary_names() {
    let root = KeyPair::generate();
    let verifier = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .policy(r#"allow if user("admin");"#)
        .build()
        .unwrap();
    let token = grant(&root).to_base64().unwrap();
    for name in [
        "user", "agent", "right", "cap", "hop", "expires", "resource", "quantity",
    ] {
        let request = AccessRequest::new("flights/x", "read").fact(name, "admin");
        let decision = verifier.verify(&token, &request);
        assert_eq!(decision.reason, Reason::MalformedRequest, "{name}");
    }
    // Too many facts are refused too.
    let mut request = AccessRequest::new("flights/x", "read");
    for i in 0..100 {
        request = request.quantity(format!("q{i}"), i);
    }
    assert_eq!(
        verifier.verify(&token, &request).reason,
        Reason::MalformedRequest
    );
}

#[test]
fn clock_skew_is_bounded_and_applied_both_ways() {
    let root = KeyPair::generate();
    let expired_2s_ago = Grant::new("alice", "a")
        .right("flights/*", "read")
        .issued_at(SystemTime::now() - Duration::from_secs(62))
        .ttl(Duration::from_secs(60))
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    let request = AccessRequest::new("flights/x", "read");
    // The default skew (5 s) tolerates it; none does not.
    assert!(verifier(&root).verify(&expired_2s_ago, &request).allowed());
    let strict = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .clock_skew(Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(
        strict.verify(&expired_2s_ago, &request).reason,
        Reason::Expired
    );
    // Expired by more than the skew: denied.
    let expired_20s_ago = Grant::new("alice", "a")
        .right("flights/*", "read")
        .issued_at(SystemTime::now() - Duration::from_secs(80))
        .ttl(Duration::from_secs(60))
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    assert_eq!(
        verifier(&root).verify(&expired_20s_ago, &request).reason,
        Reason::Expired
    );
    // A grant dated a minute ahead is refused.
    let future = Grant::new("alice", "a")
        .right("flights/*", "read")
        .issued_at(SystemTime::now() + Duration::from_secs(60))
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    let decision = verifier(&root).verify(&future, &request);
    assert_eq!(decision.reason, Reason::Malformed);
    // A skew that would make expiries meaningless is refused.
    let refused = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .clock_skew(Duration::MAX)
        .build();
    assert!(matches!(refused, Err(ConfigError::ClockSkewTooLarge)));
}

#[test]
fn a_request_for_the_wildcard_operation_is_malformed() {
    // A request names one operation: `*` is refused before the token is
    // looked at, as the local check refuses it (agentcap::Request::validate).
    let root = KeyPair::generate();
    let token = grant(&root).to_base64().unwrap();
    let decision = verifier(&root).verify(&token, &AccessRequest::new("flights/x", "*"));
    assert_eq!(decision.reason, Reason::MalformedRequest);
    let decision = verifier(&root).verify(&token, &AccessRequest::new("flights/x", "read"));
    assert!(decision.allowed());
}

#[test]
fn unusable_configurations_are_refused() {
    let root = KeyPair::generate();
    let base = || {
        Verifier::builder()
            .root_key(None, root.public())
            .without_revocation()
    };
    let zero =
        |build: Result<Verifier, ConfigError>| matches!(build, Err(ConfigError::ZeroLimit(_)));
    let limits = [
        agentcap::EvaluationLimits::new(0, 10, Duration::from_millis(10)),
        agentcap::EvaluationLimits::new(10, 0, Duration::from_millis(10)),
        agentcap::EvaluationLimits::new(10, 10, Duration::ZERO),
    ];
    for limit in limits {
        assert!(zero(base().limits(limit).build()), "{limit:?}");
    }
    assert!(zero(base().cache_bytes(0).build()));
    assert!(zero(base().replay_cache_capacity(0).build()));
    assert!(zero(base().max_token_bytes(0).build()));
    assert!(zero(base().require_holder_proof(Duration::ZERO).build()));
    assert!(matches!(
        base().policy("deny if true;").build(),
        Err(ConfigError::NoAllowPolicy)
    ));
    assert!(matches!(
        base().policy("allow if").build(),
        Err(ConfigError::InvalidPolicy(_))
    ));
    assert!(base().build().is_ok());
}

#[tokio::test]
async fn denials_tell_the_client_the_reason_and_block_but_not_the_policy() {
    let root = KeyPair::generate();
    let dir = tempfile::tempdir().unwrap();
    let audit_path = dir.path().join("audit.jsonl");
    let verifier = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .policy(r#"deny if user("secret-blocklisted-user"); allow if true;"#)
        .build()
        .unwrap();
    let layer = AgentcapLayer::new(verifier)
        .audit(Arc::new(JsonLinesAuditSink::open(&audit_path).unwrap()));
    let base = serve(layer).await;
    let mallory = Grant::new("secret-blocklisted-user", "a")
        .right("flights/*", "read")
        .mint(&root)
        .unwrap();
    let response = reqwest::Client::new()
        .get(format!("{base}/flights/lis/x"))
        .bearer_auth(mallory.to_base64().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = response.text().await.unwrap();
    assert!(body.contains("policy_denied"), "{body}");
    assert!(!body.contains("secret-blocklisted-user"), "{body}");
    assert!(!body.contains("deny if"), "{body}");
    // The full explanation is in the audit trail.
    let audit = std::fs::read_to_string(&audit_path).unwrap();
    assert!(audit.contains("deny if"), "{audit}");
}

#[tokio::test]
async fn a_rejection_hook_shapes_the_refusal() {
    let root = KeyPair::generate();
    let layer = AgentcapLayer::new(verifier(&root)).on_rejection(
        |decision: &agentcap_verifier::Decision, _parts: &http::request::Parts| {
            let body = serde_json::json!({
                "jsonrpc": "2.0",
                "id": null,
                "error": {"code": -32001, "message": decision.client_message(),
                          "data": {"reason": decision.reason.code()}},
            });
            http::Response::new(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
        },
    );
    let base = serve(layer).await;
    let response = reqwest::Client::new()
        .get(format!("{base}/payments/charge"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["data"]["reason"], "missing_token");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_required_audit_that_cannot_be_written_refuses_the_request() {
    let root = KeyPair::generate();
    let token = grant(&root).to_base64().unwrap();
    let full = Arc::new(JsonLinesAuditSink::open("/dev/full").unwrap()) as Arc<dyn AuditSink>;
    // Optional audit: the request goes through (the loss is logged).
    let base = serve(AgentcapLayer::new(verifier(&root)).audit(Arc::clone(&full))).await;
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{base}/flights/lis/x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Required audit: refused, 503.
    let base = serve(
        AgentcapLayer::new(verifier(&root))
            .audit(full)
            .require_audit(),
    )
    .await;
    let response = client
        .get(format!("{base}/flights/lis/x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "audit_unavailable");
}

/// A request signed by the holder: method, URL (authority, path, query),
/// body; the headers to send.
fn signed(
    key: &KeyPair,
    token: &str,
    authority: &str,
    path_and_query: &str,
    body: &[u8],
    at: SystemTime,
) -> agentcap::ProofHeaders {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let covered = agentcap::ProofRequest {
        method: "POST",
        authority,
        path,
        query,
        token,
        body,
    };
    agentcap::HolderProof::sign(key, &covered, at).unwrap()
}

async fn post(
    base: &str,
    path_and_query: &str,
    token: &str,
    proof: &agentcap::ProofHeaders,
    body: &'static [u8],
) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}{path_and_query}"))
        .bearer_auth(token)
        .header("signature-input", &proof.signature_input)
        .header("signature", &proof.signature)
        .header("content-digest", &proof.content_digest)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_captured_proof_cannot_be_replayed_or_moved() {
    let root = KeyPair::generate();
    let agent = KeyPair::generate();
    let token = Grant::new("alice", "travel-assistant")
        .agent_key(agent.public())
        .right("payments/charge", "write")
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    let proving = |audience: Option<String>| {
        let mut builder = Verifier::builder()
            .root_key(None, root.public())
            .without_revocation()
            .require_holder_proof(Duration::from_secs(60));
        if let Some(audience) = audience {
            builder = builder.audience([audience]);
        }
        builder.build().unwrap()
    };
    // Bind first, so each service knows its own authority.
    let listener_a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority_a = listener_a.local_addr().unwrap().to_string();
    let listener_b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority_b = listener_b.local_addr().unwrap().to_string();
    for (listener, authority) in [(listener_a, &authority_a), (listener_b, &authority_b)] {
        let layer = AgentcapLayer::new(proving(Some(authority.clone())));
        tokio::spawn(async move {
            axum::serve(listener, tool_server::router(layer))
                .await
                .unwrap();
        });
    }
    let base_a = format!("http://{authority_a}");
    let base_b = format!("http://{authority_b}");
    let now = SystemTime::now();
    let charge_10 = "/payments/charge?amount=10";
    let proof = signed(&agent, &token, &authority_a, charge_10, b"note=lunch", now);
    let (status, body) = post(&base_a, charge_10, &token, &proof, b"note=lunch").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["charged_eur"], 10);

    let refused = |(status, body): (StatusCode, Value), what: &str| {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {body}");
        assert_eq!(body["reason"], "holder_proof_invalid", "{what}: {body}");
    };
    // The same request again: a replay.
    refused(
        post(&base_a, charge_10, &token, &proof, b"note=lunch").await,
        "twice",
    );
    // The captured proof on another amount, another body, another service.
    let fresh = signed(&agent, &token, &authority_a, charge_10, b"note=lunch", now);
    refused(
        post(
            &base_a,
            "/payments/charge?amount=500",
            &token,
            &fresh,
            b"note=lunch",
        )
        .await,
        "another amount",
    );
    let fresh = signed(&agent, &token, &authority_a, charge_10, b"note=lunch", now);
    refused(
        post(&base_a, charge_10, &token, &fresh, b"note=dinner").await,
        "another body",
    );
    let fresh = signed(&agent, &token, &authority_a, charge_10, b"note=lunch", now);
    refused(
        post(&base_b, charge_10, &token, &fresh, b"note=lunch").await,
        "another service",
    );
    // Dated a minute ahead (skew is 5 s), and signed by a non-holder.
    let ahead = signed(
        &agent,
        &token,
        &authority_a,
        charge_10,
        b"",
        now + Duration::from_secs(59),
    );
    refused(
        post(&base_a, charge_10, &token, &ahead, b"").await,
        "from the future",
    );
    let thief = KeyPair::generate();
    let stolen = signed(&thief, &token, &authority_a, charge_10, b"", now);
    refused(
        post(&base_a, charge_10, &token, &stolen, b"").await,
        "non-holder",
    );
    // The token alone: a proof is missing.
    let response = reqwest::Client::new()
        .post(format!("{base_a}{charge_10}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "holder_proof_missing");
}

#[test]
fn caps_are_scoped_to_their_resource_and_refuse_negative_quantities() {
    let root = KeyPair::generate();
    let token = Grant::new("alice", "travel-assistant")
        .right("tools/*", "call")
        .right("payments/charge", "write")
        .cap("tools/search_flights:call", "max_price", 500)
        .cap("payments/charge:write", "amount", 500)
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    let verifier = verifier(&root);
    let decide = |resource: &str, operation: &str, quantity: Option<(&str, i64)>| {
        let mut request = AccessRequest::new(resource, operation);
        if let Some((name, value)) = quantity {
            request = request.quantity(name, value);
        }
        verifier.verify(&token, &request)
    };
    assert!(decide("tools/search_flights", "call", Some(("max_price", 400))).allowed());
    assert_eq!(
        decide("tools/search_flights", "call", Some(("max_price", 900))).reason,
        Reason::PolicyDenied
    );
    // The price cap on one tool does not block another tool.
    assert!(decide("tools/book_hotel", "call", None).allowed());
    // No lower bound stated: negative amounts are refused.
    assert!(decide("payments/charge", "write", Some(("amount", 10))).allowed());
    let refund = decide("payments/charge", "write", Some(("amount", -100_000)));
    assert_eq!(refund.reason, Reason::PolicyDenied);
    assert!(
        refund.explain().contains("negative"),
        "{}",
        refund.explain()
    );
}
