//! Configuring a [`Verifier`]: [`VerifierBuilder`], its defaults, and the
//! configurations it refuses.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentcap::{EvaluationLimits, PolicyError, PublicKey, ServicePolicies};
use agentcap_revocation::RevocationState;

use crate::cache::TokenCache;
use crate::replay::{DEFAULT_REPLAY_CAPACITY, ReplayCache};
use crate::verifier::{Inner, Verifier};

/// Datalog run limits that hold on a loaded host (biscuit-auth's default
/// of 1 ms does not): 10,000 facts, 1,000 iterations, 50 ms.
pub const DEFAULT_LIMITS: EvaluationLimits =
    EvaluationLimits::new(10_000, 1_000, Duration::from_millis(50));

/// Default largest token accepted: 64 KiB of base64.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Default largest number of hops accepted, whatever the token allows.
pub const DEFAULT_MAX_DEPTH: u32 = 16;

/// Default memory budget of the cache of verified tokens: 64 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Default tolerated clock skew between issuers, agents and this service,
/// applied both ways: an expiry is honoured up to this long after it
/// passed, and a grant or proof dated up to this far ahead is accepted.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// The largest clock skew a verifier accepts: more would make expiries
/// meaningless.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The most quantities, arguments and custom facts one request may carry
/// (each becomes a fact the token's checks can scan).
pub const MAX_REQUEST_FACTS: usize = 64;

/// The longest string value of a call argument
/// ([`AccessRequest::argument`](crate::AccessRequest::argument)), in bytes;
/// a request with a longer one is refused as malformed. A mapping that
/// meets a longer value (an MCP tool call's free text) leaves it out.
pub const MAX_ARGUMENT_BYTES: usize = 4096;

/// The longest name of a call argument, in bytes.
pub const MAX_ARGUMENT_NAME_BYTES: usize = 128;

/// A configuration the builder refuses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No root key was given: nothing could ever verify.
    #[error("no trusted root key: add at least one with `root_key`")]
    NoRootKeys,
    /// Neither a revocation state nor an explicit opt-out was given.
    #[error(
        "no revocation list: configure one with `revocation`, or opt out explicitly with `without_revocation`"
    )]
    NoRevocation,
    /// The policy does not parse.
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    /// The policy has no `allow` rule: every request would be denied.
    #[error("the policy has no `allow if` rule: every request would be denied")]
    NoAllowPolicy,
    /// A policy file could not be read.
    #[error("cannot read policy file {path}: {source}")]
    PolicyFile {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A limit is zero.
    #[error("{0} must be greater than zero")]
    ZeroLimit(&'static str),
    /// The resource identifier given to
    /// [`VerifierBuilder::resource_id`] is not an absolute http(s) URI as
    /// [`agentcap::canonical_resource`] accepts.
    #[error("invalid resource identifier: {0}")]
    InvalidResourceId(String),
    /// The clock skew is larger than [`MAX_CLOCK_SKEW`].
    #[error("the clock skew must be at most {} seconds", MAX_CLOCK_SKEW.as_secs())]
    ClockSkewTooLarge,
}

/// Builds a [`Verifier`]; [`VerifierBuilder::build`] refuses an unusable
/// configuration instead of allowing everything.
#[derive(Default)]
pub struct VerifierBuilder {
    roots: HashMap<Option<u32>, PublicKey>,
    revocation: Option<Option<Arc<RevocationState>>>,
    policy_sources: Vec<String>,
    policy_error: Option<ConfigError>,
    limits: Option<EvaluationLimits>,
    clock_skew: Option<Duration>,
    max_token_bytes: Option<usize>,
    max_depth: Option<u32>,
    cache_bytes: Option<usize>,
    holder_proof_max_age: Option<Duration>,
    allow_bearer_leaves: bool,
    audience: Vec<String>,
    resource_id: Option<Result<String, String>>,
    replay_capacity: Option<usize>,
}

impl VerifierBuilder {
    /// Trusts `key` for tokens naming root key id `key_id` (`None`: tokens
    /// that name no id). Call once per key, e.g. the current and the next key
    /// during a rotation, or another domain's key.
    pub fn root_key(mut self, key_id: Option<u32>, key: PublicKey) -> Self {
        self.roots.insert(key_id, key);
        self
    }

    /// Checks every block of every token against this revocation state, with
    /// the freshness policy it was configured with.
    pub fn revocation(mut self, state: Arc<RevocationState>) -> Self {
        self.revocation = Some(Some(state));
        self
    }

    /// Runs without a revocation list. Must be asked for explicitly: a
    /// verifier without one cannot take anything back.
    pub fn without_revocation(mut self) -> Self {
        self.revocation = Some(None);
        self
    }

    /// Adds the service's Datalog: facts, rules, checks and `allow if` /
    /// `deny if` policies, e.g. `allow if user($u), $u != "mallory";`.
    /// Without any, the policy is `allow if true`: a request is allowed
    /// when every check of the token passes.
    pub fn policy(mut self, datalog: impl Into<String>) -> Self {
        self.policy_sources.push(datalog.into());
        self
    }

    /// Adds the service's Datalog from a file.
    pub fn policy_file(mut self, path: impl AsRef<Path>) -> Self {
        let path = path.as_ref();
        match std::fs::read_to_string(path) {
            Ok(source) => self.policy_sources.push(source),
            Err(source) => {
                self.policy_error = Some(ConfigError::PolicyFile {
                    path: path.display().to_string(),
                    source,
                });
            }
        }
        self
    }

    /// Datalog run limits (default: [`DEFAULT_LIMITS`]).
    pub fn limits(mut self, limits: EvaluationLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Tolerated clock skew, applied both ways (default:
    /// [`DEFAULT_CLOCK_SKEW`]; at most [`MAX_CLOCK_SKEW`]).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = Some(skew);
        self
    }

    /// Largest token accepted, in base64 bytes (default: [`DEFAULT_MAX_TOKEN_BYTES`]).
    pub fn max_token_bytes(mut self, bytes: usize) -> Self {
        self.max_token_bytes = Some(bytes);
        self
    }

    /// Largest number of hops accepted (default: [`DEFAULT_MAX_DEPTH`]).
    pub fn max_depth(mut self, depth: u32) -> Self {
        self.max_depth = Some(depth);
        self
    }

    /// Requires a proof of possession on every request: an RFC 9421
    /// signature by the current holder's key over the method, authority,
    /// path, query, body digest and token, with a nonce, made within
    /// `max_age` ([`agentcap::HolderProof`]). A token stolen without its key
    /// is then useless here, and a captured request cannot be replayed (the
    /// verifier remembers nonces). Tokens whose holder has no key (bearer
    /// leaves) are refused too, unless [`VerifierBuilder::allow_bearer_leaves`].
    pub fn require_holder_proof(mut self, max_age: Duration) -> Self {
        self.holder_proof_max_age = Some(max_age);
        self
    }

    /// With [`VerifierBuilder::require_holder_proof`]: accept tokens whose
    /// current holder has no key, without a proof.
    pub fn allow_bearer_leaves(mut self) -> Self {
        self.allow_bearer_leaves = true;
        self
    }

    /// The authorities (`host[:port]`) this service answers as: a proof made
    /// for any other is refused. Without it, the authority the request was
    /// sent to is trusted, which a relay can choose.
    ///
    /// This is about holder proofs (the HTTP authority a proof signs), not
    /// about which tokens are for this service: that is
    /// [`VerifierBuilder::resource_id`], compared with the audiences a
    /// token names.
    pub fn audience<I, S>(mut self, authorities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.audience.extend(
            authorities
                .into_iter()
                .map(|a| a.into().to_ascii_lowercase()),
        );
        self
    }

    /// This service's resource identifier (an RFC 8707 resource indicator,
    /// e.g. `https://gw.example/mcp`), put in canonical form
    /// ([`agentcap::canonical_resource`]; an invalid one makes
    /// [`build`](Self::build) fail with [`ConfigError::InvalidResourceId`]).
    ///
    /// A token whose blocks name audiences ([`agentcap::Grant::audience`])
    /// is then accepted only if every such block names this identifier
    /// (else [`Reason::AudienceMismatch`](crate::Reason::AudienceMismatch),
    /// a 401), and `audience(<id>)` is stated for the token's checks and the
    /// service's policies. Without it, tokens that name any audience are
    /// refused (fail closed) and tokens that name none are accepted.
    ///
    /// Not to be confused with [`VerifierBuilder::audience`], the HTTP
    /// authorities holder proofs must be made for.
    pub fn resource_id(mut self, uri: impl AsRef<str>) -> Self {
        self.resource_id =
            Some(agentcap::canonical_resource(uri.as_ref()).map_err(|e| e.to_string()));
        self
    }

    /// How many proof nonces are remembered at once (default
    /// [`crate::DEFAULT_REPLAY_CAPACITY`]); when full of live ones, proofs
    /// are refused rather than a nonce forgotten.
    pub fn replay_cache_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = Some(capacity);
        self
    }

    /// Memory budget of the cache of verified tokens, in bytes (default:
    /// [`DEFAULT_CACHE_BYTES`]). Least recently used tokens are dropped to
    /// stay within it; each entry is charged a conservative estimate of its
    /// memory ([`Verifier::cache_bytes`]).
    pub fn cache_bytes(mut self, bytes: usize) -> Self {
        self.cache_bytes = Some(bytes);
        self
    }

    /// Builds the verifier, or says why the configuration is unusable.
    pub fn build(self) -> Result<Verifier, ConfigError> {
        if let Some(error) = self.policy_error {
            return Err(error);
        }
        if self.roots.is_empty() {
            return Err(ConfigError::NoRootKeys);
        }
        let revocation = self.revocation.ok_or(ConfigError::NoRevocation)?;
        let resource_id = self
            .resource_id
            .transpose()
            .map_err(ConfigError::InvalidResourceId)?;
        let limits = self.limits.unwrap_or(DEFAULT_LIMITS);
        let policies =
            ServicePolicies::parse(&self.policy_sources, limits).map_err(|error| match error {
                PolicyError::NoAllow => ConfigError::NoAllowPolicy,
                PolicyError::Invalid(detail) => ConfigError::InvalidPolicy(detail),
                other => ConfigError::InvalidPolicy(other.to_string()),
            })?;
        let cache_bytes = self.cache_bytes.unwrap_or(DEFAULT_CACHE_BYTES);
        if cache_bytes == 0 {
            return Err(ConfigError::ZeroLimit("cache bytes"));
        }
        let clock_skew = self.clock_skew.unwrap_or(DEFAULT_CLOCK_SKEW);
        if clock_skew > MAX_CLOCK_SKEW {
            return Err(ConfigError::ClockSkewTooLarge);
        }
        if !limits.is_usable() {
            return Err(ConfigError::ZeroLimit("run limits"));
        }
        if self.holder_proof_max_age.is_some_and(|age| age.is_zero()) {
            return Err(ConfigError::ZeroLimit("holder proof max age"));
        }
        let replay_capacity = self.replay_capacity.unwrap_or(DEFAULT_REPLAY_CAPACITY);
        if replay_capacity == 0 {
            return Err(ConfigError::ZeroLimit("replay cache capacity"));
        }
        let max_token_bytes = self.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
        if max_token_bytes == 0 {
            return Err(ConfigError::ZeroLimit("max token bytes"));
        }
        Ok(Verifier {
            inner: Arc::new(Inner {
                roots: self.roots,
                revocation,
                policies,
                clock_skew,
                max_token_bytes,
                max_depth: self.max_depth.unwrap_or(DEFAULT_MAX_DEPTH),
                holder_proof_max_age: self.holder_proof_max_age,
                allow_bearer_leaves: self.allow_bearer_leaves,
                audience: self.audience,
                resource_id,
                replay: ReplayCache::new(replay_capacity),
                cache: Mutex::new(TokenCache::new(cache_bytes)),
                signature_verifications: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
            }),
        })
    }
}
