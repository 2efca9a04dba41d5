//! `agentcap verify`: the decision on one request, and why.

use std::str::FromStr;
use std::sync::Arc;
use std::time::SystemTime;

use agentcap::{PublicKey, Request, Right, Token};
use agentcap_revocation::{RevocationStatus, VerifierState};
use serde_json::{Value, json};

use crate::Outcome;
use crate::cli::VerifyArgs;
use crate::error::{CliError, CliResult};
use crate::input::{TokenSource, public_key};
use crate::output::{Format, emit};

use super::revsource::RevocationSource;

/// A request fact from `--fact NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FactValue {
    /// An integer: a quantity caps bound.
    Integer(i64),
    /// Anything else.
    Text(String),
}

/// Parses `--fact NAME=VALUE`.
pub(crate) fn parse_fact(text: &str) -> CliResult<(String, FactValue)> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| CliError::usage(format!("--fact {text:?}: expected NAME=VALUE")))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(CliError::usage(format!("--fact {text:?}: empty name")));
    }
    let value = match value.trim().parse::<i64>() {
        Ok(n) => FactValue::Integer(n),
        Err(_) => FactValue::Text(value.to_owned()),
    };
    Ok((name.to_owned(), value))
}

/// The validated request of `--request RESOURCE:OP --fact ...`.
pub(crate) struct RequestSpec {
    /// The concrete resource.
    pub resource: String,
    /// The operation.
    pub operation: String,
    /// Quantities.
    pub quantities: Vec<(String, i64)>,
}

impl RequestSpec {
    pub(crate) fn parse(request: &str, facts: &[String]) -> CliResult<Self> {
        let right = Right::from_str(request)
            .map_err(|e| CliError::usage(format!("--request {request:?}: {e}")))?;
        if right.resource.is_wildcard() {
            return Err(CliError::usage(format!(
                "--request {request:?}: a request names one concrete resource, not a pattern"
            )));
        }
        let mut quantities = Vec::new();
        for f in facts {
            match parse_fact(f)? {
                (name, FactValue::Integer(n)) => quantities.push((name, n)),
                (name, FactValue::Text(_)) => {
                    return Err(CliError::usage(format!(
                        "--fact {name}: only integer values (quantities such as amount=120) are \
                         supported"
                    )));
                }
            }
        }
        Ok(Self {
            resource: right.resource.as_str().to_owned(),
            operation: right.operation,
            quantities,
        })
    }

    pub(crate) fn request(&self) -> Request {
        let mut r = Request::new(&self.resource, &self.operation);
        for (name, n) in &self.quantities {
            r = r.quantity(name, *n);
        }
        r
    }
}

/// A decision: allowed or denied, a stable reason code, and an explanation.
#[derive(Debug, Clone)]
pub(crate) struct Decision {
    /// Allowed?
    pub allowed: bool,
    /// Stable reason code.
    pub reason: &'static str,
    /// Human explanation.
    pub explanation: String,
    /// The user, when the token could be read.
    pub user: Option<String>,
    /// The agents, first to holder.
    pub agents: Vec<String>,
    /// The revoked block, if any.
    pub revoked_block: Option<usize>,
    /// The revocation list sequence consulted.
    pub revocation_sequence: Option<u64>,
}

impl Decision {
    fn deny(reason: &'static str, explanation: impl Into<String>) -> Self {
        Self {
            allowed: false,
            reason,
            explanation: explanation.into(),
            user: None,
            agents: Vec::new(),
            revoked_block: None,
            revocation_sequence: None,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "decision": if self.allowed { "allow" } else { "deny" },
            "allowed": self.allowed,
            "reason": self.reason,
            "explanation": self.explanation,
            "user": self.user,
            "agents": self.agents,
            "revoked_block": self.revoked_block,
            "revocation_sequence": self.revocation_sequence,
        })
    }
}

fn reason_of(error: &agentcap::Error) -> &'static str {
    use agentcap::Error as E;
    match error {
        E::MalformedToken(_) | E::TokenTooLarge { .. } | E::NotAgentcapToken(_) => "malformed",
        E::MalformedBlock { .. } => "malformed",
        E::InvalidSignature => "bad_signature",
        E::UnknownRootKey(_) => "unknown_root",
        E::Expired { .. } => "expired",
        E::DepthExceeded { .. } => "depth_exceeded",
        E::UnsignedHop { .. } | E::WrongHopSigner { .. } => "bad_hop_signature",
        E::NotPermitted { .. } => "not_permitted",
        E::RunLimit(_) => "run_limit",
        _ => "invalid",
    }
}

/// The local verifier: the core library's check plus the revocation list.
pub(crate) struct LocalVerifier {
    /// The root key.
    pub root: PublicKey,
    /// The revocation state, if configured.
    pub revocation: Option<Arc<VerifierState>>,
}

impl LocalVerifier {
    /// Decides one request.
    pub(crate) fn decide(&self, token: &str, request: &Request) -> Decision {
        let parsed = match Token::verify_base64(token, &self.root) {
            Ok(t) => t,
            Err(e) => return Decision::deny(reason_of(&e), e.to_string()),
        };
        let chain = parsed.chain();
        let mut d = Decision::deny("", "");
        d.user = Some(chain.user.clone());
        d.agents = chain.agents().iter().map(|a| (*a).to_owned()).collect();
        if let Some(state) = &self.revocation {
            match state.check(&parsed.revocation_ids(), SystemTime::now()) {
                Ok(check) => {
                    d.revocation_sequence = check.sequence;
                    if let RevocationStatus::Revoked { block_index, .. } = check.status {
                        let holder = chain
                            .blocks
                            .get(block_index)
                            .map(|b| b.holder.as_str())
                            .unwrap_or("?");
                        d.reason = "revoked";
                        d.revoked_block = Some(block_index);
                        d.explanation = format!(
                            "block {block_index} (the delegation to {holder}) is revoked \
                             (list sequence {})",
                            check.sequence.unwrap_or(0)
                        );
                        return d;
                    }
                }
                Err(e) => {
                    d.reason = "revocation_list_stale";
                    d.explanation = e.to_string();
                    return d;
                }
            }
        }
        match parsed.check(&self.root, request) {
            Ok(()) => {
                d.allowed = true;
                d.reason = "allowed";
                d.explanation = format!(
                    "{} on {} is within every block's rights; chain {} → {} verified{}",
                    request.operation(),
                    request.resource(),
                    chain.user,
                    d.agents.join(" → "),
                    if self.revocation.is_some() {
                        ", no block revoked"
                    } else {
                        ""
                    }
                );
            }
            Err(e) => {
                d.reason = reason_of(&e);
                d.explanation = match &e {
                    agentcap::Error::NotPermitted { failed_checks } => {
                        let blocks: Vec<String> = failed_checks
                            .iter()
                            .map(|c| match c.block {
                                Some(b) => format!("block {b} check {}", c.check),
                                None => format!("verifier check {}", c.check),
                            })
                            .collect();
                        format!(
                            "{} on {} is outside the delegated rights: {}",
                            request.operation(),
                            request.resource(),
                            blocks.join(", ")
                        )
                    }
                    other => other.to_string(),
                };
            }
        }
        d
    }
}

/// Prints a decision.
pub(crate) fn emit_decision(format: Format, decision: &Decision) {
    emit(
        format,
        || {
            let who = match &decision.user {
                Some(u) => format!("\n  chain: {u} → {}", decision.agents.join(" → ")),
                None => String::new(),
            };
            format!(
                "{}: {}\n  reason: {}{who}",
                if decision.allowed { "ALLOW" } else { "DENY" },
                decision.explanation,
                decision.reason
            )
        },
        || decision.to_json(),
    );
}

/// `agentcap verify`
pub fn run(args: VerifyArgs, format: Format) -> CliResult<Outcome> {
    let token = TokenSource::parse(&args.token)?;
    let root = public_key(&args.root_public_key, "--root-public-key")?;
    let spec = RequestSpec::parse(&args.request, &args.facts)?;
    let revocation = RevocationSource::from_args(&args.revocation)?;
    if args.policy_file.is_some() {
        return Err(CliError::usage(
            "--policy-file is not supported by this build (it needs agentcap-verifier)",
        ));
    }
    let _ = args.root_key_id;
    let text = token.read()?;
    let state = match &revocation {
        Some(r) => Some(super::runtime()?.block_on(r.load())?.0),
        None => None,
    };
    let verifier = LocalVerifier {
        root,
        revocation: state,
    };
    let decision = verifier.decide(&text, &spec.request());
    emit_decision(format, &decision);
    Ok(if decision.allowed {
        Outcome::Ok
    } else {
        Outcome::Denied
    })
}
