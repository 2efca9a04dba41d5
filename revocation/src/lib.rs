//! Signed revocation lists for agentcap tokens: issuer store, publication
//! (static files and HTTP), fetch and subscribe, and verifier-side state with
//! signed freshness.
//!
//! Lists are signed with an [`agentcap::KeyPair`] and checked against
//! [`agentcap::PublicKey`]s: the same keys, key files and text forms
//! (`ed25519/<hex>`) as tokens. Local state files use one checksummed
//! envelope (see `docs/revocation-format.md`), written through
//! [`agentcap::files`]; times follow [`agentcap::unix_time`].
//!
//! # The model
//!
//! Every block of a Biscuit token has a revocation id (its signature;
//! biscuit-auth's `Biscuit::revocation_identifiers()`). Revoking a block's id
//! kills that token and every token derived from it — their id lists all
//! contain it — and nothing upstream or beside it. Revoking a sub-agent's hop
//! therefore cuts off that sub-agent and its descendants without touching the
//! user's own session.
//!
//! A revocation authority keeps the revoked ids in a [`RevocationStore`] and
//! publishes three kinds of signed objects:
//!
//! - a [`RevocationList`]: issuer, strictly increasing sequence number,
//!   this-update, next-update, and the entries (revoked id, revoked-at, the
//!   revoked token's expiry, optional [`RevocationReason`]);
//! - a [`ListDelta`] from list N to list N+1: the entries added, chained to
//!   list N's [`ListDigest`]; entries dropped are implied by expiry;
//! - a [`ListHead`]: sequence, digest of the current list and next-update,
//!   about 170 bytes, re-signed on a schedule so staying fresh never requires
//!   downloading the list again.
//!
//! All three use one compact binary envelope (specified in
//! `docs/revocation-format.md`): a fixed header with the signing [`KeyId`],
//! the body, and an Ed25519 signature over a per-kind domain-separation
//! prefix and the exact bytes. The signature is verified before any of the
//! body is parsed; oversized, truncated and trailing input and unknown
//! versions are refused with their own [`DecodeError`].
//!
//! Entries store a 16-byte digest of the block id ([`RevocationId`]) rather
//! than the 64-byte signature and minute-granularity times, so a
//! million-entry list is about 19 MB and loads and verifies in a fraction of
//! a second; lookups are a binary search.
//!
//! # The verifier side
//!
//! A [`RevocationState`] holds the newest accepted list and refuses, keeping
//! its previous state: a bad signature, a key that is not in its
//! [`TrustedListKeys`] (several keys can be trusted, so the list key can
//! rotate), another issuer, a lower sequence (rollback), the same sequence
//! with another digest (equivocation), a delta not chained to the held list
//! or not giving the digest it announces, and any new list or delta that
//! drops an entry whose token has not expired. Opened with
//! [`RevocationState::open`], it persists every accepted change atomically and
//! reloads it on start, so a restart cannot be rolled back.
//!
//! Freshness follows the signed next-update (of the list, or of a newer head
//! for the same list): [`Freshness::Fresh`], then [`Freshness::Stale`] for a
//! configurable grace, then [`Freshness::Expired`]. [`RevocationState::check`]
//! always reports a revoked block (with its index); otherwise, on an expired
//! list it fails closed by default, or answers and logs a warning when the
//! [`FreshnessPolicy`] says [`OnExpired::FailOpen`]. Sequence and age are
//! exposed for policies. A signed head naming a newer list than the one
//! held makes the state [`Freshness::Superseded`]: checks fail closed at
//! once, until that list is accepted.
//!
//! # Distribution
//!
//! [`RevocationStore::export_to`] writes `head.bin`, `list.bin`,
//! `list.json` and `deltas/<N>.bin` to a folder any web server or CDN can
//! serve; relays need no trust. [`router`] serves the same layout over HTTP
//! (axum) from a [`RevocationFeed`], with ETags, `Cache-Control`, a
//! `delta?since=N` chain and a server-sent-events stream that pushes each
//! new delta and head. A [`Fetcher`] polls either (head first; deltas when
//! close, the full list when far behind); a [`Subscriber`] follows the push
//! stream. Both survive bad responses and server restarts; every request
//! has connect and total timeouts ([`FetcherBuilder`]) and every body a size
//! limit enforced while it streams in.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use agentcap_revocation::{
//!     RevocationState, RevocationStateConfig, RevocationStatus, RevocationStore,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let issuer = "https://issuer.example";
//!
//! // Issuer side: revoke block 1 of a token (its ids would come from
//! // `Biscuit::revocation_identifiers()`), publish, export static files.
//! let key = agentcap::KeyPair::generate();
//! let store = RevocationStore::open(dir.path().join("store"), issuer)?;
//! let token_ids: Vec<Vec<u8>> = vec![vec![1; 64], vec![2; 64], vec![3; 64]];
//! let token_expires = SystemTime::now() + Duration::from_secs(3600);
//! store.revoke_token_block(&token_ids, 1, token_expires, None)?;
//! let publication = store.publish(&key, Duration::from_secs(300))?;
//! store.export_to(dir.path().join("public"))?;
//!
//! // Verifier side: trust the list key, accept the signed list, check.
//! let state = RevocationState::open(
//!     dir.path().join("verifier.state"),
//!     RevocationStateConfig::new(issuer, key.public()),
//! )?;
//! state.accept_list(&publication.list)?;
//! let check = state.check(&token_ids, SystemTime::now())?;
//! assert!(matches!(check.status, RevocationStatus::Revoked { block_index: 1, .. }));
//! assert_eq!(check.sequence, Some(1));
//!
//! // The parent token (block 0 alone) is not revoked.
//! assert!(!state.check(&token_ids[..1], SystemTime::now())?.is_revoked());
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod delta;
mod encoding;
mod error;
#[cfg(feature = "client")]
mod fetch;
mod head;
mod id;
mod keys;
mod list;
#[cfg(feature = "server")]
mod server;
mod state;
mod state_file;
mod store;
#[cfg(feature = "client")]
mod subscribe;

pub use crate::delta::ListDelta;
#[cfg(feature = "client")]
pub use crate::error::FetchError;
pub use crate::error::{AcceptError, CheckError, DecodeError, ListError, StoreError};
#[cfg(feature = "client")]
pub use crate::fetch::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_FETCH_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_DELTA_STEPS,
    DEFAULT_MAX_EVENT_BYTES, Fetcher, FetcherBuilder, MIN_POLL_INTERVAL,
};
pub use crate::head::ListHead;
pub use crate::id::{RevocationId, RevocationReason};
pub use crate::keys::{KeyId, TrustedListKeys};
pub use crate::list::{
    DEFAULT_MAX_LIST_BYTES, ListDigest, MAX_HEAD_BYTES, RevocationEntry, RevocationList,
};
#[cfg(feature = "server")]
pub use crate::server::{RevocationFeed, router};
pub use crate::state::{
    AcceptOutcome, Freshness, FreshnessPolicy, OnExpired, RevocationCheck, RevocationState,
    RevocationStateConfig, RevocationStatus, StateError,
};
pub use crate::store::{
    DELTAS_DIR, DELTAS_KEPT, EVENT_DELTA, EVENT_HEAD, HEAD_FILE, LIST_FILE, LIST_JSON_FILE,
    Publication, RevocationStore,
};
#[cfg(feature = "client")]
pub use crate::subscribe::Subscriber;
