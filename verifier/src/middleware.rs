//! Tower middleware over `http` 1 types: verify the bearer token of every
//! request, pass the authorized delegation to the handler, or answer 401/403
//! with an `application/problem+json` body.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use agentcap::Chain;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use tower_layer::Layer;
use tower_service::Service;

use crate::audit::{AuditRecord, AuditSink, NoAudit};
use crate::decision::{Decision, Reason};
use crate::request::{AccessRequest, HttpProof, RequestFacts, RestMapping, SharedRequestFacts};
use crate::verifier::Verifier;

/// The RFC 9421 header naming what a holder's request signature covers
/// ([`agentcap::HolderProof`]); its presence makes the layer buffer the
/// body to check the content digest.
pub const SIGNATURE_INPUT_HEADER: &str = "signature-input";

/// A request whose token was presented but cannot be read from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableToken(pub &'static str);

/// Finds the token in a request. Closures
/// `Fn(&http::request::Parts) -> Result<Option<String>, UnreadableToken>`
/// implement it; the default is [`BearerToken`].
pub trait TokenExtractor: Send + Sync + 'static {
    /// The token, `None` when the request carries none.
    fn token(&self, parts: &http::request::Parts) -> Result<Option<String>, UnreadableToken>;
}

impl<F> TokenExtractor for F
where
    F: Fn(&http::request::Parts) -> Result<Option<String>, UnreadableToken> + Send + Sync + 'static,
{
    fn token(&self, parts: &http::request::Parts) -> Result<Option<String>, UnreadableToken> {
        self(parts)
    }
}

/// The token from `Authorization: Bearer <token>` (RFC 6750; the scheme is
/// case-insensitive). Several `Authorization` headers are refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct BearerToken;

impl TokenExtractor for BearerToken {
    fn token(&self, parts: &http::request::Parts) -> Result<Option<String>, UnreadableToken> {
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let Some(value) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(UnreadableToken("more than one Authorization header"));
        }
        let value = value
            .to_str()
            .map_err(|_| UnreadableToken("the Authorization header is not visible ASCII"))?;
        let (scheme, token) = value.trim().split_once(' ').ok_or(UnreadableToken(
            "the Authorization header is not `Bearer <token>`",
        ))?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(UnreadableToken("the Authorization scheme is not Bearer"));
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(UnreadableToken("the bearer token is empty"));
        }
        Ok(Some(token.to_owned()))
    }
}

/// What the middleware puts in the request extensions when it allows a
/// request: who acted for whom, with what.
#[derive(Debug, Clone)]
pub struct AuthorizedDelegation {
    /// The verified chain.
    pub chain: Arc<Chain>,
    /// The request as authorized.
    pub request: AccessRequest,
    /// The service policy that allowed it.
    pub matched_policy: Option<(usize, String)>,
    /// For a joint request (the `Agentcap-Joint` header): the other
    /// principals' verified chains, in the order presented, each of which
    /// allowed the request too. Empty for a request made for one principal.
    pub joint: Vec<Arc<Chain>>,
}

impl AuthorizedDelegation {
    /// The user the agents act for.
    pub fn user(&self) -> &str {
        &self.chain.user
    }

    /// The agents, first agent to the one calling.
    pub fn agents(&self) -> Vec<&str> {
        self.chain.agents()
    }

    /// The agent calling (the current holder).
    pub fn holder(&self) -> &str {
        self.chain.holder()
    }

    /// Every principal the request was allowed for: the acting token's
    /// user, then each joint principal's.
    pub fn users(&self) -> Vec<&str> {
        std::iter::once(self.user())
            .chain(self.joint.iter().map(|c| c.user.as_str()))
            .collect()
    }
}

/// Shapes the response to a refused request (see [`AgentcapLayer::on_rejection`]).
pub trait Rejection: Send + Sync + 'static {
    /// The response for `decision`, a denial, taken for the request `parts`.
    fn respond(&self, decision: &Decision, parts: &http::request::Parts) -> Response<Full<Bytes>>;

    /// The response for `decision` when the layer read the request's body
    /// (`body` is `None` when it did not): a JSON-RPC refusal answers the
    /// request's id. By default the body is ignored.
    fn respond_to_body(
        &self,
        decision: &Decision,
        parts: &http::request::Parts,
        body: Option<&[u8]>,
    ) -> Response<Full<Bytes>> {
        let _ = body;
        self.respond(decision, parts)
    }
}

impl<F> Rejection for F
where
    F: Fn(&Decision, &http::request::Parts) -> Response<Full<Bytes>> + Send + Sync + 'static,
{
    fn respond(&self, decision: &Decision, parts: &http::request::Parts) -> Response<Full<Bytes>> {
        self(decision, parts)
    }
}

/// The default rejection: an `application/problem+json` body
/// ([`problem_response`]) with a `WWW-Authenticate` challenge.
#[derive(Debug, Clone)]
pub struct ProblemJson {
    realm: String,
}

impl Rejection for ProblemJson {
    fn respond(&self, decision: &Decision, _parts: &http::request::Parts) -> Response<Full<Bytes>> {
        problem_response(decision, &self.realm)
    }
}

/// Default largest request body buffered to check a proof's content digest: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Configuration of the middleware; cheap to clone.
#[derive(Clone)]
pub struct AgentcapLayer {
    config: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    verifier: Verifier,
    extractor: Arc<dyn TokenExtractor>,
    facts: SharedRequestFacts,
    audit: Arc<dyn AuditSink>,
    audit_required: bool,
    rejection: Arc<dyn Rejection>,
    max_body_bytes: usize,
}

impl AgentcapLayer {
    /// The middleware for `verifier`: bearer tokens, the REST mapping of
    /// requests to facts, no audit sink (add one with [`AgentcapLayer::audit`]),
    /// problem+json rejections.
    pub fn new(verifier: Verifier) -> Self {
        AgentcapLayer {
            config: Arc::new(Config {
                verifier,
                extractor: Arc::new(BearerToken),
                facts: Arc::new(RestMapping),
                audit: Arc::new(NoAudit),
                audit_required: false,
                rejection: Arc::new(ProblemJson {
                    realm: "agentcap".to_owned(),
                }),
                max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = (*self.config).clone();
        change(&mut config);
        AgentcapLayer {
            config: Arc::new(config),
        }
    }

    /// Where to find the token (default: [`BearerToken`]).
    pub fn token_extractor(self, extractor: impl TokenExtractor) -> Self {
        self.with(|c| c.extractor = Arc::new(extractor))
    }

    /// How requests become facts (default: [`RestMapping`]).
    pub fn request_facts(self, facts: impl RequestFacts) -> Self {
        self.with(|c| c.facts = Arc::new(facts))
    }

    /// Where decisions are recorded.
    pub fn audit(self, sink: Arc<dyn AuditSink>) -> Self {
        self.with(|c| c.audit = sink)
    }

    /// Refuses every request (503, reason `audit_unavailable`) whose
    /// decision the audit sink fails to record: no action without a record.
    pub fn require_audit(self) -> Self {
        self.with(|c| c.audit_required = true)
    }

    /// The realm named in `WWW-Authenticate` by the default rejection
    /// (default: `agentcap`).
    pub fn realm(self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        self.with(|c| c.rejection = Arc::new(ProblemJson { realm }))
    }

    /// Shapes refusals: a JSON-RPC error, a redirect, a custom body. The
    /// decision carries the reason code, the failing block and
    /// [`Decision::client_message`]; keep [`Decision::explain`] (which names
    /// the service's policy) for logs and audit.
    pub fn on_rejection(self, rejection: impl Rejection) -> Self {
        self.with(|c| c.rejection = Arc::new(rejection))
    }

    /// The largest request body buffered to check a holder proof's content
    /// digest (default: [`DEFAULT_MAX_BODY_BYTES`]); a larger one gets 413.
    pub fn max_body_bytes(self, bytes: usize) -> Self {
        self.with(|c| c.max_body_bytes = bytes)
    }
}

impl<S> Layer<S> for AgentcapLayer {
    type Service = Agentcap<S>;
    fn layer(&self, inner: S) -> Agentcap<S> {
        Agentcap {
            inner,
            config: Arc::clone(&self.config),
        }
    }
}

/// The middleware service; see [`AgentcapLayer`].
#[derive(Clone)]
pub struct Agentcap<S> {
    inner: S,
    config: Arc<Config>,
}

/// The response body: a problem document, or the inner service's body.
pub type AgentcapBody<B> = Either<Full<Bytes>, B>;

/// The request body the inner service receives: the original body, or the
/// same bytes buffered when the layer had to read them (to check a proof's
/// content digest).
pub type AgentcapRequestBody<B> = Either<Full<Bytes>, B>;

/// Errors of a body, boxed.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The middleware's response future.
pub type ResponseFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<B>, E>> + Send>>;

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Agentcap<S>
where
    S: Service<Request<AgentcapRequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: Send + 'static,
{
    type Response = Response<AgentcapBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<AgentcapBody<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let config = Arc::clone(&self.config);
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let (parts, body, buffered) = match config.read_body(parts, body).await {
                Ok(read) => read,
                Err(response) => return Ok(response.map(Either::Left)),
            };
            let (mut parts, outcome) = off_executor(config, parts, buffered).await;
            match outcome {
                Ok(delegation) => {
                    parts.extensions.insert(delegation);
                    let response = inner.call(Request::from_parts(parts, body)).await?;
                    Ok(response.map(Either::Right))
                }
                Err(rejection) => Ok(rejection.map(Either::Left)),
            }
        })
    }
}

/// Runs the decision inline when the token is warm (verified and cached:
/// tens of microseconds), else on tokio's blocking pool when there is one,
/// so that no signature verification or long evaluation holds an executor
/// thread; inline when there is no runtime.
async fn off_executor(
    config: Arc<Config>,
    parts: http::request::Parts,
    body: Option<Bytes>,
) -> (
    http::request::Parts,
    Result<AuthorizedDelegation, Response<Full<Bytes>>>,
) {
    let joint = crate::joint::joint_tokens(&parts.headers).unwrap_or_default();
    let warm = matches!(config.extractor.token(&parts),
        Ok(Some(token)) if config.verifier.is_warm_joint(&token, &joint));
    let decide = move || {
        let outcome = config.decide(&parts, body.as_ref());
        (parts, outcome)
    };
    if warm {
        return decide();
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => match handle.spawn_blocking(decide).await {
            Ok(decided) => decided,
            Err(error) => {
                // Only a panic or a shutdown gets here; answer without one.
                tracing::error!(%error, "the decision task failed");
                let mut parts = Request::new(()).into_parts().0;
                parts.method = http::Method::GET;
                let mut response = Response::new(Full::new(Bytes::new()));
                *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                (parts, Err(response))
            }
        },
        Err(_) => decide(),
    }
}

impl Config {
    /// Buffers the body (bounded) when the decision needs it: when the
    /// request carries a signature whose content digest must be checked. A
    /// request without one needs no body (a required proof is then missing).
    async fn read_body<B>(
        &self,
        parts: http::request::Parts,
        body: B,
    ) -> Result<(http::request::Parts, AgentcapRequestBody<B>, Option<Bytes>), Response<Full<Bytes>>>
    where
        B: http_body::Body<Data = Bytes>,
        B::Error: Into<BoxError>,
    {
        if !self.facts.reads_body() && !parts.headers.contains_key(SIGNATURE_INPUT_HEADER) {
            return Ok((parts, Either::Right(body), None));
        }
        use http_body_util::BodyExt;
        match http_body_util::Limited::new(body, self.max_body_bytes)
            .collect()
            .await
        {
            Ok(collected) => {
                let bytes = collected.to_bytes();
                Ok((parts, Either::Left(Full::new(bytes.clone())), Some(bytes)))
            }
            Err(error) => {
                let too_large = error.is::<http_body_util::LengthLimitError>();
                let mut decision = Decision::new(
                    Reason::MalformedRequest,
                    parts.uri.path(),
                    parts.method.as_str(),
                );
                decision.detail = Some(if too_large {
                    format!("the body is larger than {} bytes", self.max_body_bytes)
                } else {
                    "the body could not be read".to_owned()
                });
                let mut response = self.reject(&decision, &parts, None);
                if too_large {
                    *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
                }
                Err(response)
            }
        }
    }

    /// Verifies the request; the delegation, or the rejection to send.
    #[allow(clippy::result_large_err)] // built once per request, returned at once
    fn decide(
        &self,
        parts: &http::request::Parts,
        body: Option<&Bytes>,
    ) -> Result<AuthorizedDelegation, Response<Full<Bytes>>> {
        let method = parts.method.as_str();
        let path = parts.uri.path();
        let mapped = match body {
            Some(bytes) if self.facts.reads_body() => {
                self.facts.access_request_with_body(parts, bytes)
            }
            _ => self.facts.access_request(parts),
        };
        let request = match mapped {
            Ok(request) => request,
            Err(detail) => {
                let mut decision = Decision::new(Reason::MalformedRequest, path, method);
                decision.detail = Some(detail);
                return Err(self.reject(&decision, parts, body));
            }
        };
        let request = with_proof(request, parts, body);
        let joint = match crate::joint::joint_tokens(&parts.headers) {
            Ok(joint) => joint,
            Err(detail) => {
                let mut decision = Decision::new(
                    Reason::MalformedRequest,
                    request.resource(),
                    request.operation(),
                );
                decision.detail = Some(detail.to_owned());
                return Err(self.reject(&decision, parts, body));
            }
        };
        let decision = match self.extractor.token(parts) {
            Ok(Some(token)) => self.verifier.verify_joint(&token, &joint, &request),
            Ok(None) => Decision::new(
                Reason::MissingToken,
                request.resource(),
                request.operation(),
            ),
            Err(UnreadableToken(detail)) => {
                let mut decision =
                    Decision::new(Reason::Malformed, request.resource(), request.operation());
                decision.detail = Some(detail.to_owned());
                decision
            }
        };
        if !decision.allowed() {
            return Err(self.reject(&decision, parts, body));
        }
        if !self.record(&decision, parts) {
            let mut refused = decision.clone();
            refused.reason = Reason::AuditUnavailable;
            return Err(self
                .rejection
                .respond_to_body(&refused, parts, body.map(|b| &b[..])));
        }
        match decision.chain {
            Some(chain) => Ok(AuthorizedDelegation {
                chain,
                request,
                matched_policy: decision.matched_policy,
                joint: decision.joint.map_or_else(Vec::new, |joint| {
                    joint
                        .principals
                        .into_iter()
                        .skip(1)
                        .filter_map(|p| p.decision.chain)
                        .collect()
                }),
            }),
            // An allowed decision always carries its chain; refuse rather than guess.
            None => Err(self.reject(&Decision::new(Reason::Malformed, path, method), parts, body)),
        }
    }

    fn reject(
        &self,
        decision: &Decision,
        parts: &http::request::Parts,
        body: Option<&Bytes>,
    ) -> Response<Full<Bytes>> {
        let body = body.map(|b| &b[..]);
        tracing::info!(
            reason = decision.reason.code(),
            method = %parts.method,
            path = parts.uri.path(),
            explanation = %decision.explain(),
            "request denied"
        );
        if !self.record(decision, parts) {
            let mut refused = decision.clone();
            refused.reason = Reason::AuditUnavailable;
            return self.rejection.respond_to_body(&refused, parts, body);
        }
        self.rejection.respond_to_body(decision, parts, body)
    }

    /// Records the decision; false when the sink failed and audit is required.
    fn record(&self, decision: &Decision, parts: &http::request::Parts) -> bool {
        if !self.audit.enabled() {
            return true;
        }
        let record = AuditRecord::new(
            decision,
            Some(parts.method.as_str()),
            Some(parts.uri.path()),
            SystemTime::now(),
        );
        match self.audit.record(&record) {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, "an audit record was lost");
                !self.audit_required
            }
        }
    }
}

/// Attaches the holder proof (and the buffered body it covers), if any; the
/// verifier decides whether one is needed.
fn with_proof(
    request: AccessRequest,
    parts: &http::request::Parts,
    body: Option<&Bytes>,
) -> AccessRequest {
    match HttpProof::from_request(parts, body.cloned().unwrap_or_default()) {
        Some(proof) => request.holder_proof(proof),
        None => request,
    }
}

/// The HTTP status for a denial: 400 for a request that cannot be mapped,
/// 401 when the token cannot be accepted, 403 when it is valid but not enough.
pub fn status_for(reason: Reason) -> StatusCode {
    match reason {
        Reason::Allowed => StatusCode::OK,
        Reason::MalformedRequest => StatusCode::BAD_REQUEST,
        Reason::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        r if r.is_authentication_failure() => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    }
}

/// The `application/problem+json` (RFC 9457) answer for a denial.
pub fn problem_response(decision: &Decision, realm: &str) -> Response<Full<Bytes>> {
    let status = status_for(decision.reason);
    let code = decision.reason.code();
    let mut body = serde_json::json!({
        "type": format!("urn:agentcap:problem:{code}"),
        "title": status.canonical_reason().unwrap_or("denied"),
        "status": status.as_u16(),
        "reason": code,
        "detail": decision.client_message(),
        "block": decision.failing_block(),
        "revoked_block": decision.revoked_block,
    });
    if let Some(joint) = &decision.joint {
        // Who refused a joint request: the caller presented these tokens.
        body["joint"] = serde_json::to_value(joint).unwrap_or_default();
    }
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    let challenge = match decision.reason {
        Reason::MissingToken => Some(format!("Bearer realm=\"{}\"", quoted(realm))),
        r if status == StatusCode::UNAUTHORIZED => Some(format!(
            "Bearer realm=\"{}\", error=\"invalid_token\", error_description=\"{}\"",
            quoted(realm),
            r.code()
        )),
        Reason::PolicyDenied | Reason::JointDenied => Some(format!(
            "Bearer realm=\"{}\", error=\"insufficient_scope\"",
            quoted(realm)
        )),
        _ => None,
    };
    if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// A realm safe inside a quoted string.
fn quoted(realm: &str) -> String {
    realm
        .chars()
        .filter(|c| (c.is_ascii_graphic() && *c != '"' && *c != '\\') || *c == ' ')
        .collect()
}
