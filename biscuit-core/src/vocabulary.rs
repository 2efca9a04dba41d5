//! The fact vocabulary: every predicate agentcap writes or reads, and the
//! builders of every block it writes. Defined once, used by mint, hop,
//! narrowing, attestation, inspect and the local check alike; documented in
//! `docs/token-schema.md`.
//!
//! Every value is passed as a biscuit-auth builder term. No caller-supplied
//! value is ever formatted into Datalog source: there is no Datalog source in
//! this module at all.

use biscuit_auth::builder::{
    Binary, BlockBuilder, Check, CheckKind, Expression, Fact, Op, Policy, PolicyKind, Predicate,
    Rule, Term, Unary,
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
pub fn fact(name: &str, terms: Vec<Term>) -> Fact {
    Fact::new(name.to_owned(), terms)
}

/// `check if time($time), $time <= expires`.
pub fn expiry_check(expires: u64) -> Check {
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

/// The rights check: the request must fall under one of `rights`.
///
/// One alternative per right: `resource(R), operation(O)` for an exact
/// resource, `resource($resource), operation(O), $resource.starts_with(P)`
/// for a wildcard.
pub fn rights_check(rights: &[Right]) -> Check {
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
pub fn cap_check(cap: &Cap) -> Check {
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
pub fn allow_all_policy() -> Policy {
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

/// The authority a block passes on: rights, caps and expiry, enforced by
/// checks, and the maximum depth, stated as a fact. The authority block also
/// states rights, caps and expiry as facts, trusted by service policies.
pub(crate) struct Restrictions<'a> {
    pub rights: &'a [Right],
    pub caps: &'a [Cap],
    pub expires: u64,
    pub max_depth: Option<u32>,
}

impl Restrictions<'_> {
    /// The block's facts and checks; `state_grant` adds the grant's facts.
    fn into_block(self, mut facts: Vec<Fact>, state_grant: bool) -> BlockBuilder {
        if state_grant {
            for right in self.rights {
                facts.push(fact(
                    fact::RIGHT,
                    vec![string(right.resource.as_str()), string(&right.operation)],
                ));
            }
            for cap in self.caps {
                let scope = || {
                    vec![
                        string(cap.resource.as_str()),
                        string(&cap.operation),
                        string(&cap.name),
                    ]
                };
                if let Some(max) = cap.max {
                    if cap.resource.as_str() == "*" && cap.min.is_none() {
                        // Policies written for vocabulary 1's first caps keep working.
                        facts.push(fact(
                            fact::CAP,
                            vec![
                                string(&cap.operation),
                                string(&cap.name),
                                Term::Integer(max),
                            ],
                        ));
                    }
                    let mut terms = scope();
                    terms.push(Term::Integer(max));
                    facts.push(fact(fact::CAP_MAX, terms));
                }
                if let Some(min) = cap.min {
                    let mut terms = scope();
                    terms.push(Term::Integer(min));
                    facts.push(fact(fact::CAP_MIN, terms));
                }
            }
            facts.push(fact(fact::EXPIRES, vec![Term::Date(self.expires)]));
        }
        if let Some(max_depth) = self.max_depth {
            facts.push(fact(
                fact::MAX_DEPTH,
                vec![Term::Integer(i64::from(max_depth))],
            ));
        }
        let mut checks = Vec::with_capacity(2 + self.caps.len());
        checks.push(expiry_check(self.expires));
        checks.push(rights_check(self.rights));
        checks.extend(self.caps.iter().map(cap_check));
        BlockBuilder {
            facts,
            checks,
            ..BlockBuilder::default()
        }
    }
}

/// The principals of an authority block.
pub(crate) struct Principals<'a> {
    pub user: &'a str,
    pub tenant: Option<&'a str>,
    pub agent: &'a str,
    pub agent_key: Option<Vec<u8>>,
    pub issued_at: u64,
    pub intent: Option<&'a str>,
}

/// The authority block of a grant.
pub(crate) fn authority_block(
    principals: Principals<'_>,
    restrictions: Restrictions<'_>,
) -> BlockBuilder {
    let mut facts = vec![
        fact(fact::SCHEMA, vec![Term::Integer(SCHEMA_VERSION)]),
        fact(fact::USER, vec![string(principals.user)]),
        fact(fact::AGENT, vec![string(principals.agent)]),
        fact(fact::ISSUED_AT, vec![Term::Date(principals.issued_at)]),
    ];
    if let Some(tenant) = principals.tenant {
        facts.push(fact(fact::TENANT, vec![string(tenant)]));
    }
    if let Some(key) = principals.agent_key {
        facts.push(fact(
            fact::AGENT_KEY,
            vec![string(principals.agent), Term::Bytes(key)],
        ));
    }
    if let Some(intent) = principals.intent {
        facts.push(fact(fact::INTENT, vec![string(intent)]));
    }
    restrictions.into_block(facts, true)
}

/// A hop block: `hop(depth, from, to)`, the new holder's key if any,
/// and the narrowed restrictions.
pub(crate) fn hop_block(
    depth: u32,
    from: &str,
    to: &str,
    to_key: Option<Vec<u8>>,
    restrictions: Restrictions<'_>,
) -> BlockBuilder {
    let mut facts = vec![fact(
        fact::HOP,
        vec![Term::Integer(i64::from(depth)), string(from), string(to)],
    )];
    if let Some(key) = to_key {
        facts.push(fact(fact::AGENT_KEY, vec![string(to), Term::Bytes(key)]));
    }
    restrictions.into_block(facts, false)
}

/// A narrowing block: `narrowing(holder)` and exactly one right.
pub(crate) fn narrowing_block(holder: &str, restrictions: Restrictions<'_>) -> BlockBuilder {
    restrictions.into_block(vec![fact(fact::NARROWING, vec![string(holder)])], false)
}

/// An attestation block: `attestation(statement)`, no checks.
pub(crate) fn attestation_block(statement: &str) -> BlockBuilder {
    BlockBuilder {
        facts: vec![fact(fact::ATTESTATION, vec![string(statement)])],
        ..BlockBuilder::default()
    }
}

/// The request facts: `resource`, `operation`, `time` and one `quantity`
/// per name. Used by the local check and the verifier alike.
pub fn request_facts(
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
