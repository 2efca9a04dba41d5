//! The `Verifier`: trusted roots, revocation, policy, limits and a cache of
//! verified tokens.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use agentcap::vocabulary::{self, fact as token_fact, request as request_fact};
use agentcap::{Chain, Error as TokenError, PublicKey, ResourcePattern, Token};
use agentcap_revocation::{CheckError, Freshness, RevocationStatus, VerifierState};
use biscuit_auth::builder::{Policy, Term};
use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits};
use sha2::{Digest, Sha512};

use crate::decision::{Decision, FailedCheck, Reason, RevocationInfo};
use crate::replay::{DEFAULT_REPLAY_CAPACITY, ReplayCache};
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

/// Default memory budget of the cache of verified tokens: 64 MiB.
pub const DEFAULT_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Default tolerated clock skew between issuers, agents and this service,
/// applied both ways: an expiry is honoured up to this long after it
/// passed, and a grant or proof dated up to this far ahead is accepted.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(5);

/// The largest clock skew a verifier accepts: more would make expiries
/// meaningless.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The most quantities and custom facts one request may carry (each becomes
/// a fact the token's checks can scan).
pub const MAX_REQUEST_FACTS: usize = 64;

/// Custom request facts may not use these names: they are the vocabulary's,
/// the request's and the token's alike.
const RESERVED_FACTS: &[&str] = &[
    request_fact::RESOURCE,
    request_fact::OPERATION,
    request_fact::TIME,
    request_fact::QUANTITY,
    request_fact::METHOD,
    request_fact::PATH,
    request_fact::REVOCATION_SEQUENCE,
    request_fact::REVOCATION_AGE,
    token_fact::SCHEMA,
    token_fact::USER,
    token_fact::TENANT,
    token_fact::AGENT,
    token_fact::AGENT_KEY,
    token_fact::RIGHT,
    token_fact::CAP,
    token_fact::ISSUED_AT,
    token_fact::EXPIRES,
    token_fact::MAX_DEPTH,
    token_fact::INTENT,
    token_fact::HOP,
    token_fact::NARROWING,
    token_fact::ATTESTATION,
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
    /// The clock skew is larger than [`MAX_CLOCK_SKEW`].
    #[error("the clock skew must be at most {} seconds", MAX_CLOCK_SKEW.as_secs())]
    ClockSkewTooLarge,
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
    cache_bytes: Option<usize>,
    holder_proof_max_age: Option<Duration>,
    allow_bearer_leaves: bool,
    audience: Vec<String>,
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
        let cache_bytes = self.cache_bytes.unwrap_or(DEFAULT_CACHE_BYTES);
        if cache_bytes == 0 {
            return Err(ConfigError::ZeroLimit("cache bytes"));
        }
        let clock_skew = self.clock_skew.unwrap_or(DEFAULT_CLOCK_SKEW);
        if clock_skew > MAX_CLOCK_SKEW {
            return Err(ConfigError::ClockSkewTooLarge);
        }
        if limits.max_time.is_zero() || limits.max_facts == 0 || limits.max_iterations == 0 {
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
                template,
                policies,
                clock_skew,
                max_token_bytes,
                max_depth: self.max_depth.unwrap_or(DEFAULT_MAX_DEPTH),
                holder_proof_max_age: self.holder_proof_max_age,
                allow_bearer_leaves: self.allow_bearer_leaves,
                audience: self.audience,
                replay: ReplayCache::new(replay_capacity),
                cache: Mutex::new(TokenCache::new(cache_bytes)),
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
    allow_bearer_leaves: bool,
    audience: Vec<String>,
    replay: ReplayCache,
    cache: Mutex<TokenCache>,
    signature_verifications: AtomicU64,
    cache_hits: AtomicU64,
}

/// A token whose signatures verified; its chain is shared with decisions.
struct Verified {
    token: Token,
    chain: Arc<Chain>,
    /// What the cache charges for this entry.
    weight: usize,
}

/// The cache of verified tokens: least recently used first out, bounded by
/// an estimate of the memory its entries hold.
struct TokenCache {
    entries: lru::LruCache<[u8; 32], Arc<Verified>>,
    bytes: usize,
    max_bytes: usize,
}

impl TokenCache {
    fn new(max_bytes: usize) -> Self {
        TokenCache {
            entries: lru::LruCache::unbounded(),
            bytes: 0,
            max_bytes,
        }
    }

    fn get(&mut self, key: &[u8; 32]) -> Option<Arc<Verified>> {
        self.entries.get(key).cloned()
    }

    fn insert(&mut self, key: [u8; 32], verified: Arc<Verified>) {
        if verified.weight > self.max_bytes {
            return;
        }
        if let Some(old) = self.entries.put(key, Arc::clone(&verified)) {
            self.bytes -= old.weight;
        }
        self.bytes += verified.weight;
        while self.bytes > self.max_bytes {
            match self.entries.pop_lru() {
                Some((_, evicted)) => self.bytes -= evicted.weight,
                None => break,
            }
        }
    }

    fn remove(&mut self, key: &[u8; 32]) {
        if let Some(old) = self.entries.pop(key) {
            self.bytes -= old.weight;
        }
    }
}

/// What one cached token costs in memory, estimated from its size: the
/// decoded Biscuit (biscuit-auth keeps the container and every block
/// decoded into protobuf structures) and the chain. Calibrated against a counting allocator in
/// `tests/cache_memory.rs`, which checks that it never undercounts.
fn cache_weight(token_text_bytes: usize, blocks: usize) -> usize {
    // Measured: about 5 times the base64 text plus 5 to 6 KiB per block
    // (keys, signatures and decoded structures), for tokens of 1 to 9
    // blocks and 0.5 to 22 kB; charged with a margin.
    token_text_bytes * 7 + blocks * 7 * 1024
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

    /// The number of tokens in the cache.
    pub fn cache_entries(&self) -> usize {
        self.inner.cache.lock().map_or(0, |c| c.entries.len())
    }

    /// The memory the cache is charged for, in bytes (at most the
    /// configured [`VerifierBuilder::cache_bytes`]).
    pub fn cache_bytes(&self) -> usize {
        self.inner.cache.lock().map_or(0, |c| c.bytes)
    }

    /// Whether requests with key-bound tokens must carry a holder proof.
    pub fn requires_holder_proof(&self) -> bool {
        self.inner.holder_proof_max_age.is_some()
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
        let key = cache_key(token);
        let (verified, cached) = match self.cached(&key) {
            Some(hit) => (hit, true),
            None => match self.verify_signatures(token) {
                Ok(fresh) => (fresh, false),
                Err(error) => return token_error(error, token, deny),
            },
        };
        let mut decision = deny(Reason::Allowed);
        decision.chain = Some(Arc::clone(&verified.chain));
        let now = request.time.unwrap_or_else(SystemTime::now);
        // Structure and time: a token refused here is never cached, and a
        // cached one that has since expired leaves the cache.
        if let Err((reason, detail)) = self.check_chain(&verified.chain, now) {
            decision.reason = reason;
            decision.detail = detail;
            if reason == Reason::Expired {
                decision.expired_at = verified.chain.expires_at();
            }
            if cached && let Ok(mut cache) = inner.cache.lock() {
                cache.remove(&key);
            }
            return decision;
        }
        if let Err((reason, detail)) = self.check_holder_proof(&verified.chain, token, request, now)
        {
            decision.reason = reason;
            decision.detail = detail;
            return decision;
        }
        if !self.check_revocation(&verified, request, now, &mut decision) {
            return decision;
        }
        if !cached && let Ok(mut cache) = inner.cache.lock() {
            cache.insert(key, Arc::clone(&verified));
        }
        // Negative quantities pass only where a cap of the grant allows them.
        if let Err(error) = verified.chain.check_quantities(
            &request.resource,
            &request.operation,
            &request.quantities,
        ) {
            decision.reason = Reason::PolicyDenied;
            decision.detail = Some(error.to_string());
            return decision;
        }
        // Datalog sees the time less the skew, as the expiry check did.
        let effective_now = now.checked_sub(inner.clock_skew).unwrap_or(now);
        self.authorize(
            &verified.token,
            &verified.chain,
            request,
            effective_now,
            &mut decision,
        );
        decision
    }

    /// The rules Datalog cannot express, and time: depth, holder binding,
    /// expiry and issue date, with the clock skew applied both ways.
    fn check_chain(&self, chain: &Chain, now: SystemTime) -> Result<(), (Reason, Option<String>)> {
        let inner = &self.inner;
        if let Err(error) = chain.validate() {
            let reason = match error {
                TokenError::DepthExceeded { .. } => Reason::DepthExceeded,
                TokenError::UnsignedHop { .. } | TokenError::WrongHopSigner { .. } => {
                    Reason::HolderBindingBroken
                }
                _ => Reason::Malformed,
            };
            return Err((reason, Some(error.to_string())));
        }
        if chain.depth() > inner.max_depth {
            return Err((
                Reason::DepthExceeded,
                Some(format!(
                    "delegation depth {} exceeds this service's maximum of {}",
                    chain.depth(),
                    inner.max_depth
                )),
            ));
        }
        // Tolerate a clock behind ours for expiries, and one ahead of ours
        // for issue dates, by the same skew.
        if let Some(expires_at) = chain.expires_at()
            && now.checked_sub(inner.clock_skew).unwrap_or(now) > expires_at
        {
            return Err((Reason::Expired, None));
        }
        if let Some(latest) = now.checked_add(inner.clock_skew)
            && chain.issued_at > latest
        {
            return Err((
                Reason::Malformed,
                Some("the grant is dated in the future".to_owned()),
            ));
        }
        Ok(())
    }

    /// The holder's proof of possession, when this verifier requires one:
    /// signed by the holder's key over this very request, for this service,
    /// recent, and never seen before.
    fn check_holder_proof(
        &self,
        chain: &Chain,
        token: &str,
        request: &AccessRequest,
        now: SystemTime,
    ) -> Result<(), (Reason, Option<String>)> {
        let inner = &self.inner;
        let Some(max_age) = inner.holder_proof_max_age else {
            return Ok(());
        };
        let Some(holder_key) = chain.holder_key() else {
            if inner.allow_bearer_leaves {
                return Ok(());
            }
            return Err((
                Reason::HolderProofMissing,
                Some(
                    "the token's holder has no key (a bearer token); this service requires proofs"
                        .to_owned(),
                ),
            ));
        };
        let invalid = |detail: &str| (Reason::HolderProofInvalid, Some(detail.to_owned()));
        let Some(proof) = &request.holder_proof else {
            return Err((Reason::HolderProofMissing, None));
        };
        if !inner.audience.is_empty() && !inner.audience.contains(&proof.authority) {
            return Err(invalid("the proof is for another service"));
        }
        let covered = agentcap::ProofRequest {
            method: &proof.method,
            authority: &proof.authority,
            path: &proof.path,
            query: proof.query.as_deref(),
            token,
            body: &proof.body,
        };
        let verified = agentcap::HolderProof::verify(
            &proof.signature_input,
            &proof.signature,
            proof.content_digest.as_deref(),
            &holder_key,
            &covered,
            now,
            max_age,
            inner.clock_skew,
        )
        .map_err(|error| (Reason::HolderProofInvalid, Some(error.to_string())))?;
        inner
            .replay
            .check_and_remember(
                &holder_key.to_bytes(),
                &verified.nonce,
                verified.replay_until,
                now,
            )
            .map_err(|error| (Reason::HolderProofInvalid, Some(error.to_string())))
    }

    /// Checks every block's revocation id; false when the decision is made
    /// (revoked, or no usable list).
    fn check_revocation(
        &self,
        verified: &Verified,
        request: &AccessRequest,
        now: SystemTime,
        decision: &mut Decision,
    ) -> bool {
        let Some(state) = &self.inner.revocation else {
            return true;
        };
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
                    return false;
                }
                if check.failed_open {
                    tracing::warn!(
                        user = %verified.chain.user,
                        resource = %request.resource,
                        "authorizing with an expired revocation list (fail-open configured)"
                    );
                }
                true
            }
            Err(error) => {
                decision.reason = Reason::RevocationListStale;
                decision.detail = Some(match error {
                    CheckError::NoList => "no revocation list has been received".to_owned(),
                    other => other.to_string(),
                });
                false
            }
        }
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

    fn cached(&self, key: &[u8; 32]) -> Option<Arc<Verified>> {
        let hit = self.inner.cache.lock().ok()?.get(key)?;
        self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
        Some(hit)
    }

    /// Decodes the token, checks its evaluation budget and verifies every
    /// signature. Not cached here: only tokens that pass the checks of
    /// structure, time and revocation enter the cache.
    fn verify_signatures(&self, token: &str) -> Result<Arc<Verified>, TokenError> {
        let bytes = agentcap::decode_base64(token)?;
        self.inner
            .signature_verifications
            .fetch_add(1, Ordering::Relaxed);
        let roots = &self.inner.roots;
        let token_value = Token::verify_bytes_with(&bytes, |id| roots.get(&id).copied())?;
        let weight = cache_weight(token.len(), token_value.chain().blocks.len());
        Ok(Arc::new(Verified {
            chain: token_value.shared_chain(),
            token: token_value,
            weight,
        }))
    }
}

/// The cache key: a digest of the token's text. SHA-512 (truncated) is
/// collision-resistant like SHA-256 and faster on 64-bit CPUs without SHA
/// extensions; a collision would let a token borrow another's
/// verification, so the hash must be this strong.
fn cache_key(token: &str) -> [u8; 32] {
    let full = Sha512::digest(token.as_bytes());
    let mut digest = [0u8; 32];
    digest.copy_from_slice(&full[..32]);
    digest
}

/// The denial for a token that cannot be read or verified.
fn token_error(error: TokenError, token: &str, deny: impl Fn(Reason) -> Decision) -> Decision {
    let mut decision = match &error {
        TokenError::UnknownRootKey(id) => {
            let mut d = deny(Reason::UnknownRootKey);
            d.detail = Some(match id {
                Some(id) => format!("root key id {id}"),
                None => "no root key id".to_owned(),
            });
            d
        }
        TokenError::InvalidSignature => deny(Reason::BadSignature),
        TokenError::TooComplex { block, reason } => {
            let mut d = deny(Reason::TooComplex);
            d.complex_block = Some(*block);
            d.detail = Some(reason.clone());
            d
        }
        other => {
            let mut d = deny(Reason::Malformed);
            d.detail = Some(other.to_string());
            d
        }
    };
    // Show what the token claims, unverified, to help explain; inspecting
    // decodes only (no Datalog), and refuses what is over budget.
    decision.chain = agentcap::inspect(token, None).ok().map(Arc::new);
    decision
}

fn validate_request(request: &AccessRequest) -> Result<(), String> {
    ResourcePattern::exact(&request.resource).map_err(|e| e.to_string())?;
    if request.operation.is_empty() || request.operation.len() > agentcap::MAX_VALUE_BYTES {
        return Err("the operation must be 1 to 1024 bytes".to_owned());
    }
    if request.quantities.len() + request.facts.len() > MAX_REQUEST_FACTS {
        return Err(format!(
            "more than {MAX_REQUEST_FACTS} quantities and custom facts"
        ));
    }
    for (name, _) in &request.quantities {
        if name.is_empty() || name.len() > agentcap::MAX_VALUE_BYTES {
            return Err("a quantity name must be 1 to 1024 bytes".to_owned());
        }
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
