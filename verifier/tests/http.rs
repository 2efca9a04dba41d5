//! The verifier behind real HTTP on loopback: a tool server in the test, a
//! real client, real tokens, real revocation lists, a real audit file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentcap::{Grant, Hop, KeyPair, Token};
use agentcap_revocation::{RevocationState, RevocationStateConfig, RevocationStore};
use agentcap_verifier::{
    AgentcapLayer, AuditRecord, AuditSink, JsonLinesAuditSink, Reason, Verifier, VerifierBuilder,
    tool_server,
};
use biscuit_auth::builder::{BlockBuilder, Term};
use reqwest::StatusCode;
use serde_json::Value;

const ISSUER: &str = "revocations.example";

/// An issuer, its agents, a revocation authority, and a chain of tokens:
/// alice → assistant (key-bound) → search → scraper.
struct World {
    root: KeyPair,
    assistant: KeyPair,
    search: KeyPair,
    scraper_key: KeyPair,
    store_dir: tempfile::TempDir,
    store: RevocationStore,
    list_key: agentcap::KeyPair,
    state: Arc<RevocationState>,
    user: Token,
    search_token: Token,
    scraper: Token,
}

impl World {
    fn new() -> World {
        let root = KeyPair::generate();
        let assistant = KeyPair::generate();
        let search = KeyPair::generate();
        let scraper_key = KeyPair::generate();
        let user = Grant::new("alice", "travel-assistant")
            .tenant("acme")
            .agent_key(assistant.public())
            .right("flights/*", "read")
            .right("hotels/*", "read")
            .right("payments/charge", "write")
            .cap("write", "amount", 500)
            .max_depth(3)
            .mint(&root)
            .unwrap();
        let search_token = user
            .delegate(
                &Hop::to("flight-search")
                    .agent_key(search.public())
                    .right("flights/*", "read"),
                Some(&assistant),
            )
            .unwrap();
        let scraper = search_token
            .delegate(
                &Hop::to("lisbon-scraper")
                    .agent_key(scraper_key.public())
                    .right("flights/lis/*", "read"),
                Some(&search),
            )
            .unwrap();
        let store_dir = tempfile::tempdir().unwrap();
        let store = RevocationStore::open(store_dir.path(), ISSUER).unwrap();
        let list_key = agentcap::KeyPair::generate();
        let state = Arc::new(
            RevocationState::in_memory(RevocationStateConfig::new(ISSUER, list_key.public()))
                .unwrap(),
        );
        let world = World {
            root,
            assistant,
            search,
            scraper_key,
            store_dir,
            store,
            list_key,
            state,
            user,
            search_token,
            scraper,
        };
        world.publish();
        world
    }

    /// Publishes the store's current list and hands it to the verifier state.
    fn publish(&self) {
        let publication = self
            .store
            .publish(&self.list_key, Duration::from_secs(600))
            .unwrap();
        self.state.accept_list(&publication.list).unwrap();
    }

    fn revoke_block(&self, token: &Token, block: usize) {
        let expires = token.chain().expires_at().unwrap();
        self.store
            .revoke_token_block(&token.revocation_ids(), block, expires, None)
            .unwrap();
        self.publish();
    }

    fn verifier(&self) -> VerifierBuilder {
        Verifier::builder()
            .root_key(None, self.root.public())
            .revocation(Arc::clone(&self.state))
    }
}

struct Server {
    base: String,
    client: reqwest::Client,
}

impl Server {
    async fn start(verifier: Verifier, audit: Arc<dyn AuditSink>) -> Server {
        let layer = AgentcapLayer::new(verifier).audit(audit);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, tool_server::router(layer))
                .await
                .unwrap();
        });
        Server {
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str, token: Option<&Token>) -> (StatusCode, Value) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token.to_base64().unwrap());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GET `path` with the token and a holder proof (RFC 9421) signed by
    /// `key` at `at`, made for `signed_path` at this server.
    async fn get_with_proof(
        &self,
        path: &str,
        token: &Token,
        key: &KeyPair,
        signed_path: &str,
        at: SystemTime,
    ) -> (StatusCode, Value) {
        let text = token.to_base64().unwrap();
        let authority = self.base.trim_start_matches("http://");
        let covered = agentcap::ProofRequest {
            method: "GET",
            authority,
            path: signed_path,
            query: None,
            token: &text,
            body: b"",
        };
        let proof = agentcap::HolderProof::sign(key, &covered, at).unwrap();
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&text)
            .header("signature-input", proof.signature_input)
            .header("signature", proof.signature)
            .header("content-digest", proof.content_digest)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn with_header(
        &self,
        path: &str,
        value: reqwest::header::HeaderValue,
    ) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, value)
            .send()
            .await
            .unwrap()
    }
}

fn no_audit() -> Arc<dyn AuditSink> {
    Arc::new(agentcap_verifier::NoAudit)
}

#[tokio::test]
async fn an_allowed_chain_reaches_the_handler_with_its_delegation() {
    let world = World::new();
    let server = Server::start(world.verifier().build().unwrap(), no_audit()).await;
    let (status, body) = server
        .get("/flights/lis/2026-12-01", Some(&world.scraper))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["served_for"]["user"], "alice");
    assert_eq!(
        body["served_for"]["agents"],
        serde_json::json!(["travel-assistant", "flight-search", "lisbon-scraper"])
    );
    assert_eq!(body["served_for"]["holder"], "lisbon-scraper");
}

async fn expect(
    server: &Server,
    path: &str,
    token: Option<&Token>,
    status: StatusCode,
    reason: Reason,
) -> Value {
    let (got, body) = server.get(path, token).await;
    assert_eq!(got, status, "{path}: {body}");
    assert_eq!(body["reason"], reason.code(), "{path}: {body}");
    body
}

#[tokio::test]
async fn every_reason_code_is_produced_and_mapped_to_its_status() {
    let world = World::new();
    let forbidden = StatusCode::FORBIDDEN;
    let unauthorized = StatusCode::UNAUTHORIZED;
    let server = Server::start(world.verifier().max_depth(3).build().unwrap(), no_audit()).await;
    let mut seen = vec![Reason::Allowed];
    assert_eq!(
        server.get("/hotels/lis", Some(&world.user)).await.0,
        StatusCode::OK
    );

    // 401: no token, a malformed one, an unknown root key id, a bad signature.
    let response = server
        .client
        .get(format!("{}/hotels/lis", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), unauthorized);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer realm=")
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    seen.push(Reason::MissingToken);
    let garbage = reqwest::header::HeaderValue::from_static("Bearer bm90IGEgdG9rZW4");
    assert_eq!(
        server.with_header("/hotels/lis", garbage).await.status(),
        unauthorized
    );
    seen.push(Reason::Malformed);
    let other_id = Grant::new("alice", "a")
        .right("hotels/*", "read")
        .root_key_id(7)
        .mint(&world.root)
        .unwrap();
    expect(
        &server,
        "/hotels/lis",
        Some(&other_id),
        unauthorized,
        Reason::UnknownRootKey,
    )
    .await;
    seen.push(Reason::UnknownRootKey);
    let forged = Grant::new("alice", "a")
        .right("hotels/*", "read")
        .mint(&KeyPair::generate())
        .unwrap();
    expect(
        &server,
        "/hotels/lis",
        Some(&forged),
        unauthorized,
        Reason::BadSignature,
    )
    .await;
    seen.push(Reason::BadSignature);

    // 400: a request that cannot be mapped to a resource.
    let (status, body) = server.get("/hotels/%ff%fe", Some(&world.user)).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_request"))
    );
    seen.push(Reason::MalformedRequest);

    // 401: tokens that are not acceptable whatever they are asked.
    let expired = Grant::new("alice", "a")
        .right("hotels/*", "read")
        .ttl(Duration::from_secs(60))
        .issued_at(SystemTime::now() - Duration::from_secs(7200))
        .mint(&world.root)
        .unwrap();
    expect(
        &server,
        "/hotels/lis",
        Some(&expired),
        unauthorized,
        Reason::Expired,
    )
    .await;
    seen.push(Reason::Expired);
    let doomed = world
        .user
        .delegate(
            &Hop::to("x").right("hotels/*", "read"),
            Some(&world.assistant),
        )
        .unwrap();
    world.revoke_block(&doomed, 1);
    let body = expect(
        &server,
        "/hotels/lis",
        Some(&doomed),
        unauthorized,
        Reason::Revoked,
    )
    .await;
    assert_eq!(body["revoked_block"], 1);
    seen.push(Reason::Revoked);
    let shallow = Server::start(world.verifier().max_depth(1).build().unwrap(), no_audit()).await;
    expect(
        &shallow,
        "/flights/lis/x",
        Some(&world.scraper),
        unauthorized,
        Reason::DepthExceeded,
    )
    .await;
    seen.push(Reason::DepthExceeded);
    let unsigned = append_raw_hop(&world, &world.search_token, 2, "flight-search", "mallory");
    expect(
        &server,
        "/flights/lis/x",
        Some(&unsigned),
        unauthorized,
        Reason::HolderBindingBroken,
    )
    .await;
    seen.push(Reason::HolderBindingBroken);
    let body = expect(
        &server,
        "/payments/charge",
        Some(&world.search_token),
        forbidden,
        Reason::PolicyDenied,
    )
    .await;
    assert_eq!(body["status"], 403);
    seen.push(Reason::PolicyDenied);
    let empty_state = Arc::new(
        RevocationState::in_memory(RevocationStateConfig::new(ISSUER, world.list_key.public()))
            .unwrap(),
    );
    let stale = Verifier::builder()
        .root_key(None, world.root.public())
        .revocation(empty_state)
        .build()
        .unwrap();
    let stale = Server::start(stale, no_audit()).await;
    expect(
        &stale,
        "/hotels/lis",
        Some(&world.user),
        forbidden,
        Reason::RevocationListStale,
    )
    .await;
    seen.push(Reason::RevocationListStale);
    // A rule that derives facts, under a limit of one iteration.
    let tight = world
        .verifier()
        .policy("seen($r) <- resource($r); allow if seen($r);")
        .limits(agentcap::EvaluationLimits::new(
            1000,
            1,
            Duration::from_secs(1),
        ))
        .build()
        .unwrap();
    let tight = Server::start(tight, no_audit()).await;
    expect(
        &tight,
        "/hotels/lis",
        Some(&world.user),
        forbidden,
        Reason::LimitsExceeded,
    )
    .await;
    seen.push(Reason::LimitsExceeded);

    let proving = Server::start(
        world
            .verifier()
            .require_holder_proof(Duration::from_secs(60))
            .build()
            .unwrap(),
        no_audit(),
    )
    .await;
    expect(
        &proving,
        "/flights/lis/x",
        Some(&world.scraper),
        unauthorized,
        Reason::HolderProofMissing,
    )
    .await;
    seen.push(Reason::HolderProofMissing);
    let (status, body) = proving
        .get_with_proof(
            "/flights/lis/x",
            &world.scraper,
            &world.search,
            "/flights/lis/x",
            SystemTime::now(),
        )
        .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (unauthorized, Some("holder_proof_invalid"))
    );
    seen.push(Reason::HolderProofInvalid);

    // 401: a token made for another service (an RFC 8707 audience).
    let elsewhere = Grant::new("alice", "travel-assistant")
        .right("hotels/*", "read")
        .audience("https://b.example/mcp")
        .mint(&world.root)
        .unwrap();
    let here = world
        .verifier()
        .resource_id("https://a.example/mcp")
        .build()
        .unwrap();
    let here = Server::start(here, no_audit()).await;
    expect(
        &here,
        "/hotels/lis",
        Some(&elsewhere),
        unauthorized,
        Reason::AudienceMismatch,
    )
    .await;
    seen.push(Reason::AudienceMismatch);

    // 401: a block over the evaluation budget, never evaluated.
    let biscuit = biscuit_auth::Biscuit::from(
        world.user.to_bytes().unwrap(),
        world.root.public().to_biscuit(),
    )
    .unwrap();
    let mut block = BlockBuilder::new();
    for i in 0..300 {
        block = block
            .fact(biscuit_auth::builder::fact("f", &[Term::Integer(i)]))
            .unwrap();
    }
    let complex = biscuit.append(block).unwrap();
    assert!(
        Token::from_bytes(&complex.to_vec().unwrap()).is_err(),
        "over budget, so refused when read too"
    );
    let text = complex.to_base64().unwrap();
    let response = server
        .client
        .get(format!("{}/hotels/lis", server.base))
        .bearer_auth(text)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), unauthorized);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "token_too_complex");
    seen.push(Reason::TooComplex);

    // 403: a joint request another principal refuses, or whose token is
    // held by another agent.
    let bob = Grant::new("bob", "travel-assistant")
        .agent_key(world.assistant.public())
        .right("flights/*", "read")
        .mint(&world.root)
        .unwrap()
        .to_base64()
        .unwrap();
    for (joint, principal_reason) in [
        (bob, Reason::PolicyDenied),
        (
            world.search_token.to_base64().unwrap(),
            Reason::JointHolderMismatch,
        ),
    ] {
        let response = server
            .client
            .get(format!("{}/hotels/lis", server.base))
            .bearer_auth(world.user.to_base64().unwrap())
            .header("agentcap-joint", joint)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), forbidden);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["reason"], "joint_denied", "{body}");
        assert_eq!(
            body["joint"]["principals"][1]["reason"],
            principal_reason.code(),
            "{body}"
        );
        seen.push(principal_reason);
    }
    seen.push(Reason::JointDenied);

    // 503: audit is required and the record cannot be written.
    #[cfg(target_os = "linux")]
    {
        let full = Arc::new(JsonLinesAuditSink::open("/dev/full").unwrap());
        let layer = AgentcapLayer::new(world.verifier().build().unwrap())
            .audit(full)
            .require_audit();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, tool_server::router(layer))
                .await
                .unwrap();
        });
        let response = server
            .client
            .get(format!("{base}/hotels/lis"))
            .bearer_auth(world.user.to_base64().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["reason"], "audit_unavailable");
        seen.push(Reason::AuditUnavailable);
    }

    for reason in Reason::ALL {
        assert!(seen.contains(&reason), "{} never produced", reason.code());
    }
}

/// A hop appended with raw biscuit-auth, unsigned, behind agentcap's back.
fn append_raw_hop(world: &World, token: &Token, depth: i64, from: &str, to: &str) -> Token {
    let biscuit =
        biscuit_auth::Biscuit::from(token.to_bytes().unwrap(), world.root.public().to_biscuit())
            .unwrap();
    let block = BlockBuilder::new()
        .fact(biscuit_auth::builder::fact(
            "hop",
            &[
                Term::Integer(depth),
                Term::Str(from.into()),
                Term::Str(to.into()),
            ],
        ))
        .unwrap();
    Token::from_bytes(&biscuit.append(block).unwrap().to_vec().unwrap()).unwrap()
}

#[tokio::test]
async fn a_service_requiring_holder_proofs_refuses_a_token_used_without_its_key() {
    let world = World::new();
    let verifier = world
        .verifier()
        .require_holder_proof(Duration::from_secs(60))
        .build()
        .unwrap();
    let server = Server::start(verifier, no_audit()).await;
    let now = SystemTime::now();
    let path = "/flights/lis/2026-12-01";
    let resource = path;
    // The holder signs the request: allowed.
    let (status, body) = server
        .get_with_proof(path, &world.scraper, &world.scraper_key, resource, now)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The stolen token alone, or with a proof by anyone else, or a proof for
    // another request, or an old proof: refused.
    let thief = KeyPair::generate();
    let cases = [
        (&thief, resource, now),
        (&world.scraper_key, "/flights/lis/2026-12-02", now),
        (&world.scraper_key, resource, now - Duration::from_secs(600)),
        (&world.scraper_key, resource, now + Duration::from_secs(600)),
    ];
    for (key, signed_for, at) in cases {
        let (status, body) = server
            .get_with_proof(path, &world.scraper, key, signed_for, at)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["reason"], "holder_proof_invalid");
    }
    expect(
        &server,
        path,
        Some(&world.scraper),
        StatusCode::UNAUTHORIZED,
        Reason::HolderProofMissing,
    )
    .await;
    // A token that binds no key (a bearer leaf) is refused where proofs
    // are required, unless the service allows bearer leaves.
    let root = &world.root;
    let unbound = Grant::new("bob", "helper")
        .right("hotels/*", "read")
        .mint(root)
        .unwrap();
    let (status, body) = server.get("/hotels/lis", Some(&unbound)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["reason"], "holder_proof_missing");
    let lenient = Server::start(
        world
            .verifier()
            .require_holder_proof(Duration::from_secs(60))
            .allow_bearer_leaves()
            .build()
            .unwrap(),
        no_audit(),
    )
    .await;
    assert_eq!(
        lenient.get("/hotels/lis", Some(&unbound)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_revoked_middle_hop_denies_its_descendants_and_not_its_parent() {
    let world = World::new();
    let sibling = world
        .user
        .delegate(
            &Hop::to("hotel-search").right("hotels/*", "read"),
            Some(&world.assistant),
        )
        .unwrap();
    let server = Server::start(world.verifier().build().unwrap(), no_audit()).await;
    assert_eq!(
        server.get("/flights/lis/x", Some(&world.scraper)).await.0,
        StatusCode::OK
    );

    // Revoke hop 1 (assistant → flight-search), as seen in flight-search's token.
    world.revoke_block(&world.search_token, 1);
    expect(
        &server,
        "/flights/opo/x",
        Some(&world.search_token),
        StatusCode::UNAUTHORIZED,
        Reason::Revoked,
    )
    .await;
    let body = expect(
        &server,
        "/flights/lis/x",
        Some(&world.scraper),
        StatusCode::UNAUTHORIZED,
        Reason::Revoked,
    )
    .await;
    assert_eq!(body["revoked_block"], 1);
    assert_eq!(body["block"], 1);
    assert_eq!(body["detail"], "the token is revoked (block 1)");
    // The parent and a sibling hop are untouched.
    assert_eq!(
        server.get("/flights/opo/x", Some(&world.user)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/hotels/lis", Some(&sibling)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_cached_token_pays_verification_once_and_still_sees_new_revocations() {
    let world = World::new();
    let verifier = world.verifier().build().unwrap();
    let server = Server::start(verifier.clone(), no_audit()).await;
    assert_eq!(
        server.get("/flights/lis/x", Some(&world.scraper)).await.0,
        StatusCode::OK
    );
    assert_eq!(
        server.get("/flights/lis/y", Some(&world.scraper)).await.0,
        StatusCode::OK
    );
    assert_eq!(verifier.signature_verifications(), 1);
    assert_eq!(verifier.cache_hits(), 1);

    world.revoke_block(&world.scraper, 2);
    expect(
        &server,
        "/flights/lis/x",
        Some(&world.scraper),
        StatusCode::UNAUTHORIZED,
        Reason::Revoked,
    )
    .await;
    assert_eq!(
        verifier.signature_verifications(),
        1,
        "the revocation was seen without re-verifying"
    );
}

#[tokio::test]
async fn malformed_authorization_headers_all_get_401_with_a_problem_body() {
    use reqwest::header::HeaderValue;
    let world = World::new();
    let server = Server::start(world.verifier().build().unwrap(), no_audit()).await;
    let huge = format!("Bearer {}", "A".repeat(100_000));
    let headers = [
        HeaderValue::from_static(""),
        HeaderValue::from_str(&huge).unwrap(),
        HeaderValue::from_bytes(b"Bearer \xff\xfe\x80token").unwrap(),
        HeaderValue::from_static("Basic YWxpY2U6c2VjcmV0"),
        HeaderValue::from_static("Bearer"),
        HeaderValue::from_static("Bearer !!!not*base64$$$"),
        HeaderValue::from_static("Bearer Z2FyYmFnZSBnYXJiYWdlIGdhcmJhZ2U"),
        HeaderValue::from_static("Bearer EgASAA"),
    ];
    for header in headers {
        let response = server.with_header("/flights/lis/x", header.clone()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert!(
            ["malformed", "missing_token"].contains(&body["reason"].as_str().unwrap()),
            "{header:?}: {body}"
        );
        assert_eq!(body["status"], 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_leave_exactly_one_whole_audit_line_each() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let sink = Arc::new(JsonLinesAuditSink::open(&log).unwrap());
    let server = Arc::new(Server::start(world.verifier().build().unwrap(), sink).await);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let server = Arc::clone(&server);
        let token = if i % 2 == 0 {
            world.scraper.clone()
        } else {
            world.search_token.clone()
        };
        tasks.push(tokio::spawn(async move {
            // Odd requests ask search's token for payments: denied.
            let path = if i % 2 == 0 {
                format!("/flights/lis/{i}")
            } else {
                "/payments/charge?amount=5".to_owned()
            };
            let response = server
                .client
                .request(
                    if i % 2 == 0 {
                        reqwest::Method::GET
                    } else {
                        reqwest::Method::POST
                    },
                    format!("{}{path}", server.base),
                )
                .bearer_auth(token.to_base64().unwrap())
                .send()
                .await
                .unwrap();
            response.status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        100
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<AuditRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 200);
    assert!(text.ends_with('\n'));
    assert_eq!(
        records.iter().filter(|r| r.decision == "allow").count(),
        100
    );
    let denied = records.iter().find(|r| r.decision == "deny").unwrap();
    assert_eq!(denied.reason, "policy_denied");
    assert_eq!(denied.user.as_deref(), Some("alice"));
    assert_eq!(denied.agents, ["travel-assistant", "flight-search"]);
    assert_eq!(denied.method.as_deref(), Some("POST"));
    assert_eq!(denied.revocation_ids.len(), 2);
    assert!(denied.chain_verified);
    let _ = (&world.search, &world.store_dir);
}

#[test]
fn the_builder_refuses_unusable_configurations() {
    let root = KeyPair::generate();
    assert!(matches!(
        Verifier::builder().without_revocation().build(),
        Err(agentcap_verifier::ConfigError::NoRootKeys)
    ));
    assert!(matches!(
        Verifier::builder().root_key(None, root.public()).build(),
        Err(agentcap_verifier::ConfigError::NoRevocation)
    ));
    assert!(matches!(
        Verifier::builder()
            .root_key(None, root.public())
            .without_revocation()
            .policy("allow if (")
            .build(),
        Err(agentcap_verifier::ConfigError::InvalidPolicy(_))
    ));
    assert!(matches!(
        Verifier::builder()
            .root_key(None, root.public())
            .without_revocation()
            .policy("deny if true;")
            .build(),
        Err(agentcap_verifier::ConfigError::NoAllowPolicy)
    ));
}

#[test]
fn service_policies_see_the_request_and_the_grant() {
    let world = World::new();
    let verifier = world
        .verifier()
        .policy(r#"deny if user("alice"), method("DELETE"); allow if user($u), tenant("acme");"#)
        .build()
        .unwrap();
    let token = world.user.to_base64().unwrap();
    let read = agentcap_verifier::AccessRequest::new("hotels/lis", "read").method("GET");
    let decision = verifier.verify(&token, &read);
    assert!(decision.allowed(), "{}", decision.explain());
    assert_eq!(decision.matched_policy.as_ref().unwrap().0, 1);
    let delete = agentcap_verifier::AccessRequest::new("hotels/lis", "read").method("DELETE");
    let decision = verifier.verify(&token, &delete);
    assert_eq!(decision.reason, Reason::PolicyDenied);
    assert!(
        decision.explain().contains("policy 0"),
        "{}",
        decision.explain()
    );
    // Caps are explained too.
    let pay =
        agentcap_verifier::AccessRequest::new("payments/charge", "write").quantity("amount", 900);
    let decision = verifier.verify(&token, &pay);
    assert_eq!(decision.reason, Reason::PolicyDenied);
    assert!(
        decision.explain().contains("caps amount at 500"),
        "{}",
        decision.explain()
    );
}
