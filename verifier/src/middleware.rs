//! Tower middleware over `http` 1 types: verify the bearer token of every
//! request, pass the authorized delegation to the handler, or answer 401/403
//! with an `application/problem+json` body.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::SystemTime;

use agentcap::Chain;
use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::{Either, Full};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::audit::{AuditRecord, AuditSink, NoAudit};
use crate::decision::{Decision, Reason};
use crate::request::{AccessRequest, RequestFacts, RestMapping, SharedRequestFacts};
use crate::verifier::Verifier;

/// The header carrying the holder's proof of possession
/// ([`agentcap::HolderProof`]).
pub const HOLDER_PROOF_HEADER: &str = "agentcap-proof";

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
}

/// Configuration of the middleware; cheap to clone.
#[derive(Clone)]
pub struct AgentcapLayer {
    config: Arc<Config>,
}

struct Config {
    verifier: Verifier,
    extractor: Arc<dyn TokenExtractor>,
    facts: SharedRequestFacts,
    audit: Arc<dyn AuditSink>,
    realm: String,
}

impl AgentcapLayer {
    /// The middleware for `verifier`: bearer tokens, the REST mapping of
    /// requests to facts, no audit sink (add one with [`AgentcapLayer::audit`]).
    pub fn new(verifier: Verifier) -> Self {
        AgentcapLayer {
            config: Arc::new(Config {
                verifier,
                extractor: Arc::new(BearerToken),
                facts: Arc::new(RestMapping),
                audit: Arc::new(NoAudit),
                realm: "agentcap".to_owned(),
            }),
        }
    }

    fn with(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config {
            verifier: self.config.verifier.clone(),
            extractor: Arc::clone(&self.config.extractor),
            facts: Arc::clone(&self.config.facts),
            audit: Arc::clone(&self.config.audit),
            realm: self.config.realm.clone(),
        };
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

    /// The realm named in `WWW-Authenticate` (default: `agentcap`).
    pub fn realm(self, realm: impl Into<String>) -> Self {
        let realm = realm.into();
        self.with(|c| c.realm = realm)
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Agentcap<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<AgentcapBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        match self.config.decide(&parts) {
            Ok(delegation) => {
                parts.extensions.insert(delegation);
                ResponseFuture::allowed(self.inner.call(Request::from_parts(parts, body)))
            }
            Err(rejection) => ResponseFuture::rejected(rejection),
        }
    }
}

impl Config {
    /// Verifies the request; the delegation, or the rejection to send.
    #[allow(clippy::result_large_err)] // built once per request, returned at once
    fn decide(
        &self,
        parts: &http::request::Parts,
    ) -> Result<AuthorizedDelegation, Response<Full<Bytes>>> {
        let method = parts.method.as_str();
        let path = parts.uri.path();
        let request = match self.facts.access_request(parts) {
            Ok(request) => request,
            Err(detail) => {
                let mut decision = Decision::new(Reason::MalformedRequest, path, method);
                decision.detail = Some(detail);
                return Err(self.reject(&decision, method, path));
            }
        };
        let request = match parts.headers.get(HOLDER_PROOF_HEADER).map(|v| v.to_str()) {
            Some(Ok(proof)) => request.holder_proof(proof),
            // An unreadable proof is no proof; the verifier decides if one is needed.
            Some(Err(_)) | None => request,
        };
        let decision = match self.extractor.token(parts) {
            Ok(Some(token)) => self.verifier.verify(&token, &request),
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
            return Err(self.reject(&decision, method, path));
        }
        self.record(&decision, method, path);
        match decision.chain {
            Some(chain) => Ok(AuthorizedDelegation {
                chain,
                request,
                matched_policy: decision.matched_policy,
            }),
            // An allowed decision always carries its chain; refuse rather than guess.
            None => Err(self.reject(
                &Decision::new(Reason::Malformed, path, method),
                method,
                path,
            )),
        }
    }

    fn reject(&self, decision: &Decision, method: &str, path: &str) -> Response<Full<Bytes>> {
        self.record(decision, method, path);
        problem_response(decision, &self.realm)
    }

    fn record(&self, decision: &Decision, method: &str, path: &str) {
        if self.audit.enabled() {
            let record = AuditRecord::new(decision, Some(method), Some(path), SystemTime::now());
            self.audit.record(&record);
        }
    }
}

/// The HTTP status for a denial: 400 for a request that cannot be mapped,
/// 401 when the token cannot be accepted, 403 when it is valid but not enough.
pub fn status_for(reason: Reason) -> StatusCode {
    match reason {
        Reason::Allowed => StatusCode::OK,
        Reason::MalformedRequest => StatusCode::BAD_REQUEST,
        r if r.is_authentication_failure() => StatusCode::UNAUTHORIZED,
        _ => StatusCode::FORBIDDEN,
    }
}

/// The `application/problem+json` (RFC 9457) answer for a denial.
pub fn problem_response(decision: &Decision, realm: &str) -> Response<Full<Bytes>> {
    let status = status_for(decision.reason);
    let code = decision.reason.code();
    let body = serde_json::json!({
        "type": format!("urn:agentcap:problem:{code}"),
        "title": status.canonical_reason().unwrap_or("denied"),
        "status": status.as_u16(),
        "reason": code,
        "detail": decision.explain(),
        "revoked_block": decision.revoked_block,
    });
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
        Reason::PolicyDenied => Some(format!(
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

pin_project! {
    /// The middleware's response future.
    pub struct ResponseFuture<F, B> {
        #[pin]
        state: State<F, B>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<F, B> {
        Allowed { #[pin] future: F },
        Rejected { response: Option<Response<Full<Bytes>>>, _body: PhantomData<B> },
    }
}

impl<F, B> ResponseFuture<F, B> {
    fn allowed(future: F) -> Self {
        ResponseFuture {
            state: State::Allowed { future },
        }
    }

    fn rejected(response: Response<Full<Bytes>>) -> Self {
        ResponseFuture {
            state: State::Rejected {
                response: Some(response),
                _body: PhantomData,
            },
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<AgentcapBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProjection::Allowed { future } => future
                .poll(cx)
                .map(|result| result.map(|response| response.map(Either::Right))),
            StateProjection::Rejected { response, .. } => {
                let response = response.take().unwrap_or_else(|| {
                    // Polled again after completion: a caller bug, answered without panicking.
                    let mut r = Response::new(Full::new(Bytes::new()));
                    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    r
                });
                Poll::Ready(Ok(response.map(Either::Left)))
            }
        }
    }
}
