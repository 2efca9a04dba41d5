//! MCP over streamable HTTP: each JSON-RPC message is authorized from the
//! body, refusals are JSON-RPC errors, and list answers are filtered.

use std::net::SocketAddr;

use agentcap_verifier::mcp::{
    self, DENIED_CODE, HEADER_MISMATCH, INVALID_REQUEST, JsonRpcFault, ListKind, McpAsk, McpBody,
    McpMessage,
};
use agentcap_verifier::{AccessRequest, Decision, Reason, Verifier};
use bytes::Bytes;
use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Value, json};

use crate::decide::{At, Identity, Presented, token_refused};
use crate::rest::{bad_gateway, read_body, with_proof};
use crate::upstream::{full, relay};
use crate::{BoxError, GatewayBody, Shared, metadata, sse};

/// Proxies one MCP request.
pub(crate) async fn proxy(
    shared: &Shared,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<GatewayBody> {
    let (parts, body) = request.into_parts();
    let presented = Presented::from_parts(&parts);
    let (method, path) = (parts.method.to_string(), parts.uri.path().to_owned());
    let at = At {
        method: &method,
        path: &path,
    };
    if parts.method != Method::POST {
        // A legacy GET stream or a DELETE of a session acts on nothing.
        let request = with_proof(AccessRequest::token_only(), &parts, None);
        let decision = shared.decider.decide(&presented, request, at).await;
        let Some(identity) = Identity::of(&decision) else {
            return refusal(shared, &parts.headers, &decision, None);
        };
        let body = body.map_err(BoxError::from).boxed_unsync();
        let forwarded = shared
            .upstream
            .forward(parts, body, &identity, peer, shared.forward_token);
        return match forwarded.await {
            Ok(response) => relay(response),
            Err(error) => bad_gateway(&error),
        };
    }
    let bytes = match read_body(body, shared.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(status) => {
            let fault = JsonRpcFault {
                code: INVALID_REQUEST,
                message: format!("the body could not be read ({status})"),
                id: None,
            };
            return fault_response(shared, at, &fault, status);
        }
    };
    let call = Call {
        shared,
        parts,
        bytes,
        presented,
        peer,
    };
    match McpBody::parse(&call.bytes) {
        Err(fault) => fault_response(shared, at, &fault, StatusCode::BAD_REQUEST),
        Ok(McpBody::Single(message)) => call.single(message, at).await,
        Ok(McpBody::Batch(items)) => call.batch(items, at).await,
    }
}

/// One POST: its head, its body, the token, the client.
struct Call<'a> {
    shared: &'a Shared,
    parts: http::request::Parts,
    bytes: Bytes,
    presented: Presented,
    peer: SocketAddr,
}

impl Call<'_> {
    async fn single(self, message: McpMessage, at: At<'_>) -> Response<GatewayBody> {
        if let Some(mismatch) = mirrored_mismatch(&self.parts.headers, &message) {
            let fault = JsonRpcFault {
                code: HEADER_MISMATCH,
                message: mismatch.to_owned(),
                id: message.id.clone(),
            };
            return fault_response(self.shared, at, &fault, StatusCode::BAD_REQUEST);
        }
        let requests = self.requests_for(&message.ask, true);
        let decisions = self
            .shared
            .decider
            .decide_all(&self.presented, requests, at)
            .await;
        if let Some(refused) = decisions.iter().find(|d| !d.allowed()) {
            return refusal(self.shared, &self.parts.headers, refused, Some(&self.bytes));
        }
        let lists = match (&message.ask, &message.id) {
            (McpAsk::List(kind), Some(id)) => vec![(id.clone(), *kind)],
            _ => Vec::new(),
        };
        self.forward(decisions, lists).await
    }

    /// A batch (JSON-RPC 2.0, MCP 2025-03-26): every call is decided and
    /// recorded on its own; all allowed, the batch goes upstream as sent;
    /// otherwise nothing does, and each call is answered with its error.
    async fn batch(
        self,
        items: Vec<Result<McpMessage, JsonRpcFault>>,
        at: At<'_>,
    ) -> Response<GatewayBody> {
        let mut requests = Vec::new();
        let mut owners = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if let Ok(message) = item {
                for request in self.requests_for(&message.ask, requests.is_empty()) {
                    requests.push(request);
                    owners.push(index);
                }
            }
        }
        let decisions = self
            .shared
            .decider
            .decide_all(&self.presented, requests, at)
            .await;
        if let Some(refused) = decisions.iter().find(|d| token_refused(d)) {
            return refusal(self.shared, &self.parts.headers, refused, None);
        }
        let refusal_of = |index: usize| {
            owners
                .iter()
                .zip(&decisions)
                .find(|(owner, d)| **owner == index && !d.allowed())
                .map(|(_, d)| d)
        };
        let all_allowed =
            items.iter().all(Result::is_ok) && decisions.iter().all(Decision::allowed);
        if all_allowed {
            let lists = items
                .iter()
                .filter_map(|item| match item {
                    Ok(McpMessage {
                        id: Some(id),
                        ask: McpAsk::List(kind),
                        ..
                    }) => Some((id.clone(), *kind)),
                    _ => None,
                })
                .collect();
            return self.forward(decisions, lists).await;
        }
        let answers: Vec<Value> = items
            .iter()
            .enumerate()
            .filter_map(|(index, item)| match item {
                Err(fault) => Some(fault.to_response()),
                Ok(message) if message.is_notification() => None,
                Ok(message) => Some(match refusal_of(index) {
                    Some(decision) => mcp::denial_response(message.id.as_ref(), decision),
                    None => mcp::error_response(
                        message.id.as_ref(),
                        DENIED_CODE,
                        "agentcap: not forwarded, another call of the batch was refused",
                        Some(json!({"reason": "batch_refused"})),
                    ),
                }),
            })
            .collect();
        if answers.is_empty() {
            let mut response = Response::new(full(""));
            *response.status_mut() = StatusCode::ACCEPTED;
            return response;
        }
        json_answer(StatusCode::OK, &Value::from(answers))
    }

    /// What the message asks, as requests for the verifier; the first of
    /// the HTTP request carries the holder's proof.
    fn requests_for(&self, ask: &McpAsk, first: bool) -> Vec<AccessRequest> {
        let requests = match ask {
            McpAsk::TokenOnly | McpAsk::List(_) => vec![AccessRequest::token_only()],
            McpAsk::Access(request) => vec![request.clone()],
            McpAsk::AccessAll(requests) => requests.clone(),
        };
        requests
            .into_iter()
            .enumerate()
            .map(|(i, request)| {
                if first && i == 0 {
                    with_proof(request, &self.parts, Some(self.bytes.clone()))
                } else {
                    request
                        .method(self.parts.method.as_str())
                        .path(self.parts.uri.path())
                }
            })
            .collect()
    }

    /// Sends the body upstream, and filters the answers to `lists`.
    async fn forward(
        self,
        decisions: Vec<Decision>,
        lists: Vec<(Value, ListKind)>,
    ) -> Response<GatewayBody> {
        let Some(identity) = decisions.iter().find_map(Identity::of) else {
            return refusal(
                self.shared,
                &self.parts.headers,
                &Decision::new(Reason::Malformed, "", ""),
                None,
            );
        };
        let tokens = self.presented.tokens();
        let mut parts = self.parts;
        if !lists.is_empty() {
            // A list answer must come readable, to be filtered.
            parts.headers.remove(ACCEPT_ENCODING);
        }
        let response = match self
            .shared
            .upstream
            .forward(
                parts,
                full(self.bytes),
                &identity,
                self.peer,
                self.shared.forward_token,
            )
            .await
        {
            Ok(response) => response,
            Err(error) => return bad_gateway(&error),
        };
        if lists.is_empty() {
            return relay(response);
        }
        let verifier = self.shared.decider.verifier.clone();
        filter_answer(
            response,
            lists,
            verifier,
            tokens,
            self.shared.max_list_bytes,
        )
        .await
    }
}

/// The upstream's answer with each list result for `lists` filtered to
/// what the tokens (the acting one and any joint ones) may use: a JSON answer is read whole (up to
/// `max_bytes`), an event stream is rewritten event by event.
async fn filter_answer(
    response: Response<Incoming>,
    lists: Vec<(Value, ListKind)>,
    verifier: Verifier,
    tokens: Vec<String>,
    max_bytes: usize,
) -> Response<GatewayBody> {
    let rewrite = move |message: &mut Value| -> bool {
        let mut changed = false;
        let mut filter_one = |message: &mut Value| {
            let Some((_, kind)) = lists.iter().find(|(id, _)| message.get("id") == Some(id)) else {
                return;
            };
            if let Some(result) = message.get_mut("result") {
                // A joint request lists what every principal may use.
                let dropped = mcp::filter_list_result(*kind, result, |request| {
                    !tokens.is_empty() && tokens.iter().all(|t| verifier.may_use(t, request))
                });
                tracing::debug!(list = kind.field(), dropped, "list filtered");
                changed = true;
            }
        };
        match message {
            Value::Array(messages) => messages.iter_mut().for_each(&mut filter_one),
            message => filter_one(message),
        }
        changed
    };
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let (mut parts, body) = response.into_parts();
    crate::upstream::remove_hop_by_hop(&mut parts.headers);
    parts.headers.remove(CONTENT_LENGTH);
    let encoded = parts
        .headers
        .get(CONTENT_ENCODING)
        .is_some_and(|e| !e.as_bytes().eq_ignore_ascii_case(b"identity"));
    let json = content_type.starts_with("application/json");
    let stream = content_type.starts_with("text/event-stream");
    if parts.status.is_success() && (encoded || !(json || stream)) {
        // An answer the gateway cannot read might hold the whole list:
        // never pass it on unfiltered.
        let error: BoxError = "a list answer the gateway cannot filter".into();
        return bad_gateway(&error);
    }
    if stream {
        let body = sse::rewrite_stream(body, max_bytes, rewrite);
        return Response::from_parts(parts, body);
    }
    if !json {
        // An error answer: no list in it.
        return Response::from_parts(parts, body.map_err(BoxError::from).boxed_unsync());
    }
    let bytes = match http_body_util::Limited::new(body, max_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return bad_gateway(&error),
    };
    let bytes = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut message) => {
            if rewrite(&mut message) {
                Bytes::from(message.to_string())
            } else {
                bytes
            }
        }
        Err(_) if parts.status.is_success() => {
            let error: BoxError = "a list answer that is not JSON".into();
            return bad_gateway(&error);
        }
        Err(_) => bytes,
    };
    Response::from_parts(parts, full(bytes))
}

/// Compares the mirrored headers of MCP 2026-07-28 (`Mcp-Method`,
/// `Mcp-Name`) with the body, so that the gateway and the upstream never
/// disagree about what is called.
fn mirrored_mismatch(headers: &HeaderMap, message: &McpMessage) -> Option<&'static str> {
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().ok().and_then(decode_header_value))
    };
    if let Some(method) = header("mcp-method")
        && method.as_deref() != message.method.as_deref()
    {
        return Some("the Mcp-Method header does not match the body");
    }
    if let Some(name) = header("mcp-name")
        && name.as_deref() != message.name.as_deref()
    {
        return Some("the Mcp-Name header does not match the body");
    }
    None
}

/// A mirrored header's value: as sent, or decoded from `=?base64?…?=`.
fn decode_header_value(value: &str) -> Option<String> {
    match value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    {
        Some(encoded) => {
            let bytes = base64::decode_config(encoded, base64::STANDARD).ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(value.to_owned()),
    }
}

/// The refusal for `decision`, as an MCP client reads it (see
/// [`agentcap_verifier::mcp::McpRejection`]).
fn refusal(
    shared: &Shared,
    headers: &HeaderMap,
    decision: &Decision,
    body: Option<&[u8]>,
) -> Response<GatewayBody> {
    metadata::rejection(shared, headers)
        .response(decision, body)
        .map(|body| body.map_err(|never| match never {}).boxed_unsync())
}

/// A message that cannot be authorized: recorded, and answered with its
/// JSON-RPC error.
fn fault_response(
    shared: &Shared,
    at: At<'_>,
    fault: &JsonRpcFault,
    status: StatusCode,
) -> Response<GatewayBody> {
    let mut decision = Decision::new(Reason::MalformedRequest, at.path, at.method);
    decision.detail = Some(fault.message.clone());
    shared.decider.recorded(decision, at);
    json_answer(status, &fault.to_response())
}

fn json_answer(status: StatusCode, payload: &Value) -> Response<GatewayBody> {
    mcp::json_response(status, payload, None)
        .map(|body| body.map_err(|never| match never {}).boxed_unsync())
}
