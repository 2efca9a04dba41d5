//! # agentcap-gateway: agentcap in front of any HTTP or MCP server
//!
//! A reverse proxy that verifies and authorizes every request with an
//! [`agentcap_verifier::Verifier`] before the upstream sees it, so that a
//! service written in any language gets agentcap's delegation chains,
//! revocation and audit without linking a line of Rust.
//!
//! - **REST** (default): the path is the resource and the method the
//!   operation ([`agentcap_verifier::RestMapping`]).
//! - **MCP** ([`GatewayBuilder::mcp`]): the JSON-RPC body is read
//!   ([`agentcap_verifier::mcp`]): a tool call is authorized with its
//!   arguments, protocol traffic needs a valid token, lists come back
//!   filtered to what the token may use, a refusal is a JSON-RPC error, and
//!   a batch is authorized call by call.
//! - Allowed requests go upstream **without** the token (unless
//!   [`GatewayBuilder::forward_token`]) and with the proven identity in
//!   `x-agentcap-*` headers ([`identity`]), after any such headers the
//!   client sent are removed. Responses stream through, server-sent events
//!   included.
//! - `/_agentcap/authz` answers for proxies that delegate the decision
//!   (nginx `auth_request`, Envoy's HTTP `ext_authz`): 200 with the identity
//!   headers, or 401/403.
//! - `/.well-known/oauth-protected-resource` publishes RFC 9728 metadata,
//!   which every 401's `WWW-Authenticate` names, as MCP's authorization
//!   spec asks.
//!
//! Every decision goes to the configured audit sink.
//!
//! ```no_run
//! use agentcap::KeyPair;
//! use agentcap_gateway::Gateway;
//! use agentcap_verifier::Verifier;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let root = KeyPair::generate();
//! let verifier = Verifier::builder()
//!     .root_key(None, root.public())
//!     .without_revocation()
//!     .build()?;
//! let gateway = Gateway::builder("http://127.0.0.1:8000", verifier)
//!     .mcp(true)
//!     .build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! println!("gateway on http://{}/", listener.local_addr()?);
//! gateway.serve(listener).await?;
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::net::SocketAddr;
use std::sync::Arc;

use agentcap_verifier::{AuditSink, DEFAULT_MAX_BODY_BYTES, NoAudit, Verifier};
use bytes::Bytes;
use http::{Request, Response, Uri};
use hyper::body::Incoming;

mod decide;
pub mod identity;
mod mcp;
mod metadata;
mod rest;
mod sse;
mod upstream;

pub use metadata::{AUTHZ_PATH, METADATA_PATH};

/// The body of the gateway's answers: its own, or the upstream's streamed.
pub type GatewayBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// An error of a body, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Default largest upstream list answer buffered to filter it: 16 MiB.
pub const DEFAULT_MAX_LIST_BYTES: usize = 16 * 1024 * 1024;

/// How long a client may take to send a request's head.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A configuration the gateway cannot run with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// The upstream URL is not an absolute `http` or `https` URL.
    #[error("the upstream must be an absolute http:// or https:// URL without a query: {0}")]
    Upstream(String),
    /// The resource identifier is not a usable absolute URL.
    #[error("the resource identifier is not an absolute URL: {0}")]
    ResourceId(String),
    /// The MCP endpoint's path is not an absolute path.
    #[error("the MCP path must be an absolute path such as /mcp: {0}")]
    McpPath(String),
}

/// Configures a [`Gateway`].
pub struct GatewayBuilder {
    upstream: String,
    verifier: Verifier,
    mcp: bool,
    mcp_path: String,
    audit: Arc<dyn AuditSink>,
    audit_required: bool,
    forward_token: bool,
    max_body_bytes: usize,
    max_list_bytes: usize,
    resource_id: Option<String>,
    authorization_servers: Vec<String>,
}

/// The MCP endpoint's default path.
pub const DEFAULT_MCP_PATH: &str = "/mcp";

impl GatewayBuilder {
    /// Reads request bodies as MCP JSON-RPC messages (default: REST).
    pub fn mcp(mut self, mcp: bool) -> Self {
        self.mcp = mcp;
        self
    }

    /// The MCP endpoint's path (default: [`DEFAULT_MCP_PATH`]). In MCP
    /// mode it is the only path forwarded: the body authorizes a tool
    /// call, not the path, so no other upstream route may be reached with
    /// it (404).
    pub fn mcp_path(mut self, path: impl Into<String>) -> Self {
        self.mcp_path = path.into();
        self
    }

    /// Where decisions are recorded (default: nowhere).
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// Refuses (503) every request whose decision cannot be recorded.
    pub fn require_audit(mut self, required: bool) -> Self {
        self.audit_required = required;
        self
    }

    /// Passes the client's `Authorization` header upstream (default: it is
    /// removed; MCP's authorization spec forbids passing tokens on).
    pub fn forward_token(mut self, forward: bool) -> Self {
        self.forward_token = forward;
        self
    }

    /// The largest request body read to authorize it (default:
    /// [`DEFAULT_MAX_BODY_BYTES`]); larger ones get 413.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The largest upstream list answer buffered to filter it (default:
    /// [`DEFAULT_MAX_LIST_BYTES`]); a larger one is refused with 502.
    pub fn max_list_bytes(mut self, bytes: usize) -> Self {
        self.max_list_bytes = bytes;
        self
    }

    /// This protected resource's identifier (RFC 8707/9728), e.g.
    /// `https://tools.example/mcp`: the `resource` of the published
    /// metadata, and the base of the metadata URL named in challenges.
    /// Configure the verifier with the same identifier to refuse tokens
    /// made for other resources. Default: derived from each request's
    /// `Host` as `http://HOST`.
    pub fn resource_id(mut self, uri: impl Into<String>) -> Self {
        self.resource_id = Some(uri.into());
        self
    }

    /// An authorization server where clients obtain tokens, listed in the
    /// metadata's `authorization_servers` (repeatable).
    pub fn authorization_server(mut self, url: impl Into<String>) -> Self {
        self.authorization_servers.push(url.into());
        self
    }

    /// Checks the configuration and builds the gateway.
    pub fn build(self) -> Result<Gateway, GatewayError> {
        let upstream = upstream::Upstream::new(&self.upstream)?;
        if !self.mcp_path.starts_with('/') || self.mcp_path.parse::<Uri>().is_err() {
            return Err(GatewayError::McpPath(
                self.mcp_path.chars().take(200).collect(),
            ));
        }
        let resource = self
            .resource_id
            .as_deref()
            .map(metadata::ResourceId::parse)
            .transpose()?;
        Ok(Gateway {
            shared: Arc::new(Shared {
                upstream,
                decider: decide::Decider {
                    verifier: self.verifier,
                    audit: self.audit,
                    audit_required: self.audit_required,
                },
                mcp: self.mcp,
                mcp_path: self.mcp_path,
                forward_token: self.forward_token,
                max_body_bytes: self.max_body_bytes,
                max_list_bytes: self.max_list_bytes,
                resource,
                authorization_servers: self.authorization_servers,
            }),
        })
    }
}

/// The gateway: cheap to clone, shared between connections.
#[derive(Clone)]
pub struct Gateway {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) upstream: upstream::Upstream,
    pub(crate) decider: decide::Decider,
    pub(crate) mcp: bool,
    pub(crate) mcp_path: String,
    pub(crate) forward_token: bool,
    pub(crate) max_body_bytes: usize,
    pub(crate) max_list_bytes: usize,
    pub(crate) resource: Option<metadata::ResourceId>,
    pub(crate) authorization_servers: Vec<String>,
}

impl Gateway {
    /// Starts a configuration for `upstream` (e.g. `http://127.0.0.1:8000`,
    /// or with a path prefix that every forwarded path is appended to).
    pub fn builder(upstream: impl Into<String>, verifier: Verifier) -> GatewayBuilder {
        GatewayBuilder {
            upstream: upstream.into(),
            verifier,
            mcp: false,
            mcp_path: DEFAULT_MCP_PATH.to_owned(),
            audit: Arc::new(NoAudit),
            audit_required: false,
            forward_token: false,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_list_bytes: DEFAULT_MAX_LIST_BYTES,
            resource_id: None,
            authorization_servers: Vec::new(),
        }
    }

    /// The verifier deciding each request.
    pub fn verifier(&self) -> &Verifier {
        &self.shared.decider.verifier
    }

    /// Serves connections accepted on `listener` until an accept fails.
    /// Each connection is served on its own task (HTTP/1.1, keep-alive).
    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) if is_transient(&error) => {
                    tracing::warn!(%error, "accept failed; continuing");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let _ = stream.set_nodelay(true);
            let gateway = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, std::convert::Infallible>(gateway.handle(request, peer).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(io, service)
                    .await
                {
                    tracing::debug!(%error, "connection ended with an error");
                }
            });
        }
    }

    /// Answers one request from `peer`.
    pub async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<GatewayBody> {
        let shared = &self.shared;
        let path = request.uri().path();
        if metadata::is_metadata_path(path) {
            return metadata::respond(shared, &request);
        }
        if path == AUTHZ_PATH || path.starts_with(metadata::AUTHZ_PREFIX) {
            return rest::authorize_for_proxy(shared, request).await;
        }
        if shared.mcp && path == shared.mcp_path {
            mcp::proxy(shared, request, peer).await
        } else if shared.mcp {
            rest::plain_status(http::StatusCode::NOT_FOUND)
        } else {
            rest::proxy(shared, request, peer).await
        }
    }
}

/// Accept errors that pass (too many open files, a reset before accept).
fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    ) || error
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23)
}

/// An origin-form URI (`/path?query`) from text, for the original request
/// the authorization endpoint is asked about; `None` for anything else.
pub(crate) fn origin_form(path_and_query: &str) -> Option<Uri> {
    path_and_query
        .parse::<Uri>()
        .ok()
        .filter(|u| u.scheme().is_none() && u.path().starts_with('/'))
}
