//! Typed errors of this crate.

use std::path::PathBuf;
use std::time::Duration;

use crate::id::RevocationId;
use crate::keys::KeyId;

/// Why signed bytes (a list, delta or head) were refused before or while
/// being decoded.
///
/// Every variant leaves any state that was offered the bytes unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is larger than the configured maximum; nothing was read.
    #[error("input of {len} bytes exceeds the maximum of {max} bytes")]
    Oversized {
        /// Length of the input.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
    /// The input ends before the length its header announces.
    #[error("input is truncated: {len} bytes, the header announces {expected}")]
    Truncated {
        /// Length of the input.
        len: usize,
        /// Length the header announces (or the minimum header length).
        expected: usize,
    },
    /// The input continues after the signature.
    #[error("{extra} unexpected bytes after the signature")]
    TrailingBytes {
        /// Number of bytes after the end of the signed object.
        extra: usize,
    },
    /// The input does not start with the agentcap revocation magic bytes.
    #[error("not an agentcap revocation object (bad magic bytes)")]
    BadMagic,
    /// The format version is not one this crate understands.
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),
    /// The object is of another kind than expected (e.g. a head where a list
    /// was expected).
    #[error("expected a {expected}, found object kind {found}")]
    WrongKind {
        /// Kind that was expected.
        expected: &'static str,
        /// Kind byte that was found.
        found: u8,
    },
    /// The signing key id is not among the trusted list keys.
    #[error("signed by unknown list key {0}")]
    UnknownKey(KeyId),
    /// The signature does not verify: the bytes were forged or altered.
    #[error("signature does not verify (forged or altered input)")]
    BadSignature,
    /// The signature verified but the signed body is not well formed. This
    /// means the issuer produced a broken object.
    #[error("signed body is malformed: {0}")]
    Malformed(&'static str),
}

/// Why a list, delta or head was not accepted by a
/// [`RevocationState`](crate::RevocationState).
///
/// In every case the previous state is kept, in memory and on disk.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// The bytes were refused before acceptance rules were evaluated
    /// (oversized, truncated, forged, unknown key, ...).
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The object was issued by another issuer than the one this state follows.
    #[error("issuer {found:?} is not the expected issuer {expected:?}")]
    WrongIssuer {
        /// Issuer this state follows.
        expected: String,
        /// Issuer named in the object.
        found: String,
    },
    /// The object's sequence number is lower than the accepted one.
    #[error("rollback: offered sequence {offered} is older than accepted sequence {current}")]
    Rollback {
        /// Accepted sequence number.
        current: u64,
        /// Sequence number offered.
        offered: u64,
    },
    /// The object claims the accepted sequence number but another content.
    #[error("equivocation: sequence {sequence} was already accepted with another digest")]
    Equivocation {
        /// The sequence number with two different contents.
        sequence: u64,
    },
    /// A new list drops an entry whose token has not expired yet.
    #[error("new list drops entry {id} whose token is still live")]
    DropsLiveEntry {
        /// The dropped entry.
        id: RevocationId,
    },
    /// A delta does not start from the accepted sequence number.
    #[error("delta starts at sequence {from}, but the accepted sequence is {current:?}")]
    DeltaNotApplicable {
        /// Accepted sequence number, if any list was accepted.
        current: Option<u64>,
        /// Sequence the delta starts from.
        from: u64,
    },
    /// A delta starts from the accepted sequence number but from another
    /// digest: its chain is broken.
    #[error("delta from sequence {from} is chained to another list digest")]
    DeltaChainBroken {
        /// Sequence the delta starts from.
        from: u64,
    },
    /// Applying a delta did not give the list digest it announces.
    #[error("applying the delta to sequence {to} does not give the announced digest")]
    DeltaResultMismatch {
        /// Sequence the delta leads to.
        to: u64,
    },
    /// Persisting the new state failed; the previous state is kept.
    #[error("could not persist the verifier state to {path}: {source}")]
    Persist {
        /// State file.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The update was interrupted (its task panicked or the runtime shut
    /// down); the previous state is kept.
    #[error("the update was interrupted; the previous state is kept")]
    Interrupted,
}

/// Why a revocation check could not give an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckError {
    /// A signed head announced a newer list than the one held, and that
    /// list has not been accepted (withheld, or not fetched yet); the
    /// policy fails closed. The held list may miss revocations.
    #[error(
        "revocation list sequence {sequence} is stale: a signed head announced sequence {available}, which was not received"
    )]
    ListSuperseded {
        /// Accepted sequence number.
        sequence: u64,
        /// Sequence the newest signed head announced.
        available: u64,
    },
    /// No list has been accepted yet and the policy fails closed.
    #[error("no revocation list has been accepted yet")]
    NoList,
    /// The list is past next-update plus the grace period and the policy
    /// fails closed.
    #[error(
        "revocation list sequence {sequence} expired {expired_for:?} ago (past next-update and grace)"
    )]
    ListExpired {
        /// Accepted sequence number.
        sequence: u64,
        /// Time since next-update plus grace.
        expired_for: Duration,
    },
}

/// Errors of the issuer-side [`RevocationStore`](crate::RevocationStore).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// File or folder concerned.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// The store's state file is damaged (checksum or structure).
    #[error("store state {path} is corrupt: {reason}")]
    Corrupt {
        /// State file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
    /// The store belongs to another issuer than the one it was opened for.
    #[error("store belongs to issuer {found:?}, not {expected:?}")]
    WrongIssuer {
        /// Issuer asked for.
        expected: String,
        /// Issuer recorded in the store.
        found: String,
    },
    /// The issuer name is empty or longer than 255 bytes.
    #[error("issuer name must be 1 to 255 bytes long")]
    InvalidIssuer,
    /// A block index is outside the token's list of revocation ids.
    #[error("block index {index} is out of range for a token of {blocks} blocks")]
    BlockIndexOutOfRange {
        /// Requested index.
        index: usize,
        /// Number of blocks of the token.
        blocks: usize,
    },
    /// A validity period is zero or too large.
    #[error("validity must be at least one second and at most 100 years")]
    InvalidValidity,
    /// Nothing has been published yet.
    #[error("nothing has been published yet")]
    NothingPublished,
    /// Building or signing a list, delta or head failed.
    #[error(transparent)]
    List(#[from] ListError),
}

/// Errors of the [`Fetcher`](crate::Fetcher) and
/// [`Subscriber`](crate::Subscriber).
#[cfg(feature = "client")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request failed (connection refused, reset, ...).
    #[error("request to {url} failed: {source}")]
    Http {
        /// URL requested.
        url: String,
        /// Underlying client error.
        source: reqwest::Error,
    },
    /// The server answered with an unexpected status.
    #[error("{url} answered status {status}")]
    Status {
        /// URL requested.
        url: String,
        /// HTTP status code.
        status: u16,
    },
    /// Connecting, or the whole request and response, took longer than the
    /// configured timeout (see [`FetcherBuilder`](crate::FetcherBuilder)).
    #[error("request to {url} timed out")]
    Timeout {
        /// URL requested.
        url: String,
    },
    /// The server's head names a newer list than the one it let us fetch
    /// (a lagging mirror, or a relay withholding the list). The state
    /// records the newer sequence and fails closed until it gets that list.
    #[error(
        "the head announces sequence {available}, but only sequence {current:?} could be fetched"
    )]
    StillBehind {
        /// Sequence held after the attempt, if any.
        current: Option<u64>,
        /// Sequence the head announces.
        available: u64,
    },
    /// The response body is larger than allowed.
    #[error("response from {url} exceeds {max} bytes")]
    TooLarge {
        /// URL requested.
        url: String,
        /// Maximum accepted size.
        max: usize,
    },
    /// The response was refused by the verifier state.
    #[error("response from {url} was refused: {source}")]
    Refused {
        /// URL requested.
        url: String,
        /// Why it was refused.
        source: AcceptError,
    },
    /// The base URL is not usable.
    #[error("invalid base URL: {0}")]
    InvalidUrl(String),
    /// The event stream sent something that is not a valid event.
    #[error("malformed event from the push stream")]
    MalformedEvent,
    /// The event stream sent an event or line longer than allowed; the
    /// connection was dropped.
    #[error("push stream {url} sent an event longer than {max} bytes")]
    EventTooLarge {
        /// Push stream URL.
        url: String,
        /// The configured bound.
        max: usize,
    },
    /// A [`FetcherBuilder`](crate::FetcherBuilder) setting nothing could
    /// work with (a zero timeout or size).
    #[error("unusable fetcher configuration: {0}")]
    InvalidConfig(&'static str),
}

/// Why a list, delta or head could not be built or signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListError {
    /// The issuer name is empty or longer than 255 bytes.
    #[error("issuer name must be 1 to 255 bytes long")]
    InvalidIssuer,
    /// next-update is not after this-update.
    #[error("next-update must be after this-update")]
    NextUpdateNotAfterThisUpdate,
    /// A time is after the year 9999.
    #[error("time beyond the year 9999")]
    TimeOutOfRange,
    /// An entry was revoked after the list's this-update.
    #[error("entry {id} was revoked after this-update")]
    RevokedAfterThisUpdate {
        /// The entry.
        id: RevocationId,
    },
    /// The same id appears twice.
    #[error("entry {id} appears twice")]
    DuplicateEntry {
        /// The entry.
        id: RevocationId,
    },
    /// The delta's target sequence is not after its source sequence, or the
    /// two lists are of different issuers.
    #[error("the two lists do not follow each other (issuer or sequence)")]
    NotSuccessive,
    /// The newer list cannot be expressed as a delta: it drops an entry that
    /// expires after one it keeps.
    #[error("the newer list drops entries out of expiry order; publish the full list")]
    NotExpressibleAsDelta,
    /// The encoding would exceed the format's size limits.
    #[error("too many entries to encode")]
    TooLarge,
    /// The key given to sign with is not an Ed25519 private key.
    #[error("the list signing key is not an Ed25519 private key")]
    NotASigningKey,
}
