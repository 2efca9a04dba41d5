//! The one error type of the crate.

use std::path::PathBuf;
use std::time::SystemTime;

use crate::check::{FailedCheck, failed_checks};
use crate::rights::Right;

/// Everything that can go wrong when building, reading or checking a token.
///
/// Messages never contain key material. Values supplied by callers (names,
/// resources) appear escaped (`{:?}`), never raw.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name (user, tenant, agent, intent, cap name, ...) is empty or too long.
    #[error("invalid {what}: {reason}")]
    InvalidName {
        /// Which field was invalid.
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A resource or resource pattern is not well formed.
    #[error("invalid resource {resource:?}: {reason}")]
    InvalidResource {
        /// The resource as given.
        resource: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// A right written as `RESOURCE:OPERATION` could not be split.
    #[error("invalid right {0:?}: expected RESOURCE:OPERATION")]
    InvalidRight(String),
    /// A grant, hop or narrowing names no rights at all.
    #[error("at least one right is required")]
    NoRights,
    /// A time-to-live is zero, or too long to represent.
    #[error("invalid time-to-live: {0}")]
    InvalidTtl(&'static str),
    /// The system clock is before the Unix epoch.
    #[error("the system clock is before 1970")]
    ClockBeforeEpoch,
    /// A key could not be parsed. The input is deliberately not echoed.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// Saving a key would overwrite an existing file and overwriting was not asked for.
    #[error("{} already exists (refusing to overwrite a key file)", path.display())]
    KeyFileExists {
        /// The file that exists.
        path: PathBuf,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The token is not valid base64 or not a well-formed Biscuit.
    #[error("malformed token: {0}")]
    MalformedToken(String),
    /// The token is larger than [`MAX_TOKEN_BYTES`](crate::MAX_TOKEN_BYTES).
    #[error("token of {size} bytes exceeds the limit of {limit} bytes")]
    TokenTooLarge {
        /// The size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The token is a Biscuit but its authority block is not an agentcap grant.
    #[error("not an agentcap token: {0}")]
    NotAgentcapToken(&'static str),
    /// A block carries agentcap facts that do not make sense.
    #[error("malformed block {block}: {reason}")]
    MalformedBlock {
        /// The block's index.
        block: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A block asks more of the Datalog engine than the evaluation budget
    /// allows (see [`crate::budget`]); the token is never evaluated.
    #[error("token too complex: block {block} {reason}")]
    TooComplex {
        /// The block's index.
        block: usize,
        /// Which limit it exceeds.
        reason: String,
    },
    /// The token's signatures do not verify against the root key.
    #[error("invalid signature: the token was not issued by this root key or was altered")]
    InvalidSignature,
    /// The token names a root key id for which no key is known.
    #[error("unknown root key id {0:?}")]
    UnknownRootKey(Option<u32>),
    /// The token is sealed and cannot be attenuated any more.
    #[error("the token is sealed and cannot be attenuated")]
    Sealed,
    /// A hop or narrowing asks for a right its parent does not hold.
    #[error("the parent token does not hold {right}")]
    RightNotHeld {
        /// The right that was asked for.
        right: Right,
    },
    /// A hop asks for a cap looser than its parent's: wider bounds for a
    /// request both concern.
    #[error("cap {requested} is looser than the parent's {parent}")]
    CapExceedsParent {
        /// The cap asked for, in text form (names escaped).
        requested: String,
        /// The parent's cap it would loosen, in text form (names escaped).
        parent: String,
    },
    /// A resource identifier (an audience) is not an absolute http(s) URI
    /// as [`canonical_resource`](crate::canonical_resource) accepts. The
    /// input is deliberately not echoed (it may be long, or carry credentials).
    #[error("invalid resource identifier: {0}")]
    InvalidResourceId(&'static str),
    /// A hop names an audience outside the audiences already in force.
    #[error("the parent token is not for the resource {audience:?}")]
    AudienceNotHeld {
        /// The audience asked for (canonical form).
        audience: String,
    },
    /// A block names the resources the token is for, and this service is
    /// not one of them (or has no resource identifier to compare).
    #[error("{}", audience_mismatch(*block, resource_id.as_deref()))]
    AudienceMismatch {
        /// The first block whose audiences exclude the service.
        block: usize,
        /// The service's resource identifier, if it has one.
        resource_id: Option<String>,
    },
    /// A request's quantity is refused by the rule on negative values (see
    /// [`Chain::check_quantities`](crate::Chain::check_quantities)).
    #[error("quantity {name:?} = {value} refused: {reason}")]
    QuantityRefused {
        /// The quantity's name.
        name: String,
        /// Its value.
        value: i64,
        /// Why.
        reason: &'static str,
    },
    /// A hop or narrowing would outlive its parent.
    #[error("requested lifetime ends after the parent token expires")]
    TtlExceedsParent {
        /// When the child would expire.
        requested: SystemTime,
        /// When the parent expires.
        parent: SystemTime,
    },
    /// The token (or the hop being built) is past its expiry.
    #[error("the token expired")]
    Expired {
        /// The earliest expiry stated in the chain.
        expired_at: SystemTime,
    },
    /// The grant is dated later than the time of the request (beyond the
    /// tolerated clock skew).
    #[error("the grant is dated in the future")]
    IssuedInFuture {
        /// When the grant says it was issued.
        issued_at: SystemTime,
    },
    /// The delegation chain is deeper than a block allows.
    #[error("delegation depth {depth} exceeds the maximum of {max_depth}")]
    DepthExceeded {
        /// The depth reached (or asked for).
        depth: u32,
        /// The smallest maximum stated in the chain.
        max_depth: u32,
    },
    /// A hop asks for a maximum depth below its own depth or above its parent's.
    #[error(
        "maximum depth {requested} must lie between the hop's depth {depth} and the parent's maximum {parent}"
    )]
    InvalidMaxDepth {
        /// The maximum asked for.
        requested: u32,
        /// The depth of the hop being built.
        depth: u32,
        /// The parent's maximum.
        parent: u32,
    },
    /// The current holder is bound to a key, so its hop must be signed with it.
    #[error("agent {holder:?} is bound to a key: its hop must be signed with that key")]
    SigningKeyRequired {
        /// The holder whose key is required.
        holder: String,
    },
    /// The hop was signed with a key other than the holder's.
    #[error("the signing key is not the key bound to agent {holder:?}")]
    WrongSigningKey {
        /// The holder whose key was expected.
        holder: String,
    },
    /// In a received chain, a key-bound holder handed the token on without signing the hop.
    #[error("hop in block {block} changes holder without the signature of the key-bound delegator")]
    UnsignedHop {
        /// The offending block.
        block: usize,
    },
    /// In a received chain, a hop is signed by a key other than the delegator's.
    #[error("hop in block {block} is signed by a key other than the delegator's")]
    WrongHopSigner {
        /// The offending block.
        block: usize,
    },
    /// A holder proof is malformed, stale, or not signed by the holder's key.
    #[error("invalid holder proof: {0}")]
    InvalidHolderProof(&'static str),
    /// A request is not well formed (bad resource or operation).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The token is valid but does not allow the request.
    #[error("not permitted: {} check(s) failed", failed_checks.len())]
    NotPermitted {
        /// The checks that failed, with their blocks.
        failed_checks: Vec<FailedCheck>,
    },
    /// Datalog evaluation hit its run limits.
    #[error("authorization exceeded its run limits: {0}")]
    RunLimit(String),
    /// Any other error from biscuit-auth.
    #[error("biscuit: {0}")]
    Biscuit(String),
}

fn audience_mismatch(block: usize, resource_id: Option<&str>) -> String {
    match resource_id {
        Some(id) => format!("block {block} is for other resources than {id:?}"),
        None => format!(
            "block {block} names the resources the token is for, and this service has no resource identifier"
        ),
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Maps a biscuit-auth error onto ours, keeping the distinctions callers act on.
    pub(crate) fn from_biscuit(error: biscuit_auth::error::Token) -> Self {
        use biscuit_auth::error::{Format, Logic, Token};
        match error {
            Token::Format(Format::Signature(_))
            | Token::Format(Format::SealedSignature)
            | Token::Format(Format::InvalidSignatureSize(_)) => Error::InvalidSignature,
            Token::Format(Format::UnknownPublicKey) => Error::UnknownRootKey(None),
            Token::Format(other) => Error::MalformedToken(other.to_string()),
            Token::Base64(e) => Error::MalformedToken(e.to_string()),
            Token::AppendOnSealed | Token::AlreadySealed => Error::Sealed,
            Token::RunLimit(limit) => Error::RunLimit(limit.to_string()),
            Token::FailedLogic(Logic::Unauthorized { checks, .. })
            | Token::FailedLogic(Logic::NoMatchingPolicy { checks }) => Error::NotPermitted {
                failed_checks: failed_checks(None, &checks),
            },
            other => Error::Biscuit(other.to_string()),
        }
    }
}
