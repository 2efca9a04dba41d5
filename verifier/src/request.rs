//! What is being asked: the request facts the verifier authorizes.

use std::sync::Arc;
use std::time::SystemTime;

use agentcap::vocabulary::{self, request as request_fact};
use agentcap::{FactValue, Request};

use crate::builder::{MAX_ARGUMENT_BYTES, MAX_ARGUMENT_NAME_BYTES, MAX_REQUEST_FACTS};
use crate::decision::RevocationInfo;

/// A request to authorize at a service: what is asked of the token (an
/// [`agentcap::Request`]: resource, operation, quantities, time), and what
/// is the service's own: the HTTP method and path, custom facts for its
/// policies, and the holder's proof of possession.
///
/// ```
/// use agentcap_verifier::AccessRequest;
/// let request = AccessRequest::new("payments/charge", "write")
///     .method("POST")
///     .path("/payments/charge")
///     .quantity("amount", 120)
///     .fact("region", "eu");
/// assert_eq!(request.resource(), "payments/charge");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AccessRequest {
    pub(crate) access: Request,
    pub(crate) method: Option<String>,
    pub(crate) path: Option<String>,
    pub(crate) facts: Vec<(String, FactValue)>,
    pub(crate) arguments: Vec<(String, FactValue)>,
    pub(crate) token_only: bool,
    pub(crate) holder_proof: Option<HttpProof>,
}

/// A holder's proof of possession as received (RFC 9421 `Signature-Input`,
/// `Signature` and RFC 9530 `Content-Digest`), with the parts of the HTTP
/// request it must cover. See [`agentcap::HolderProof`] and
/// `docs/holder-proof.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpProof {
    pub(crate) signature_input: String,
    pub(crate) signature: String,
    pub(crate) content_digest: Option<String>,
    pub(crate) method: String,
    pub(crate) authority: String,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) body: bytes::Bytes,
    /// The `Agentcap-Joint` header's lines, trimmed and joined by `", "`
    /// (RFC 9421 §2.1), when the request carries one.
    pub(crate) joint: Option<String>,
}

impl HttpProof {
    /// The proof carried by an HTTP request, if it carries one: its
    /// signature headers, method, authority (from the URI, else the `Host`
    /// header), path and query, and the `body` it was sent with. `None`
    /// when the request has no `Signature-Input` header; headers that are
    /// not visible ASCII are kept empty, so that the proof fails to verify.
    pub fn from_request(parts: &http::request::Parts, body: bytes::Bytes) -> Option<HttpProof> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .map(|v| v.to_str().unwrap_or_default().to_owned())
        };
        let signature_input = header(crate::middleware::SIGNATURE_INPUT_HEADER)?;
        let authority = parts
            .uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .or_else(|| header("host"))
            .unwrap_or_default()
            .to_ascii_lowercase();
        Some(HttpProof {
            signature_input,
            signature: header("signature").unwrap_or_default(),
            content_digest: header("content-digest"),
            method: parts.method.as_str().to_owned(),
            authority,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            body,
            joint: joint_value(&parts.headers),
        })
    }

    /// The authority (audience) the request was sent to.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

/// The `Agentcap-Joint` header as a proof covers it: its lines, trimmed,
/// joined by `", "`; a line that is not visible ASCII is kept empty, so
/// that the proof fails to verify.
fn joint_value(headers: &http::HeaderMap) -> Option<String> {
    let lines: Vec<&str> = headers
        .get_all(crate::joint::JOINT_HEADER)
        .iter()
        .map(|v| v.to_str().unwrap_or_default().trim())
        .collect();
    (!lines.is_empty()).then(|| lines.join(", "))
}

impl AccessRequest {
    /// `operation` on the concrete `resource`.
    pub fn new(resource: impl Into<String>, operation: impl Into<String>) -> Self {
        Request::new(resource, operation).into()
    }

    /// A request that asks nothing specific of the token: it needs a valid
    /// token (signatures, chain rules, time, audience, holder proof,
    /// revocation) and nothing more; no right, cap or service policy is
    /// evaluated. For protocol traffic that acts on nothing, such as an MCP
    /// `initialize` or `ping`.
    pub fn token_only() -> Self {
        let mut request = AccessRequest::new("", "");
        request.token_only = true;
        request
    }

    /// Whether this request asks for a valid token only ([`AccessRequest::token_only`]).
    pub fn is_token_only(&self) -> bool {
        self.token_only
    }

    /// A named argument of the call, stated as `argument(name, value)` for
    /// the token's checks and the service's policies (an MCP tool call's
    /// string and boolean arguments), e.g. a policy `allow if
    /// argument("origin", "AMS");`. Integer arguments that caps bound are
    /// [`quantity`](Self::quantity) instead. Setting a name twice keeps the
    /// last value.
    ///
    /// Names are 1 to [`MAX_ARGUMENT_NAME_BYTES`](crate::MAX_ARGUMENT_NAME_BYTES)
    /// bytes, string values at most [`MAX_ARGUMENT_BYTES`](crate::MAX_ARGUMENT_BYTES);
    /// arguments count toward [`MAX_REQUEST_FACTS`](crate::MAX_REQUEST_FACTS).
    /// A request beyond these is refused when verified
    /// ([`Reason::MalformedRequest`](crate::Reason::MalformedRequest)).
    pub fn argument(mut self, name: impl Into<String>, value: impl Into<FactValue>) -> Self {
        let name = name.into();
        self.arguments.retain(|(n, _)| *n != name);
        self.arguments.push((name, value.into()));
        self
    }

    /// The named arguments.
    pub fn arguments(&self) -> &[(String, FactValue)] {
        &self.arguments
    }

    /// What is asked of the token.
    pub fn request(&self) -> &Request {
        &self.access
    }

    /// The HTTP method, stated as `method(m)`.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// The HTTP path, stated as `path(p)`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// A named quantity, stated as `quantity(name, value)`; caps bound it.
    /// Setting a name twice keeps the last value.
    pub fn quantity(mut self, name: impl Into<String>, value: i64) -> Self {
        self.access = self.access.quantity(name, value);
        self
    }

    /// A custom fact `name(value)` for the service's policies. Names of the
    /// agentcap vocabulary (`resource`, `time`, ...) are refused when the
    /// request is verified.
    pub fn fact(mut self, name: impl Into<String>, value: impl Into<FactValue>) -> Self {
        self.facts.push((name.into(), value.into()));
        self
    }

    /// The holder's proof of possession for this request (see
    /// [`HttpProof`]); checked when the verifier requires proofs.
    pub fn holder_proof(mut self, proof: HttpProof) -> Self {
        self.holder_proof = Some(proof);
        self
    }

    /// The time of the request (default: when it is verified).
    pub fn at(mut self, time: SystemTime) -> Self {
        self.access = self.access.at(time);
        self
    }

    /// The resource requested.
    pub fn resource(&self) -> &str {
        self.access.resource()
    }

    /// The operation requested.
    pub fn operation(&self) -> &str {
        self.access.operation()
    }

    /// The HTTP method, if any.
    pub fn method_name(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// The HTTP path, if any.
    pub fn path_name(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The quantities.
    pub fn quantities(&self) -> &[(String, i64)] {
        self.access.quantities()
    }
}

impl From<Request> for AccessRequest {
    fn from(access: Request) -> Self {
        AccessRequest {
            access,
            method: None,
            path: None,
            facts: Vec::new(),
            arguments: Vec::new(),
            token_only: false,
            holder_proof: None,
        }
    }
}

/// Turns an HTTP request into an [`AccessRequest`]. Closures
/// `Fn(&http::request::Parts) -> Result<AccessRequest, String>` implement it;
/// an `Err` is answered with 400 and its message.
///
/// A mapping that must see the body (a JSON-RPC call names its method and
/// arguments there, not in the URL) says so with
/// [`reads_body`](Self::reads_body) and implements
/// [`access_request_with_body`](Self::access_request_with_body): the layer
/// then buffers the body, up to its `max_body_bytes` (413 above), maps the
/// request from the bytes, and hands the very same bytes to the inner
/// service.
pub trait RequestFacts: Send + Sync + 'static {
    /// The access request for these request parts.
    fn access_request(&self, parts: &http::request::Parts) -> Result<AccessRequest, String>;

    /// Whether this mapping needs the request body. `false` by default:
    /// the body is then streamed to the service unread (unless a holder
    /// proof needs its digest).
    fn reads_body(&self) -> bool {
        false
    }

    /// The access request for these parts and this (whole) body. By
    /// default the body is ignored.
    fn access_request_with_body(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Result<AccessRequest, String> {
        let _ = body;
        self.access_request(parts)
    }
}

impl<F> RequestFacts for F
where
    F: Fn(&http::request::Parts) -> Result<AccessRequest, String> + Send + Sync + 'static,
{
    fn access_request(&self, parts: &http::request::Parts) -> Result<AccessRequest, String> {
        self(parts)
    }
}

/// The default mapping for REST services: the path (without its leading
/// `/`, percent-decoded) is the resource; the method gives the operation
/// (`GET`/`HEAD` → `read`, `POST`/`PUT`/`PATCH` → `write`, `DELETE` →
/// `delete`, anything else its lowercase name); integer query parameters
/// become quantities (`?amount=120` → `quantity("amount", 120)`). A query
/// that names an integer parameter twice is refused: the service might
/// read the other value.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestMapping;

impl RequestFacts for RestMapping {
    fn access_request(&self, parts: &http::request::Parts) -> Result<AccessRequest, String> {
        let path = parts.uri.path();
        let resource = percent_decode(path.trim_start_matches('/'))
            .ok_or_else(|| "the path is not valid percent-encoded UTF-8".to_owned())?;
        let operation = match parts.method.as_str() {
            "GET" | "HEAD" => "read".to_owned(),
            "POST" | "PUT" | "PATCH" => "write".to_owned(),
            "DELETE" => "delete".to_owned(),
            other => other.to_ascii_lowercase(),
        };
        let mut request = AccessRequest::new(resource, operation)
            .method(parts.method.as_str())
            .path(path);
        if let Some(query) = parts.uri.query() {
            let names: Vec<Option<String>> = query
                .split('&')
                .map(|pair| percent_decode(pair.split_once('=').map_or(pair, |(name, _)| name)))
                .collect();
            for (pair, name) in query.split('&').zip(&names) {
                if let Some((_, value)) = pair.split_once('=')
                    && let Ok(n) = value.parse::<i64>()
                    && let Some(name) = name
                {
                    // A service may read the first of two values where
                    // the mapping would read the last: never guess.
                    if names
                        .iter()
                        .filter(|other| other.as_ref() == Some(name))
                        .count()
                        > 1
                    {
                        return Err(format!("the query names {name:?} more than once"));
                    }
                    request = request.quantity(name.clone(), n);
                }
            }
        }
        Ok(request)
    }
}

/// Decodes `%XX` escapes; `None` for a `%` not followed by two hex digits
/// (which `percent-encoding` would pass through as text) or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let well_formed = s.split('%').skip(1).all(|escape| {
        escape
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|decoded| decoded.into_owned())
}

/// The facts the service adds to the request's: its resource identifier,
/// HTTP method and path, the revocation list consulted, the call's
/// arguments and the request's custom facts.
pub(crate) fn extra_facts<'a>(
    request: &'a AccessRequest,
    resource_id: Option<&str>,
    revocation: Option<&RevocationInfo>,
) -> Vec<(&'a str, Vec<FactValue>)> {
    let mut facts = Vec::with_capacity(5 + request.arguments.len() + request.facts.len());
    let string = |s: &str| vec![FactValue::Str(s.to_owned())];
    if let Some(id) = resource_id {
        facts.push((request_fact::AUDIENCE, string(id)));
    }
    if let Some(method) = &request.method {
        facts.push((request_fact::METHOD, string(method)));
    }
    if let Some(path) = &request.path {
        facts.push((request_fact::PATH, string(path)));
    }
    let int = |n: u64| vec![FactValue::Int(i64::try_from(n).unwrap_or(i64::MAX))];
    if let Some(sequence) = revocation.and_then(|r| r.sequence) {
        facts.push((request_fact::REVOCATION_SEQUENCE, int(sequence)));
    }
    if let Some(age) = revocation.and_then(|r| r.age_seconds) {
        facts.push((request_fact::REVOCATION_AGE, int(age)));
    }
    facts.extend(request.arguments.iter().map(|(n, v)| {
        let terms = vec![FactValue::Str(n.clone()), v.clone()];
        (request_fact::ARGUMENT, terms)
    }));
    facts.extend(
        request
            .facts
            .iter()
            .map(|(n, v)| (n.as_str(), vec![v.clone()])),
    );
    facts
}

/// The request as the service may authorize it: what is asked is valid
/// ([`agentcap::Request::validate`]; a token-only request asks for no
/// resource or operation), and the service's own additions are few, within
/// their bounds, and do not use the vocabulary's names.
pub(crate) fn validate_request(request: &AccessRequest) -> Result<(), String> {
    if !request.is_token_only() {
        request.request().validate().map_err(|e| e.to_string())?;
    }
    let count = request.quantities().len() + request.arguments.len() + request.facts.len();
    if count > MAX_REQUEST_FACTS {
        return Err(format!(
            "more than {MAX_REQUEST_FACTS} quantities, arguments and custom facts"
        ));
    }
    for (name, value) in &request.arguments {
        if name.is_empty() || name.len() > MAX_ARGUMENT_NAME_BYTES {
            return Err(format!(
                "an argument name must be 1 to {MAX_ARGUMENT_NAME_BYTES} bytes"
            ));
        }
        if let FactValue::Str(s) = value
            && s.len() > MAX_ARGUMENT_BYTES
        {
            return Err(format!(
                "argument \"{}\" is longer than {MAX_ARGUMENT_BYTES} bytes",
                agentcap::display::escape(name)
            ));
        }
    }
    for (name, _) in &request.facts {
        if vocabulary::RESERVED.contains(&name.as_str()) || name.is_empty() {
            return Err(format!("custom fact name {name:?} is reserved or empty"));
        }
    }
    Ok(())
}

/// A shared [`RequestFacts`].
pub(crate) type SharedRequestFacts = Arc<dyn RequestFacts>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parts(method: &str, uri: &str) -> http::request::Parts {
        http::Request::builder()
            .method(method)
            .uri(uri)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn rest_mapping_maps_paths_methods_and_quantities() {
        let r = RestMapping
            .access_request(&parts("POST", "/payments/charge?amount=120&note=x"))
            .unwrap();
        assert_eq!((r.resource(), r.operation()), ("payments/charge", "write"));
        assert_eq!(r.quantities(), [("amount".to_owned(), 120)]);
        let r = RestMapping
            .access_request(&parts("GET", "/flights/lis%2Fx"))
            .unwrap();
        assert_eq!((r.resource(), r.operation()), ("flights/lis/x", "read"));
        assert!(RestMapping.access_request(&parts("GET", "/a%ff")).is_err());
        // Which of two amounts would the service charge? Refused.
        for query in [
            "amount=900&amount=100",
            "amount=100&am%6funt=x",
            "amount&amount=5",
        ] {
            let uri = format!("/payments/charge?{query}");
            assert!(
                RestMapping.access_request(&parts("POST", &uri)).is_err(),
                "{query}"
            );
        }
        let r = RestMapping
            .access_request(&parts("POST", "/p?amount=100&note=a&note=b"))
            .unwrap();
        assert_eq!(r.quantities(), [("amount".to_owned(), 100)]);
        assert!(RestMapping.access_request(&parts("GET", "/a%zz")).is_err());
        assert!(RestMapping.access_request(&parts("GET", "/a%2")).is_err());
    }
}
