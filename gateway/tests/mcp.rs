//! The gateway in MCP mode, against an upstream that speaks JSON-RPC the
//! way MCP servers do (a JSON or an event-stream answer): calls decided
//! from the body with their arguments, lists filtered in both answer
//! forms, batches call by call, mirrored headers held to the body, and
//! refusals as MCP clients read them. Real keys, tokens and HTTP.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use agentcap::{Grant, KeyPair};
use agentcap_verifier::mcp::DENIED_CODE;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use common::Hits;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A tool server: lists three tools, echoes calls; answers with an event
/// stream when the request has `x-answer: sse`.
async fn tool_server(hits: Hits) -> String {
    async fn mcp(State(hits): State<Hits>, headers: HeaderMap, body: String) -> Response {
        hits.add();
        let request: Value = serde_json::from_str(&body).unwrap();
        let answer = |message: &Value| -> Value {
            let id = message["id"].clone();
            match message["method"].as_str().unwrap_or("") {
                "tools/list" => json!({"jsonrpc": "2.0", "id": id, "result": {
                    "tools": [{"name": "search_flights", "inputSchema": {}},
                              {"name": "book_flight", "inputSchema": {}},
                              {"name": "cancel_trip", "inputSchema": {}}],
                    "nextCursor": "page-2", "cacheScope": "public", "resultType": "complete"}}),
                _ => json!({"jsonrpc": "2.0", "id": id, "result": {
                    "content": [{"type": "text", "text": format!("did {}", message["params"]["name"])}]}}),
            }
        };
        let answer = match &request {
            Value::Array(batch) => Value::from(batch.iter().map(answer).collect::<Vec<_>>()),
            single => answer(single),
        };
        if headers.get("x-answer").is_some_and(|v| v == "br") {
            let encoded = [
                (header::CONTENT_TYPE, "application/json"),
                (header::CONTENT_ENCODING, "br"),
            ];
            return (encoded, answer.to_string()).into_response();
        }
        if headers.get("x-answer").is_some_and(|v| v == "text") {
            return ([(header::CONTENT_TYPE, "text/plain")], answer.to_string()).into_response();
        }
        if headers.get("x-answer").is_some_and(|v| v == "sse") {
            let note = json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}});
            let body = format!(
                ": keep-alive\r\n\r\nevent: message\r\ndata: {note}\r\n\r\nevent: message\r\ndata: {answer}\r\n\r\n"
            );
            ([(header::CONTENT_TYPE, "text/event-stream")], body).into_response()
        } else {
            axum::Json(answer).into_response()
        }
    }
    common::serve(Router::new().route("/mcp", post(mcp)).with_state(hits)).await
}

fn token(root: &KeyPair) -> String {
    Grant::new("alice", "travel-assistant")
        .right("tools/search_flights", "call")
        .right("tools/book_flight", "call")
        .cap("tools/book_flight:call", "max_price", 500)
        .mint(root)
        .unwrap()
        .to_base64()
        .unwrap()
}

struct Fixture {
    url: String,
    token: String,
    /// Bob's token to the same agent: search_flights only.
    bob: String,
    hits: Hits,
    records: Arc<common::Records>,
    client: reqwest::Client,
}

async fn fixture(policies: &[&str]) -> Fixture {
    let root = KeyPair::generate();
    let hits = Hits::default();
    let upstream = tool_server(hits.clone()).await;
    let records = Arc::new(common::Records::default());
    let audit = records.clone();
    let gateway = common::gateway(&upstream, common::verifier(&root, policies), |b| {
        b.mcp(true).audit(audit).max_body_bytes(4096)
    })
    .await;
    let bob = Grant::new("bob", "travel-assistant")
        .right("tools/search_flights", "call")
        .mint(&root)
        .unwrap()
        .to_base64()
        .unwrap();
    Fixture {
        url: format!("{gateway}/mcp"),
        token: token(&root),
        bob,
        hits,
        records,
        client: reqwest::Client::new(),
    }
}

impl Fixture {
    async fn post(
        &self,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (StatusCode, HeaderMap, String) {
        let mut request = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    }

    async fn call(&self, body: &Value) -> (StatusCode, Value) {
        let (status, _, text) = self.post(body, &[]).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

fn call(id: i64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_are_authorized_with_their_arguments() {
    let f = fixture(&[]).await;
    let (status, answer) = f
        .call(&call(1, "search_flights", json!({"origin": "AMS"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer["result"]["content"][0]["text"],
        "did \"search_flights\""
    );

    let (status, answer) = f
        .call(&call(
            2,
            "book_flight",
            json!({"flight_id": "KL1", "max_price": 9999}),
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a refused call is an answer to the call"
    );
    assert_eq!(answer["id"], 2);
    assert_eq!(answer["error"]["code"], DENIED_CODE);
    assert_eq!(answer["error"]["data"]["reason"], "policy_denied");
    assert_eq!(answer["error"]["data"]["block"], 0);

    let (_, answer) = f
        .call(&call(
            3,
            "book_flight",
            json!({"flight_id": "KL1", "max_price": 499.5}),
        ))
        .await;
    assert!(answer.get("result").is_some(), "{answer}");
    let (_, answer) = f
        .call(&call(
            4,
            "book_flight",
            json!({"flight_id": "KL1", "max_price": 500.5}),
        ))
        .await;
    assert_eq!(
        answer["error"]["code"], DENIED_CODE,
        "a fraction is rounded up, never under a cap"
    );
    let (_, answer) = f
        .call(&call(5, "cancel_trip", json!({"trip_id": "T1"})))
        .await;
    assert_eq!(answer["error"]["data"]["reason"], "policy_denied");
    assert_eq!(f.hits.count(), 2);

    let resources: Vec<String> = f
        .records
        .all()
        .iter()
        .map(|r| format!("{} {}", r.resource, r.decision))
        .collect();
    assert_eq!(
        resources,
        [
            "tools/search_flights allow",
            "tools/book_flight deny",
            "tools/book_flight allow",
            "tools/book_flight deny",
            "tools/cancel_trip deny"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_arguments_are_facts_for_the_service_policy() {
    let f = fixture(&[r#"allow if argument("origin", "AMS")"#]).await;
    let (_, answer) = f
        .call(&call(1, "search_flights", json!({"origin": "AMS"})))
        .await;
    assert!(answer.get("result").is_some(), "{answer}");
    let (_, answer) = f
        .call(&call(2, "search_flights", json!({"origin": "CDG"})))
        .await;
    assert_eq!(answer["error"]["data"]["reason"], "policy_denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_answer_only_what_the_token_may_use() {
    let f = fixture(&[]).await;
    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}});
    let expect = json!({"tools": [{"name": "search_flights", "inputSchema": {}}, {"name": "book_flight", "inputSchema": {}}],
                        "nextCursor": "page-2", "cacheScope": "private", "resultType": "complete"});

    let (status, headers, text) = f.post(&list, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["result"], expect);

    let (status, headers, text) = f.post(&list, &[("x-answer", "sse")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/event-stream");
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{text}");
    assert_eq!(
        events[0]["method"], "notifications/progress",
        "other events pass unchanged"
    );
    assert_eq!(events[1]["result"], expect);

    // An answer the gateway cannot read might hold the whole list.
    for form in ["br", "text"] {
        let (status, _, text) = f.post(&list, &[("x-answer", form)]).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{form}: {text}");
        assert!(!text.contains("cancel_trip"), "{form}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_traffic_needs_a_valid_token_and_nothing_more() {
    let f = fixture(&[]).await;
    for method in ["initialize", "server/discover", "ping"] {
        let (status, answer) = f
            .call(&json!({"jsonrpc": "2.0", "id": 1, "method": method}))
            .await;
        assert_eq!(status, StatusCode::OK, "{method}");
        assert!(answer.get("result").is_some(), "{method}: {answer}");
    }
    let (status, _, _) = f
        .post(
            &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            &[],
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let response = f
        .client
        .post(&f.url)
        .json(&json!({"jsonrpc": "2.0", "id": 7, "method": "initialize"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("resource_metadata=\"http://127.0.0.1:"),
        "{challenge}"
    );
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["id"], 7);
    assert_eq!(answer["error"]["data"]["reason"], "missing_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_authorized_call_by_call() {
    let f = fixture(&[]).await;
    let allowed = json!([call(1, "search_flights", json!({})), {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]);
    let (status, answer) = f.call(&allowed).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer[0]["result"]["content"][0]["text"],
        "did \"search_flights\""
    );
    assert_eq!(
        answer[1]["result"]["tools"].as_array().unwrap().len(),
        2,
        "the list in a batch is filtered too"
    );
    assert_eq!(f.hits.count(), 1);

    let mixed = json!([call(1, "search_flights", json!({})), call(2, "cancel_trip", json!({})),
                       {"jsonrpc": "2.0", "method": "notifications/initialized"}, 5]);
    let (status, answer) = f.call(&mixed).await;
    assert_eq!(status, StatusCode::OK);
    let answer = answer.as_array().unwrap();
    assert_eq!(answer.len(), 3, "no answer to a notification: {answer:?}");
    assert_eq!(answer[0]["error"]["data"]["reason"], "batch_refused");
    assert_eq!(answer[1]["error"]["data"]["reason"], "policy_denied");
    assert_eq!(answer[2]["error"]["code"], -32600);
    assert_eq!(f.hits.count(), 1, "nothing of a refused batch is forwarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_or_mismatched_messages_are_refused_before_the_upstream() {
    let f = fixture(&[]).await;
    let search = call(1, "search_flights", json!({}));
    let (status, _, text) = f
        .post(
            &search,
            &[("mcp-method", "tools/call"), ("mcp-name", "cancel_trip")],
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["code"],
        -32020
    );
    let (status, _, _) = f
        .post(
            &search,
            &[
                ("mcp-method", "tools/call"),
                ("mcp-name", "=?base64?c2VhcmNoX2ZsaWdodHM=?="),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "a base64 mirrored name is decoded");

    let response = f
        .client
        .post(&f.url)
        .bearer_auth(&f.token)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        -32700
    );

    // The body authorizes a tool call, not a route: other paths are not
    // reachable through an MCP gateway, whatever the body.
    let elsewhere = f.url.replace("/mcp", "/admin/reset");
    for url in [elsewhere, f.url.replace("/mcp", "/mcp/../admin")] {
        let response = f
            .client
            .post(&url)
            .bearer_auth(&f.token)
            .json(&search)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{url}");
    }

    let big = call(2, "search_flights", json!({"note": "x".repeat(5000)}));
    let (status, _, _) = f.post(&big, &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(f.hits.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joint_request_lists_and_calls_only_what_every_principal_may_use() {
    let f = fixture(&[]).await;
    let joint = [("agentcap-joint", f.bob.as_str())];
    let list = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {}});
    let (status, _, text) = f.post(&list, &joint).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["search_flights"], "alice may book, bob may not");

    let book = call(2, "book_flight", json!({"max_price": 300}));
    let before = f.hits.count();
    let (status, _, text) = f.post(&book, &joint).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["error"]["code"], DENIED_CODE, "{answer}");
    assert_eq!(
        answer["error"]["data"]["reason"], "joint_denied",
        "{answer}"
    );
    assert_eq!(
        f.hits.count(),
        before,
        "the refused call never went upstream"
    );
    // Alone, alice may book.
    let (_, _, text) = f.post(&book, &[]).await;
    assert!(text.contains("did \\\"book_flight\\\""), "{text}");

    let records = f.records.all();
    let refused = records
        .iter()
        .find(|r| r.reason == "joint_denied")
        .expect("the joint refusal is audited");
    let users: Vec<Option<&str>> = refused
        .principals
        .iter()
        .map(|p| p.user.as_deref())
        .collect();
    assert_eq!(users, [Some("alice"), Some("bob")]);
    assert_eq!(refused.principals[1].reason, "policy_denied");
}
