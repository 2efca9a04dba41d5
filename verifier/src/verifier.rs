//! The `Verifier`: trusted roots, revocation, policy, limits and a cache of
//! verified tokens; the order of the checks each request pays.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use agentcap::vocabulary::{self, fact as token_fact, request as request_fact};
use agentcap::{Chain, Error as TokenError, PublicKey, ResourcePattern, Token};
use agentcap_revocation::{CheckError, Freshness, RevocationState, RevocationStatus};
use biscuit_auth::AuthorizerBuilder;
use biscuit_auth::builder::Term;

use crate::builder::{MAX_REQUEST_FACTS, VerifierBuilder};
use crate::cache::{TokenCache, Verified, cache_key, cache_weight};
use crate::decision::{Decision, FailedCheck, Reason, RevocationInfo};
use crate::replay::ReplayCache;
use crate::request::AccessRequest;

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
    pub(crate) inner: Arc<Inner>,
}

/// The verifier's configuration and shared state, built by
/// [`VerifierBuilder`](crate::VerifierBuilder).
pub(crate) struct Inner {
    pub(crate) roots: HashMap<Option<u32>, PublicKey>,
    pub(crate) revocation: Option<Arc<RevocationState>>,
    pub(crate) template: AuthorizerBuilder,
    pub(crate) policies: Vec<String>,
    pub(crate) clock_skew: Duration,
    pub(crate) max_token_bytes: usize,
    pub(crate) max_depth: u32,
    pub(crate) holder_proof_max_age: Option<Duration>,
    pub(crate) allow_bearer_leaves: bool,
    pub(crate) audience: Vec<String>,
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
        // cached one that has since expired leaves the cache. A cached token
        // passed the structural rules when it entered: only time is new.
        let structure = if cached {
            Ok(())
        } else {
            self.check_structure(&verified.chain)
        };
        if let Err((reason, detail)) =
            structure.and_then(|()| self.check_time(&verified.chain, now))
        {
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

    /// The rules Datalog cannot express: depth (the token's and this
    /// service's maximum) and holder binding. They depend on the token alone.
    fn check_structure(&self, chain: &Chain) -> Result<(), (Reason, Option<String>)> {
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
        Ok(())
    }

    /// Expiry and issue date, with the clock skew applied both ways: a
    /// clock behind ours for expiries, one ahead of ours for issue dates.
    fn check_time(&self, chain: &Chain, now: SystemTime) -> Result<(), (Reason, Option<String>)> {
        let inner = &self.inner;
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
        let seconds = agentcap::unix_time::to_unix(now);
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
    // decodes only (no Datalog). A token over budget would be refused again:
    // not decoded twice.
    if decision.reason != Reason::TooComplex {
        decision.chain = agentcap::inspect(token, None).ok().map(Arc::new);
    }
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
