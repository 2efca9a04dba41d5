//! The evaluation budget: what a token may ask of the Datalog engine,
//! checked on its decoded blocks **before** any Datalog runs.
//!
//! A token is attacker-controlled input: any holder can append a block.
//! biscuit-auth checks its run limits only between fixpoint iterations and
//! after each whole check, so one rule or check whose body joins several
//! copies of a predicate evaluates N^K combinations with nothing to stop it.
//! The budget removes that class of cost by shape, not by time:
//!
//! - **Nothing multiplies.** In every rule body and check query, at most one
//!   predicate may match more than one fact. The predicates that match at
//!   most one fact are the request's (`resource`, `operation`, `time`,
//!   `method`, `path`, `revocation_sequence`, `revocation_age`) and the
//!   grant's singletons (`agentcap`, `user`, `tenant`, `agent`, `issued_at`,
//!   `expires`, `intent`); no block but the authority may state them, and no
//!   rule may derive them. A body is then evaluated in time linear in the
//!   facts it can see, and every fixpoint iteration is linear in the token.
//! - **Bounded counts** per block and per token ([`BLOCK_LIMITS`],
//!   [`TOKEN_LIMITS`]): facts, rules, checks, queries, predicates per body,
//!   expressions, operations per expression, collection sizes.
//! - **A bounded cost.** biscuit-auth scans every visible fact for each body
//!   it evaluates, so one evaluation costs about (rules + check
//!   alternatives) × (facts stated + facts rules may derive). The token's
//!   estimate, with an allowance for the request's facts, must stay within
//!   [`TokenLimits::cost`]; the run limits (checked between iterations)
//!   bound the rest.
//! - **Bounded expressions.** No closures (`.all`, `.any`), no foreign
//!   functions; at most [`BlockLimits::regexes`] regular expressions per
//!   block, each a literal pattern of at most [`BlockLimits::regex_bytes`].
//!
//! agentcap's own blocks (grant, hop, narrowing, attestation) are well
//! inside the budget; a foreign block such as a biscuit-cli attenuation
//! `check if resource($r), $r.starts_with("flights/lis/")` is too. A token
//! outside it is refused with [`crate::Error::TooComplex`], naming the block
//! and the limit, and is never evaluated.

use biscuit_auth::format::schema;

use crate::error::Error;
use crate::vocabulary::{fact, request};

/// Limits on one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlockLimits {
    /// Facts stated by the block.
    pub facts: usize,
    /// Rules of the block.
    pub rules: usize,
    /// Checks of the block.
    pub checks: usize,
    /// Alternatives (`or`) of one check; a grant's rights check has one per right.
    pub queries_per_check: usize,
    /// Predicates in one rule body or check query.
    pub predicates_per_body: usize,
    /// Expressions in one rule body or check query.
    pub expressions_per_body: usize,
    /// Operations in one expression (nesting included).
    pub ops_per_expression: usize,
    /// Terms of one predicate.
    pub terms_per_predicate: usize,
    /// Elements of one set, array or map literal (nested ones included).
    pub collection_elements: usize,
    /// Regular expressions (`.matches`) in the block.
    pub regexes: usize,
    /// Length of one regular expression's pattern, in bytes.
    pub regex_bytes: usize,
}

/// Limits on the whole token (all blocks added up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenLimits {
    /// Facts stated by all blocks.
    pub facts: usize,
    /// Rules and check queries of all blocks.
    pub queries: usize,
    /// Rules of all blocks.
    pub rules: usize,
    /// The estimated cost of one evaluation: (rules + check alternatives)
    /// × (stated facts + [`REQUEST_FACTS_ALLOWANCE`]) × (1 + rules).
    pub cost: usize,
}

/// Facts the authorizer adds for a request (resource, operation, time,
/// audience, method, path, revocation facts, and at most 64 quantities,
/// arguments and custom facts), counted
/// into the cost estimate.
pub const REQUEST_FACTS_ALLOWANCE: usize = 72;

/// The per-block budget.
pub const BLOCK_LIMITS: BlockLimits = BlockLimits {
    facts: 256,
    rules: 4,
    checks: 64,
    queries_per_check: 256,
    predicates_per_body: 4,
    expressions_per_body: 8,
    ops_per_expression: 32,
    terms_per_predicate: 16,
    collection_elements: 64,
    regexes: 4,
    regex_bytes: 256,
};

/// The per-token budget.
pub const TOKEN_LIMITS: TokenLimits = TokenLimits {
    facts: 1024,
    queries: 1024,
    rules: 8,
    cost: 100_000,
};

/// Predicates that match at most one fact: the request's, stated once by
/// the authorizer, and the grant's singletons, stated once by the authority.
const SINGULAR: &[&str] = &[
    request::RESOURCE,
    request::OPERATION,
    request::TIME,
    request::METHOD,
    request::PATH,
    request::REVOCATION_SEQUENCE,
    request::REVOCATION_AGE,
    request::AUDIENCE,
    fact::SCHEMA,
    fact::USER,
    fact::TENANT,
    fact::AGENT,
    fact::ISSUED_AT,
    fact::EXPIRES,
    fact::INTENT,
];

/// Running totals over a token's blocks, fed block by block in order.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    facts: usize,
    queries: usize,
    rules: usize,
}

/// Where a body sits, for messages.
#[derive(Clone, Copy)]
enum Body {
    Rule(usize),
    Check(usize, usize),
}

impl std::fmt::Display for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Rule(i) => write!(f, "rule {i}"),
            Body::Check(i, 0) => write!(f, "check {i}"),
            Body::Check(i, q) => write!(f, "check {i} (alternative {q})"),
        }
    }
}

impl Budget {
    /// Checks one decoded block; `symbol` resolves the block's symbol ids.
    pub(crate) fn check_block<'s>(
        &mut self,
        block: &schema::Block,
        index: usize,
        symbol: &dyn Fn(u64) -> Result<&'s str, Error>,
    ) -> Result<(), Error> {
        let limits = BLOCK_LIMITS;
        let refuse = |reason: String| Error::TooComplex {
            block: index,
            reason,
        };
        self.count_statements(block, &refuse)?;
        let mut regexes = 0usize;
        let mut counter = TermCounter {
            limits,
            refuse: &refuse,
        };
        check_facts(block, index, symbol, &mut counter)?;
        for (i, rule) in block.rules.iter().enumerate() {
            let head = symbol(rule.head.name)?;
            if SINGULAR.contains(&head) {
                return Err(refuse(format!(
                    "rule {i} derives {head}(...), which only the authorizer or the grant may state"
                )));
            }
            counter.predicate(&rule.head, "a rule head")?;
            self.body(rule, Body::Rule(i), symbol, &mut counter, &mut regexes)?;
        }
        for (i, check) in block.checks.iter().enumerate() {
            if check.queries.len() > limits.queries_per_check {
                return Err(over(
                    &refuse,
                    &format!("alternatives in check {i}"),
                    check.queries.len(),
                    limits.queries_per_check,
                ));
            }
            for (q, query) in check.queries.iter().enumerate() {
                self.body(query, Body::Check(i, q), symbol, &mut counter, &mut regexes)?;
            }
        }
        Ok(())
    }

    /// After the last block: the cost estimate of one evaluation. `last`
    /// is the index of the last block, named when the estimate is exceeded.
    pub(crate) fn finish(&self, last: usize) -> Result<(), Error> {
        let visible = self.facts + REQUEST_FACTS_ALLOWANCE;
        let cost = self
            .queries
            .saturating_mul(visible)
            .saturating_mul(1 + self.rules);
        if cost > TOKEN_LIMITS.cost {
            return Err(Error::TooComplex {
                block: last,
                reason: format!(
                    "brings the token's evaluation cost to {cost}, more than the {} allowed \
                     ({} rules and check alternatives over {} facts, {} rules)",
                    TOKEN_LIMITS.cost, self.queries, self.facts, self.rules
                ),
            });
        }
        Ok(())
    }

    /// The block's and the token's counts of facts, rules and checks.
    fn count_statements(
        &mut self,
        block: &schema::Block,
        refuse: &dyn Fn(String) -> Error,
    ) -> Result<(), Error> {
        let limits = BLOCK_LIMITS;
        if block.facts.len() > limits.facts {
            return Err(over(refuse, "facts", block.facts.len(), limits.facts));
        }
        if block.rules.len() > limits.rules {
            return Err(over(refuse, "rules", block.rules.len(), limits.rules));
        }
        if block.checks.len() > limits.checks {
            return Err(over(refuse, "checks", block.checks.len(), limits.checks));
        }
        self.facts += block.facts.len();
        self.rules += block.rules.len();
        if self.rules > TOKEN_LIMITS.rules {
            return Err(refuse(format!(
                "the token has more than {} rules",
                TOKEN_LIMITS.rules
            )));
        }
        if self.facts > TOKEN_LIMITS.facts {
            return Err(refuse(format!(
                "the token states more than {} facts",
                TOKEN_LIMITS.facts
            )));
        }
        Ok(())
    }

    fn body<'s>(
        &mut self,
        rule: &schema::Rule,
        at: Body,
        symbol: &dyn Fn(u64) -> Result<&'s str, Error>,
        counter: &mut TermCounter<'_>,
        regexes: &mut usize,
    ) -> Result<(), Error> {
        let limits = counter.limits;
        let refuse = counter.refuse;
        self.queries += 1;
        if self.queries > TOKEN_LIMITS.queries {
            return Err(refuse(format!(
                "the token has more than {} rules and check alternatives",
                TOKEN_LIMITS.queries
            )));
        }
        if rule.body.len() > limits.predicates_per_body {
            return Err(refuse(format!(
                "{at} joins {} predicates, more than the {} allowed",
                rule.body.len(),
                limits.predicates_per_body
            )));
        }
        let mut multiple = None;
        for predicate in &rule.body {
            let name = symbol(predicate.name)?;
            if !SINGULAR.contains(&name) {
                if let Some(first) = &multiple {
                    return Err(refuse(format!(
                        "{at} joins {first}(...) with {name}(...): both can match many facts, \
                         so its cost multiplies"
                    )));
                }
                multiple = Some(name);
            }
            counter.predicate(predicate, "a body predicate")?;
        }
        if rule.expressions.len() > limits.expressions_per_body {
            return Err(refuse(format!(
                "{at} has {} expressions, more than the {} allowed",
                rule.expressions.len(),
                limits.expressions_per_body
            )));
        }
        for expression in &rule.expressions {
            self.expression(expression, at, symbol, counter, regexes)?;
        }
        Ok(())
    }

    /// One expression: its length, and every operation in it.
    fn expression<'s>(
        &self,
        expression: &schema::Expression,
        at: Body,
        symbol: &dyn Fn(u64) -> Result<&'s str, Error>,
        counter: &mut TermCounter<'_>,
        regexes: &mut usize,
    ) -> Result<(), Error> {
        use schema::op::Content;
        use schema::op_binary::Kind as Binary;
        use schema::op_unary::Kind as Unary;
        let limits = counter.limits;
        let refuse = counter.refuse;
        if expression.ops.len() > limits.ops_per_expression {
            return Err(refuse(format!(
                "{at} has an expression of {} operations, more than the {} allowed",
                expression.ops.len(),
                limits.ops_per_expression
            )));
        }
        let mut previous: Option<&schema::Op> = None;
        for op in &expression.ops {
            match &op.content {
                Some(Content::Value(term)) => counter.term(term, 0)?,
                Some(Content::Unary(unary)) if unary.kind == Unary::Ffi as i32 => {
                    return Err(refuse(format!("{at} calls a foreign function")));
                }
                Some(Content::Unary(_)) => {}
                Some(Content::Binary(binary)) => {
                    let kind = binary.kind;
                    if kind == Binary::Ffi as i32 {
                        return Err(refuse(format!("{at} calls a foreign function")));
                    }
                    if kind == Binary::All as i32 || kind == Binary::Any as i32 {
                        return Err(refuse(format!("{at} uses a closure (.all or .any)")));
                    }
                    if kind == Binary::Regex as i32 {
                        *regexes += 1;
                        if *regexes > limits.regexes {
                            return Err(refuse(format!(
                                "more than {} regular expressions",
                                limits.regexes
                            )));
                        }
                        self.regex_pattern(previous, at, symbol, refuse)?;
                    }
                }
                Some(Content::Closure(_)) => {
                    return Err(refuse(format!("{at} uses a closure (.all or .any)")));
                }
                None => return Err(refuse(format!("{at} has an empty operation"))),
            }
            previous = Some(op);
        }
        Ok(())
    }

    /// A regular expression's pattern must be a literal string of bounded
    /// length (pushed just before the `matches` operation).
    fn regex_pattern<'s>(
        &self,
        previous: Option<&schema::Op>,
        at: Body,
        symbol: &dyn Fn(u64) -> Result<&'s str, Error>,
        refuse: &dyn Fn(String) -> Error,
    ) -> Result<(), Error> {
        use schema::op::Content;
        use schema::term::Content as Term;
        let pattern = match previous.and_then(|op| op.content.as_ref()) {
            Some(Content::Value(schema::Term {
                content: Some(Term::String(id)),
            })) => symbol(*id)?,
            _ => {
                return Err(refuse(format!(
                    "{at} matches a regular expression that is not a literal string"
                )));
            }
        };
        if pattern.len() > BLOCK_LIMITS.regex_bytes {
            return Err(refuse(format!(
                "{at} has a regular expression of {} bytes, more than the {} allowed",
                pattern.len(),
                BLOCK_LIMITS.regex_bytes
            )));
        }
        Ok(())
    }
}

/// Bounds the terms of predicates and expression values.
struct TermCounter<'a> {
    limits: BlockLimits,
    refuse: &'a dyn Fn(String) -> Error,
}

impl TermCounter<'_> {
    fn predicate(&mut self, predicate: &schema::Predicate, what: &str) -> Result<(), Error> {
        if predicate.terms.len() > self.limits.terms_per_predicate {
            return Err((self.refuse)(format!(
                "{what} has {} terms, more than the {} allowed",
                predicate.terms.len(),
                self.limits.terms_per_predicate
            )));
        }
        for term in &predicate.terms {
            self.term(term, 0)?;
        }
        Ok(())
    }

    /// Collections: bounded size and nesting.
    fn term(&mut self, term: &schema::Term, depth: usize) -> Result<(), Error> {
        use schema::term::Content;
        let elements: Vec<&schema::Term> = match &term.content {
            Some(Content::Set(set)) => set.set.iter().collect(),
            Some(Content::Array(array)) => array.array.iter().collect(),
            Some(Content::Map(map)) => map.entries.iter().map(|e| &e.value).collect(),
            _ => return Ok(()),
        };
        if depth >= 2 {
            return Err((self.refuse)(
                "a collection nested more than two deep".to_owned(),
            ));
        }
        if elements.len() > self.limits.collection_elements {
            return Err((self.refuse)(format!(
                "a collection of {} elements, more than the {} allowed",
                elements.len(),
                self.limits.collection_elements
            )));
        }
        for element in elements {
            self.term(element, depth + 1)?;
        }
        Ok(())
    }
}

/// The refusal for `count` things where `limit` are allowed.
fn over(refuse: &dyn Fn(String) -> Error, what: &str, count: usize, limit: usize) -> Error {
    refuse(format!("{count} {what}, more than the {limit} allowed"))
}

/// The block's facts: their terms, and the singular predicates that only
/// the grant may state, once each.
fn check_facts<'s>(
    block: &schema::Block,
    index: usize,
    symbol: &dyn Fn(u64) -> Result<&'s str, Error>,
    counter: &mut TermCounter<'_>,
) -> Result<(), Error> {
    let refuse = counter.refuse;
    let mut singular_seen: Vec<&str> = Vec::new();
    for f in &block.facts {
        let name = symbol(f.predicate.name)?;
        if SINGULAR.contains(&name) {
            if index != 0 {
                return Err(refuse(format!(
                    "states {name}(...), which only the authorizer or the grant may state"
                )));
            }
            if singular_seen.contains(&name) {
                return Err(refuse(format!("states {name}(...) more than once")));
            }
            singular_seen.push(name);
        }
        counter.predicate(&f.predicate, "a fact")?;
    }
    Ok(())
}
