//! RFC 9728 Protected Resource Metadata, and the challenges that name it.

use agentcap_verifier::Decision;
use agentcap_verifier::mcp::McpRejection;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, Method, Request, Response, StatusCode, Uri};
use serde_json::json;

use crate::upstream::full;
use crate::{GatewayBody, GatewayError, Shared};

/// Where the metadata is published (and, with the resource's path
/// appended, `/.well-known/oauth-protected-resource/mcp`).
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The authorization endpoint for proxies that delegate the decision
/// (nginx `auth_request`; Envoy `ext_authz` with this `path_prefix`).
pub const AUTHZ_PATH: &str = "/_agentcap/authz";

pub(crate) const AUTHZ_PREFIX: &str = "/_agentcap/authz/";

/// A configured resource identifier: scheme and authority, and path.
pub(crate) struct ResourceId {
    /// `scheme://authority`
    origin: String,
    /// The path without a trailing `/` (`""` for none).
    path: String,
}

impl ResourceId {
    pub(crate) fn parse(uri: &str) -> Result<ResourceId, GatewayError> {
        let bad = || GatewayError::ResourceId(uri.chars().take(200).collect());
        let parsed: Uri = uri.parse().map_err(|_| bad())?;
        let scheme = parsed.scheme_str().ok_or_else(bad)?.to_ascii_lowercase();
        let authority = parsed
            .authority()
            .ok_or_else(bad)?
            .as_str()
            .to_ascii_lowercase();
        if parsed.query().is_some() || uri.contains('#') || authority.contains('@') {
            return Err(bad());
        }
        Ok(ResourceId {
            origin: format!("{scheme}://{authority}"),
            path: parsed.path().trim_end_matches('/').to_owned(),
        })
    }

    fn identifier(&self) -> String {
        format!("{}{}", self.origin, self.path)
    }

    fn metadata_url(&self) -> String {
        format!("{}{METADATA_PATH}{}", self.origin, self.path)
    }
}

pub(crate) fn is_metadata_path(path: &str) -> bool {
    path == METADATA_PATH
        || path
            .strip_prefix(METADATA_PATH)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The origin clients reached the gateway at, from the `Host` header.
fn request_origin(headers: &http::HeaderMap) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.parse::<http::uri::Authority>().is_ok())
        .unwrap_or("localhost");
    format!("http://{}", host.to_ascii_lowercase())
}

/// The URL of the metadata, for challenges.
pub(crate) fn metadata_url(shared: &Shared, headers: &http::HeaderMap) -> String {
    match &shared.resource {
        Some(resource) => resource.metadata_url(),
        None => format!("{}{METADATA_PATH}", request_origin(headers)),
    }
}

/// The rejection shape for this gateway: challenges name the metadata.
pub(crate) fn rejection(shared: &Shared, headers: &http::HeaderMap) -> McpRejection {
    McpRejection::resource_metadata(metadata_url(shared, headers))
}

/// The `WWW-Authenticate` value for a refusal, if it takes one.
pub(crate) fn challenge(
    shared: &Shared,
    headers: &http::HeaderMap,
    decision: &Decision,
) -> Option<HeaderValue> {
    let status = agentcap_verifier::status_for(decision.reason);
    rejection(shared, headers)
        .challenge(decision, status)
        .and_then(|c| HeaderValue::from_str(&c).ok())
}

/// `GET /.well-known/oauth-protected-resource[/path]`.
pub(crate) fn respond<B>(shared: &Shared, request: &Request<B>) -> Response<GatewayBody> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = Response::new(full(""));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let resource = match &shared.resource {
        Some(resource) => resource.identifier(),
        None => {
            let suffix = request.uri().path().trim_start_matches(METADATA_PATH);
            format!(
                "{}{}",
                request_origin(request.headers()),
                suffix.trim_end_matches('/')
            )
        }
    };
    let mut metadata = json!({
        "resource": resource,
        "bearer_methods_supported": ["header"],
        "resource_name": "agentcap gateway",
    });
    if !shared.authorization_servers.is_empty() {
        metadata["authorization_servers"] = json!(shared.authorization_servers);
    }
    let mut response = Response::new(full(metadata.to_string()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
