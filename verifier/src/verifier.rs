//! The `Verifier`: trusted roots, revocation, policy, limits and a cache of
//! verified tokens; the order of the checks each request pays.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use agentcap::{AuthorizationError, Chain, Error as TokenError, PublicKey};
use agentcap::{ServicePolicies, Token};
use agentcap_revocation::{CheckError, Freshness, RevocationState, RevocationStatus};

use crate::builder::VerifierBuilder;
use crate::cache::{TokenCache, Verified, cache_key, cache_weight};
use crate::decision::{Decision, Reason, RevocationInfo};
use crate::replay::ReplayCache;
use crate::request::{AccessRequest, extra_facts, validate_request};

/// Why a step of [`Verifier::verify`] denies: the reason and its detail.
/// Steps that explain more (the expiry, the revoked block, the failed
/// checks) record it in the decision before denying.
struct Denial {
    reason: Reason,
    detail: Option<String>,
}

impl Denial {
    fn new(reason: Reason, detail: Option<String>) -> Self {
        Denial { reason, detail }
    }
}

/// Whether a decision checks the holder's proof of possession.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProofStep {
    Check,
    AlreadyChecked,
}

/// Verifies delegation chains and authorizes requests. Cheap to clone
/// (shared state behind an `Arc`); safe to share between threads.
///
/// Each request pays, in order: size and format checks; signature
/// verification (once per distinct token: verified tokens are cached by a
/// SHA-256 digest of their text); chain rules (depth, holder binding); expiry;
/// audience ([`VerifierBuilder::resource_id`]); the holder's proof, when
/// required; revocation of every block; Datalog authorization with the
/// service's policies. Time, audience, revocation and policy are evaluated
/// on every request, cached or not. A token-only request
/// ([`AccessRequest::token_only`]) pays every step but the last: it is
/// allowed with no policy matched.
#[derive(Clone)]
pub struct Verifier {
    pub(crate) inner: Arc<Inner>,
}

/// The verifier's configuration and shared state, built by
/// [`VerifierBuilder`](crate::VerifierBuilder).
pub(crate) struct Inner {
    pub(crate) roots: HashMap<Option<u32>, PublicKey>,
    pub(crate) revocation: Option<Arc<RevocationState>>,
    pub(crate) policies: ServicePolicies,
    pub(crate) clock_skew: Duration,
    pub(crate) max_token_bytes: usize,
    pub(crate) max_depth: u32,
    pub(crate) holder_proof_max_age: Option<Duration>,
    pub(crate) allow_bearer_leaves: bool,
    pub(crate) audience: Vec<String>,
    /// This service's resource identifier, canonical.
    pub(crate) resource_id: Option<String>,
    pub(crate) replay: ReplayCache,
    pub(crate) cache: Mutex<TokenCache>,
    pub(crate) signature_verifications: AtomicU64,
    pub(crate) cache_hits: AtomicU64,
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

    /// Whether `token`'s signatures are already verified and cached: its
    /// decision is then a few tens of microseconds of work, cheap enough to
    /// run on an async executor thread. (A SHA-256 of the token and a map
    /// lookup; the cache may change before the next call.)
    pub fn is_warm(&self, token: &str) -> bool {
        let key = cache_key(token.trim());
        self.inner
            .cache
            .lock()
            .is_ok_and(|cache| cache.entries.contains(&key))
    }

    /// The service's policies, as Datalog.
    pub fn policies(&self) -> &[String] {
        self.inner.policies.texts()
    }

    /// Verifies `token` (URL-safe base64) and authorizes `request`.
    pub fn verify(&self, token: &str, request: &AccessRequest) -> Decision {
        self.timed(token, request, ProofStep::Check)
    }

    /// Verifies `token` and authorizes a further `request` within an HTTP
    /// request that [`Verifier::verify`] has already allowed, or refused
    /// for a reason other than the token itself: every step runs again
    /// except the holder's proof of possession, which that decision
    /// checked (and whose nonce it spent). For the calls of a JSON-RPC
    /// batch, and for filtering an answer to what the token may use.
    pub fn verify_further(&self, token: &str, request: &AccessRequest) -> Decision {
        self.timed(token, request, ProofStep::AlreadyChecked)
    }

    /// Whether `token` could be allowed *some* request for the resource and
    /// operation of `request`, within an HTTP request already allowed (as
    /// [`Verifier::verify_further`]): for listing only what an agent may
    /// use (an MCP `tools/list`). A list names a tool, not its arguments,
    /// so every quantity the chain's caps bound for it is stated at a value
    /// all those caps allow; when no value satisfies them all, the answer
    /// is no. The calls themselves are decided in full when they come.
    pub fn may_use(&self, token: &str, request: &AccessRequest) -> bool {
        let token = token.trim();
        let Some(chain) = self.cached(&cache_key(token)).map(|v| Arc::clone(&v.chain)) else {
            return self.verify_further(token, request).allowed();
        };
        let (resource, operation) = (request.resource(), request.operation());
        let mut bounds: Vec<(&str, i64, i64)> = Vec::new();
        for (_, cap) in chain.caps_for(resource, operation) {
            let (lo, hi) = (cap.min.unwrap_or(i64::MIN), cap.max.unwrap_or(i64::MAX));
            match bounds.iter_mut().find(|(name, _, _)| *name == cap.name) {
                Some(bound) => {
                    bound.1 = bound.1.max(lo);
                    bound.2 = bound.2.min(hi);
                }
                None => bounds.push((&cap.name, lo, hi)),
            }
        }
        let mut probe = request.clone();
        for (name, lo, hi) in bounds {
            // Zero when allowed (negative values need more than a cap).
            let value = 0.clamp(lo, hi.max(lo));
            if value > hi {
                return false;
            }
            probe = probe.quantity(name, value);
        }
        self.verify_further(token, &probe).allowed()
    }

    /// [`Verifier::verify`], when `token` is warm (see
    /// [`Verifier::is_warm`]); `None`, having done nothing but hash the
    /// token once, when it is not. For callers that decide warm tokens
    /// inline and send the others elsewhere: the token is hashed once.
    pub fn verify_if_warm(&self, token: &str, request: &AccessRequest) -> Option<Decision> {
        let token = token.trim();
        let key = cache_key(token);
        let warm = self
            .inner
            .cache
            .lock()
            .is_ok_and(|cache| cache.entries.contains(&key));
        warm.then(|| self.timed_keyed(token, request, ProofStep::Check, Some(key)))
    }

    fn timed(&self, token: &str, request: &AccessRequest, proof: ProofStep) -> Decision {
        self.timed_keyed(token.trim(), request, proof, None)
    }

    fn timed_keyed(
        &self,
        token: &str,
        request: &AccessRequest,
        proof: ProofStep,
        key: Option<[u8; 32]>,
    ) -> Decision {
        let started = Instant::now();
        let mut decision = self.decide(token.trim(), request, proof, key);
        decision.elapsed = started.elapsed();
        decision
    }

    fn decide(
        &self,
        token: &str,
        request: &AccessRequest,
        proof: ProofStep,
        key: Option<[u8; 32]>,
    ) -> Decision {
        let mut decision = Decision::new(Reason::Allowed, request.resource(), request.operation());
        decision.token_only = request.is_token_only();
        if let Err(denial) = self.run_checks(token, request, proof, key, &mut decision) {
            decision.reason = denial.reason;
            decision.detail = denial.detail;
        }
        decision
    }

    /// Every check, in order; the first that denies ends the decision.
    fn run_checks(
        &self,
        token: &str,
        request: &AccessRequest,
        proof: ProofStep,
        key: Option<[u8; 32]>,
        decision: &mut Decision,
    ) -> Result<(), Denial> {
        self.screen(token, request)?;
        let key = key.unwrap_or_else(|| cache_key(token));
        let (verified, cached) = match self.cached(&key) {
            Some(hit) => (hit, true),
            None => match self.verify_signatures(token) {
                Ok(fresh) => (fresh, false),
                Err(error) => return Err(token_error(error, token, decision)),
            },
        };
        decision.chain = Some(Arc::clone(&verified.chain));
        let now = request.request().time().unwrap_or_else(SystemTime::now);
        // A token refused here is never cached, and a cached one that has
        // since expired leaves the cache.
        if let Err(denial) = self.check_token(&verified.chain, cached, now, decision) {
            if cached && let Ok(mut cache) = self.inner.cache.lock() {
                cache.remove(&key);
            }
            return Err(denial);
        }
        self.check_audience(&verified.chain)?;
        if proof == ProofStep::Check {
            self.check_holder_proof(&verified.chain, token, request, now)?;
        }
        self.check_revocation(&verified, request, now, decision)?;
        if !cached && let Ok(mut cache) = self.inner.cache.lock() {
            cache.insert(key, Arc::clone(&verified));
        }
        if request.is_token_only() {
            return Ok(());
        }
        // Negative quantities pass only where a cap of the grant allows them.
        let access = request.request();
        verified
            .chain
            .check_quantities(access.resource(), access.operation(), access.quantities())
            .map_err(|error| Denial::new(Reason::PolicyDenied, Some(error.to_string())))?;
        self.authorize(&verified.token, request, now, decision)
    }

    /// What needs no token: a token is present and not too large, and the
    /// request can be authorized as given.
    fn screen(&self, token: &str, request: &AccessRequest) -> Result<(), Denial> {
        if token.is_empty() {
            return Err(Denial::new(Reason::MissingToken, None));
        }
        let max = self.inner.max_token_bytes;
        if token.len() > max {
            let detail = format!("token larger than {max} bytes");
            return Err(Denial::new(Reason::Malformed, Some(detail)));
        }
        validate_request(request)
            .map_err(|detail| Denial::new(Reason::MalformedRequest, Some(detail)))
    }

    /// The token's structure (unless it passed on entering the cache) and
    /// time, with the clock skew applied both ways.
    fn check_token(
        &self,
        chain: &Chain,
        cached: bool,
        now: SystemTime,
        decision: &mut Decision,
    ) -> Result<(), Denial> {
        if !cached {
            self.check_structure(chain)?;
        }
        match chain.check_time(now, self.inner.clock_skew) {
            Ok(()) => Ok(()),
            Err(TokenError::Expired { expired_at }) => {
                decision.expired_at = Some(expired_at);
                Err(Denial::new(Reason::Expired, None))
            }
            Err(error) => Err(Denial::new(Reason::Malformed, Some(error.to_string()))),
        }
    }

    /// The audience rule: every block that names audiences names this
    /// service's resource identifier (none: such tokens are refused).
    fn check_audience(&self, chain: &Chain) -> Result<(), Denial> {
        chain
            .check_audience(self.inner.resource_id.as_deref())
            .map_err(|error| Denial::new(Reason::AudienceMismatch, Some(error.to_string())))
    }

    /// The rules Datalog cannot express: depth (the token's and this
    /// service's maximum) and holder binding. They depend on the token alone.
    fn check_structure(&self, chain: &Chain) -> Result<(), Denial> {
        let inner = &self.inner;
        if let Err(error) = chain.validate() {
            let reason = match error {
                TokenError::DepthExceeded { .. } => Reason::DepthExceeded,
                TokenError::UnsignedHop { .. } | TokenError::WrongHopSigner { .. } => {
                    Reason::HolderBindingBroken
                }
                _ => Reason::Malformed,
            };
            return Err(Denial::new(reason, Some(error.to_string())));
        }
        if chain.depth() > inner.max_depth {
            return Err(Denial::new(
                Reason::DepthExceeded,
                Some(format!(
                    "delegation depth {} exceeds this service's maximum of {}",
                    chain.depth(),
                    inner.max_depth
                )),
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
    ) -> Result<(), Denial> {
        let inner = &self.inner;
        let Some(max_age) = inner.holder_proof_max_age else {
            return Ok(());
        };
        let Some(holder_key) = chain.holder_key() else {
            if inner.allow_bearer_leaves {
                return Ok(());
            }
            return Err(Denial::new(
                Reason::HolderProofMissing,
                Some(
                    "the token's holder has no key (a bearer token); this service requires proofs"
                        .to_owned(),
                ),
            ));
        };
        let invalid = |detail: String| Denial::new(Reason::HolderProofInvalid, Some(detail));
        let Some(proof) = &request.holder_proof else {
            return Err(Denial::new(Reason::HolderProofMissing, None));
        };
        if !inner.audience.is_empty() && !inner.audience.contains(&proof.authority) {
            return Err(invalid("the proof is for another service".to_owned()));
        }
        let covered = agentcap::ProofRequest {
            method: &proof.method,
            authority: &proof.authority,
            path: &proof.path,
            query: proof.query.as_deref(),
            token,
            body: &proof.body,
        };
        let verified = agentcap::HolderProof::verify_joint(
            &proof.signature_input,
            &proof.signature,
            proof.content_digest.as_deref(),
            &holder_key,
            &covered,
            proof.joint.as_deref(),
            now,
            max_age,
            inner.clock_skew,
        )
        .map_err(|error| invalid(error.to_string()))?;
        inner
            .replay
            .check_and_remember(
                &holder_key.to_bytes(),
                &verified.nonce,
                verified.replay_until,
                now,
            )
            .map_err(|error| invalid(error.to_string()))
    }

    /// Checks every block's revocation id against a usable list, and
    /// records the list consulted in the decision.
    fn check_revocation(
        &self,
        verified: &Verified,
        request: &AccessRequest,
        now: SystemTime,
        decision: &mut Decision,
    ) -> Result<(), Denial> {
        let Some(state) = &self.inner.revocation else {
            return Ok(());
        };
        let check = state
            .check(&verified.revocation_ids, now)
            .map_err(|error| {
                let detail = match error {
                    CheckError::NoList => "no revocation list has been received".to_owned(),
                    other => other.to_string(),
                };
                Denial::new(Reason::RevocationListStale, Some(detail))
            })?;
        decision.revocation = Some(RevocationInfo {
            sequence: check.sequence,
            age_seconds: check.age.map(|a| a.as_secs()),
            stale: !matches!(check.freshness, Freshness::Fresh),
            failed_open: check.failed_open,
        });
        if let RevocationStatus::Revoked { block_index, .. } = check.status {
            decision.revoked_block = Some(block_index);
            return Err(Denial::new(Reason::Revoked, None));
        }
        if check.failed_open {
            tracing::warn!(
                user = %verified.chain.user,
                resource = %request.resource(),
                "authorizing with an expired revocation list (fail-open configured)"
            );
        }
        Ok(())
    }

    /// The Datalog authorization with the service's policies; records the
    /// policy that matched and the checks that failed.
    fn authorize(
        &self,
        token: &Token,
        request: &AccessRequest,
        now: SystemTime,
        decision: &mut Decision,
    ) -> Result<(), Denial> {
        let extra = extra_facts(
            request,
            self.inner.resource_id.as_deref(),
            decision.revocation.as_ref(),
        );
        let inner = &self.inner;
        let outcome = token.authorize(
            request.request(),
            now,
            inner.clock_skew,
            extra,
            &inner.policies,
        );
        match outcome {
            Ok(index) => {
                decision.matched_policy = self.policy(index);
                Ok(())
            }
            Err(AuthorizationError::Denied {
                failed_checks,
                policy,
            }) => {
                decision.failed_checks = failed_checks;
                decision.matched_policy = policy.and_then(|i| self.policy(i));
                Err(Denial::new(Reason::PolicyDenied, None))
            }
            Err(AuthorizationError::RunLimit(limit)) => {
                let detail = format!("authorization exceeded its run limits: {limit}");
                Err(Denial::new(Reason::LimitsExceeded, Some(detail)))
            }
            Err(AuthorizationError::Unusable(detail)) => {
                Err(Denial::new(Reason::Malformed, Some(detail)))
            }
            Err(other) => Err(Denial::new(Reason::PolicyDenied, Some(other.to_string()))),
        }
    }

    fn policy(&self, index: usize) -> Option<(usize, String)> {
        let texts = self.inner.policies.texts();
        texts.get(index).map(|p| (index, p.clone()))
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
            revocation_ids: token_value.revocation_ids(),
            token: token_value,
            weight,
        }))
    }
}

/// The denial for a token that cannot be read or verified; the decision
/// shows what the token claims, unverified, to help explain.
fn token_error(error: TokenError, token: &str, decision: &mut Decision) -> Denial {
    let denial = match error {
        TokenError::UnknownRootKey(id) => Denial::new(
            Reason::UnknownRootKey,
            Some(match id {
                Some(id) => format!("root key id {id}"),
                None => "no root key id".to_owned(),
            }),
        ),
        TokenError::InvalidSignature => Denial::new(Reason::BadSignature, None),
        TokenError::TooComplex { block, reason } => {
            decision.complex_block = Some(block);
            Denial::new(Reason::TooComplex, Some(reason))
        }
        other => Denial::new(Reason::Malformed, Some(other.to_string())),
    };
    // Inspecting decodes only (no Datalog). A token over budget would be
    // refused again: not decoded twice.
    if denial.reason != Reason::TooComplex {
        decision.chain = agentcap::inspect(token, None).ok().map(Arc::new);
    }
    denial
}
