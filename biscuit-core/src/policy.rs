//! A service's side of authorization: its Datalog policies, parsed once,
//! and the run limits Datalog evaluation may not exceed.

use std::time::Duration;

use biscuit_auth::builder::{Policy, PolicyKind};
use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits};

use crate::vocabulary;

/// What one Datalog evaluation may use: facts, rule iterations and time.
/// Every limit must be above zero ([`EvaluationLimits::is_usable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvaluationLimits {
    /// The most facts evaluation may produce (memory).
    pub max_facts: u64,
    /// The most rounds of rule application (stops degenerate rules).
    pub max_iterations: u64,
    /// The longest evaluation may run.
    pub max_time: Duration,
}

impl EvaluationLimits {
    /// Limits of `max_facts` facts, `max_iterations` rounds and `max_time`.
    pub const fn new(max_facts: u64, max_iterations: u64, max_time: Duration) -> Self {
        EvaluationLimits {
            max_facts,
            max_iterations,
            max_time,
        }
    }

    /// Whether every limit is above zero (a zero limit refuses everything).
    pub fn is_usable(&self) -> bool {
        self.max_facts > 0 && self.max_iterations > 0 && !self.max_time.is_zero()
    }

    fn to_biscuit(self) -> AuthorizerLimits {
        AuthorizerLimits {
            max_facts: self.max_facts,
            max_iterations: self.max_iterations,
            max_time: self.max_time,
        }
    }
}

/// Service policies that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The Datalog does not parse.
    #[error("invalid policy: {0}")]
    Invalid(String),
    /// There is no `allow` policy: every request would be denied.
    #[error("the policy has no `allow if` rule: every request would be denied")]
    NoAllow,
}

/// A service's Datalog (facts, rules, checks and `allow if` / `deny if`
/// policies), parsed once, with the run limits of every evaluation: what
/// [`Token::authorize`](crate::Token::authorize) evaluates a token against.
#[derive(Clone)]
pub struct ServicePolicies {
    template: AuthorizerBuilder,
    texts: Vec<String>,
    /// Only `allow if true`, and nothing else: the token's checks decide.
    allows_everything: bool,
}

impl std::fmt::Debug for ServicePolicies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServicePolicies")
            .field("policies", &self.texts)
            .finish_non_exhaustive()
    }
}

impl ServicePolicies {
    /// The single policy `allow if true`: a request is allowed when every
    /// check of the token passes.
    pub fn allow_all(limits: EvaluationLimits) -> Self {
        let policy = vocabulary::allow_all_policy();
        let texts = vec![policy.to_string()];
        let empty = AuthorizerBuilder::new().set_limits(limits.to_biscuit());
        // A policy without parameters always validates; were it refused,
        // no policy would match and every request be denied (fail closed).
        let template = empty.clone().policy(policy).unwrap_or(empty);
        ServicePolicies {
            template,
            texts,
            allows_everything: true,
        }
    }

    /// Parses the service's Datalog `sources`, which must have at least one
    /// `allow` policy; none at all is [`ServicePolicies::allow_all`].
    pub fn parse<S: AsRef<str>>(
        sources: &[S],
        limits: EvaluationLimits,
    ) -> Result<Self, PolicyError> {
        if sources.is_empty() {
            return Ok(Self::allow_all(limits));
        }
        let invalid = |e: biscuit_auth::error::Token| PolicyError::Invalid(e.to_string());
        let mut template = AuthorizerBuilder::new().set_limits(limits.to_biscuit());
        for source in sources {
            template = template.code(source.as_ref()).map_err(invalid)?;
        }
        let (facts, rules, checks, parsed) = template
            .clone()
            .build_unauthenticated()
            .map_err(invalid)?
            .dump();
        if !parsed.iter().any(|p| p.kind == PolicyKind::Allow) {
            return Err(PolicyError::NoAllow);
        }
        let texts: Vec<String> = parsed.iter().map(Policy::to_string).collect();
        let allows_everything = facts.is_empty()
            && rules.is_empty()
            && checks.is_empty()
            && texts == [vocabulary::allow_all_policy().to_string()];
        Ok(ServicePolicies {
            template,
            texts,
            allows_everything,
        })
    }

    /// The policies as Datalog, in the order their indices refer to.
    pub fn texts(&self) -> &[String] {
        &self.texts
    }

    /// Whether the service adds nothing to the token's checks (its only
    /// policy is `allow if true`): an allowed request is then one every
    /// check of the token passes.
    pub fn allows_everything(&self) -> bool {
        self.allows_everything
    }

    pub(crate) fn template(&self) -> &AuthorizerBuilder {
        &self.template
    }
}
