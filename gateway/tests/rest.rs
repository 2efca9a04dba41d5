//! The gateway in REST mode, and its endpoints of its own: identity passed
//! upstream (and only by the gateway), no token upstream, challenges that
//! name the RFC 9728 metadata, the authorization endpoint for nginx and
//! Envoy, and responses that stream. Real keys, tokens and HTTP.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use agentcap::{Grant, Hop, KeyPair};
use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, Sse};
use axum::routing::{any, get};
use common::Hits;
use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// An upstream answering every path with what it received.
async fn echo_upstream(hits: Hits) -> String {
    async fn echo(State(hits): State<Hits>, request: axum::extract::Request) -> axum::Json<Value> {
        hits.add();
        let headers: BTreeMap<String, String> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
            .collect();
        axum::Json(
            json!({"method": request.method().as_str(), "uri": request.uri().to_string(), "headers": headers}),
        )
    }
    async fn events() -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
        let stream = futures_util::stream::iter(0..2).then(|i| async move {
            if i == 1 {
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            Ok(Event::default().data(format!("event {i}")))
        });
        Sse::new(stream)
    }
    let app = Router::new()
        .route("/events", get(events))
        .fallback(any(echo))
        .with_state(hits);
    common::serve(app).await
}

fn token(root: &KeyPair) -> (String, String) {
    let token = Grant::new("zoë", "travel-assistant")
        .right("flights/*", "read")
        .right("payments/charge", "write")
        .mint(root)
        .unwrap()
        .delegate(&Hop::to("flight-search").right("flights/*", "read"), None)
        .unwrap();
    let leaf = token.chain().blocks.last().unwrap().revocation_id.clone();
    (token.to_base64().unwrap(), leaf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_requests_go_upstream_with_the_proven_identity_and_without_the_token() {
    let root = KeyPair::generate();
    let hits = Hits::default();
    let upstream = echo_upstream(hits.clone()).await;
    let gateway = common::gateway(
        &format!("{upstream}/api/"),
        common::verifier(&root, &[]),
        |b| b,
    )
    .await;
    let (token, leaf) = token(&root);
    let client = reqwest::Client::new();
    let seen: Value = client
        .get(format!("{gateway}/flights/lis?day=3"))
        .bearer_auth(&token)
        .header("x-agentcap-user", "\"mallory\"")
        .header("X-Agentcap-Proven", "true")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["uri"], "/api/flights/lis?day=3");
    let headers = &seen["headers"];
    assert_eq!(headers["x-agentcap-user"], r#""zo\u00eb""#);
    let agents: Value =
        serde_json::from_str(headers["x-agentcap-agents"].as_str().unwrap()).unwrap();
    assert_eq!(agents, json!(["travel-assistant", "flight-search"]));
    // An unsigned hop's delegation is a claim.
    assert_eq!(headers["x-agentcap-proven"], "false");
    assert_eq!(headers["x-agentcap-token-id"], leaf.as_str());
    assert!(headers.get("authorization").is_none(), "{headers}");
    assert_eq!(headers["host"], upstream.trim_start_matches("http://"));
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(hits.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_never_reach_the_upstream_and_name_the_resource_metadata() {
    let root = KeyPair::generate();
    let hits = Hits::default();
    let upstream = echo_upstream(hits.clone()).await;
    let records = std::sync::Arc::new(common::Records::default());
    let audit = records.clone();
    let gateway = common::gateway(&upstream, common::verifier(&root, &[]), |b| {
        b.audit(audit)
            .resource_id("https://Tools.Example/api/")
            .authorization_server("https://issuer.example")
    })
    .await;
    let (token, _) = token(&root);
    let client = reqwest::Client::new();

    let missing = client
        .get(format!("{gateway}/flights/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let challenge = missing.headers()["www-authenticate"].to_str().unwrap();
    assert_eq!(
        challenge,
        r#"Bearer resource_metadata="https://tools.example/.well-known/oauth-protected-resource/api""#
    );

    let forged = client
        .get(format!("{gateway}/flights/x"))
        .bearer_auth(format!("{}A", &token[..token.len() - 1]))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert!(
        forged.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );

    let not_granted = client
        .post(format!("{gateway}/payments/charge"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(not_granted.status(), StatusCode::FORBIDDEN);
    let problem: Value = not_granted.json().await.unwrap();
    assert_eq!(problem["reason"], "policy_denied");
    assert_eq!(problem["block"], 1);
    assert_eq!(hits.count(), 0);

    let decisions: Vec<String> = records.all().iter().map(|r| r.reason.clone()).collect();
    assert_eq!(decisions.len(), 3, "{decisions:?}");
    assert_eq!(decisions[2], "policy_denied");

    let metadata: Value = client
        .get(format!(
            "{gateway}/.well-known/oauth-protected-resource/api"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata,
        json!({"resource": "https://tools.example/api", "authorization_servers": ["https://issuer.example"],
               "bearer_methods_supported": ["header"], "resource_name": "agentcap gateway"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_goes_upstream_only_when_asked() {
    let root = KeyPair::generate();
    let upstream = echo_upstream(Hits::default()).await;
    let gateway = common::gateway(&upstream, common::verifier(&root, &[]), |b| {
        b.forward_token(true)
    })
    .await;
    let (token, _) = token(&root);
    let seen: Value = reqwest::Client::new()
        .get(format!("{gateway}/flights/x"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["headers"]["authorization"], format!("Bearer {token}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_authorization_endpoint_decides_for_nginx_and_envoy() {
    let root = KeyPair::generate();
    let hits = Hits::default();
    let upstream = echo_upstream(hits.clone()).await;
    let gateway = common::gateway(&upstream, common::verifier(&root, &[]), |b| b).await;
    let (token, leaf) = token(&root);
    let client = reqwest::Client::new();
    let authz = format!("{gateway}/_agentcap/authz");

    // nginx: a GET subrequest naming the original request in headers.
    let allowed = client
        .get(&authz)
        .bearer_auth(&token)
        .header("x-original-method", "GET")
        .header("x-original-uri", "/flights/lis?day=3")
        .header("x-agentcap-user", "\"mallory\"")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.headers()["x-agentcap-user"], r#""zo\u00eb""#);
    assert_eq!(allowed.headers()["x-agentcap-token-id"], leaf.as_str());

    let refused = client
        .get(&authz)
        .bearer_auth(&token)
        .header("x-original-method", "POST")
        .header("x-original-uri", "/payments/charge")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers().get("x-agentcap-user").is_none());

    let unauthenticated = client
        .get(&authz)
        .header("x-original-uri", "/flights/lis")
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert!(unauthenticated.headers().contains_key("www-authenticate"));

    // Envoy: the original method, the original path after the prefix.
    let envoy = client
        .post(format!("{authz}/payments/charge"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(envoy.status(), StatusCode::FORBIDDEN);
    let envoy = client
        .get(format!("{authz}/flights/ams"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(envoy.status(), StatusCode::OK);
    assert_eq!(
        hits.count(),
        0,
        "the authorization endpoint never calls the upstream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_sent_events_stream_through_as_they_come() {
    let root = KeyPair::generate();
    let token = Grant::new("alice", "assistant")
        .right("events", "read")
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    let upstream = echo_upstream(Hits::default()).await;
    let gateway = common::gateway(&upstream, common::verifier(&root, &[]), |b| b).await;
    let response = reqwest::Client::new()
        .get(format!("{gateway}/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut chunks = response.bytes_stream();
    // The upstream holds its second event for 30 s: the first must arrive
    // well before, or the gateway buffered the stream.
    let first = tokio::time::timeout(Duration::from_secs(10), chunks.next())
        .await
        .expect("the first event was held back")
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("event 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joint_request_goes_upstream_naming_every_principal_and_no_token() {
    let root = KeyPair::generate();
    let hits = Hits::default();
    let upstream = echo_upstream(hits.clone()).await;
    let gateway = common::gateway(&upstream, common::verifier(&root, &[]), |b| b).await;
    let (token, _) = token(&root);
    let member = |user: &str, right: &str| {
        Grant::new(user, "travel-assistant")
            .right(right, "read")
            .mint(&root)
            .unwrap()
            .delegate(&Hop::to("flight-search").right(right, "read"), None)
            .unwrap()
            .to_base64()
            .unwrap()
    };
    let joint = format!(
        "{}, {}",
        member("ana", "flights/*"),
        member("bo", "flights/lis")
    );
    let client = reqwest::Client::new();
    let seen: Value = client
        .get(format!("{gateway}/flights/lis"))
        .bearer_auth(&token)
        .header("agentcap-joint", &joint)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let headers = &seen["headers"];
    assert_eq!(
        headers["x-agentcap-principals"],
        r#"["zo\u00eb","ana","bo"]"#
    );
    assert!(headers.get("agentcap-joint").is_none(), "{headers}");
    assert!(headers.get("authorization").is_none(), "{headers}");
    assert_eq!(hits.count(), 1);

    // Bo may read Lisbon flights only: Porto is refused for all three.
    let response = client
        .get(format!("{gateway}/flights/opo"))
        .bearer_auth(&token)
        .header("agentcap-joint", &joint)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "joint_denied", "{body}");
    assert_eq!(body["joint"]["refused_by"], 2, "{body}");
    assert_eq!(hits.count(), 1, "the refusal never went upstream");
}
