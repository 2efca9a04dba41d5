//! Deciding and recording: the verifier runs inline for warm tokens and on
//! the blocking pool otherwise; every decision is audited.

use std::sync::Arc;
use std::time::SystemTime;

use agentcap::Chain;

use agentcap_verifier::{
    AccessRequest, AuditRecord, AuditSink, BearerToken, Decision, Reason, TokenExtractor,
    UnreadableToken, Verifier, joint_tokens,
};

/// The token a request carries, as read from its `Authorization` header.
#[derive(Debug, Clone)]
pub(crate) enum Presented {
    /// No token.
    Missing,
    /// A header that cannot be read as a bearer token.
    Unreadable(&'static str),
    /// The acting token, and the other principals' tokens of a joint
    /// request (the `Agentcap-Joint` header; empty for one principal).
    Token(String, Vec<String>),
}

impl Presented {
    pub(crate) fn from_parts(parts: &http::request::Parts) -> Self {
        let joint = match joint_tokens(&parts.headers) {
            Ok(joint) => joint,
            Err(why) => return Presented::Unreadable(why),
        };
        match BearerToken.token(parts) {
            Ok(Some(token)) => Presented::Token(token, joint),
            Ok(None) => Presented::Missing,
            Err(UnreadableToken(why)) => Presented::Unreadable(why),
        }
    }

    /// Every token presented, the acting one first (none when missing or
    /// unreadable).
    pub(crate) fn tokens(&self) -> Vec<String> {
        match self {
            Presented::Token(token, joint) => std::iter::once(token.clone())
                .chain(joint.iter().cloned())
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// The verifier and the audit sink.
pub(crate) struct Decider {
    pub(crate) verifier: Verifier,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) audit_required: bool,
}

/// Where a decision was taken: the HTTP method and path, for the audit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
}

impl Decider {
    /// Decides each request for the presented token and records every
    /// decision; warm tokens inline, others on the blocking pool (one hop
    /// for all of them).
    pub(crate) async fn decide_all(
        &self,
        presented: &Presented,
        requests: Vec<AccessRequest>,
        at: At<'_>,
    ) -> Vec<Decision> {
        let decisions = match presented {
            Presented::Missing => requests
                .iter()
                .map(|r| Decision::new(Reason::MissingToken, r.resource(), r.operation()))
                .collect(),
            Presented::Unreadable(why) => requests
                .iter()
                .map(|r| {
                    let mut d = Decision::new(Reason::Malformed, r.resource(), r.operation());
                    d.detail = Some((*why).to_owned());
                    d
                })
                .collect(),
            Presented::Token(token, joint) if !joint.is_empty() => {
                if self.verifier.is_warm_joint(token, joint) {
                    verify_each(&self.verifier, token, joint, &requests, None)
                } else {
                    let verifier = self.verifier.clone();
                    let (token, joint) = (token.clone(), joint.clone());
                    let run = move || verify_each(&verifier, &token, &joint, &requests, None);
                    blocking(run).await
                }
            }
            Presented::Token(token, _) => match requests
                .first()
                .and_then(|first| self.verifier.verify_if_warm(token, first))
            {
                // Warm: tens of microseconds, decided here.
                Some(first) => verify_each(&self.verifier, token, &[], &requests, Some(first)),
                None => {
                    let verifier = self.verifier.clone();
                    let token = token.clone();
                    let run = move || verify_each(&verifier, &token, &[], &requests, None);
                    blocking(run).await
                }
            },
        };
        decisions
            .into_iter()
            .map(|decision| self.recorded(decision, at))
            .collect()
    }

    /// Decides one request.
    pub(crate) async fn decide(
        &self,
        presented: &Presented,
        request: AccessRequest,
        at: At<'_>,
    ) -> Decision {
        let mut decisions = self.decide_all(presented, vec![request], at).await;
        decisions
            .pop()
            .unwrap_or_else(|| Decision::new(Reason::LimitsExceeded, "", ""))
    }

    /// Records `decision`; when the record is lost and audit is required,
    /// the decision becomes a refusal (`audit_unavailable`).
    pub(crate) fn recorded(&self, mut decision: Decision, at: At<'_>) -> Decision {
        if !decision.allowed() {
            tracing::info!(
                reason = decision.reason.code(),
                method = at.method,
                path = at.path,
                explanation = %decision.explain(),
                "request denied"
            );
        }
        if !self.audit.enabled() {
            return decision;
        }
        let record = AuditRecord::new(&decision, Some(at.method), Some(at.path), SystemTime::now());
        if let Err(error) = self.audit.record(&record) {
            tracing::error!(%error, "an audit record was lost");
            if self.audit_required {
                decision.reason = Reason::AuditUnavailable;
            }
        }
        decision
    }
}

/// Runs `decide` on tokio's blocking pool: signature verification never
/// holds an executor thread.
async fn blocking(decide: impl FnOnce() -> Vec<Decision> + Send + 'static) -> Vec<Decision> {
    match tokio::task::spawn_blocking(decide).await {
        Ok(decisions) => decisions,
        Err(error) => {
            tracing::error!(%error, "the decision task failed");
            vec![Decision::new(Reason::LimitsExceeded, "", "")]
        }
    }
}

/// Decides the first request (unless already decided: `first`), holder's
/// proof included, then the others as further parts of the same HTTP
/// request; when the first refuses the token itself, so are the others.
/// With `joint` tokens, every request is decided for all the principals.
fn verify_each(
    verifier: &Verifier,
    token: &str,
    joint: &[String],
    requests: &[AccessRequest],
    first: Option<Decision>,
) -> Vec<Decision> {
    let mut decisions: Vec<Decision> = Vec::with_capacity(requests.len());
    let skip = usize::from(first.is_some());
    decisions.extend(first);
    for request in &requests[skip.min(requests.len())..] {
        let decision = match decisions.first() {
            None => verifier.verify_joint(token, joint, request),
            Some(first) if token_refused(first) => {
                let mut refused = first.clone();
                refused.resource = request.resource().to_owned();
                refused.operation = request.operation().to_owned();
                refused
            }
            Some(_) => verifier.verify_joint_further(token, joint, request),
        };
        decisions.push(decision);
    }
    decisions
}

/// Who an allowed request acts for, as the upstream is told: the chain,
/// and every principal of a joint request (acting one first; empty for a
/// request made for one principal).
pub(crate) struct Identity<'a> {
    pub(crate) chain: &'a Chain,
    pub(crate) principals: Vec<String>,
}

impl<'a> Identity<'a> {
    /// The identity of an allowed decision; `None` when it is refused (or,
    /// impossibly, allowed without a chain).
    pub(crate) fn of(decision: &'a Decision) -> Option<Self> {
        let chain = decision.chain.as_deref().filter(|_| decision.allowed())?;
        let principals = decision
            .joint_users()
            .map(|users| users.into_iter().map(str::to_owned).collect())
            .unwrap_or_default();
        Some(Identity { chain, principals })
    }
}

/// Whether the decision refuses the token itself (HTTP 401), not the request.
pub(crate) fn token_refused(decision: &Decision) -> bool {
    agentcap_verifier::status_for(decision.reason) == http::StatusCode::UNAUTHORIZED
}
