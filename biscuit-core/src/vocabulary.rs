//! The fact vocabulary: every predicate agentcap writes or reads, and (inside
//! the crate) the builders of the checks and request facts. Defined once, used
//! by the block shapes, the chain reader and the authorization alike;
//! documented in `docs/token-schema.md`.
//!
//! Every value is passed as a biscuit-auth builder term. No caller-supplied
//! value is ever formatted into Datalog source: there is no Datalog source in
//! this module at all.

use std::collections::BTreeSet;

use biscuit_auth::builder::{
    Binary, Check, CheckKind, Expression, Fact, Op, Policy, PolicyKind, Predicate, Rule, Term,
    Unary,
};

use crate::rights::{Cap, Right};

/// Version of the vocabulary, stated in the authority block.
pub const SCHEMA_VERSION: i64 = 1;

/// Predicate names stated by blocks.
pub mod fact {
    /// `agentcap(version)`: the authority block is an agentcap grant of this vocabulary version.
    pub const SCHEMA: &str = "agentcap";
    /// `user(name)`: the human principal (authority only).
    pub const USER: &str = "user";
    /// `tenant(name)`: the user's tenant (authority only, optional).
    pub const TENANT: &str = "tenant";
    /// `agent(name)`: the first agent, the user's delegate (authority only).
    pub const AGENT: &str = "agent";
    /// `agent_key(name, key_bytes)`: the Ed25519 key the named agent holds (authority or hop).
    pub const AGENT_KEY: &str = "agent_key";
    /// `right(resource_pattern, operation)`: a granted right (authority only; hops enforce theirs by check).
    pub const RIGHT: &str = "right";
    /// `cap(operation, name, max)`: a granted upper bound on every resource
    /// (authority only; the cap `*:OPERATION:NAME<=MAX`, as vocabulary 1 first wrote it).
    pub const CAP: &str = "cap";
    /// `cap_max(resource_pattern, operation, name, max)`: a granted upper bound (authority only).
    pub const CAP_MAX: &str = "cap_max";
    /// `cap_min(resource_pattern, operation, name, min)`: a granted lower bound (authority only).
    pub const CAP_MIN: &str = "cap_min";
    /// `issued_at(date)`: when the grant was issued (authority only).
    pub const ISSUED_AT: &str = "issued_at";
    /// `expires(date)`: the grant's expiry (authority only).
    pub const EXPIRES: &str = "expires";
    /// `max_depth(n)`: the maximum number of hops in the chain (authority or hop).
    pub const MAX_DEPTH: &str = "max_depth";
    /// `intent(text)`: what the user approved (authority only, optional).
    pub const INTENT: &str = "intent";
    /// `hop(depth, from, to)`: the block is a delegation from `from` to `to`.
    pub const HOP: &str = "hop";
    /// `narrowing(holder)`: the block is the holder restricting itself.
    pub const NARROWING: &str = "narrowing";
    /// `attestation(statement)`: a third party's signed statement.
    pub const ATTESTATION: &str = "attestation";
}

/// Every predicate name of the vocabulary, the token's and the request's: a
/// service's custom request facts may not use them.
pub const RESERVED: &[&str] = &[
    fact::SCHEMA,
    fact::USER,
    fact::TENANT,
    fact::AGENT,
    fact::AGENT_KEY,
    fact::RIGHT,
    fact::CAP,
    fact::CAP_MAX,
    fact::CAP_MIN,
    fact::ISSUED_AT,
    fact::EXPIRES,
    fact::MAX_DEPTH,
    fact::INTENT,
    fact::HOP,
    fact::NARROWING,
    fact::ATTESTATION,
    request::RESOURCE,
    request::OPERATION,
    request::TIME,
    request::QUANTITY,
    request::METHOD,
    request::PATH,
    request::REVOCATION_SEQUENCE,
    request::REVOCATION_AGE,
    request::AUDIENCE,
    request::ARGUMENT,
];

/// Predicate names of the request, supplied by the authorizer (the service
/// or the local check), never by a token.
pub mod request {
    /// `resource(name)`: the concrete resource requested.
    pub const RESOURCE: &str = "resource";
    /// `operation(name)`: the operation requested.
    pub const OPERATION: &str = "operation";
    /// `time(date)`: the time of the request.
    pub const TIME: &str = "time";
    /// `quantity(name, value)`: a numeric parameter of the request, bounded by caps.
    pub const QUANTITY: &str = "quantity";
    /// `method(name)`: the HTTP method, when the request is an HTTP request.
    pub const METHOD: &str = "method";
    /// `path(path)`: the HTTP path, when the request is an HTTP request.
    pub const PATH: &str = "path";
    /// `revocation_sequence(n)`: the sequence number of the revocation list the verifier holds.
    pub const REVOCATION_SEQUENCE: &str = "revocation_sequence";
    /// `revocation_age(seconds)`: how long ago that list was issued.
    pub const REVOCATION_AGE: &str = "revocation_age";
    /// `audience(resource_id)`: the resource identifier of the service
    /// verifying (canonical form, see [`crate::canonical_resource`]), when it
    /// has one; blocks that name audiences refuse any other.
    pub const AUDIENCE: &str = "audience";
    /// `argument(name, value)`: a named argument of the call (e.g. an MCP
    /// tool call's), its value a string, integer or boolean.
    pub const ARGUMENT: &str = "argument";

    /// Every request predicate: a block that states one of these as a fact
    /// speaks for the request, and is evaluated by Datalog only.
    pub const ALL: &[&str] = &[
        RESOURCE,
        OPERATION,
        TIME,
        QUANTITY,
        METHOD,
        PATH,
        REVOCATION_SEQUENCE,
        REVOCATION_AGE,
        AUDIENCE,
        ARGUMENT,
    ];
}

fn string(value: &str) -> Term {
    Term::Str(value.to_owned())
}

fn var(name: &str) -> Term {
    Term::Variable(name.to_owned())
}

fn pred(name: &str, terms: Vec<Term>) -> Predicate {
    Predicate {
        name: name.to_owned(),
        terms,
    }
}

fn query(body: Vec<Predicate>, expressions: Vec<Expression>) -> Rule {
    Rule::new(pred("query", vec![]), body, expressions, vec![])
}

fn expression(left: Term, right: Term, op: Binary) -> Expression {
    Expression {
        ops: vec![Op::Value(left), Op::Value(right), Op::Binary(op)],
    }
}

/// `name(terms...)` as a fact.
pub(crate) fn fact(name: &str, terms: Vec<Term>) -> Fact {
    Fact::new(name.to_owned(), terms)
}

/// `check if time($time), $time <= expires`.
pub(crate) fn expiry_check(expires: u64) -> Check {
    Check {
        queries: vec![query(
            vec![pred(request::TIME, vec![var("time")])],
            vec![expression(
                var("time"),
                Term::Date(expires),
                Binary::LessOrEqual,
            )],
        )],
        kind: CheckKind::One,
    }
}

/// The audience check: the authorizer's audience, when it states one, must
/// be one of `audiences`.
///
/// ```text
/// reject if audience($a), !{"AUDIENCE", ...}.contains($a)
/// ```
///
/// A `reject if`, not a `check all`: biscuit-auth fails a `check all` that
/// matches nothing, and this check must pass when no audience is stated (an
/// agent's local check). [`crate::Chain::check_audience`] adds the rule
/// Datalog cannot state: a verifier without a resource identifier refuses
/// the block.
pub(crate) fn audience_check(audiences: &[String]) -> Check {
    let set: BTreeSet<Term> = audiences.iter().map(|a| string(a)).collect();
    Check {
        queries: vec![query(
            vec![pred(request::AUDIENCE, vec![var("a")])],
            vec![Expression {
                ops: vec![
                    Op::Value(Term::Set(set)),
                    Op::Value(var("a")),
                    Op::Binary(Binary::Contains),
                    Op::Unary(Unary::Negate),
                ],
            }],
        )],
        kind: CheckKind::Reject,
    }
}

/// The rights check: the request must fall under one of `rights`.
///
/// One alternative per right: `resource(R), operation(O)` for an exact
/// resource, `resource($resource), operation(O), $resource.starts_with(P)`
/// for a wildcard.
pub(crate) fn rights_check(rights: &[Right]) -> Check {
    let queries = rights
        .iter()
        .map(|right| {
            let operation = pred(request::OPERATION, vec![string(&right.operation)]);
            match right.resource.prefix() {
                None => query(
                    vec![
                        pred(request::RESOURCE, vec![string(right.resource.as_str())]),
                        operation,
                    ],
                    vec![],
                ),
                Some(prefix) => query(
                    vec![pred(request::RESOURCE, vec![var("resource")]), operation],
                    vec![expression(var("resource"), string(prefix), Binary::Prefix)],
                ),
            }
        })
        .collect();
    Check {
        queries,
        kind: CheckKind::One,
    }
}

/// The cap check: a request for the cap's operation on a resource its
/// pattern matches must carry the quantity, within bounds.
///
/// ```text
/// check if operation($op), $op !== "OPERATION"
///       or resource($resource), $resource !== "EXACT"          (exact resource)
///       or resource($resource), !$resource.starts_with("P/")   (pattern P/*)
///       or quantity("NAME", $n), $n >= MIN, $n <= MAX
/// ```
///
/// The resource alternative is absent for the pattern `*`, and each bound
/// only when stated. Every alternative reads one request fact: no joins.
/// [`crate::Chain`] recognises exactly these checks by rebuilding them with
/// this function, so the two cannot drift apart.
pub(crate) fn cap_check(cap: &Cap) -> Check {
    let mut queries = vec![query(
        vec![pred(request::OPERATION, vec![var("op")])],
        vec![expression(
            var("op"),
            string(&cap.operation),
            Binary::NotEqual,
        )],
    )];
    match cap.resource.prefix() {
        Some("") => {}
        Some(prefix) => queries.push(query(
            vec![pred(request::RESOURCE, vec![var("resource")])],
            vec![Expression {
                ops: vec![
                    Op::Value(var("resource")),
                    Op::Value(string(prefix)),
                    Op::Binary(Binary::Prefix),
                    Op::Unary(Unary::Negate),
                ],
            }],
        )),
        None => queries.push(query(
            vec![pred(request::RESOURCE, vec![var("resource")])],
            vec![expression(
                var("resource"),
                string(cap.resource.as_str()),
                Binary::NotEqual,
            )],
        )),
    }
    let mut bounds = Vec::with_capacity(2);
    if let Some(min) = cap.min {
        bounds.push(expression(
            var("n"),
            Term::Integer(min),
            Binary::GreaterOrEqual,
        ));
    }
    if let Some(max) = cap.max {
        bounds.push(expression(
            var("n"),
            Term::Integer(max),
            Binary::LessOrEqual,
        ));
    }
    queries.push(query(
        vec![pred(request::QUANTITY, vec![string(&cap.name), var("n")])],
        bounds,
    ));
    Check {
        queries,
        kind: CheckKind::One,
    }
}

/// The authorizer's only policy in the local check: `allow if true`. Every
/// restriction lives in the token's checks.
pub(crate) fn allow_all_policy() -> Policy {
    Policy {
        queries: vec![query(
            vec![],
            vec![Expression {
                ops: vec![Op::Value(Term::Bool(true))],
            }],
        )],
        kind: PolicyKind::Allow,
    }
}

/// The request facts: `resource`, `operation`, `time` and one `quantity`
/// per name. Used by the local check and the verifier alike.
pub(crate) fn request_facts(
    resource: &str,
    operation: &str,
    time: u64,
    quantities: &[(String, i64)],
) -> Vec<Fact> {
    let mut facts = vec![
        fact(request::RESOURCE, vec![string(resource)]),
        fact(request::OPERATION, vec![string(operation)]),
        fact(request::TIME, vec![Term::Date(time)]),
    ];
    for (name, value) in quantities {
        facts.push(fact(
            request::QUANTITY,
            vec![string(name), Term::Integer(*value)],
        ));
    }
    facts
}
