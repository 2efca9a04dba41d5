//! # agentcap: delegated, attenuable credentials for AI agents
//!
//! A user delegates rights to an agent through an issuer; the agent
//! delegates narrower slices of them to sub-agents, hop after hop, offline;
//! a service verifies the whole chain against the issuer's root key. Tokens
//! are standard [Biscuit](https://www.biscuitsec.org) v3 tokens: any Biscuit
//! implementation can check their signatures.
//!
//! This crate is what agent runtimes link:
//!
//! - [`KeyPair`] and [`PublicKey`]: Ed25519 keys for issuers and agents, in
//!   biscuit-cli's text forms (`ed25519/<hex>`, `ed25519-private/<hex>`) and
//!   PEM; key files are written 0600 and never silently overwritten.
//! - [`Grant`]: what a user delegates to an agent (rights, caps, lifetime,
//!   depth, intent), minted into a [`Token`] signed by the root key.
//! - [`Hop`] and [`Token::delegate`]: a delegation to a sub-agent, with a
//!   subset of the rights, a shorter life, optionally a lower depth limit and
//!   tighter caps; signed by the delegating agent's key when it has one.
//! - [`Grant::audience`], [`Hop::audience`]: the resources (RFC 8707
//!   resource indicators, in the form [`canonical_resource`] gives) a token
//!   is for; a verifier with its own resource identifier refuses a token
//!   made for another ([`Chain::check_audience`]).
//! - [`Token::narrow`]: the holder restricting its token to one resource and
//!   operation for a few seconds, before a tool call.
//! - [`Token::seal`], [`Token::attest`].
//! - [`inspect`] and [`Token::chain`]: the token as a typed [`Chain`]: who
//!   delegated to whom, with what, signed by which key, verified or not.
//! - [`Token::check`]: would this token allow a [`Request`]? One checking
//!   implementation serves it and the verifier crate (which adds revocation,
//!   holder proofs and audit): [`Request::validate`], [`Chain::check_time`],
//!   and [`Token::authorize`] against [`ServicePolicies`] within
//!   [`EvaluationLimits`], reporting [`FailedCheck`]s.
//! - [`display::escape`]: how token content is shown to a person, so that
//!   names cannot forge lines or drive the terminal.
//! - [`files`]: durable files (atomic replace, private create-new,
//!   bounded reads), used for keys and for every state file.
//! - [`unix_time`]: unix seconds, `SystemTime` and RFC 3339, with one
//!   saturating range (1970 to year 9999).
//! - [`budget`]: what a token may ask of the Datalog engine, checked before
//!   any Datalog runs.
//! - [`HolderProof`]: the holder of a key-bound token signs each HTTP
//!   request (RFC 9421 message signature over method, authority, path,
//!   query, body digest and token, with a nonce), so that a service
//!   requiring proofs refuses a stolen token and a replayed or altered call.
//!
//! Authority only shrinks along the chain: every block's checks must pass,
//! and no later block's facts are trusted as authority. The vocabulary of
//! facts and checks lives in [`vocabulary`] and `docs/token-schema.md`. No
//! value from a caller is ever formatted into Datalog source.
//!
//! ## Example: user → agent → sub-agent → sub-sub-agent
//!
//! ```
//! use std::time::Duration;
//! use agentcap::{Error, Grant, Hop, KeyPair, Request};
//!
//! let root = KeyPair::generate();                  // the issuer's key
//! let assistant = KeyPair::generate();             // agents' own keys
//! let search = KeyPair::generate();
//!
//! // alice delegates to her travel assistant, bound to its key.
//! let token = Grant::new("alice", "travel-assistant")
//!     .agent_key(assistant.public())
//!     .right("flights/*", "read")
//!     .right("payments/charge", "write")
//!     .cap("payments/charge:write", "amount", 500)
//!     .ttl(Duration::from_secs(3600))
//!     .intent("Book me a flight to Lisbon under 500 EUR")
//!     .mint(&root)?;
//!
//! // The assistant hands flight search a read-only slice, signing the hop.
//! let hop = Hop::to("flight-search")
//!     .agent_key(search.public())
//!     .right("flights/*", "read")
//!     .ttl(Duration::from_secs(600));
//! let for_search = token.delegate(&hop, Some(&assistant))?;
//!
//! // Flight search delegates one route further down, offline.
//! let hop = Hop::to("lisbon-scraper").right("flights/lis/*", "read");
//! let for_scraper = for_search.delegate(&hop, Some(&search))?;
//!
//! // The chain names everyone, with each hop's signer verified.
//! let chain = for_scraper.chain();
//! assert_eq!(chain.agents(), ["travel-assistant", "flight-search", "lisbon-scraper"]);
//!
//! // Inside the last hop's scope: allowed. Outside: denied.
//! let root_key = root.public();
//! for_scraper.check(&root_key, &Request::new("flights/lis/2026-12-01", "read"))?;
//! let denied = for_scraper.check(&root_key, &Request::new("payments/charge", "write"));
//! assert!(matches!(denied, Err(Error::NotPermitted { .. })));
//! # Ok::<(), agentcap::Error>(())
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The biscuit-auth this crate is built with, for the escape hatches that
/// hand out its types ([`Token::biscuit`], [`PublicKey::to_biscuit`]): use
/// it rather than a separately pinned biscuit-auth.
pub use biscuit_auth;

mod audience;
pub mod budget;
mod chain;
mod check;
pub mod display;
mod error;
pub mod files;
mod keys;
mod policy;
mod proof;
mod rights;
mod token;
pub mod unix_time;
pub mod vocabulary;

pub use audience::{MAX_AUDIENCES, MAX_RESOURCE_ID_BYTES, canonical_resource};
pub use chain::{BlockKind, Chain, ChainBlock, CheckRole, Delegation, Signer};
pub use check::{AuthorizationError, FactValue, FailedCheck, LOCAL_CHECK_LIMITS, Request};
pub use error::Error;
pub use keys::{KeyFormat, KeyPair, Overwrite, PublicKey};
pub use policy::{EvaluationLimits, PolicyError, ServicePolicies};
pub use proof::{
    COVERED_COMPONENTS, HolderProof, JOINT_COMPONENT, MAX_NONCE_CHARS, PROOF_LABEL, PROOF_LIFETIME,
    ProofHeaders, ProofRequest, VerifiedProof, content_digest,
};
pub use rights::{Cap, MAX_VALUE_BYTES, ResourcePattern, Right};
pub use token::{Grant, Hop, MAX_TEXT_BYTES, MAX_TOKEN_BYTES, Token, decode_base64, inspect};
