//! The whole system on loopback: an issuer, eight agents delegating offline
//! (signed hops), a revocation authority serving signed lists over HTTP with
//! push, a service verifying through the middleware with its revocation
//! state kept current by a subscriber (and, in a second service, a poller),
//! and an audit file. Revoking a middle hop reaches both services and cuts
//! off that hop's descendants only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use agentcap::{Grant, Hop, KeyPair, Token};
use agentcap_revocation::{
    Fetcher, RevocationFeed, RevocationState, RevocationStateConfig, RevocationStore, Subscriber,
    router,
};
use agentcap_verifier::{AgentcapLayer, AuditRecord, JsonLinesAuditSink, Verifier, tool_server};
use reqwest::StatusCode;

const ISSUER: &str = "revocation.acme.example";

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// A chain of `agents` agents, each with its own key, each hop narrower in
/// time and signed by the delegating agent.
fn chain(root: &KeyPair, agents: usize) -> Vec<Token> {
    let keys: Vec<KeyPair> = (0..agents).map(|_| KeyPair::generate()).collect();
    let mut tokens = vec![
        Grant::new("alice", "agent-0")
            .agent_key(keys[0].public())
            .right("flights/*", "read")
            .right("hotels/*", "read")
            .ttl(Duration::from_secs(3600))
            .max_depth(agents as u32)
            .mint(root)
            .unwrap(),
    ];
    for i in 1..agents {
        let parent = tokens.last().unwrap();
        let hop = Hop::to(format!("agent-{i}"))
            .agent_key(keys[i].public())
            .right("flights/*", "read")
            .ttl(Duration::from_secs(3600 - 60 * i as u64));
        tokens.push(parent.delegate(&hop, Some(&keys[i - 1])).unwrap());
    }
    tokens
}

async fn status(client: &reqwest::Client, base: &str, token: &Token) -> StatusCode {
    client
        .get(format!("{base}/flights/lis/2026-12-01"))
        .bearer_auth(token.to_base64().unwrap())
        .send()
        .await
        .unwrap()
        .status()
}

/// Waits (bounded) until `token` gets `expected`; the revocation travels
/// asynchronously, so this polls rather than sleeping a fixed time.
async fn eventually(client: &reqwest::Client, base: &str, token: &Token, expected: StatusCode) {
    for _ in 0..200 {
        if status(client, base, token).await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "{base} never answered {expected} for {}",
        token.chain().holder()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn revoking_a_middle_hop_reaches_pushed_and_polled_services_and_cuts_off_only_descendants() {
    let root = KeyPair::generate();
    let tokens = chain(&root, 8);
    let sibling = tokens[2]
        .delegate(&Hop::to("sibling").right("flights/*", "read"), None)
        .expect_err("agent-2 is key-bound: an unsigned hop is refused");
    assert!(matches!(
        sibling,
        agentcap::Error::SigningKeyRequired { .. }
    ));

    // The revocation authority: a file store, published over HTTP with push.
    let dir = tempfile::tempdir().unwrap();
    let store = RevocationStore::open(dir.path().join("store"), ISSUER).unwrap();
    let list_key = agentcap::KeyPair::generate();
    let feed = RevocationFeed::new();
    feed.announce(&store.publish(&list_key, Duration::from_secs(300)).unwrap());
    let authority = serve(router(feed.clone())).await;

    // Service A keeps its state current through the push stream; service B polls.
    let config = RevocationStateConfig::new(ISSUER, list_key.public());
    let pushed =
        Arc::new(RevocationState::open(dir.path().join("pushed.state"), config.clone()).unwrap());
    let polled = Arc::new(RevocationState::open(dir.path().join("polled.state"), config).unwrap());
    let subscriber = Subscriber::new(&authority, Arc::clone(&pushed)).unwrap();
    tokio::spawn(async move { subscriber.run().await });
    let fetcher = Fetcher::new(&authority, Arc::clone(&polled)).unwrap();
    fetcher.poll_once().await.unwrap();
    tokio::spawn(async move { fetcher.run(Duration::from_millis(100)).await });

    let audit_path = dir.path().join("audit.jsonl");
    let service = |state: Arc<RevocationState>, audit: Option<&std::path::Path>| {
        let verifier = Verifier::builder()
            .root_key(None, root.public())
            .revocation(state)
            .build()
            .unwrap();
        let mut layer = AgentcapLayer::new(verifier);
        if let Some(path) = audit {
            layer = layer.audit(Arc::new(JsonLinesAuditSink::open(path).unwrap()));
        }
        tool_server::router(layer)
    };
    let service_a = serve(service(Arc::clone(&pushed), Some(&audit_path))).await;
    let service_b = serve(service(Arc::clone(&polled), None)).await;
    let client = reqwest::Client::new();

    for base in [&service_a, &service_b] {
        for token in &tokens {
            eventually(&client, base, token, StatusCode::OK).await;
        }
    }

    // Revoke hop 4 (agent-3 → agent-4), as it appears in agent-4's token.
    let revoked = &tokens[4];
    store
        .revoke_token_block(
            &revoked.revocation_ids(),
            4,
            revoked.chain().expires_at().unwrap(),
            None,
        )
        .unwrap();
    feed.announce(&store.publish(&list_key, Duration::from_secs(300)).unwrap());

    for base in [&service_a, &service_b] {
        for (depth, token) in tokens.iter().enumerate() {
            let expected = if depth >= 4 {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::OK
            };
            eventually(&client, base, token, expected).await;
        }
    }

    // The audit trail names the user and every agent of each denied chain.
    let records: Vec<AuditRecord> = std::fs::read_to_string(&audit_path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let denial = records
        .iter()
        .rev()
        .find(|r| r.reason == "revoked")
        .unwrap();
    assert_eq!(denial.user.as_deref(), Some("alice"));
    assert_eq!(denial.agents.first().map(String::as_str), Some("agent-0"));
    assert!(denial.agents.len() >= 5);
    assert!(
        denial
            .explanation
            .contains("hop 4 (agent-3 → agent-4) is revoked"),
        "{}",
        denial.explanation
    );

    // A restarted service reloads its state: it cannot be rolled back to before the revocation.
    drop(pushed);
    let reopened = RevocationState::open(
        dir.path().join("pushed.state"),
        RevocationStateConfig::new(ISSUER, list_key.public()),
    )
    .unwrap();
    assert_eq!(reopened.is_revoked(&tokens[7].revocation_ids()), Some(4));
    assert_eq!(reopened.is_revoked(&tokens[3].revocation_ids()), None);
}
