//! Joint authorization: one request made for several principals at once,
//! allowed only if every principal's token allows it.
//!
//! An agent serving several people (a channel of twenty, a meeting, a
//! shared document) answers with what *all* of them may see: it presents
//! its own token (the acting token, in `Authorization`) and the token each
//! other principal delegated to it (in the [`JOINT_HEADER`]). The verifier
//! decides the request against every token: each must verify, be
//! unrevoked, be held by the acting agent, and allow the request. The
//! decision names every principal, and when it refuses, which principal's
//! chain refused and why ([`JointOutcome`]).
//!
//! ```
//! use agentcap::{Grant, KeyPair};
//! use agentcap_verifier::{AccessRequest, Reason, Verifier};
//!
//! let root = KeyPair::generate();
//! let mint = |user: &str, rights: &[&str]| -> Result<String, agentcap::Error> {
//!     rights
//!         .iter()
//!         .fold(Grant::new(user, "channel-assistant"), |g, r| g.right(*r, "read"))
//!         .mint(&root)?
//!         .to_base64()
//! };
//! let cfo = mint("cfo", &["finance/salaries", "finance/budget"])?;
//! let bob = mint("bob", &["finance/budget"])?;
//! let verifier = Verifier::builder()
//!     .root_key(None, root.public())
//!     .without_revocation()
//!     .build()?;
//!
//! let budget = AccessRequest::new("finance/budget", "read");
//! assert!(verifier.verify_joint(&cfo, &[bob.clone()], &budget).allowed());
//!
//! let salaries = AccessRequest::new("finance/salaries", "read");
//! let decision = verifier.verify_joint(&cfo, &[bob], &salaries);
//! assert_eq!(decision.reason, Reason::JointDenied);
//! let joint = decision.joint.as_ref().expect("a joint decision");
//! assert_eq!(joint.refused_by, Some(1));
//! assert_eq!(joint.principals[1].user(), Some("bob"));
//! assert_eq!(joint.principals[1].decision.reason, Reason::PolicyDenied);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt::Write as _;

use agentcap::display::{escape, escape_join};
use serde::Serialize;

use crate::decision::{Decision, Reason};
use crate::request::AccessRequest;
use crate::verifier::Verifier;

/// The HTTP header carrying the other principals' tokens of a joint
/// request, next to the acting agent's `Authorization: Bearer` token: the
/// tokens (URL-safe base64) separated by commas, in one header line or
/// several.
pub const JOINT_HEADER: &str = "agentcap-joint";

/// The most tokens the [`JOINT_HEADER`] may carry. Each one costs a
/// verification (cached once verified), so the number is bounded; a
/// request with more is refused as malformed.
pub const MAX_JOINT_TOKENS: usize = 64;

/// One principal of a joint request: its position and the decision its
/// token alone gave for the request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JointPrincipal {
    /// 0 for the acting token, then 1, 2, … in the order the joint tokens
    /// were presented.
    pub position: usize,
    /// The decision for this principal's token (its chain names the user
    /// and the agents).
    pub decision: Decision,
}

impl JointPrincipal {
    /// The principal (the user of the token), when the token could be read.
    pub fn user(&self) -> Option<&str> {
        self.decision.chain.as_deref().map(|c| c.user.as_str())
    }

    /// The user's tenant, if any.
    pub fn tenant(&self) -> Option<&str> {
        self.decision
            .chain
            .as_deref()
            .and_then(|c| c.tenant.as_deref())
    }

    /// The agents of the token, first agent to holder.
    pub fn agents(&self) -> Vec<&str> {
        self.decision
            .chain
            .as_deref()
            .map_or_else(Vec::new, |c| c.agents())
    }

    /// Whether the principal's token allowed the request.
    pub fn allowed(&self) -> bool {
        self.decision.allowed()
    }

    /// `"principal 3 (carol)"`, escaped for a terminal.
    fn describe(&self) -> String {
        match self.user() {
            Some(user) => format!("principal {} ({})", self.position, escape(user)),
            None => format!("principal {}", self.position),
        }
    }
}

/// What a joint request's principals decided ([`Decision::joint`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct JointOutcome {
    /// How many tokens the request presented (the acting one included).
    pub presented: usize,
    /// Every principal decided, the acting one first. When the acting
    /// token itself is refused, the others are not evaluated and only it
    /// is listed.
    pub principals: Vec<JointPrincipal>,
    /// The position of the first principal whose token refused, if any.
    pub refused_by: Option<usize>,
}

impl JointOutcome {
    /// The users of every principal decided, in order (`"?"` for a token
    /// that could not be read).
    pub fn users(&self) -> Vec<&str> {
        self.principals
            .iter()
            .map(|p| p.user().unwrap_or("?"))
            .collect()
    }

    /// The principal that refused, if any.
    pub fn refusing(&self) -> Option<&JointPrincipal> {
        let position = self.refused_by?;
        self.principals.iter().find(|p| p.position == position)
    }
}

/// How a joint outcome is serialized: per principal, who and what it
/// decided (never its explanation, which may name the service's policy).
impl Serialize for JointOutcome {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Shown<'a> {
            position: usize,
            user: Option<&'a str>,
            tenant: Option<&'a str>,
            agents: Vec<&'a str>,
            reason: Reason,
            block: Option<usize>,
        }
        #[derive(Serialize)]
        struct Outcome<'a> {
            presented: usize,
            refused_by: Option<usize>,
            principals: Vec<Shown<'a>>,
        }
        Outcome {
            presented: self.presented,
            refused_by: self.refused_by,
            principals: self
                .principals
                .iter()
                .map(|p| Shown {
                    position: p.position,
                    user: p.user(),
                    tenant: p.tenant(),
                    agents: p.agents(),
                    reason: p.decision.reason,
                    block: p.decision.failing_block(),
                })
                .collect(),
        }
        .serialize(s)
    }
}

/// Reads the joint tokens of a request: every [`JOINT_HEADER`] line, split
/// at commas, trimmed, empty items skipped. An unreadable header, or more
/// than [`MAX_JOINT_TOKENS`] tokens, is an error in plain words.
pub fn joint_tokens(headers: &http::HeaderMap) -> Result<Vec<String>, &'static str> {
    let mut tokens = Vec::new();
    for value in headers.get_all(JOINT_HEADER) {
        let text = value
            .to_str()
            .map_err(|_| "the Agentcap-Joint header is not visible ASCII")?;
        for item in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tokens.len() == MAX_JOINT_TOKENS {
                return Err("the Agentcap-Joint header carries too many tokens");
            }
            tokens.push(item.to_owned());
        }
    }
    Ok(tokens)
}

impl Verifier {
    /// Decides `request` made by the holder of `token` for several
    /// principals: `token` is the acting agent's own, `joint` the tokens the
    /// other principals delegated to it. Allowed only if every token is
    /// valid, unrevoked and allows the request, and every joint token is
    /// held by the acting token's holder (the same agent, bound to the same
    /// key or to none). The holder's proof of possession, when required, is
    /// checked once, against the acting token; it proves the key every
    /// joint token is bound to.
    ///
    /// The answer is the acting token's decision with
    /// [`Decision::joint`] naming every principal. When a joint token
    /// refuses, the reason is [`Reason::JointDenied`] and
    /// [`JointOutcome::refused_by`] says which. With no joint token this is
    /// [`Verifier::verify`]. At most [`MAX_JOINT_TOKENS`] are decided;
    /// more are refused as a malformed request.
    pub fn verify_joint(&self, token: &str, joint: &[String], request: &AccessRequest) -> Decision {
        if joint.is_empty() {
            return self.verify(token, request);
        }
        let acting = self.verify(token, request);
        self.decide_joint(acting, joint, request)
    }

    /// [`Verifier::verify_joint`] for a further request within an HTTP
    /// request already decided (as [`Verifier::verify_further`]: the
    /// holder's proof is not checked again).
    pub fn verify_joint_further(
        &self,
        token: &str,
        joint: &[String],
        request: &AccessRequest,
    ) -> Decision {
        if joint.is_empty() {
            return self.verify_further(token, request);
        }
        let acting = self.verify_further(token, request);
        self.decide_joint(acting, joint, request)
    }

    /// Whether `token` and every joint token are warm (see
    /// [`Verifier::is_warm`]).
    pub fn is_warm_joint(&self, token: &str, joint: &[String]) -> bool {
        self.is_warm(token) && joint.iter().all(|t| self.is_warm(t))
    }

    /// Decides the joint tokens once the acting token is decided.
    fn decide_joint(
        &self,
        acting: Decision,
        joint: &[String],
        request: &AccessRequest,
    ) -> Decision {
        let presented = joint.len().saturating_add(1);
        let mut combined = acting.clone();
        let mut outcome = JointOutcome {
            presented,
            principals: vec![JointPrincipal {
                position: 0,
                decision: acting,
            }],
            refused_by: None,
        };
        if joint.len() > MAX_JOINT_TOKENS {
            combined.reason = Reason::MalformedRequest;
            combined.detail = Some(format!("more than {MAX_JOINT_TOKENS} joint tokens"));
            outcome.refused_by = Some(0);
            combined.joint = Some(Box::new(outcome));
            return combined;
        }
        if !combined.allowed() {
            outcome.refused_by = Some(0);
            combined.joint = Some(Box::new(outcome));
            return combined;
        }
        let mut elapsed = combined.elapsed;
        for (i, token) in joint.iter().enumerate() {
            let mut decision = self.verify_further(token, request);
            elapsed = elapsed.saturating_add(decision.elapsed);
            // A token that verified but is not this agent's says so first.
            if !decision.reason.is_authentication_failure()
                && decision.chain.as_deref().is_some_and(|c| c.verified)
                && let Some(detail) = holder_mismatch(&combined, &decision)
            {
                decision.reason = Reason::JointHolderMismatch;
                decision.detail = Some(detail);
            }
            if !decision.allowed() && outcome.refused_by.is_none() {
                outcome.refused_by = Some(i + 1);
            }
            outcome.principals.push(JointPrincipal {
                position: i + 1,
                decision,
            });
        }
        if let Some(refusing) = outcome.refusing() {
            combined.reason = Reason::JointDenied;
            combined.detail = Some(format!(
                "{} refused: {}",
                refusing.describe(),
                refusing.decision.reason.code()
            ));
        }
        combined.elapsed = elapsed;
        combined.joint = Some(Box::new(outcome));
        combined
    }
}

/// Why a joint token is not held by the acting agent, if it is not: the
/// holder's name, or its key, differs from the acting token's.
fn holder_mismatch(acting: &Decision, other: &Decision) -> Option<String> {
    let (Some(acting), Some(other)) = (acting.chain.as_deref(), other.chain.as_deref()) else {
        return Some("the token could not be read".to_owned());
    };
    if acting.holder() != other.holder() {
        return Some(format!(
            "the token is held by {}, not by the acting agent {}",
            escape(other.holder()),
            escape(acting.holder())
        ));
    }
    if acting.holder_key() != other.holder_key() {
        return Some(format!(
            "the token binds {} to another key than the acting token does",
            escape(other.holder())
        ));
    }
    None
}

impl Decision {
    /// The principals of a joint decision, acting one first; `None` for a
    /// request made for one principal.
    pub fn joint_users(&self) -> Option<Vec<&str>> {
        self.joint.as_deref().map(JointOutcome::users)
    }

    /// For `JointDenied`: the joint request, and the principal that refused
    /// with its own explanation.
    pub(crate) fn explain_joint_denied(&self) -> String {
        let Some(joint) = self.joint.as_deref() else {
            return "denied: a principal of the joint request refused it".to_owned();
        };
        let Some(refusing) = joint.refusing() else {
            return "denied: a principal of the joint request refused it".to_owned();
        };
        let why = refusing.decision.explain();
        let why = why.strip_prefix("denied: ").unwrap_or(&why);
        format!(
            "denied: joint request for {} principals ({}); {} refused: {why}",
            joint.presented,
            escape_join(joint.users(), ", "),
            refusing.describe(),
        )
    }

    /// The client's message for `JointDenied`: which principal refused, in
    /// that principal's client terms.
    pub(crate) fn joint_client_message(&self) -> String {
        match self.joint.as_deref().and_then(JointOutcome::refusing) {
            Some(refusing) => format!(
                "principal {} of the joint request refused it: {}",
                refusing.position,
                refusing.decision.client_message()
            ),
            None => "a principal of the joint request refused it".to_owned(),
        }
    }

    /// Appends who else an allowed joint decision was for.
    pub(crate) fn append_joint(&self, out: &mut String) {
        if let Some(joint) = self.joint.as_deref()
            && joint.principals.len() > 1
        {
            let others: Vec<&str> = joint.users().into_iter().skip(1).collect();
            let _ = write!(
                out,
                "; jointly for {} principals (also {})",
                joint.presented,
                escape_join(others, ", ")
            );
        }
    }
}
