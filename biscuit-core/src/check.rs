//! Checking a request against a token: the one implementation the local
//! check ([`Token::check`]) and the verifier crate share. What is asked
//! ([`Request`]) and its validation, the time rule with clock skew
//! ([`Chain::check_time`]), the Datalog authorization ([`Token::authorize`])
//! and the failed checks it reports ([`FailedCheck`]).

use std::time::{Duration, SystemTime};

use biscuit_auth::builder::{Fact, Term};
use biscuit_auth::{AuthorizerBuilder, Biscuit};

use crate::chain::{Chain, CheckRole};
use crate::error::Error;
use crate::keys::PublicKey;
use crate::policy::{EvaluationLimits, ServicePolicies};
use crate::rights::{MAX_VALUE_BYTES, ResourcePattern, validate_operation};
use crate::token::{Inner, Token, unix_seconds};
use crate::vocabulary;

/// Datalog run limits of the local check: generous enough for a loaded host,
/// unlike biscuit-auth's 1 ms default. The evaluation budget already bounds
/// what a token can cost (a few milliseconds at worst), so the time limit is
/// a backstop: it is wall-clock time, and an agent's host under load must
/// not turn a valid token into a denial.
pub const LOCAL_CHECK_LIMITS: EvaluationLimits =
    EvaluationLimits::new(1000, 100, Duration::from_secs(1));

/// What is asked of a token: an operation on a concrete resource, optional
/// named quantities bounded by caps, the time of the request, and
/// optionally the service it is asked of ([`Request::audience`]).
///
/// A request names one concrete operation: `*` is a right pattern, never an
/// operation asked for, and is refused by [`Request::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    resource: String,
    operation: String,
    quantities: Vec<(String, i64)>,
    at: Option<SystemTime>,
    audience: Option<String>,
}

impl Request {
    /// `operation` on the concrete `resource`.
    pub fn new(resource: impl Into<String>, operation: impl Into<String>) -> Self {
        Request {
            resource: resource.into(),
            operation: operation.into(),
            quantities: Vec::new(),
            at: None,
            audience: None,
        }
    }

    /// A named quantity (e.g. `amount`), stated as `quantity(name, value)`;
    /// caps bound it. Setting a name twice keeps the last value.
    pub fn quantity(mut self, name: impl Into<String>, value: i64) -> Self {
        let name = name.into();
        self.quantities.retain(|(n, _)| *n != name);
        self.quantities.push((name, value));
        self
    }

    /// The time of the request (default: when it is checked).
    pub fn at(mut self, at: SystemTime) -> Self {
        self.at = Some(at);
        self
    }

    /// The service the request is for, by its resource identifier (an RFC
    /// 8707 resource indicator such as `https://gw.example/mcp`): the local
    /// check ([`Token::check`]) then applies the audience rule as that
    /// service would ([`Chain::check_audience`]) and states
    /// `audience(<canonical id>)` for the token's checks. Without it, the
    /// token's audiences are not checked locally. The verifier crate
    /// ignores it: a service states its own identifier.
    pub fn audience(mut self, resource_id: impl Into<String>) -> Self {
        self.audience = Some(resource_id.into());
        self
    }

    /// The service's resource identifier, as given, if any.
    pub fn audience_id(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The resource requested.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The operation requested.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The quantities.
    pub fn quantities(&self) -> &[(String, i64)] {
        &self.quantities
    }

    /// The time of the request, if one was given.
    pub fn time(&self) -> Option<SystemTime> {
        self.at
    }

    /// Whether the request can be authorized as given: a concrete resource,
    /// one operation (not `*`), quantity names of 1 to 1024 bytes, an
    /// audience (if any) that [`canonical_resource`](crate::canonical_resource) accepts.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |e: Error| Error::InvalidRequest(e.to_string());
        ResourcePattern::exact(&self.resource).map_err(invalid)?;
        validate_operation(&self.operation).map_err(invalid)?;
        for (name, _) in &self.quantities {
            if name.is_empty() || name.len() > MAX_VALUE_BYTES {
                return Err(Error::InvalidRequest(
                    "a quantity name must be 1 to 1024 bytes".to_owned(),
                ));
            }
        }
        if let Some(audience) = &self.audience {
            crate::canonical_resource(audience).map_err(invalid)?;
        }
        Ok(())
    }
}

/// A term of an extra request fact (`name(value)`, `argument(name, value)`)
/// for a service's policies.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FactValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl From<&str> for FactValue {
    fn from(s: &str) -> Self {
        FactValue::Str(s.to_owned())
    }
}

impl From<String> for FactValue {
    fn from(s: String) -> Self {
        FactValue::Str(s)
    }
}

impl From<i64> for FactValue {
    fn from(n: i64) -> Self {
        FactValue::Int(n)
    }
}

impl From<bool> for FactValue {
    fn from(b: bool) -> Self {
        FactValue::Bool(b)
    }
}

impl FactValue {
    fn into_term(self) -> Term {
        match self {
            FactValue::Str(s) => Term::Str(s),
            FactValue::Int(n) => Term::Integer(n),
            FactValue::Bool(b) => Term::Bool(b),
        }
    }
}

/// A check that failed during authorization: which block carried it, its
/// position among that block's checks, and what it enforces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FailedCheck {
    /// The block that carried the check (0 is the authority block); `None`
    /// for a check of the service's policy (the authorizer's own).
    pub block: Option<usize>,
    /// The check's position within its block (or the service's policy).
    pub check: usize,
    /// What it enforces, when agentcap recognises it (see [`CheckRole`]).
    pub role: Option<CheckRole>,
}

impl FailedCheck {
    /// A failed check of `block` (`None`: the service's policy) at position `check`.
    pub fn new(block: Option<usize>, check: usize, role: Option<CheckRole>) -> Self {
        FailedCheck { block, check, role }
    }
}

/// The failed checks biscuit-auth reports, with their roles when `chain`
/// is given: the one mapping from biscuit-auth's failed checks to ours.
pub(crate) fn failed_checks(
    chain: Option<&Chain>,
    checks: &[biscuit_auth::error::FailedCheck],
) -> Vec<FailedCheck> {
    use biscuit_auth::error::FailedCheck as Biscuit;
    checks
        .iter()
        .map(|check| match check {
            Biscuit::Block(b) => {
                let (block, index) = (b.block_id as usize, b.check_id as usize);
                let role = chain
                    .and_then(|c| c.block(block))
                    .and_then(|blk| blk.checks.get(index).copied());
                FailedCheck::new(Some(block), index, role)
            }
            Biscuit::Authorizer(a) => FailedCheck::new(None, a.check_id as usize, None),
        })
        .collect()
}

/// Why Datalog authorization did not allow a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthorizationError {
    /// A check failed, a `deny` policy matched, or no policy matched.
    #[error("not permitted: {} check(s) failed", failed_checks.len())]
    Denied {
        /// The checks that failed.
        failed_checks: Vec<FailedCheck>,
        /// The index of the policy that matched (a `deny`, or an `allow`
        /// overruled by failed checks), if any.
        policy: Option<usize>,
    },
    /// Evaluation hit its run limits.
    #[error("authorization exceeded its run limits: {0}")]
    RunLimit(String),
    /// The authorizer could not be set up for this token and request.
    #[error("{0}")]
    Unusable(String),
    /// Any other failure of the evaluation.
    #[error("{0}")]
    Failed(String),
}

impl From<AuthorizationError> for Error {
    fn from(error: AuthorizationError) -> Self {
        match error {
            AuthorizationError::Denied { failed_checks, .. } => {
                Error::NotPermitted { failed_checks }
            }
            AuthorizationError::RunLimit(limit) => Error::RunLimit(limit),
            AuthorizationError::Unusable(e) | AuthorizationError::Failed(e) => Error::Biscuit(e),
        }
    }
}

impl Chain {
    /// The time rule, with `skew` tolerated both ways: at `now`, the chain
    /// must not have expired more than `skew` ago ([`Error::Expired`]) nor
    /// be issued more than `skew` ahead ([`Error::IssuedInFuture`]).
    pub fn check_time(&self, now: SystemTime, skew: Duration) -> Result<(), Error> {
        if let Some(expired_at) = self.expires_at()
            && now.checked_sub(skew).unwrap_or(now) > expired_at
        {
            return Err(Error::Expired { expired_at });
        }
        if let Some(latest) = now.checked_add(skew)
            && self.issued_at > latest
        {
            return Err(Error::IssuedInFuture {
                issued_at: self.issued_at,
            });
        }
        Ok(())
    }
}

impl Token {
    /// The local check: would this token, verified against `root`, allow
    /// `request`? For an agent deciding what to attempt or delegate; a
    /// service uses the full verifier, which adds revocation and policy.
    ///
    /// Errors distinguish an invalid request ([`Error::InvalidRequest`]),
    /// an expired token ([`Error::Expired`]), a chain too deep
    /// ([`Error::DepthExceeded`]), a broken holder binding, a bad
    /// signature, and a request outside the token's rights
    /// ([`Error::NotPermitted`]).
    pub fn check(&self, root: &PublicKey, request: &Request) -> Result<(), Error> {
        request.validate()?;
        let verified;
        let biscuit = match (&self.inner, self.root) {
            (Inner::Verified(b), Some(key)) if key == *root => b,
            _ => {
                verified = Biscuit::from(self.to_bytes()?, root.to_biscuit())
                    .map_err(Error::from_biscuit)?;
                &verified
            }
        };
        self.chain.validate()?;
        let now = request.time().unwrap_or_else(SystemTime::now);
        self.chain.check_time(now, Duration::ZERO)?;
        let mut extra_facts = Vec::new();
        if let Some(audience) = request.audience_id() {
            let resource_id = crate::canonical_resource(audience)?;
            self.chain.check_audience(Some(&resource_id))?;
            extra_facts.push((
                vocabulary::request::AUDIENCE,
                vec![FactValue::Str(resource_id)],
            ));
        }
        let policies = ServicePolicies::allow_all(LOCAL_CHECK_LIMITS);
        let run = Authorization {
            request,
            now,
            clock_skew: Duration::ZERO,
            extra_facts,
            policies: &policies,
        };
        run.evaluate(biscuit, &self.chain)?;
        self.chain.check_quantities(
            request.resource(),
            request.operation(),
            request.quantities(),
        )
    }

    /// Runs the Datalog authorization of `request` at `now` (less
    /// `clock_skew`, as [`Chain::check_time`] allows): the token's checks,
    /// the request facts, `extra_facts` and the service's `policies`.
    /// Returns the index of the `allow` policy that matched.
    ///
    /// Each extra fact is a predicate name and its terms: `("region",
    /// vec!["eu".into()])` states `region("eu")`, `("argument",
    /// vec!["origin".into(), "AMS".into()])` states `argument("origin",
    /// "AMS")`. Values are builder terms, never Datalog source.
    ///
    /// The token must be verified ([`Token::is_verified`]); the caller checks
    /// the request ([`Request::validate`]), the chain's rules
    /// ([`Chain::validate`]) and time first.
    pub fn authorize(
        &self,
        request: &Request,
        now: SystemTime,
        clock_skew: Duration,
        extra_facts: Vec<(&str, Vec<FactValue>)>,
        policies: &ServicePolicies,
    ) -> Result<usize, AuthorizationError> {
        let Inner::Verified(biscuit) = &self.inner else {
            return Err(AuthorizationError::Unusable(
                "the token was not verified".to_owned(),
            ));
        };
        let run = Authorization {
            request,
            now,
            clock_skew,
            extra_facts,
            policies,
        };
        if policies.allows_everything() && run.allowed_without_datalog(&self.chain) {
            return Ok(0);
        }
        run.evaluate(biscuit, &self.chain)
    }
}

/// One Datalog authorization.
struct Authorization<'a> {
    request: &'a Request,
    now: SystemTime,
    clock_skew: Duration,
    extra_facts: Vec<(&'a str, Vec<FactValue>)>,
    policies: &'a ServicePolicies,
}

impl Authorization<'_> {
    /// The time the request is authorized at: now, less the clock skew.
    fn seconds(&self) -> Result<u64, AuthorizationError> {
        let at = self.now.checked_sub(self.clock_skew).unwrap_or(self.now);
        unix_seconds(at).map_err(|e| AuthorizationError::Unusable(e.to_string()))
    }

    /// Whether every check of a fully recognised chain passes, evaluated
    /// from its restrictions ([`Chain::allows_request`]): the hot path of a
    /// service whose only policy is `allow if true`. Anything else, and
    /// every refusal (whose explanation names the failed checks), goes to
    /// Datalog.
    fn allowed_without_datalog(&self, chain: &Chain) -> bool {
        let Ok(seconds) = self.seconds() else {
            return false;
        };
        let audience = self
            .extra_facts
            .iter()
            .find(|(name, _)| *name == vocabulary::request::AUDIENCE)
            .and_then(|(_, values)| match values.as_slice() {
                [FactValue::Str(audience)] => Some(audience.as_str()),
                _ => None,
            });
        let stated_twice = self
            .extra_facts
            .iter()
            .filter(|(name, _)| *name == vocabulary::request::AUDIENCE)
            .count()
            > 1;
        !stated_twice && chain.allows_request(self.request, seconds, audience) == Some(true)
    }

    fn facts(&mut self) -> Result<Vec<Fact>, AuthorizationError> {
        let seconds = self.seconds()?;
        let request = self.request;
        let mut facts = vocabulary::request_facts(
            request.resource(),
            request.operation(),
            seconds,
            request.quantities(),
        );
        facts.extend(self.extra_facts.drain(..).map(|(name, values)| {
            let terms = values.into_iter().map(FactValue::into_term).collect();
            vocabulary::fact(name, terms)
        }));
        Ok(facts)
    }

    fn evaluate(mut self, biscuit: &Biscuit, chain: &Chain) -> Result<usize, AuthorizationError> {
        use biscuit_auth::error::{Logic, MatchedPolicy, Token as BiscuitError};
        let unusable = |e: BiscuitError| AuthorizationError::Unusable(e.to_string());
        let mut builder: AuthorizerBuilder = self.policies.template().clone();
        for fact in self.facts()? {
            builder = builder.fact(fact).map_err(unusable)?;
        }
        let mut authorizer = builder.build(biscuit).map_err(unusable)?;
        match authorizer.authorize() {
            Ok(index) => Ok(index),
            Err(BiscuitError::FailedLogic(Logic::Unauthorized { policy, checks })) => {
                let (MatchedPolicy::Allow(index) | MatchedPolicy::Deny(index)) = policy;
                Err(AuthorizationError::Denied {
                    failed_checks: failed_checks(Some(chain), &checks),
                    policy: Some(index),
                })
            }
            Err(BiscuitError::FailedLogic(Logic::NoMatchingPolicy { checks })) => {
                Err(AuthorizationError::Denied {
                    failed_checks: failed_checks(Some(chain), &checks),
                    policy: None,
                })
            }
            Err(BiscuitError::RunLimit(limit)) => {
                Err(AuthorizationError::RunLimit(limit.to_string()))
            }
            Err(error) => Err(AuthorizationError::Failed(error.to_string())),
        }
    }
}
