//! Signed revocation lists for agentcap tokens: issuer store, publication
//! (static files and HTTP), fetch and subscribe, and verifier-side state with
//! signed freshness.
//!
//! This crate depends on no other agentcap crate.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod clock;
mod delta;
mod encoding;
mod error;
mod fetch;
mod fsutil;
mod head;
mod id;
mod keys;
mod list;
mod server;
mod state;
mod store;

pub use crate::delta::ListDelta;
pub use crate::error::{
    AcceptError, CheckError, DecodeError, FetchError, KeyError, ListError, StoreError,
};
pub use crate::fetch::{DEFAULT_MAX_DELTA_STEPS, Fetcher, Subscriber};
pub use crate::head::ListHead;
pub use crate::id::{RevocationId, RevocationReason};
pub use crate::keys::{KeyId, ListSigningKey, ListVerifyingKey, TrustedListKeys};
pub use crate::list::{
    DEFAULT_MAX_LIST_BYTES, ListDigest, MAX_HEAD_BYTES, RevocationEntry, RevocationList,
};
pub use crate::server::{EVENT_DELTA, EVENT_HEAD, RevocationFeed, router};
pub use crate::state::{
    AcceptOutcome, Freshness, FreshnessPolicy, OnExpired, RevocationCheck, RevocationStatus,
    StateError, VerifierConfig, VerifierState,
};
pub use crate::store::{
    DELTAS_DIR, DELTAS_KEPT, HEAD_FILE, LIST_FILE, LIST_JSON_FILE, Publication, RevocationStore,
};
