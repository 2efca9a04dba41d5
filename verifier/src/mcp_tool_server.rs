//! An example MCP tool server (feature `axum`): JSON-RPC over streamable
//! HTTP at `/mcp`, answering with JSON, in both protocol eras (the
//! `initialize` handshake and the stateless `server/discover`). Three
//! travel tools: `search_flights(origin, destination, max_price?)`,
//! `book_flight(flight_id, max_price)` and `cancel_trip(trip_id)`.
//!
//! It checks no token itself: [`router`] is what `agentcap gateway`
//! protects in `agentcap demo`; [`protected_router`] is the same server
//! behind the [`AgentcapLayer`](crate::AgentcapLayer) with the
//! [`McpMapping`](crate::mcp::McpMapping), as `docs/mcp.md` shows. Either
//! way each answer says whom it served: from the layer's
//! [`AuthorizedDelegation`](crate::AuthorizedDelegation), else from the
//! gateway's `x-agentcap-user` and `x-agentcap-agents` headers.

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use crate::mcp::{self, INVALID_PARAMS, INVALID_REQUEST, McpRejection, PARSE_ERROR};
use crate::middleware::{AgentcapLayer, AuthorizedDelegation};

/// The largest request body read: 1 MiB.
const MAX_BODY: usize = 1024 * 1024;

/// JSON-RPC 2.0: the method does not exist.
const METHOD_NOT_FOUND: i64 = -32601;

/// The tool server, unprotected (for a gateway in front).
pub fn router() -> Router {
    Router::new().route("/mcp", post(handle))
}

/// The tool server behind `layer`, reading calls with the MCP mapping and
/// refusing as MCP clients expect.
pub fn protected_router(layer: AgentcapLayer) -> Router {
    router().layer(
        layer
            .request_facts(mcp::McpMapping)
            .on_rejection(McpRejection::default()),
    )
}

async fn handle(request: Request) -> Response {
    let served_for = served_for(&request);
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                None,
                INVALID_REQUEST,
                "body too large",
            );
        }
    };
    let Ok(message) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, None, PARSE_ERROR, "not JSON");
    };
    if message.is_array() {
        return error(
            StatusCode::BAD_REQUEST,
            None,
            INVALID_REQUEST,
            "batches are not accepted",
        );
    }
    let id = message.get("id").cloned();
    let method = message["method"].as_str().unwrap_or_default();
    let result = match method {
        "initialize" => json!({
            "protocolVersion": message["params"]["protocolVersion"].as_str().unwrap_or("2025-11-25"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "agentcap-example-tools", "version": env!("CARGO_PKG_VERSION")},
        }),
        "server/discover" => json!({
            "supportedVersions": ["2025-11-25", "2026-07-28"],
            "capabilities": {"tools": {}},
            "resultType": "complete",
        }),
        "ping" => json!({}),
        "tools/list" => json!({"tools": tools(), "resultType": "complete"}),
        "tools/call" => match call(&message["params"], &served_for) {
            Ok(result) => result,
            Err(why) => return error(StatusCode::OK, id.as_ref(), INVALID_PARAMS, &why),
        },
        m if m.starts_with("notifications/") => return StatusCode::ACCEPTED.into_response(),
        _ => {
            return error(
                StatusCode::OK,
                id.as_ref(),
                METHOD_NOT_FOUND,
                "no such method",
            );
        }
    };
    axum::Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response()
}

fn error(status: StatusCode, id: Option<&Value>, code: i64, message: &str) -> Response {
    (
        status,
        axum::Json(mcp::error_response(id, code, message, None)),
    )
        .into_response()
}

/// Whom the request is served for, as the layer or the gateway proved it.
fn served_for(request: &Request) -> Value {
    if let Some(delegation) = request.extensions().get::<AuthorizedDelegation>() {
        return json!({"user": delegation.user(), "agents": delegation.agents()});
    }
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| serde_json::from_str::<Value>(v).ok())
            .unwrap_or(Value::Null)
    };
    json!({"user": header("x-agentcap-user"), "agents": header("x-agentcap-agents")})
}

fn tools() -> Value {
    let string = json!({"type": "string"});
    let integer = json!({"type": "integer"});
    json!([
        {"name": "search_flights", "description": "Find flights between two airports",
         "inputSchema": {"type": "object", "properties": {"origin": string, "destination": string,
             "max_price": integer}, "required": ["origin", "destination"]}},
        {"name": "book_flight", "description": "Book a flight, paying at most max_price",
         "inputSchema": {"type": "object", "properties": {"flight_id": string, "max_price": integer},
             "required": ["flight_id", "max_price"]}},
        {"name": "cancel_trip", "description": "Cancel a booked trip",
         "inputSchema": {"type": "object", "properties": {"trip_id": string}, "required": ["trip_id"]}},
    ])
}

fn call(params: &Value, served_for: &Value) -> Result<Value, String> {
    let arguments = &params["arguments"];
    let text = |key: &str| {
        arguments[key]
            .as_str()
            .map(str::to_owned)
            .ok_or(format!("`{key}` is required"))
    };
    let structured = match params["name"].as_str() {
        Some("search_flights") => json!({
            "route": format!("{}-{}", text("origin")?, text("destination")?),
            "offers": [{"flight": "TP1351", "price_eur": 189}, {"flight": "FR7612", "price_eur": 142}],
        }),
        Some("book_flight") => json!({
            "booked": text("flight_id")?,
            "max_price": arguments["max_price"].as_i64().ok_or("`max_price` is required")?,
        }),
        Some("cancel_trip") => json!({"cancelled": text("trip_id")?}),
        _ => {
            return Ok(
                json!({"content": [{"type": "text", "text": "no such tool"}], "isError": true}),
            );
        }
    };
    let structured = json!({"result": structured, "served_for": served_for});
    Ok(json!({
        "content": [{"type": "text", "text": structured.to_string()}],
        "structuredContent": structured,
        "isError": false,
    }))
}
