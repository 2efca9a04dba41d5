//! REST: the request head is the request (the path the resource, the
//! method the operation), for the proxy and for the authorization endpoint.

use std::net::SocketAddr;

use agentcap_verifier::{AccessRequest, Decision, HttpProof, Reason, RequestFacts, RestMapping};
use bytes::Bytes;
use http::header::WWW_AUTHENTICATE;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::json;

use crate::decide::{At, Identity, Presented};
use crate::upstream::{full, relay};
use crate::{BoxError, GatewayBody, Shared, identity, metadata, origin_form};

/// Proxies a REST request: decided from its head (and its body, when it
/// carries a proof whose content digest must be checked).
pub(crate) async fn proxy(
    shared: &Shared,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Response<GatewayBody> {
    let (parts, body) = request.into_parts();
    let has_proof = parts
        .headers
        .contains_key(agentcap_verifier::SIGNATURE_INPUT_HEADER);
    let (body, buffered) = if has_proof {
        match read_body(body, shared.max_body_bytes).await {
            Ok(bytes) => (full(bytes.clone()), Some(bytes)),
            Err(status) => return plain_status(status),
        }
    } else {
        (body.map_err(BoxError::from).boxed_unsync(), None)
    };
    let at = At {
        method: parts.method.as_str(),
        path: parts.uri.path(),
    };
    let request = match mapped(shared, &parts, buffered, at) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    let presented = Presented::from_parts(&parts);
    let decision = shared.decider.decide(&presented, request, at).await;
    let Some(identity) = Identity::of(&decision) else {
        return refusal(shared, &parts.headers, &decision);
    };
    let forwarded = shared
        .upstream
        .forward(parts, body, &identity, peer, shared.forward_token);
    match forwarded.await {
        Ok(response) => relay(response),
        Err(error) => bad_gateway(&error),
    }
}

/// The authorization endpoint (`/_agentcap/authz[/...]`): decides the
/// original request (from `X-Original-Method` and `X-Original-URI`, as
/// nginx sends them, else this request's method and the path after the
/// prefix, as Envoy does) and answers 200 with the identity headers, or
/// 401/403 with a challenge. No body is read: proxies send none.
pub(crate) async fn authorize_for_proxy(
    shared: &Shared,
    request: Request<Incoming>,
) -> Response<GatewayBody> {
    let (mut parts, _body) = request.into_parts();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let method = header("x-original-method")
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .unwrap_or_else(|| parts.method.clone());
    let original = header("x-original-uri").unwrap_or_else(|| {
        let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let rest = path_and_query
            .strip_prefix(metadata::AUTHZ_PREFIX)
            .or_else(|| path_and_query.strip_prefix(crate::AUTHZ_PATH))
            .unwrap_or("");
        format!("/{}", rest.trim_start_matches('/'))
    });
    let Some(uri) = origin_form(&original) else {
        return plain_status(StatusCode::BAD_REQUEST);
    };
    parts.method = method;
    parts.uri = uri;
    let at = At {
        method: parts.method.as_str(),
        path: parts.uri.path(),
    };
    let request = match mapped(shared, &parts, Some(Bytes::new()), at) {
        Ok(request) => request,
        Err(refused) => return refused,
    };
    let presented = Presented::from_parts(&parts);
    let decision = shared.decider.decide(&presented, request, at).await;
    match decision.chain.as_ref().filter(|_| decision.allowed()) {
        Some(chain) => {
            let mut response = Response::new(full(""));
            identity::set(response.headers_mut(), chain);
            response
        }
        None => refusal(shared, &parts.headers, &decision),
    }
}

/// The REST mapping of the request, with its proof; a request that cannot
/// be mapped is recorded and refused (400).
#[allow(clippy::result_large_err)] // the refusal is sent at once
fn mapped(
    shared: &Shared,
    parts: &http::request::Parts,
    body: Option<Bytes>,
    at: At<'_>,
) -> Result<AccessRequest, Response<GatewayBody>> {
    match RestMapping.access_request(parts) {
        Ok(request) => Ok(with_proof(request, parts, body)),
        Err(detail) => {
            let mut decision = Decision::new(Reason::MalformedRequest, at.path, at.method);
            decision.detail = Some(detail);
            let decision = shared.decider.recorded(decision, at);
            Err(refusal(shared, &parts.headers, &decision))
        }
    }
}

/// Attaches the holder's proof, if the request carries one.
pub(crate) fn with_proof(
    request: AccessRequest,
    parts: &http::request::Parts,
    body: Option<Bytes>,
) -> AccessRequest {
    let request = request.method(parts.method.as_str()).path(parts.uri.path());
    match HttpProof::from_request(parts, body.unwrap_or_default()) {
        Some(proof) => request.holder_proof(proof),
        None => request,
    }
}

/// A refusal as `application/problem+json` with a challenge naming the
/// resource metadata.
pub(crate) fn refusal(
    shared: &Shared,
    headers: &http::HeaderMap,
    decision: &Decision,
) -> Response<GatewayBody> {
    let (mut parts, body) = agentcap_verifier::problem_response(decision, "agentcap").into_parts();
    parts.headers.remove(WWW_AUTHENTICATE);
    if let Some(challenge) = metadata::challenge(shared, headers, decision) {
        parts.headers.insert(WWW_AUTHENTICATE, challenge);
    }
    Response::from_parts(parts, body.map_err(|never| match never {}).boxed_unsync())
}

/// Reads a whole body, up to `limit` bytes: 413 above it, 400 when it
/// cannot be read.
pub(crate) async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, StatusCode> {
    match http_body_util::Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            Err(StatusCode::PAYLOAD_TOO_LARGE)
        }
        Err(_) => Err(StatusCode::BAD_REQUEST),
    }
}

/// A status with a short JSON body.
pub(crate) fn plain_status(status: StatusCode) -> Response<GatewayBody> {
    let body = json!({"status": status.as_u16(), "title": status.canonical_reason()});
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// 502: the upstream could not be reached or failed mid-answer.
pub(crate) fn bad_gateway(error: &BoxError) -> Response<GatewayBody> {
    tracing::warn!(%error, "the upstream request failed");
    plain_status(StatusCode::BAD_GATEWAY)
}
