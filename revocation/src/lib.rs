//! Signed revocation lists for agentcap tokens: issuer store, publication
//! (static files and HTTP), fetch and subscribe, and verifier-side state with
//! signed freshness.
//!
//! This crate depends on no other agentcap crate.
