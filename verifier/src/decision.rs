//! The verifier's answer: allowed or denied, a stable reason code, the chain,
//! and an explanation in plain words.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agentcap::display::{escape, escape_join};
use agentcap::unix_time::format_rfc3339;
use agentcap::{Chain, CheckRole, FailedCheck};

use crate::joint::JointOutcome;
use serde::Serialize;

/// Why a request was allowed or denied. The codes ([`Reason::code`]) are
/// stable: clients, dashboards and alerts may match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// The chain verified and every check and a policy allowed the request.
    Allowed,
    /// No token was presented.
    MissingToken,
    /// The token is not well formed (or its header cannot be read).
    Malformed,
    /// The request cannot be turned into facts (bad resource, bad path).
    MalformedRequest,
    /// The token names a root key this verifier does not trust.
    UnknownRootKey,
    /// A signature does not verify: forged or altered.
    BadSignature,
    /// The token, or one of its hops, has expired.
    Expired,
    /// A block of the token is revoked.
    Revoked,
    /// The token names the resources it is for (RFC 8707 audiences), and
    /// this service is not one of them, or has no resource identifier to
    /// compare ([`crate::VerifierBuilder::resource_id`]). An authentication
    /// failure (401): the token was not issued for this service.
    AudienceMismatch,
    /// The chain has more hops than allowed.
    DepthExceeded,
    /// A key-bound holder handed the token on without signing the hop.
    HolderBindingBroken,
    /// The token is bound to its holder's key and the request carries no
    /// proof of possession (when the verifier requires one).
    HolderProofMissing,
    /// The proof of possession is malformed, stale, for another request, or
    /// not signed by the holder's key.
    HolderProofInvalid,
    /// The revocation list is too old (past next-update and grace).
    RevocationListStale,
    /// A check of the token or a policy of the service refused the request.
    PolicyDenied,
    /// Authorization exceeded its run limits.
    LimitsExceeded,
    /// A block of the token asks more of the Datalog engine than the
    /// evaluation budget allows (`agentcap::budget`); it was never evaluated.
    TooComplex,
    /// The decision could not be recorded and the service requires every
    /// decision to be audited (the request is refused, whatever the token).
    AuditUnavailable,
    /// A joint request (one made for several principals,
    /// [`crate::Verifier::verify_joint`]): the acting token allows it, but
    /// another principal's token refuses it. [`Decision::joint`] says which
    /// principal, and why.
    JointDenied,
    /// A joint token is held by another agent than the acting one (or bound
    /// to another key): that principal did not delegate to this agent.
    JointHolderMismatch,
}

impl Reason {
    /// The stable code, e.g. `"policy_denied"`.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Allowed => "allowed",
            Reason::MissingToken => "missing_token",
            Reason::Malformed => "malformed",
            Reason::MalformedRequest => "malformed_request",
            Reason::UnknownRootKey => "unknown_root_key",
            Reason::BadSignature => "bad_signature",
            Reason::Expired => "expired",
            Reason::Revoked => "revoked",
            Reason::AudienceMismatch => "audience_mismatch",
            Reason::DepthExceeded => "depth_exceeded",
            Reason::HolderBindingBroken => "holder_binding_broken",
            Reason::HolderProofMissing => "holder_proof_missing",
            Reason::HolderProofInvalid => "holder_proof_invalid",
            Reason::RevocationListStale => "revocation_list_stale",
            Reason::PolicyDenied => "policy_denied",
            Reason::LimitsExceeded => "limits_exceeded",
            Reason::TooComplex => "token_too_complex",
            Reason::AuditUnavailable => "audit_unavailable",
            Reason::JointDenied => "joint_denied",
            Reason::JointHolderMismatch => "joint_holder_mismatch",
        }
    }

    /// Whether the token itself could not be accepted, whatever it was
    /// asked (the HTTP answer is 401, `invalid_token` in RFC 6750's terms:
    /// missing, malformed, forged, expired, revoked, too deep, handed on
    /// unsigned, for another resource, or without its holder's proof),
    /// rather than being valid but insufficient for this request (403).
    pub fn is_authentication_failure(self) -> bool {
        matches!(
            self,
            Reason::MissingToken
                | Reason::Malformed
                | Reason::UnknownRootKey
                | Reason::BadSignature
                | Reason::Expired
                | Reason::Revoked
                | Reason::DepthExceeded
                | Reason::HolderBindingBroken
                | Reason::HolderProofMissing
                | Reason::HolderProofInvalid
                | Reason::TooComplex
                | Reason::AudienceMismatch
        )
    }

    /// Every reason, for documentation and exhaustive tests.
    pub const ALL: [Reason; 20] = [
        Reason::Allowed,
        Reason::MissingToken,
        Reason::Malformed,
        Reason::MalformedRequest,
        Reason::UnknownRootKey,
        Reason::BadSignature,
        Reason::Expired,
        Reason::Revoked,
        Reason::AudienceMismatch,
        Reason::DepthExceeded,
        Reason::HolderBindingBroken,
        Reason::HolderProofMissing,
        Reason::HolderProofInvalid,
        Reason::RevocationListStale,
        Reason::PolicyDenied,
        Reason::LimitsExceeded,
        Reason::TooComplex,
        Reason::AuditUnavailable,
        Reason::JointDenied,
        Reason::JointHolderMismatch,
    ];
}

/// Serializes failed checks as `{block, check, role}` with the role's name.
fn serialize_failed_checks<S: serde::Serializer>(
    checks: &[FailedCheck],
    s: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Shown {
        block: Option<usize>,
        check: usize,
        role: Option<&'static str>,
    }
    s.collect_seq(checks.iter().map(|c| Shown {
        block: c.block,
        check: c.check,
        role: c.role.map(CheckRole::as_str),
    }))
}

/// The state of the revocation list a decision used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct RevocationInfo {
    /// Sequence number of the list.
    pub sequence: Option<u64>,
    /// Seconds since the list (or its newest head) was signed.
    pub age_seconds: Option<u64>,
    /// Whether the list was past next-update (stale or expired).
    pub stale: bool,
    /// Whether the decision was taken from an expired list because the
    /// configuration fails open.
    pub failed_open: bool,
}

/// The verifier's answer for one request.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Decision {
    /// Why: `Allowed` or the reason for the denial.
    pub reason: Reason,
    /// The chain, when the token could be read (verified or not: see
    /// [`Chain::verified`]).
    #[serde(skip)]
    pub chain: Option<Arc<Chain>>,
    /// For `Revoked`: the first revoked block.
    pub revoked_block: Option<usize>,
    /// For `Expired`: when.
    #[serde(skip)]
    pub expired_at: Option<SystemTime>,
    /// For `TooComplex`: the block over budget.
    pub complex_block: Option<usize>,
    /// For `PolicyDenied`: the checks that failed.
    #[serde(serialize_with = "serialize_failed_checks")]
    pub failed_checks: Vec<FailedCheck>,
    /// The service policy that matched (its index and text), if any.
    pub matched_policy: Option<(usize, String)>,
    /// The revocation list consulted, if any.
    pub revocation: Option<RevocationInfo>,
    /// The resource requested.
    pub resource: String,
    /// The operation requested.
    pub operation: String,
    /// Whether the request asked for a valid token only
    /// ([`crate::AccessRequest::token_only`]): then `resource` and
    /// `operation` are empty, and an allowed decision matched no policy.
    pub token_only: bool,
    /// Extra detail for reasons that need it (a parse error, a limit).
    pub detail: Option<String>,
    /// For a joint request ([`crate::Verifier::verify_joint`]): every
    /// principal's decision and which refused. `None` for a request made
    /// for one principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub joint: Option<Box<JointOutcome>>,
    /// Time spent deciding.
    #[serde(skip)]
    pub elapsed: Duration,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.reason == Reason::Allowed
    }

    /// A decision with `reason` for `operation` on `resource`, with nothing
    /// else known: for refusals taken before the verifier runs (no token,
    /// a message that cannot be read).
    pub fn new(reason: Reason, resource: &str, operation: &str) -> Self {
        Decision {
            reason,
            chain: None,
            revoked_block: None,
            complex_block: None,
            expired_at: None,
            failed_checks: Vec::new(),
            matched_policy: None,
            revocation: None,
            resource: resource.to_owned(),
            operation: operation.to_owned(),
            token_only: false,
            detail: None,
            joint: None,
            elapsed: Duration::ZERO,
        }
    }

    /// The decision in plain words, e.g. "denied: hop 2 (travel-assistant →
    /// flight-search) allows only flights/*:read; the request was
    /// payments/charge:write". Everything taken from the token or the
    /// request is [`escape`]d: the text is safe to show on a terminal.
    pub fn explain(&self) -> String {
        let request = format!("{}:{}", escape(&self.resource), escape(&self.operation));
        match self.reason {
            Reason::Allowed => self.explain_allowed(&request),
            Reason::MissingToken => "denied: no token was presented".to_owned(),
            Reason::MalformedRequest => {
                self.denied_with_detail("the request cannot be authorized as given")
            }
            Reason::Malformed => self.denied_with_detail("the token is malformed"),
            Reason::UnknownRootKey => self.denied_with_detail(
                "the token was issued under a root key this service does not trust",
            ),
            Reason::BadSignature => {
                "denied: a signature does not verify (forged or altered token)".to_owned()
            }
            Reason::Expired => self.explain_expired(),
            Reason::Revoked => self.explain_revoked(),
            Reason::AudienceMismatch => self.explain_audience_mismatch(),
            Reason::HolderProofMissing => "denied: the token is bound to its holder's key and \
                                           the request carries no proof of possession"
                .to_owned(),
            Reason::HolderProofInvalid => {
                self.denied_with_detail("the proof of possession does not hold")
            }
            Reason::TooComplex => self.explain_too_complex(),
            Reason::AuditUnavailable => "denied: the decision could not be recorded and this \
                                         service requires an audit record"
                .to_owned(),
            Reason::DepthExceeded | Reason::HolderBindingBroken | Reason::LimitsExceeded => {
                self.explain_chain_rule()
            }
            Reason::RevocationListStale => {
                self.denied_with_detail("the revocation list is too old to trust (failing closed)")
            }
            Reason::PolicyDenied => self.explain_policy_denial(&request),
            Reason::JointDenied => self.explain_joint_denied(),
            Reason::JointHolderMismatch => {
                self.denied_with_detail("the token is not held by the acting agent")
            }
        }
    }

    /// `denied: <what>`, then the escaped detail in parentheses when there
    /// is one.
    fn denied_with_detail(&self, what: &str) -> String {
        let mut out = format!("denied: {what}");
        if let Some(detail) = &self.detail {
            let _ = write!(out, " ({})", escape(detail));
        }
        out
    }

    /// For `Allowed`: the request (or that nothing specific was asked),
    /// who made it through which agents, and the service policy that matched.
    fn explain_allowed(&self, request: &str) -> String {
        let mut out = if self.token_only {
            "allowed: a valid token (nothing specific was asked)".to_owned()
        } else {
            format!("allowed: {request}")
        };
        if let Some(chain) = &self.chain {
            let _ = write!(
                out,
                " for {}{} via {}",
                escape(&chain.user),
                if chain.verified { "" } else { " (claimed)" },
                escape_join(chain.agents(), " → ")
            );
        }
        if let Some((index, policy)) = &self.matched_policy {
            let _ = write!(out, " (policy {index}: {})", escape(policy));
        }
        self.append_joint(&mut out);
        out
    }

    /// For `Expired`: when, if known.
    fn explain_expired(&self) -> String {
        let mut out = "denied: the token expired".to_owned();
        if let Some(at) = self.expired_at {
            let _ = write!(out, " at {}", format_rfc3339(at));
        }
        out
    }

    /// For `AudienceMismatch`: the block whose audiences exclude this
    /// service, and the service's identifier (from the detail).
    fn explain_audience_mismatch(&self) -> String {
        self.denied_with_detail("the token was not issued for this service")
    }

    /// For `Revoked`: the first revoked block, and what follows from it.
    fn explain_revoked(&self) -> String {
        let who = self.describe_block(self.revoked_block.unwrap_or(0));
        format!("denied: {who} is revoked; so is everything delegated from it")
    }

    /// For `TooComplex`: the block over the evaluation budget, and the
    /// budget's own detail (not escaped: the budget writes it).
    fn explain_too_complex(&self) -> String {
        let mut out = format!(
            "denied: {} asks more of the policy engine than this service allows; \
             it was not evaluated",
            self.describe_block(self.complex_block.unwrap_or(0))
        );
        if let Some(detail) = &self.detail {
            let _ = write!(out, " ({detail})");
        }
        out
    }

    /// For the chain rules (depth, holder binding, run limits): the detail,
    /// or the reason's code when there is none.
    fn explain_chain_rule(&self) -> String {
        format!(
            "denied: {}",
            escape(self.detail.as_deref().unwrap_or(self.reason.code()))
        )
    }

    /// For `PolicyDenied`: every failed check in words, or, when no check
    /// failed, why the service itself refused.
    fn explain_policy_denial(&self, request: &str) -> String {
        let reasons: Vec<String> = self
            .failed_checks
            .iter()
            .map(|c| self.describe_failed_check(c, request))
            .collect();
        if reasons.is_empty() {
            format!("denied: {}", self.describe_service_refusal(request))
        } else {
            format!("denied: {}", reasons.join("; also "))
        }
    }

    /// A refusal with no failed check: a refusal outside Datalog (the
    /// detail), the service policy that refused, or no policy that allows.
    fn describe_service_refusal(&self, request: &str) -> String {
        match (&self.detail, &self.matched_policy) {
            // A refusal outside Datalog (e.g. a negative quantity).
            (Some(detail), _) => format!("{}; the request was {request}", escape(detail)),
            (None, Some((index, policy))) => format!(
                "the service's policy {index} ({}) refused {request}",
                escape(policy)
            ),
            (None, None) => format!("no policy of the service allows {request}"),
        }
    }

    /// A short message for the client that made the request: the reason in
    /// words and the failing block, never the service's policy, the token's
    /// names or any detail that helps probe the service. The full
    /// [`Decision::explain`] belongs in the audit trail and the log.
    pub fn client_message(&self) -> String {
        let block = |index: Option<usize>| match index {
            Some(i) => format!(" (block {i})"),
            None => String::new(),
        };
        match self.reason {
            Reason::Allowed => "allowed".to_owned(),
            Reason::MissingToken => "no token was presented".to_owned(),
            Reason::Malformed => "the token is malformed".to_owned(),
            Reason::MalformedRequest => "the request cannot be authorized as given".to_owned(),
            Reason::UnknownRootKey => {
                "the token was issued under a root key this service does not trust".to_owned()
            }
            Reason::BadSignature => "a signature of the token does not verify".to_owned(),
            Reason::Expired => "the token has expired".to_owned(),
            Reason::Revoked => format!("the token is revoked{}", block(self.revoked_block)),
            Reason::AudienceMismatch => "the token was not issued for this service".to_owned(),
            Reason::DepthExceeded => "the delegation chain is too deep".to_owned(),
            Reason::HolderBindingBroken => {
                "a key-bound holder handed the token on without signing the hop".to_owned()
            }
            Reason::HolderProofMissing => {
                "the request carries no proof of possession of the holder's key".to_owned()
            }
            Reason::HolderProofInvalid => "the proof of possession does not hold".to_owned(),
            Reason::RevocationListStale => {
                "the service's revocation list is too old to trust".to_owned()
            }
            Reason::PolicyDenied => {
                let failed = self.failed_checks.iter().find(|c| c.block.is_some());
                match failed {
                    Some(check) => format!(
                        "a check of the token refused the request{}",
                        block(check.block)
                    ),
                    None => "the service's policy refused the request".to_owned(),
                }
            }
            Reason::LimitsExceeded => "authorization exceeded its run limits".to_owned(),
            Reason::TooComplex => format!(
                "the token is too complex to evaluate{}",
                block(self.complex_block)
            ),
            Reason::AuditUnavailable => {
                "the decision could not be recorded; try again later".to_owned()
            }
            Reason::JointDenied => self.joint_client_message(),
            Reason::JointHolderMismatch => {
                "the token is not held by the agent making the request".to_owned()
            }
        }
    }

    /// The block a denial is about, if any: the revoked block, the block
    /// over budget, or the block of the first failed check.
    pub fn failing_block(&self) -> Option<usize> {
        self.revoked_block
            .or(self.complex_block)
            .or_else(|| self.failed_checks.iter().find_map(|c| c.block))
    }

    fn describe_block(&self, index: usize) -> String {
        self.chain
            .as_ref()
            .and_then(|c| c.block(index))
            .map_or_else(|| format!("block {index}"), |b| b.describe())
    }

    fn describe_failed_check(&self, check: &FailedCheck, request: &str) -> String {
        let Some(index) = check.block else {
            return format!("the service's check {} refused {request}", check.check);
        };
        let block = self.chain.as_ref().and_then(|c| c.block(index));
        let who = self.describe_block(index);
        match (check.role, block) {
            (Some(CheckRole::Rights), Some(b)) => {
                let rights: Vec<String> = b.rights.iter().map(ToString::to_string).collect();
                format!(
                    "{who} allows only {}; the request was {request}",
                    escape(&rights.join(", "))
                )
            }
            (Some(CheckRole::Cap(i)), Some(b)) => match b.caps.get(i) {
                Some(cap) => {
                    let range = match (cap.min, cap.max) {
                        (Some(min), Some(max)) => format!("between {min} and {max}"),
                        (Some(min), None) => format!("at a minimum of {min}"),
                        (None, Some(max)) => format!("at {max}"),
                        (None, None) => "within bounds".to_owned(),
                    };
                    format!(
                        "{who} caps {} {range} for {} on {}; the request's {} is missing or \
                         out of bounds (the request was {request})",
                        escape(&cap.name),
                        escape(&cap.operation),
                        escape(cap.resource.as_str()),
                        escape(&cap.name),
                    )
                }
                None => format!("{who}: a cap refused {request}"),
            },
            (Some(CheckRole::Expiry), Some(b)) => match b.expires_at {
                Some(at) => format!("{who} expired at {}", format_rfc3339(at)),
                None => format!("{who} expired"),
            },
            _ => format!("check {} of {who} refused {request}", check.check),
        }
    }
}
