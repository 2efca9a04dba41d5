//! The `Verifier`: trusted roots, revocation, policy, limits and a cache of
//! verified tokens.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use agentcap::vocabulary::{self, request as request_fact};
use agentcap::{Chain, Error as TokenError, PublicKey, ResourcePattern, Token};
use agentcap_revocation::{CheckError, Freshness, RevocationStatus, VerifierState};
use biscuit_auth::builder::{Policy, Term};
use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits};
use sha2::{Digest, Sha512};

use crate::decision::{Decision, FailedCheck, Reason, RevocationInfo};
use crate::request::AccessRequest;

/// Datalog run limits that hold on a loaded host (biscuit-auth's default
/// of 1 ms does not): 10,000 facts, 1,000 iterations, 50 ms.
pub const DEFAULT_LIMITS: AuthorizerLimits = AuthorizerLimits {
    max_facts: 10_000,
    max_iterations: 1_000,
    max_time: Duration::from_millis(50),
};

/// Default largest token accepted: 64 KiB of base64.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 64 * 1024;

/// Default largest number of hops accepted, whatever the token allows.
pub const DEFAULT_MAX_DEPTH: u32 = 16;

/// Default number of verified tokens kept in the cache.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Default tolerated clock skew between issuers, agents and this service.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(30);

/// Custom request facts may not use these names: they are the vocabulary's.
const RESERVED_FACTS: &[&str] = &[
    request_fact::RESOURCE,
    request_fact::OPERATION,
    request_fact::TIME,
    request_fact::QUANTITY,
    request_fact::METHOD,
    request_fact::PATH,
    request_fact::REVOCATION_SEQUENCE,
    request_fact::REVOCATION_AGE,
];

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
}

/// Builds a [`Verifier`]; [`VerifierBuilder::build`] refuses an unusable
/// configuration instead of allowing everything.
#[derive(Default)]
pub struct VerifierBuilder {
    roots: HashMap<Option<u32>, PublicKey>,
    revocation: Option<Option<Arc<VerifierState>>>,
    policy_sources: Vec<String>,
    policy_error: Option<ConfigError>,
    limits: Option<AuthorizerLimits>,
    clock_skew: Option<Duration>,
    max_token_bytes: Option<usize>,
    max_depth: Option<u32>,
    cache_capacity: Option<usize>,
    holder_proof_max_age: Option<Duration>,
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
    pub fn revocation(mut self, state: Arc<VerifierState>) -> Self {
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
    pub fn limits(mut self, limits: AuthorizerLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Tolerated clock skew (default: [`DEFAULT_CLOCK_SKEW`]).
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

    /// Requires a proof of possession ([`agentcap::HolderProof`]) on every
    /// request made with a key-bound token, signed by the current holder's
    /// key within `max_age` of the request time: a token stolen without its
    /// key is then useless here. Tokens that bind no key are not affected.
    pub fn require_holder_proof(mut self, max_age: Duration) -> Self {
        self.holder_proof_max_age = Some(max_age);
        self
    }

    /// Number of verified tokens cached (default: [`DEFAULT_CACHE_CAPACITY`]).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.cache_capacity = Some(capacity);
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
        let limits = self.limits.unwrap_or(DEFAULT_LIMITS);
        let mut template = AuthorizerBuilder::new().set_limits(limits.clone());
        let mut policies: Vec<String> = Vec::new();
        if self.policy_sources.is_empty() {
            let policy = vocabulary::allow_all_policy();
            policies.push(policy.to_string());
            template = template
                .policy(policy)
                .map_err(|e| ConfigError::InvalidPolicy(e.to_string()))?;
        } else {
            for source in &self.policy_sources {
                template = template
                    .code(source)
                    .map_err(|e| ConfigError::InvalidPolicy(e.to_string()))?;
            }
            let (_, _, _, parsed) = template
                .clone()
                .build_unauthenticated()
                .map_err(|e| ConfigError::InvalidPolicy(e.to_string()))?
                .dump();
            if !parsed
                .iter()
                .any(|p| p.kind == biscuit_auth::builder::PolicyKind::Allow)
            {
                return Err(ConfigError::NoAllowPolicy);
            }
            policies = parsed.iter().map(Policy::to_string).collect();
        }
        let capacity = self.cache_capacity.unwrap_or(DEFAULT_CACHE_CAPACITY);
        let capacity =
            NonZeroUsize::new(capacity).ok_or(ConfigError::ZeroLimit("cache capacity"))?;
        let max_token_bytes = self.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
        if max_token_bytes == 0 {
            return Err(ConfigError::ZeroLimit("max token bytes"));
        }
        Ok(Verifier {
            inner: Arc::new(Inner {
                roots: self.roots,
                revocation,
                template,
                policies,
                clock_skew: self.clock_skew.unwrap_or(DEFAULT_CLOCK_SKEW),
                max_token_bytes,
                max_depth: self.max_depth.unwrap_or(DEFAULT_MAX_DEPTH),
                holder_proof_max_age: self.holder_proof_max_age,
                cache: Mutex::new(lru::LruCache::new(capacity)),
                signature_verifications: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
            }),
        })
    }
}

/// Verifies delegation chains and authorizes requests. Cheap to clone
/// (shared state behind an `Arc`); safe to share between threads.
///
/// Each request pays, in order: size and format checks; signature
/// verification (once per distinct token: verified tokens are cached by a
/// SHA-512/256-bit digest of their text); chain rules (depth, holder binding); expiry;
/// revocation of every block; Datalog authorization with the service's
/// policies. Time, revocation and policy are evaluated on every request,
/// cached or not.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    roots: HashMap<Option<u32>, PublicKey>,
    revocation: Option<Arc<VerifierState>>,
    template: AuthorizerBuilder,
    policies: Vec<String>,
    clock_skew: Duration,
    max_token_bytes: usize,
    max_depth: u32,
    holder_proof_max_age: Option<Duration>,
    cache: Mutex<lru::LruCache<[u8; 32], Arc<Verified>>>,
    signature_verifications: AtomicU64,
    cache_hits: AtomicU64,
}

/// A token whose signatures verified, with its chain shared with decisions.
struct Verified {
    token: Token,
    chain: Arc<Chain>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("roots", &self.inner.roots)
            .field("revocation", &self.inner.revocation.is_some())
            .field("policies", &self.inner.policies)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Starts a configuration.
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// How many times a token's signatures were verified (cache misses that
    /// reached the signature check).
    pub fn signature_verifications(&self) -> u64 {
        self.inner.signature_verifications.load(Ordering::Relaxed)
    }

    /// How many requests were served from the cache of verified tokens.
    pub fn cache_hits(&self) -> u64 {
        self.inner.cache_hits.load(Ordering::Relaxed)
    }

    /// The service's policies, as Datalog.
    pub fn policies(&self) -> &[String] {
        &self.inner.policies
    }

    /// Verifies `token` (URL-safe base64) and authorizes `request`.
    pub fn verify(&self, token: &str, request: &AccessRequest) -> Decision {
        let started = Instant::now();
        let mut decision = self.decide(token.trim(), request);
        decision.elapsed = started.elapsed();
        decision
    }

    fn decide(&self, token: &str, request: &AccessRequest) -> Decision {
        let deny = |reason| Decision::new(reason, &request.resource, &request.operation);
        let inner = &self.inner;
        if token.is_empty() {
            return deny(Reason::MissingToken);
        }
        if token.len() > inner.max_token_bytes {
            let mut d = deny(Reason::Malformed);
            d.detail = Some(format!("token larger than {} bytes", inner.max_token_bytes));
            return d;
        }
        if let Err(detail) = validate_request(request) {
            let mut d = deny(Reason::MalformedRequest);
            d.detail = Some(detail);
            return d;
        }
        let verified = match self.verified_token(token) {
            Ok(t) => t,
            Err(error) => {
                let (reason, detail) = match &error {
                    TokenError::UnknownRootKey(id) => (
                        Reason::UnknownRootKey,
                        Some(match id {
                            Some(id) => format!("root key id {id}"),
                            None => "no root key id".to_owned(),
                        }),
                    ),
                    TokenError::InvalidSignature => (Reason::BadSignature, None),
                    other => (Reason::Malformed, Some(other.to_string())),
                };
                let mut d = deny(reason);
                d.detail = detail;
                // Show what the token claims, unverified, to help explain.
                d.chain = agentcap::inspect(token, None).ok().map(Arc::new);
                return d;
            }
        };
        let chain = &*verified.chain;
        let mut decision = deny(Reason::Allowed);
        decision.chain = Some(Arc::clone(&verified.chain));

        // Rules Datalog cannot express.
        if let Err(error) = chain.validate() {
            decision.reason = match error {
                TokenError::DepthExceeded { .. } => Reason::DepthExceeded,
                TokenError::UnsignedHop { .. } | TokenError::WrongHopSigner { .. } => {
                    Reason::HolderBindingBroken
                }
                _ => Reason::Malformed,
            };
            decision.detail = Some(error.to_string());
            return decision;
        }
        if chain.depth() > inner.max_depth {
            decision.reason = Reason::DepthExceeded;
            decision.detail = Some(format!(
                "delegation depth {} exceeds this service's maximum of {}",
                chain.depth(),
                inner.max_depth
            ));
            return decision;
        }

        let now = request.time.unwrap_or_else(SystemTime::now);
        if let (Some(max_age), Some(holder_key)) = (inner.holder_proof_max_age, chain.holder_key())
        {
            let Some(proof) = &request.holder_proof else {
                decision.reason = Reason::HolderProofMissing;
                return decision;
            };
            // TEMPORARY (wave2-c): holder proof v2 needs the request's method,
            // authority, path, query, body and Signature headers, which the
            // lead wires in; until then a required proof fails closed.
            let _ = (proof, &holder_key, token, max_age);
            let checked: Result<(), agentcap::Error> = Err(agentcap::Error::InvalidHolderProof(
                "holder proof v2 is not wired into this verifier yet",
            ));
            if let Err(error) = checked {
                decision.reason = Reason::HolderProofInvalid;
                decision.detail = Some(error.to_string());
                return decision;
            }
        }
        // Tolerate clocks that run ahead of ours by up to the skew.
        let effective_now = now.checked_sub(inner.clock_skew).unwrap_or(now);
        if let Some(expires_at) = chain.expires_at()
            && effective_now > expires_at
        {
            decision.reason = Reason::Expired;
            decision.expired_at = Some(expires_at);
            return decision;
        }

        if let Some(state) = &inner.revocation {
            let ids = verified.token.revocation_ids();
            match state.check(&ids, now) {
                Ok(check) => {
                    decision.revocation = Some(RevocationInfo {
                        sequence: check.sequence,
                        age_seconds: check.age.map(|a| a.as_secs()),
                        stale: !matches!(check.freshness, Freshness::Fresh),
                        failed_open: check.failed_open,
                    });
                    if let RevocationStatus::Revoked { block_index, .. } = check.status {
                        decision.reason = Reason::Revoked;
                        decision.revoked_block = Some(block_index);
                        return decision;
                    }
                    if check.failed_open {
                        tracing::warn!(
                            user = %chain.user,
                            resource = %request.resource,
                            "authorizing with an expired revocation list (fail-open configured)"
                        );
                    }
                }
                Err(error) => {
                    decision.reason = Reason::RevocationListStale;
                    decision.detail = Some(match error {
                        CheckError::NoList => "no revocation list has been received".to_owned(),
                        other => other.to_string(),
                    });
                    return decision;
                }
            }
        }

        self.authorize(
            &verified.token,
            chain,
            request,
            effective_now,
            &mut decision,
        );
        decision
    }

    fn authorize(
        &self,
        token: &Token,
        chain: &Chain,
        request: &AccessRequest,
        now: SystemTime,
        decision: &mut Decision,
    ) {
        let Some(biscuit) = token.biscuit() else {
            decision.reason = Reason::Malformed;
            return;
        };
        let seconds = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut facts = vocabulary::request_facts(
            &request.resource,
            &request.operation,
            seconds,
            &request.quantities,
        );
        if let Some(method) = &request.method {
            facts.push(vocabulary::fact(
                request_fact::METHOD,
                vec![Term::Str(method.clone())],
            ));
        }
        if let Some(path) = &request.path {
            facts.push(vocabulary::fact(
                request_fact::PATH,
                vec![Term::Str(path.clone())],
            ));
        }
        if let Some(revocation) = &decision.revocation {
            if let Some(sequence) = revocation.sequence {
                facts.push(vocabulary::fact(
                    request_fact::REVOCATION_SEQUENCE,
                    vec![Term::Integer(i64::try_from(sequence).unwrap_or(i64::MAX))],
                ));
            }
            if let Some(age) = revocation.age_seconds {
                facts.push(vocabulary::fact(
                    request_fact::REVOCATION_AGE,
                    vec![Term::Integer(i64::try_from(age).unwrap_or(i64::MAX))],
                ));
            }
        }
        for (name, value) in &request.facts {
            facts.push(vocabulary::fact(name, vec![value.term()]));
        }
        let mut builder = self.inner.template.clone();
        for fact in facts {
            builder = match builder.fact(fact) {
                Ok(b) => b,
                Err(error) => {
                    decision.reason = Reason::Malformed;
                    decision.detail = Some(error.to_string());
                    return;
                }
            };
        }
        let mut authorizer = match builder.build(biscuit) {
            Ok(a) => a,
            Err(error) => {
                decision.reason = Reason::Malformed;
                decision.detail = Some(error.to_string());
                return;
            }
        };
        use biscuit_auth::error::{Logic, Token as BiscuitError};
        match authorizer.authorize() {
            Ok(index) => {
                decision.reason = Reason::Allowed;
                decision.matched_policy = self.policy(index);
            }
            Err(BiscuitError::FailedLogic(Logic::Unauthorized { policy, checks })) => {
                decision.reason = Reason::PolicyDenied;
                decision.failed_checks = failed_checks(chain, &checks);
                let index = match policy {
                    biscuit_auth::error::MatchedPolicy::Allow(i)
                    | biscuit_auth::error::MatchedPolicy::Deny(i) => i,
                };
                decision.matched_policy = self.policy(index);
            }
            Err(BiscuitError::FailedLogic(Logic::NoMatchingPolicy { checks })) => {
                decision.reason = Reason::PolicyDenied;
                decision.failed_checks = failed_checks(chain, &checks);
            }
            Err(BiscuitError::RunLimit(limit)) => {
                decision.reason = Reason::LimitsExceeded;
                decision.detail = Some(format!("authorization exceeded its run limits: {limit}"));
            }
            Err(error) => {
                decision.reason = Reason::PolicyDenied;
                decision.detail = Some(error.to_string());
            }
        }
    }

    fn policy(&self, index: usize) -> Option<(usize, String)> {
        self.inner.policies.get(index).map(|p| (index, p.clone()))
    }

    /// The verified token for these bytes, from the cache or freshly verified.
    fn verified_token(&self, token: &str) -> Result<Arc<Verified>, TokenError> {
        // SHA-512 (truncated) is collision-resistant like SHA-256 and faster
        // on 64-bit CPUs without SHA extensions; a collision would let a
        // token borrow another's verification, so the hash must be this strong.
        let full = Sha512::digest(token.as_bytes());
        let mut digest = [0u8; 32];
        digest.copy_from_slice(&full[..32]);
        if let Ok(mut cache) = self.inner.cache.lock()
            && let Some(hit) = cache.get(&digest)
        {
            self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::clone(hit));
        }
        let bytes = agentcap::decode_base64(token)?;
        self.inner
            .signature_verifications
            .fetch_add(1, Ordering::Relaxed);
        let roots = &self.inner.roots;
        let token = Token::verify_bytes_with(&bytes, |id| roots.get(&id).copied())?;
        let verified = Arc::new(Verified {
            chain: Arc::new(token.chain().clone()),
            token,
        });
        if let Ok(mut cache) = self.inner.cache.lock() {
            cache.put(digest, Arc::clone(&verified));
        }
        Ok(verified)
    }
}

fn validate_request(request: &AccessRequest) -> Result<(), String> {
    ResourcePattern::exact(&request.resource).map_err(|e| e.to_string())?;
    if request.operation.is_empty() || request.operation.len() > agentcap::MAX_VALUE_BYTES {
        return Err("the operation must be 1 to 1024 bytes".to_owned());
    }
    for (name, _) in &request.facts {
        if RESERVED_FACTS.contains(&name.as_str()) || name.is_empty() {
            return Err(format!("custom fact name {name:?} is reserved or empty"));
        }
    }
    Ok(())
}

fn failed_checks(chain: &Chain, checks: &[biscuit_auth::error::FailedCheck]) -> Vec<FailedCheck> {
    checks
        .iter()
        .map(|check| match check {
            biscuit_auth::error::FailedCheck::Block(b) => {
                let block = b.block_id as usize;
                let index = b.check_id as usize;
                FailedCheck {
                    block: Some(block),
                    check: index,
                    role: chain
                        .block(block)
                        .and_then(|blk| blk.checks.get(index).copied()),
                }
            }
            biscuit_auth::error::FailedCheck::Authorizer(a) => FailedCheck {
                block: None,
                check: a.check_id as usize,
                role: None,
            },
        })
        .collect()
}
