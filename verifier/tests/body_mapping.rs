//! A request mapping that reads the body: the layer buffers it (413 above
//! its limit), authorizes what the body asks, and hands the service the
//! very same bytes. Real keys, real tokens, real HTTP on loopback.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use agentcap::{Grant, KeyPair};
use agentcap_verifier::{
    AccessRequest, AgentcapLayer, AuthorizedDelegation, NoAudit, RequestFacts, Verifier,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::Extension;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `{"tool": NAME, "max_price": N}` → `tools/NAME:call` with the quantity.
struct ToolCallMapping;

impl RequestFacts for ToolCallMapping {
    fn access_request(&self, _parts: &http::request::Parts) -> Result<AccessRequest, String> {
        Err("a tool call is read from its body".to_owned())
    }

    fn reads_body(&self) -> bool {
        true
    }

    fn access_request_with_body(
        &self,
        _parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<AccessRequest, String> {
        let call: Value = serde_json::from_slice(body).map_err(|_| "not JSON".to_owned())?;
        let tool = call["tool"].as_str().ok_or("no tool named")?;
        let mut request = AccessRequest::new(format!("tools/{tool}"), "call");
        if let Some(price) = call["max_price"].as_i64() {
            request = request.quantity("max_price", price);
        }
        Ok(request)
    }
}

/// What the service saw: the body it received and the resource authorized.
async fn echo(Extension(d): Extension<AuthorizedDelegation>, body: Bytes) -> String {
    format!(
        "{}|{}",
        d.request.resource(),
        String::from_utf8_lossy(&body)
    )
}

async fn start(verifier: Verifier, max_body: usize) -> String {
    let layer = AgentcapLayer::new(verifier)
        .audit(Arc::new(NoAudit))
        .request_facts(ToolCallMapping)
        .max_body_bytes(max_body);
    let app = Router::new().route("/mcp", post(echo)).layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_decides_what_is_authorized_and_reaches_the_service_unchanged() {
    let root = KeyPair::generate();
    let token = Grant::new("alice", "travel-assistant")
        .right("tools/search_flights", "call")
        .cap("tools/search_flights:call", "max_price", 500)
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    let verifier = Verifier::builder()
        .root_key(None, root.public())
        .without_revocation()
        .build()
        .unwrap();
    let url = start(verifier, 1024).await;
    let client = reqwest::Client::new();
    let call = |body: String, header_tool: &'static str| {
        client
            .post(&url)
            .bearer_auth(&token)
            // A header the client chooses names another tool: never read.
            .header("x-tool", header_tool)
            .body(body)
            .send()
    };

    let allowed = json!({"tool": "search_flights", "max_price": 300}).to_string();
    let response = call(allowed.clone(), "book_flight").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.text().await.unwrap(),
        format!("tools/search_flights|{allowed}")
    );

    let other_tool = json!({"tool": "book_flight", "max_price": 300}).to_string();
    let response = call(other_tool, "search_flights").await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let over_cap = json!({"tool": "search_flights", "max_price": 9999}).to_string();
    let response = call(over_cap, "search_flights").await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let unreadable = "not json".to_owned();
    let response = call(unreadable, "search_flights").await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let huge = json!({"tool": "search_flights", "pad": "x".repeat(2048)}).to_string();
    let response = call(huge, "search_flights").await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
