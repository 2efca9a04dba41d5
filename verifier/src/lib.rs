//! # agentcap-verifier: verify the whole chain, authorize, explain, audit
//!
//! A service that receives agentcap tokens uses this crate to decide, for
//! each request, whether the agent presenting the token may do what it
//! asks, and to record who acted for whom.
//!
//! A [`Verifier`] holds the trusted root keys (by root key id: several, for
//! rotation and for other domains), a revocation state from
//! [`agentcap_revocation`] with its freshness policy, the service's Datalog
//! policies, run limits that hold on a loaded host, the tolerated clock skew,
//! size and depth limits, and a bounded cache of verified tokens.
//! [`Verifier::verify`] answers with a [`Decision`]: allowed or denied, a
//! stable [`Reason`] code, the chain, and [`Decision::explain`] in plain
//! words. The [`VerifierBuilder`] refuses unusable configurations (no root
//! key; no revocation list unless explicitly opted out).
//!
//! A service that knows its own resource identifier
//! ([`VerifierBuilder::resource_id`], an RFC 8707 resource indicator)
//! refuses tokens whose blocks name other audiences
//! ([`Reason::AudienceMismatch`]). An [`AccessRequest`] can carry a call's
//! arguments ([`AccessRequest::argument`], stated as `argument(name,
//! value)`), or ask for a valid token and nothing more
//! ([`AccessRequest::token_only`], for protocol traffic that acts on
//! nothing).
//!
//! [`AgentcapLayer`] is a tower layer over `http` 1 types: it reads the
//! bearer token, maps the request to facts ([`RequestFacts`], with a REST
//! default), verifies, and either passes an [`AuthorizedDelegation`] to the
//! handler in the request extensions or answers 401/403 with an
//! `application/problem+json` body. Every decision goes to an
//! [`AuditSink`]; [`JsonLinesAuditSink`] appends JSON lines.
//!
//! [`mcp`] reads MCP's JSON-RPC messages: what each asks of the token, and
//! refusals as MCP clients expect them ([`mcp::McpMapping`],
//! [`mcp::McpRejection`]).
//!
//! With the `axum` feature: the [`Authorized`] extractor (the handler's [`AuthorizedDelegation`]), an example
//! [`tool_server`] and an example [`mcp_tool_server`].
//!
//! ```
//! use std::time::Duration;
//! use agentcap::{Grant, Hop, KeyPair};
//! use agentcap_verifier::{AccessRequest, Reason, Verifier};
//!
//! let root = KeyPair::generate();
//! let token = Grant::new("alice", "travel-assistant")
//!     .right("flights/*", "read")
//!     .right("payments/charge", "write")
//!     .mint(&root)?;
//! let token = token
//!     .delegate(&Hop::to("flight-search").right("flights/*", "read"), None)?
//!     .to_base64()?;
//!
//! let verifier = Verifier::builder()
//!     .root_key(None, root.public())
//!     .without_revocation()
//!     .policy(r#"allow if user($u), $u != "mallory";"#)
//!     .build()?;
//!
//! let decision = verifier.verify(&token, &AccessRequest::new("flights/lis/x", "read"));
//! assert!(decision.allowed());
//!
//! let decision = verifier.verify(&token, &AccessRequest::new("payments/charge", "write"));
//! assert_eq!(decision.reason, Reason::PolicyDenied);
//! assert_eq!(
//!     decision.explain(),
//!     "denied: hop 1 (travel-assistant → flight-search) allows only flights/*:read; \
//!      the request was payments/charge:write"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod audit;
#[cfg(feature = "axum")]
mod axum_support;
/// The examples of `docs/middleware.md`, compiled with the crate's doctests
/// so that the guide cannot drift from the API.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../../docs/middleware.md")]
pub struct MiddlewareGuide;
/// The Rust examples of `docs/mcp.md`, compiled with the crate's doctests.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../../docs/mcp.md")]
pub struct McpGuide;
/// The Rust example of `docs/joint.md`, compiled with the crate's doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/joint.md")]
pub struct JointGuide;
mod builder;
mod cache;
mod decision;
pub mod joint;
pub mod mcp;
#[cfg(feature = "axum")]
pub mod mcp_tool_server;
mod middleware;
mod replay;
mod request;
#[cfg(feature = "axum")]
pub mod tool_server;
mod verifier;

pub use agentcap::{FactValue, FailedCheck};
pub use audit::{AuditError, AuditPrincipal, AuditRecord, AuditSink, JsonLinesAuditSink, NoAudit};
#[cfg(feature = "axum")]
pub use axum_support::Authorized;
pub use builder::{
    ConfigError, DEFAULT_CACHE_BYTES, DEFAULT_CLOCK_SKEW, DEFAULT_LIMITS, DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_TOKEN_BYTES, MAX_ARGUMENT_BYTES, MAX_ARGUMENT_NAME_BYTES, MAX_CLOCK_SKEW,
    MAX_REQUEST_FACTS, VerifierBuilder,
};
pub use decision::{Decision, Reason, RevocationInfo};
pub use joint::{JOINT_HEADER, JointOutcome, JointPrincipal, MAX_JOINT_TOKENS, joint_tokens};
pub use middleware::{
    Agentcap, AgentcapBody, AgentcapLayer, AgentcapRequestBody, AuthorizedDelegation, BearerToken,
    DEFAULT_MAX_BODY_BYTES, ProblemJson, Rejection, ResponseFuture, SIGNATURE_INPUT_HEADER,
    TokenExtractor, UnreadableToken, problem_response, status_for,
};
pub use replay::{DEFAULT_REPLAY_CAPACITY, ReplayCache, ReplayError};
pub use request::{AccessRequest, HttpProof, RequestFacts, RestMapping};
pub use verifier::Verifier;
