//! The demo's MCP act: an MCP tool server that checks no token, with
//! `agentcap gateway` in front of it; a booking agent speaks MCP through
//! the gateway, sees only the tools it may call, calls within its cap and
//! beyond it; flight-search, revoked earlier, is refused at the door.

use std::sync::Arc;

use agentcap::KeyPair;
use agentcap_gateway::Gateway;
use agentcap_verifier::AuditSink;
use serde_json::{Value, json};

use crate::error::{CliResult, Kind, ResultExt};

use super::demo::{Services, Story, Tokens};
use super::service::{VerifierSpec, audit_sink};

/// One MCP message of the act and what the story expects of it.
struct Message<'a> {
    agent: &'a str,
    token: &'a str,
    body: Value,
    expect_allowed: bool,
}

/// The answer to one message: HTTP status, and the JSON-RPC answer.
struct Answer {
    status: u16,
    body: Value,
}

impl Answer {
    fn allowed(&self) -> bool {
        self.status == 200 && self.body.get("result").is_some()
    }

    fn reason(&self) -> String {
        self.body["error"]["data"]["reason"]
            .as_str()
            .unwrap_or(if self.allowed() { "allowed" } else { "error" })
            .to_owned()
    }
}

/// Step 9: the act. Returns the servers' URLs; records each call.
pub(super) async fn play(
    story: &Story,
    services: &Services,
    root: &KeyPair,
    tokens: &Tokens,
    calls: &mut Vec<Value>,
) -> CliResult<Value> {
    story.step(
        9,
        "MCP: a tool server that checks nothing, behind `agentcap gateway --mcp`",
    );
    let upstream = serve_tool_server().await?;
    let verifier = VerifierSpec::new(vec![(None, root.public())], None)?
        .build(Some(services.state.clone()))?;
    let sink = audit_sink(&services.audit)? as Arc<dyn AuditSink>;
    let gateway = Gateway::builder(&upstream, verifier)
        .mcp(true)
        .audit(sink)
        .require_audit(true)
        .build()
        .or_fail(Kind::Usage, "configuring the gateway")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .or_fail(Kind::Io, "listening for the gateway")?;
    let addr = listener
        .local_addr()
        .or_fail(Kind::Io, "the gateway's address")?;
    tokio::spawn(gateway.serve(listener));
    let endpoint = format!("http://{addr}/mcp");
    story.say(format!(
        "   MCP tool server    {upstream}/mcp  (no agentcap inside)"
    ));
    story.say(format!(
        "   gateway            {endpoint}  (issuer root key, the same revocation list)"
    ));
    story.say(
        "   travel-assistant → booking-agent: a signed hop, tools search_flights and book_flight",
    );

    let booking = &tokens.booking_text;
    let list = rpc(
        &services.client,
        &endpoint,
        booking,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    )
    .await?;
    let names: Vec<&str> = list.body["result"]["tools"]
        .as_array()
        .map(|tools| tools.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    story.say(format!(
        "   tools/list for booking-agent: {} (cancel_trip filtered out)",
        names.join(", ")
    ));
    calls.push(json!({
        "phase": "mcp", "agent": "booking-agent", "method": "tools/list", "path": "",
        "status": list.status, "decision": if list.allowed() { "allow" } else { "deny" },
        "reason": list.reason(), "listed": names, "expected": "allow",
        "as_expected": list.allowed() && names == ["search_flights", "book_flight"],
    }));
    for message in messages(tokens) {
        let answer = rpc(&services.client, &endpoint, message.token, &message.body).await?;
        record(story, &message, &answer, calls);
    }
    Ok(json!({"tool_server_url": format!("{upstream}/mcp"), "gateway_url": endpoint}))
}

fn messages(tokens: &Tokens) -> Vec<Message<'_>> {
    let call = |id: i64, tool: &str, arguments: Value| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
               "params": {"name": tool, "arguments": arguments}})
    };
    let booking = tokens.booking_text.as_str();
    vec![
        Message {
            agent: "booking-agent",
            token: booking,
            body: call(
                2,
                "search_flights",
                json!({"origin": "AMS", "destination": "LIS"}),
            ),
            expect_allowed: true,
        },
        Message {
            agent: "booking-agent",
            token: booking,
            body: call(
                3,
                "book_flight",
                json!({"flight_id": "TP1351", "max_price": 420}),
            ),
            expect_allowed: true,
        },
        Message {
            agent: "booking-agent",
            token: booking,
            body: call(
                4,
                "book_flight",
                json!({"flight_id": "TP1351", "max_price": 900}),
            ),
            expect_allowed: false,
        },
        Message {
            agent: "booking-agent",
            token: booking,
            body: call(5, "cancel_trip", json!({"trip_id": "LIS-1"})),
            expect_allowed: false,
        },
        Message {
            agent: "flight-search",
            token: &tokens.search_text,
            body: json!({"jsonrpc": "2.0", "id": 6, "method": "initialize",
                         "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                    "clientInfo": {"name": "demo", "version": "1"}}}),
            expect_allowed: false,
        },
    ]
}

fn record(story: &Story, message: &Message<'_>, answer: &Answer, calls: &mut Vec<Value>) {
    let allowed = answer.allowed();
    let as_expected = allowed == message.expect_allowed;
    let mark = match (allowed, as_expected) {
        (true, true) => "✔ ALLOW",
        (false, true) => "✘ DENY ",
        (true, false) => "! ALLOW (expected a denial)",
        (false, false) => "! DENY (expected to be allowed)",
    };
    let method = message.body["method"].as_str().unwrap_or_default();
    let tool = message.body["params"]["name"].as_str().unwrap_or_default();
    let arguments = &message.body["params"]["arguments"];
    let shown = if tool.is_empty() {
        method.to_owned()
    } else {
        format!("{method} {tool} {arguments}")
    };
    story.say(format!(
        "   {mark}  {:<16} {shown}  → {} {}",
        message.agent,
        answer.status,
        answer.reason()
    ));
    let detail = if allowed {
        answer.body["result"]["structuredContent"]["served_for"].clone()
    } else {
        let explanation = story.last_explanation().unwrap_or_default();
        story.say(format!("            {explanation}"));
        Value::from(explanation)
    };
    calls.push(json!({
        "phase": "mcp", "agent": message.agent, "method": method, "path": tool,
        "status": answer.status, "decision": if allowed { "allow" } else { "deny" },
        "reason": answer.reason(), "detail": detail,
        "expected": if message.expect_allowed { "allow" } else { "deny" },
        "as_expected": as_expected,
    }));
}

/// Starts the example MCP tool server on 127.0.0.1; its base URL.
async fn serve_tool_server() -> CliResult<String> {
    let (addr, _handle) =
        super::serve_router("127.0.0.1:0", agentcap_verifier::mcp_tool_server::router()).await?;
    Ok(format!("http://{addr}"))
}

/// Sends one JSON-RPC message as an MCP client does.
async fn rpc(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> CliResult<Answer> {
    let response = client
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_string())
        .send()
        .await
        .or_fail(Kind::Io, format!("calling {url}"))?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Answer { status, body })
}
