//! `agentcap verify`: the decision on one request, and why.

use std::str::FromStr;

use agentcap::Right;
use agentcap_verifier::{AccessRequest, Decision};
use serde_json::{Value, json};

use crate::Outcome;
use crate::cli::VerifyArgs;
use crate::error::{CliError, CliResult};
use crate::input::{TokenSource, public_key};
use crate::output::{Format, emit, note};

use super::revsource::{OnRefused, RevocationSource};
use super::service::{VerifierSpec, clock_skew, resource_id};
use super::tokens::chain_json;

/// Parses `--fact NAME=VALUE`: an integer VALUE is a quantity, anything
/// else a string fact.
fn parse_fact(request: AccessRequest, text: &str) -> CliResult<AccessRequest> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| CliError::usage(format!("--fact {text:?}: expected NAME=VALUE")))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(CliError::usage(format!("--fact {text:?}: empty name")));
    }
    Ok(match value.trim().parse::<i64>() {
        Ok(n) => request.quantity(name, n),
        Err(_) => request.fact(name, value),
    })
}

/// Parses `--request RESOURCE:OP` and the facts into an access request.
pub(crate) fn access_request(request: &str, facts: &[String]) -> CliResult<AccessRequest> {
    let right = Right::from_str(request)
        .map_err(|e| CliError::usage(format!("--request {request:?}: {e}")))?;
    if right.resource.is_wildcard() {
        return Err(CliError::usage(format!(
            "--request {request:?}: a request names one concrete resource, not a pattern"
        )));
    }
    let mut r = AccessRequest::new(right.resource.as_str(), right.operation.as_str());
    for f in facts {
        r = parse_fact(r, f)?;
    }
    Ok(r)
}

/// The decision as JSON: the verifier's fields, plus the decision word,
/// the explanation and the chain.
pub(crate) fn decision_json(decision: &Decision) -> Value {
    let mut v = serde_json::to_value(decision).unwrap_or_else(|_| json!({}));
    v["decision"] = json!(if decision.allowed() { "allow" } else { "deny" });
    v["allowed"] = json!(decision.allowed());
    v["reason"] = json!(decision.reason.code());
    v["explanation"] = json!(decision.explain());
    if let Some(chain) = &decision.chain {
        v["user"] = json!(chain.user);
        v["agents"] = json!(chain.agents());
        v["chain"] = chain_json(chain);
    }
    v
}

/// Prints a decision.
pub(crate) fn emit_decision(format: Format, decision: &Decision) {
    emit(
        format,
        || {
            let mut s = format!(
                "{}: {}\n  reason: {}",
                if decision.allowed() { "ALLOW" } else { "DENY" },
                decision.explain(),
                decision.reason.code()
            );
            if let Some(chain) = &decision.chain {
                s.push_str(&format!(
                    "\n  chain: {} → {}",
                    crate::output::safe(&chain.user),
                    agentcap::display::escape_join(chain.agents(), " → ")
                ));
            }
            if let Some(joint) = decision.joint.as_deref() {
                for p in &joint.principals {
                    s.push_str(&format!(
                        "\n  principal {}: {} via {}: {}",
                        p.position,
                        crate::output::safe(p.user().unwrap_or("?")),
                        agentcap::display::escape_join(p.agents(), " → "),
                        p.decision.reason.code()
                    ));
                }
            }
            if let Some(r) = &decision.revocation {
                s.push_str(&format!(
                    "\n  revocation list: sequence {}",
                    r.sequence.map_or("none".to_owned(), |n| n.to_string())
                ));
            }
            s
        },
        || decision_json(decision),
    );
}

/// A warning on stderr, in either format.
fn warn(format: Format, text: &str) {
    use std::io::Write;
    let mut err = std::io::stderr().lock();
    let _ = match format {
        Format::Human => writeln!(err, "agentcap: warning: {text}"),
        Format::Json => writeln!(err, "{}", json!({ "warning": text })),
    };
}

/// `agentcap verify`
pub fn run(args: VerifyArgs, format: Format) -> CliResult<Outcome> {
    let root = public_key(&args.root_public_key, "--root-public-key")?;
    let request = access_request(&args.request, &args.facts)?;
    let revocation = RevocationSource::from_args(&args.revocation)?;
    let mut texts = Vec::with_capacity(1 + args.tokens.len());
    for given in args.token.iter().chain(&args.tokens) {
        texts.push(TokenSource::parse(given)?.read()?);
    }
    // One root key given: trust it under the id given, or else under
    // whatever ids the tokens name.
    let mut roots = vec![(args.root_key_id, root)];
    if args.root_key_id.is_none() {
        for text in &texts {
            let named_id = agentcap::inspect(text, None)
                .ok()
                .and_then(|c| c.root_key_id);
            if named_id.is_some() && !roots.iter().any(|(id, _)| *id == named_id) {
                roots.push((named_id, root));
            }
        }
    }
    let mut spec = VerifierSpec::new(roots, args.policy_file)?;
    spec.clock_skew = clock_skew(args.clock_skew.as_deref())?;
    spec.resource_id = resource_id(args.resource_id.as_deref())?;
    let state = match &revocation {
        Some(r) => {
            // A list older than one accepted before (here or by a service
            // sharing the state) fails the command, with the reason.
            let loaded = super::runtime()?.block_on(r.load(OnRefused::Fail))?;
            for warning in &loaded.warnings {
                warn(format, warning);
            }
            Some(loaded.state)
        }
        None => {
            note(
                format,
                "note: no --revocation-list given: revocation is not checked",
            );
            None
        }
    };
    let verifier = spec.build(state)?;
    let Some((acting, joint)) = texts.split_first() else {
        return Err(CliError::usage("give a token"));
    };
    let decision = verifier.verify_joint(acting, joint, &request);
    emit_decision(format, &decision);
    Ok(if decision.allowed() {
        Outcome::Ok
    } else {
        Outcome::Denied
    })
}
