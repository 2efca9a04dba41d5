//! MCP: what a JSON-RPC message of the Model Context Protocol asks of a
//! token, and how a refusal is told to an MCP client.
//!
//! One mapping serves the layer (an MCP server written with axum, see
//! [`McpMapping`]) and `agentcap-gateway` (any MCP server): a message is
//! read into an [`McpMessage`] whose [`McpAsk`] says what the token must
//! allow:
//!
//! | message | asks |
//! |---|---|
//! | `tools/call` | `tools/<name>` : `call`, with the arguments as facts |
//! | `resources/read`, `resources/subscribe`, `resources/unsubscribe` | `resources/<uri>` : `read` |
//! | `prompts/get` | `prompts/<name>` : `read`, with the arguments as facts |
//! | `completion/complete` | `read` of the prompt or resource it completes for |
//! | `tools/list`, `resources/list`, `prompts/list` | a valid token; the answer is filtered ([`filter_list_result`]) |
//! | `server/discover`, `initialize`, `ping`, `notifications/*`, `resources/templates/list`, `logging/setLevel`, `subscriptions/listen` without resources, responses | a valid token ([`AccessRequest::token_only`]) |
//! | anything else | `mcp/<method>` : `call` (refused unless a token grants it) |
//!
//! A tool call's top-level arguments become request facts: a number is a
//! quantity (`quantity("max_price", 400)`, bounded by caps such as
//! `tools/book_flight:call:max_price<=500`; a fraction is rounded up, so an
//! upper bound cannot be slipped under), a string or a boolean is an
//! argument (`argument("origin", "AMS")`) for checks and service policies.
//! Objects, arrays, `null` and strings longer than
//! [`MAX_ARGUMENT_BYTES`](crate::MAX_ARGUMENT_BYTES) state nothing; a check
//! that needs them fails closed.
//!
//! ```
//! use agentcap_verifier::mcp::{McpAsk, McpMessage};
//! let call = br#"{"jsonrpc":"2.0","id":7,"method":"tools/call",
//!     "params":{"name":"book_flight","arguments":{"flight_id":"KL1","max_price":600}}}"#;
//! let message = McpMessage::parse(call)?;
//! let McpAsk::Access(request) = message.ask else { unreachable!() };
//! assert_eq!((request.resource(), request.operation()), ("tools/book_flight", "call"));
//! assert_eq!(request.quantities(), [("max_price".to_owned(), 600)]);
//! # Ok::<(), agentcap_verifier::mcp::JsonRpcFault>(())
//! ```

use bytes::Bytes;
use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde_json::{Map, Value, json};

use crate::decision::{Decision, Reason};
use crate::middleware::{Rejection, status_for};
use crate::request::{AccessRequest, RequestFacts};

/// The JSON-RPC error code of an agentcap refusal: −32010, in the
/// implementation-defined server-error range (−32000…−32019) that the issue
/// asked for, clear of the codes MCP reserves (−32020…−32099) and of the
/// ones the MCP SDKs use for themselves (−32000, −32001, −32002).
pub const DENIED_CODE: i64 = -32010;

/// JSON-RPC 2.0: the message is not valid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC 2.0: the message is not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC 2.0: the parameters are invalid.
pub const INVALID_PARAMS: i64 = -32602;
/// MCP (2026-07-28): a mirrored `Mcp-Method` / `Mcp-Name` header disagrees
/// with the body.
pub const HEADER_MISMATCH: i64 = -32020;

/// A message that cannot be authorized: the JSON-RPC error to answer with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct JsonRpcFault {
    /// The JSON-RPC error code ([`PARSE_ERROR`], [`INVALID_REQUEST`], ...).
    pub code: i64,
    /// What is wrong, for the client.
    pub message: String,
    /// The request's id, when it could be read.
    pub id: Option<Value>,
}

impl JsonRpcFault {
    fn new(code: i64, message: impl Into<String>, id: Option<&Value>) -> Self {
        JsonRpcFault {
            code,
            message: message.into(),
            id: id.cloned(),
        }
    }

    /// The JSON-RPC error response for this fault.
    pub fn to_response(&self) -> Value {
        error_response(self.id.as_ref(), self.code, &self.message, None)
    }
}

/// A list whose answer the token filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// `tools/list`: keeps the tools the token may `call`.
    Tools,
    /// `resources/list`: keeps the resources the token may `read`.
    Resources,
    /// `prompts/list`: keeps the prompts the token may `read`.
    Prompts,
}

impl ListKind {
    /// The field of the result that holds the items.
    pub fn field(self) -> &'static str {
        match self {
            ListKind::Tools => "tools",
            ListKind::Resources => "resources",
            ListKind::Prompts => "prompts",
        }
    }

    /// What using `item` (an element of the list) asks of the token; `None`
    /// for an item without a usable name (it is dropped).
    pub fn item_request(self, item: &Value) -> Option<AccessRequest> {
        let (key, operation) = match self {
            ListKind::Tools => ("name", "call"),
            ListKind::Resources => ("uri", "read"),
            ListKind::Prompts => ("name", "read"),
        };
        let name = item.get(key)?.as_str().filter(|n| !n.is_empty())?;
        let resource = match self {
            ListKind::Tools => format!("tools/{name}"),
            ListKind::Resources => resource_for_uri(name),
            ListKind::Prompts => format!("prompts/{name}"),
        };
        Some(AccessRequest::new(resource, operation))
    }
}

/// What a message asks of the token.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per message, moved once
pub enum McpAsk {
    /// A valid token and nothing more.
    TokenOnly,
    /// A valid token; the answer is filtered to what the token may use.
    List(ListKind),
    /// This access.
    Access(AccessRequest),
    /// Each of these (a `subscriptions/listen` naming several resources).
    AccessAll(Vec<AccessRequest>),
}

/// One JSON-RPC message, read for authorization.
#[derive(Debug, Clone, PartialEq)]
pub struct McpMessage {
    /// The request's id; `None` for a notification.
    pub id: Option<Value>,
    /// The method; `None` for a response the client sends back.
    pub method: Option<String>,
    /// The name the call acts on (tool or prompt name, resource URI), as
    /// the `Mcp-Name` header must mirror it.
    pub name: Option<String>,
    /// What it asks of the token.
    pub ask: McpAsk,
}

/// A POST body: one message or a batch (JSON-RPC 2.0; MCP 2025-03-26).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per request, moved once
pub enum McpBody {
    /// One message.
    Single(McpMessage),
    /// A batch: each element read on its own.
    Batch(Vec<Result<McpMessage, JsonRpcFault>>),
}

impl McpBody {
    /// Reads a POST body: invalid JSON or an empty batch is a fault.
    pub fn parse(body: &[u8]) -> Result<McpBody, JsonRpcFault> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|_| JsonRpcFault::new(PARSE_ERROR, "the body is not valid JSON", None))?;
        match value {
            Value::Array(items) if items.is_empty() => Err(JsonRpcFault::new(
                INVALID_REQUEST,
                "an empty JSON-RPC batch",
                None,
            )),
            Value::Array(items) => Ok(McpBody::Batch(
                items.iter().map(McpMessage::from_value).collect(),
            )),
            single => McpMessage::from_value(&single).map(McpBody::Single),
        }
    }
}

impl McpMessage {
    /// Reads one message (not a batch) from JSON bytes.
    pub fn parse(body: &[u8]) -> Result<McpMessage, JsonRpcFault> {
        match McpBody::parse(body)? {
            McpBody::Single(message) => Ok(message),
            McpBody::Batch(_) => Err(JsonRpcFault::new(
                INVALID_REQUEST,
                "JSON-RPC batches are not accepted here",
                None,
            )),
        }
    }

    /// Reads one message from a parsed JSON value.
    pub fn from_value(value: &Value) -> Result<McpMessage, JsonRpcFault> {
        let Some(object) = value.as_object() else {
            return Err(JsonRpcFault::new(
                INVALID_REQUEST,
                "a JSON-RPC message must be an object",
                None,
            ));
        };
        let id = object.get("id").filter(|id| valid_id(id));
        if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(JsonRpcFault::new(
                INVALID_REQUEST,
                "not a JSON-RPC 2.0 message",
                id,
            ));
        }
        if object.contains_key("id") && id.is_none() {
            return Err(JsonRpcFault::new(
                INVALID_REQUEST,
                "a JSON-RPC id must be a string, a number or null",
                None,
            ));
        }
        let Some(method) = object.get("method") else {
            if object.contains_key("result") || object.contains_key("error") {
                // The client answering a request of the server's.
                return Ok(McpMessage {
                    id: id.cloned(),
                    method: None,
                    name: None,
                    ask: McpAsk::TokenOnly,
                });
            }
            return Err(JsonRpcFault::new(INVALID_REQUEST, "no method", id));
        };
        let Some(method) = method.as_str() else {
            return Err(JsonRpcFault::new(
                INVALID_REQUEST,
                "the method is not a string",
                id,
            ));
        };
        let empty = Map::new();
        let params = match object.get("params") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(params)) => params,
            Some(_) => {
                return Err(JsonRpcFault::new(
                    INVALID_PARAMS,
                    "params must be an object",
                    id,
                ));
            }
        };
        let (name, ask) =
            ask_of(method, params).map_err(|m| JsonRpcFault::new(INVALID_PARAMS, m, id))?;
        Ok(McpMessage {
            id: id.cloned(),
            method: Some(method.to_owned()),
            name,
            ask,
        })
    }

    /// Whether the message is a notification (no id, so no answer).
    pub fn is_notification(&self) -> bool {
        self.id.is_none() && self.method.is_some()
    }
}

fn valid_id(id: &Value) -> bool {
    matches!(id, Value::String(_) | Value::Number(_) | Value::Null)
}

/// The name a call acts on and what it asks; `Err` for unusable params.
fn ask_of(method: &str, params: &Map<String, Value>) -> Result<(Option<String>, McpAsk), String> {
    let named = |key: &str| -> Result<String, String> {
        match params.get(key).and_then(Value::as_str) {
            Some(name) if !name.is_empty() => Ok(name.to_owned()),
            _ => Err(format!("{method} needs a non-empty string `{key}`")),
        }
    };
    let ask = match method {
        "tools/call" => {
            let name = named("name")?;
            let request = with_arguments(
                AccessRequest::new(format!("tools/{name}"), "call"),
                params.get("arguments"),
            )?;
            return Ok((Some(name), McpAsk::Access(request)));
        }
        "prompts/get" => {
            let name = named("name")?;
            let request = with_arguments(
                AccessRequest::new(format!("prompts/{name}"), "read"),
                params.get("arguments"),
            )?;
            return Ok((Some(name), McpAsk::Access(request)));
        }
        "resources/read" | "resources/subscribe" | "resources/unsubscribe" => {
            let uri = named("uri")?;
            let request = AccessRequest::new(resource_for_uri(&uri), "read");
            return Ok((Some(uri), McpAsk::Access(request)));
        }
        "completion/complete" => McpAsk::Access(completion_target(params)?),
        "tools/list" => McpAsk::List(ListKind::Tools),
        "resources/list" => McpAsk::List(ListKind::Resources),
        "prompts/list" => McpAsk::List(ListKind::Prompts),
        "subscriptions/listen" => subscriptions(params)?,
        "server/discover"
        | "initialize"
        | "ping"
        | "resources/templates/list"
        | "logging/setLevel" => McpAsk::TokenOnly,
        m if m.starts_with("notifications/") => McpAsk::TokenOnly,
        other => McpAsk::Access(AccessRequest::new(format!("mcp/{other}"), "call")),
    };
    Ok((None, ask))
}

/// The agentcap resource for an MCP resource URI: `resources/`, then the
/// scheme, then the rest of the URI with its `//` and empty segments
/// dropped, so that it reads as a path rights can match:
/// `itinerary://7` → `resources/itinerary/7`, `file:///srv/a.txt` →
/// `resources/file/srv/a.txt`, `https://x.example/a?b` →
/// `resources/https/x.example/a?b`. A `.` or `..` segment is kept, and
/// refused when the request is validated.
pub fn resource_for_uri(uri: &str) -> String {
    let (scheme, rest) = match uri.split_once(':') {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            (Some(scheme.to_ascii_lowercase()), rest)
        }
        _ => (None, uri),
    };
    let mut resource = String::from("resources");
    for segment in scheme.iter().map(String::as_str).chain(rest.split('/')) {
        if !segment.is_empty() {
            resource.push('/');
            resource.push_str(segment);
        }
    }
    resource
}

/// `completion/complete` completes an argument of a prompt or a resource
/// template: it reads what its `ref` names.
fn completion_target(params: &Map<String, Value>) -> Result<AccessRequest, String> {
    let reference = params.get("ref").and_then(Value::as_object);
    let field = |key: &str| {
        reference
            .and_then(|r| r.get(key))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    match field("type") {
        Some("ref/prompt") => field("name").map(|n| format!("prompts/{n}")),
        Some("ref/resource") => field("uri").map(resource_for_uri),
        _ => None,
    }
    .map(|resource| AccessRequest::new(resource, "read"))
    .ok_or_else(|| "completion/complete needs a ref to a prompt or a resource".to_owned())
}

/// `subscriptions/listen`: reading each resource it subscribes to.
fn subscriptions(params: &Map<String, Value>) -> Result<McpAsk, String> {
    let uris = params
        .get("notifications")
        .and_then(|n| n.get("resourceSubscriptions"));
    let Some(uris) = uris else {
        return Ok(McpAsk::TokenOnly);
    };
    let uris = uris
        .as_array()
        .ok_or("resourceSubscriptions must be an array of URIs")?;
    let requests = uris
        .iter()
        .map(|uri| match uri.as_str() {
            Some(uri) if !uri.is_empty() => Ok(AccessRequest::new(resource_for_uri(uri), "read")),
            _ => Err("resourceSubscriptions must be an array of URIs".to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(if requests.is_empty() {
        McpAsk::TokenOnly
    } else {
        McpAsk::AccessAll(requests)
    })
}

/// States the call's top-level arguments as request facts.
fn with_arguments(
    mut request: AccessRequest,
    arguments: Option<&Value>,
) -> Result<AccessRequest, String> {
    let arguments = match arguments {
        None | Some(Value::Null) => return Ok(request),
        Some(Value::Object(arguments)) => arguments,
        Some(_) => return Err("arguments must be an object".to_owned()),
    };
    for (name, value) in arguments {
        request = match value {
            Value::Number(n) => request.quantity(name.clone(), quantity(n, name)?),
            Value::String(s) if s.len() <= crate::MAX_ARGUMENT_BYTES => {
                request.argument(name.clone(), s.clone())
            }
            Value::Bool(b) => request.argument(name.clone(), *b),
            _ => request,
        };
    }
    Ok(request)
}

/// A JSON number as a quantity: integers as they are, fractions rounded up
/// (so that `599.5` cannot pass under a cap of 599); out of range refused.
fn quantity(n: &serde_json::Number, name: &str) -> Result<i64, String> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    let out_of_range = || format!("argument {name:?} is out of the range of a quantity");
    let f = n.as_f64().ok_or_else(out_of_range)?.ceil();
    // i64::MAX as f64 rounds up to 2^63, itself out of range.
    if f.is_finite() && f >= i64::MIN as f64 && f < i64::MAX as f64 {
        #[allow(clippy::cast_possible_truncation)] // in range, and already whole
        Ok(f as i64)
    } else {
        Err(out_of_range())
    }
}

/// A JSON-RPC 2.0 error response (`id` null when it could not be read).
pub fn error_response(id: Option<&Value>, code: i64, message: &str, data: Option<Value>) -> Value {
    let mut error = json!({"code": code, "message": message});
    if let Some(data) = data {
        error["data"] = data;
    }
    json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error})
}

/// The JSON-RPC error for a refusal: code [`DENIED_CODE`], the client's
/// message ([`Decision::client_message`]: never the service's policy), and
/// `data` with the reason code, the failing block and the revoked block.
pub fn denial_response(id: Option<&Value>, decision: &Decision) -> Value {
    let data = json!({
        "reason": decision.reason.code(),
        "block": decision.failing_block(),
        "revoked_block": decision.revoked_block,
        "detail": decision.client_message(),
    });
    let message = format!("agentcap: {}", decision.client_message());
    error_response(id, DENIED_CODE, &message, Some(data))
}

/// Drops from a list result (`{"tools": [...], ...}`) the items the token
/// may not use, as `allowed` decides each; returns how many were dropped.
/// Keeps `nextCursor`; a `cacheScope` becomes `"private"`, since the list
/// now depends on the token.
pub fn filter_list_result(
    kind: ListKind,
    result: &mut Value,
    mut allowed: impl FnMut(&AccessRequest) -> bool,
) -> usize {
    let Some(object) = result.as_object_mut() else {
        return 0;
    };
    if object.contains_key("cacheScope") {
        object.insert("cacheScope".to_owned(), Value::from("private"));
    }
    let Some(Value::Array(items)) = object.get_mut(kind.field()) else {
        return 0;
    };
    let before = items.len();
    items.retain(|item| kind.item_request(item).is_some_and(|r| allowed(&r)));
    before - items.len()
}

/// The MCP mapping for [`AgentcapLayer`](crate::AgentcapLayer): reads the
/// JSON-RPC body ([`McpMessage`]). A list passes with a valid token and is
/// not filtered by the layer (the handler filters with
/// [`filter_list_result`], or `agentcap gateway` does); a batch is refused
/// (batches left MCP in 2025-06-18; the gateway still takes them).
#[derive(Debug, Clone, Copy, Default)]
pub struct McpMapping;

impl RequestFacts for McpMapping {
    fn access_request(&self, _parts: &http::request::Parts) -> Result<AccessRequest, String> {
        Err("an MCP request is read from its body".to_owned())
    }

    fn reads_body(&self) -> bool {
        true
    }

    fn access_request_with_body(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<AccessRequest, String> {
        if parts.method != http::Method::POST {
            // A legacy GET stream or DELETE of a session acts on nothing.
            return Ok(AccessRequest::token_only());
        }
        let message = McpMessage::parse(body).map_err(|fault| fault.message)?;
        let request = match message.ask {
            McpAsk::TokenOnly | McpAsk::List(_) => AccessRequest::token_only(),
            McpAsk::Access(request) => request,
            McpAsk::AccessAll(mut requests) if requests.len() == 1 => {
                requests.pop().unwrap_or_else(AccessRequest::token_only)
            }
            McpAsk::AccessAll(_) => {
                return Err("subscribing to several resources at once needs the gateway".to_owned());
            }
        };
        Ok(request.method(parts.method.as_str()).path(parts.uri.path()))
    }
}

/// Refusals as an MCP client expects them: a token that cannot be accepted
/// gets HTTP 401 with `WWW-Authenticate: Bearer` (naming the RFC 9728
/// metadata when configured) and a JSON-RPC error body; a valid token that
/// does not allow the call gets HTTP 200 with a JSON-RPC error
/// ([`denial_response`], code [`DENIED_CODE`]) answering the request's id;
/// an unreadable message gets 400 with the JSON-RPC error for it.
#[derive(Debug, Clone, Default)]
pub struct McpRejection {
    resource_metadata: Option<String>,
}

impl McpRejection {
    /// Names the URL of the RFC 9728 Protected Resource Metadata in the
    /// 401's challenge, as MCP's authorization spec requires.
    pub fn resource_metadata(url: impl Into<String>) -> Self {
        McpRejection {
            resource_metadata: Some(url.into()),
        }
    }

    /// The `WWW-Authenticate` challenge for a refusal with `status`.
    pub fn challenge(&self, decision: &Decision, status: StatusCode) -> Option<String> {
        let mut params = Vec::new();
        if status == StatusCode::UNAUTHORIZED && decision.reason != Reason::MissingToken {
            params.push("error=\"invalid_token\"".to_owned());
            params.push(format!("error_description=\"{}\"", decision.reason.code()));
        } else if status == StatusCode::FORBIDDEN {
            params.push("error=\"insufficient_scope\"".to_owned());
        }
        if let Some(url) = &self.resource_metadata {
            let url: String = url
                .chars()
                .filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\')
                .collect();
            params.push(format!("resource_metadata=\"{url}\""));
        }
        (status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN).then(|| {
            format!("Bearer {}", params.join(", "))
                .trim_end()
                .to_owned()
        })
    }

    /// The response for a refusal of the message in `body` (if readable).
    pub fn response(&self, decision: &Decision, body: Option<&[u8]>) -> Response<Full<Bytes>> {
        let message = body.and_then(|b| serde_json::from_slice::<Value>(b).ok());
        let id = message
            .as_ref()
            .and_then(|m| m.get("id"))
            .filter(|id| valid_id(id));
        let status = match status_for(decision.reason) {
            // A call the token does not allow is an answer to the call.
            StatusCode::FORBIDDEN => StatusCode::OK,
            other => other,
        };
        let payload = if decision.reason == Reason::MalformedRequest {
            let detail = decision
                .detail
                .as_deref()
                .unwrap_or("the request cannot be authorized");
            let code = match &message {
                None => PARSE_ERROR,
                Some(_) => INVALID_REQUEST,
            };
            error_response(id, code, detail, None)
        } else {
            denial_response(id, decision)
        };
        json_response(
            status,
            &payload,
            self.challenge(decision, status_for(decision.reason)),
        )
    }
}

impl Rejection for McpRejection {
    fn respond(&self, decision: &Decision, _parts: &http::request::Parts) -> Response<Full<Bytes>> {
        self.response(decision, None)
    }

    fn respond_to_body(
        &self,
        decision: &Decision,
        _parts: &http::request::Parts,
        body: Option<&[u8]>,
    ) -> Response<Full<Bytes>> {
        self.response(decision, body)
    }
}

/// An `application/json` response with an optional challenge.
pub fn json_response(
    status: StatusCode,
    payload: &Value,
    challenge: Option<String>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(payload.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ask(body: &str) -> McpAsk {
        McpMessage::parse(body.as_bytes()).unwrap().ask
    }

    #[test]
    fn calls_map_to_resources_operations_and_facts() {
        let McpAsk::Access(r) = ask(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_flights",
            "arguments":{"origin":"AMS","max_price":399.2,"direct":true,"legs":[1,2],"n":null}}}"#,
        ) else {
            panic!()
        };
        assert_eq!(
            (r.resource(), r.operation()),
            ("tools/search_flights", "call")
        );
        assert_eq!(r.quantities(), [("max_price".to_owned(), 400)]);
        assert_eq!(r.arguments().len(), 2);
        let McpAsk::Access(r) = ask(
            r#"{"jsonrpc":"2.0","id":"a","method":"resources/read","params":{"uri":"itinerary://7"}}"#,
        ) else {
            panic!()
        };
        assert_eq!(
            (r.resource(), r.operation()),
            ("resources/itinerary/7", "read")
        );
        let McpAsk::Access(r) = ask(
            r#"{"jsonrpc":"2.0","id":2,"method":"completion/complete","params":{"ref":{"type":"ref/prompt","name":"plan"}}}"#,
        ) else {
            panic!()
        };
        assert_eq!(r.resource(), "prompts/plan");
        let McpAsk::Access(r) = ask(r#"{"jsonrpc":"2.0","id":3,"method":"tasks/cancel"}"#) else {
            panic!()
        };
        assert_eq!((r.resource(), r.operation()), ("mcp/tasks/cancel", "call"));
    }

    #[test]
    fn protocol_traffic_needs_a_token_only_and_lists_are_filtered() {
        for m in [
            "initialize",
            "server/discover",
            "ping",
            "notifications/initialized",
        ] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{m}"}}"#);
            assert_eq!(ask(&body), McpAsk::TokenOnly, "{m}");
        }
        assert_eq!(
            ask(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"x"}}"#),
            McpAsk::List(ListKind::Tools)
        );
        assert_eq!(
            ask(r#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            McpAsk::TokenOnly
        );
    }

    #[test]
    fn unusable_messages_are_faults_with_their_codes() {
        let code = |body: &str| McpBody::parse(body.as_bytes()).unwrap_err().code;
        assert_eq!(code("{"), PARSE_ERROR);
        assert_eq!(code("[]"), INVALID_REQUEST);
        assert_eq!(code(r#"{"id":1,"method":"ping"}"#), INVALID_REQUEST);
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#),
            INVALID_PARAMS
        );
        assert_eq!(
            code(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":[1]}}"#
            ),
            INVALID_PARAMS
        );
        assert_eq!(
            code(
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"n":1e300}}}"#
            ),
            INVALID_PARAMS
        );
        let McpBody::Batch(items) =
            McpBody::parse(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}, 5]"#).unwrap()
        else {
            panic!()
        };
        assert!(items[0].is_ok() && items[1].is_err());
    }

    #[test]
    fn resource_uris_read_as_paths() {
        for (uri, resource) in [
            ("itinerary://7", "resources/itinerary/7"),
            ("file:///srv/a.txt", "resources/file/srv/a.txt"),
            (
                "HTTPS://x.example/a/?b=1",
                "resources/https/x.example/a/?b=1",
            ),
            ("notes/today", "resources/notes/today"),
            ("file:///a/../etc", "resources/file/a/../etc"),
        ] {
            assert_eq!(resource_for_uri(uri), resource, "{uri}");
        }
        let traversal = AccessRequest::new(resource_for_uri("file:///a/../etc"), "read");
        assert!(traversal.request().validate().is_err());
    }

    #[test]
    fn lists_keep_only_what_the_token_allows() {
        let mut result = json!({"tools":[{"name":"a"},{"name":"b"},{"title":"no name"}],
            "nextCursor":"c","cacheScope":"public"});
        let dropped =
            filter_list_result(ListKind::Tools, &mut result, |r| r.resource() == "tools/a");
        assert_eq!(dropped, 2);
        assert_eq!(
            result,
            json!({"tools":[{"name":"a"}],"nextCursor":"c","cacheScope":"private"})
        );
    }
}
