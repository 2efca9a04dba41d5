//! Reading a token as a delegation chain: who delegated to whom, with what
//! rights, signed by which key.
//!
//! Blocks are read from the token's public wire schema (biscuit-auth's
//! `format::schema` protobuf messages) and their facts resolved through the
//! symbol tables, exactly as biscuit-auth itself loads them. Printed Datalog
//! is never parsed.

use std::time::SystemTime;

use biscuit_auth::format::schema;
use prost::Message;

use crate::display::escape;
use crate::error::Error;
use crate::keys::PublicKey;
use crate::rights::{Cap, Right, validate_name};
use crate::vocabulary::{self, SCHEMA_VERSION, fact};

/// A token read as a delegation chain.
///
/// The authority block's statements are the issuer's and are trusted once
/// the chain is verified. Later blocks' statements are claims by whoever
/// appended them; what binds is their checks, which can only narrow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The human principal.
    pub user: String,
    /// The user's tenant, if the issuer named one.
    pub tenant: Option<String>,
    /// What the user approved, if the issuer recorded it.
    pub intent: Option<String>,
    /// When the grant was issued.
    pub issued_at: SystemTime,
    /// The root key id the token names, a hint for key selection (not signed).
    pub root_key_id: Option<u32>,
    /// Whether every signature was verified against a root public key. When
    /// false, nothing in the chain is proven.
    pub verified: bool,
    /// Whether the token is sealed (can no longer be attenuated).
    pub sealed: bool,
    /// The blocks, authority first.
    pub blocks: Vec<ChainBlock>,
}

/// What a block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// Block 0, signed by the issuer's root key: the user's grant to the first agent.
    Authority,
    /// A delegation from the current holder to another agent.
    Hop,
    /// The holder restricting its own token, e.g. for one tool call.
    Narrowing,
    /// A third party's signed statement.
    Attestation,
    /// A block without agentcap labels (appended by other Biscuit tooling);
    /// its checks still apply.
    Unlabelled,
}

impl BlockKind {
    /// A lowercase name for display and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Authority => "authority",
            BlockKind::Hop => "hop",
            BlockKind::Narrowing => "narrowing",
            BlockKind::Attestation => "attestation",
            BlockKind::Unlabelled => "unlabelled",
        }
    }
}

/// What a check in a block enforces, as recognised by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckRole {
    /// The block's expiry.
    Expiry,
    /// The block's rights ([`ChainBlock::rights`]).
    Rights,
    /// A cap: the index into [`ChainBlock::caps`].
    Cap(usize),
    /// A check of a shape agentcap does not write: enforced all the same,
    /// but not described.
    Other,
}

/// Who passed authority to whom in a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delegation {
    /// 0 for the authority block (user to first agent), then 1, 2, ... per hop.
    pub depth: u32,
    /// The delegator: the user for the authority block, else the previous holder.
    pub from: String,
    /// The new holder.
    pub to: String,
}

/// Which key signed a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    /// The issuer's root key (the authority block).
    Root {
        /// The root key id named by the token, if any.
        key_id: Option<u32>,
    },
    /// The holder of the token at that point, anonymously (a plain block).
    Holder,
    /// An agent's or third party's key (a Biscuit third-party block).
    Key {
        /// The signing key.
        key: PublicKey,
        /// Whether the block is a hop and `key` is the delegating holder's
        /// *proven* key: the chain is verified, and every binding from the
        /// root-signed grant down to this holder's key was itself signed by
        /// the key before it. Only then does the block prove who delegated;
        /// otherwise the binding it relies on is a claim.
        is_delegator: bool,
    },
}

/// One block of a [`Chain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBlock {
    /// Position in the token (0 is the authority block).
    pub index: usize,
    /// What the block is.
    pub kind: BlockKind,
    /// For the authority block and hops: who delegated to whom.
    pub delegation: Option<Delegation>,
    /// The holder of the token after this block.
    pub holder: String,
    /// The key bound to the holder after this block, if any.
    pub holder_key: Option<PublicKey>,
    /// Whether [`ChainBlock::holder_key`] is proven to be the holder's: bound
    /// by the verified root-signed grant, or by a hop signed by the previous
    /// holder's proven key. False when there is no key, or its binding is
    /// a claim.
    pub holder_key_proven: bool,
    /// Whether the block is a delegation whose delegator is proven: the
    /// verified authority block, or a hop signed by the previous holder's
    /// proven key. False for unsigned hops, hops signed by other keys, and
    /// blocks that delegate nothing.
    pub delegation_proven: bool,
    /// Who signed the block.
    pub signer: Signer,
    /// Whether the block's signatures were verified (see [`Chain::verified`]).
    pub verified: bool,
    /// The rights the block's rights check enforces (empty: no rights check).
    pub rights: Vec<Right>,
    /// The caps the block's checks enforce.
    pub caps: Vec<Cap>,
    /// The expiry the block's check enforces.
    pub expires_at: Option<SystemTime>,
    /// The maximum depth the block states.
    pub max_depth: Option<u32>,
    /// What each of the block's checks is, in the block's order (the check
    /// ids biscuit-auth reports for failed checks index this).
    pub checks: Vec<CheckRole>,
    /// An attestation's statement.
    pub attestation: Option<String>,
    /// The block's revocation id (its signature), hex.
    pub revocation_id: String,
}

impl ChainBlock {
    /// The number of checks inspection cannot describe ([`CheckRole::Other`]).
    pub fn other_checks(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| **c == CheckRole::Other)
            .count()
    }

    /// Who this block is, in words: "the grant from alice to assistant",
    /// "hop 2 (assistant → search)", "the narrowing by search", ... Names
    /// are [`escape`]d.
    pub fn describe(&self) -> String {
        match (&self.kind, &self.delegation) {
            (BlockKind::Authority, Some(d)) => {
                format!("the grant from {} to {}", escape(&d.from), escape(&d.to))
            }
            (BlockKind::Hop, Some(d)) => {
                format!("hop {} ({} → {})", d.depth, escape(&d.from), escape(&d.to))
            }
            (BlockKind::Narrowing, _) => {
                format!(
                    "the narrowing by {} (block {})",
                    escape(&self.holder),
                    self.index
                )
            }
            (BlockKind::Attestation, _) => format!("the attestation in block {}", self.index),
            _ => format!("block {}", self.index),
        }
    }
}

impl Chain {
    /// The first agent, the user's direct delegate.
    pub fn first_agent(&self) -> &str {
        self.blocks.first().map_or("", |b| b.holder.as_str())
    }

    /// The current holder: the last agent delegated to.
    pub fn holder(&self) -> &str {
        self.blocks.last().map_or("", |b| b.holder.as_str())
    }

    /// The key bound to the current holder, if any.
    pub fn holder_key(&self) -> Option<PublicKey> {
        self.blocks.last().and_then(|b| b.holder_key)
    }

    /// The agents in order, first agent to current holder.
    pub fn agents(&self) -> Vec<&str> {
        self.blocks
            .iter()
            .filter_map(|b| b.delegation.as_ref().map(|d| d.to.as_str()))
            .collect()
    }

    /// The number of hops.
    pub fn depth(&self) -> u32 {
        self.hops().count() as u32
    }

    /// The hop blocks.
    pub fn hops(&self) -> impl Iterator<Item = &ChainBlock> {
        self.blocks.iter().filter(|b| b.kind == BlockKind::Hop)
    }

    /// The smallest maximum depth any block states.
    pub fn max_depth(&self) -> Option<u32> {
        self.blocks.iter().filter_map(|b| b.max_depth).min()
    }

    /// The earliest expiry any block states.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.blocks.iter().filter_map(|b| b.expires_at).min()
    }

    /// The caps that concern a request for `operation` on the concrete
    /// `resource`, with the index of the block stating each.
    pub fn caps_for<'a>(
        &'a self,
        resource: &'a str,
        operation: &'a str,
    ) -> impl Iterator<Item = (usize, &'a Cap)> + 'a {
        self.blocks.iter().flat_map(move |b| {
            b.caps
                .iter()
                .filter(move |c| c.applies_to(resource, operation))
                .map(move |c| (b.index, c))
        })
    }

    /// Whether the chain's caps, as stated, are tightened by `cap` no less
    /// than by what already holds: `Some(parent)` names a stated cap
    /// `cap` would loosen (see [`Cap::is_looser_than`]).
    pub fn loosened_by(&self, cap: &Cap) -> Option<String> {
        let overlapping: Vec<&Cap> = self
            .blocks
            .iter()
            .flat_map(|b| &b.caps)
            .filter(|held| held.overlaps(cap))
            .collect();
        if let Some(parent) = overlapping.iter().find(|held| cap.is_looser_than(held)) {
            return Some(parent.to_string());
        }
        // Without a cap stating a lower bound, negative values are refused.
        if cap.min.is_some_and(|min| min < 0) && overlapping.is_empty() {
            return Some(format!(
                "{}:{}: no negative {}",
                cap.resource, cap.operation, cap.name
            ));
        }
        None
    }

    /// The rule on quantities that a cap's Datalog check cannot state: a
    /// negative quantity is refused unless the grant (the authority block)
    /// has a cap on it that applies to the request and allows the value, and
    /// every cap on it in the chain that applies states a lower bound (a cap
    /// without one refuses negative values). Bounds themselves are enforced
    /// by the caps' checks in the token.
    ///
    /// Both [`Token::check`](crate::Token::check) and the verifier call this
    /// after the token's checks pass. Anchoring the permission in the
    /// authority block keeps attenuation monotone: no appended block can
    /// allow a negative value the grant does not.
    pub fn check_quantities(
        &self,
        resource: &str,
        operation: &str,
        quantities: &[(String, i64)],
    ) -> Result<(), Error> {
        for (name, value) in quantities {
            if *value >= 0 {
                continue;
            }
            let mut granted = false;
            for (block, cap) in self.caps_for(resource, operation) {
                if cap.name != *name {
                    continue;
                }
                if cap.min.is_none_or(|min| min > *value) {
                    return Err(Error::QuantityRefused {
                        name: name.clone(),
                        value: *value,
                        reason: "below the lower bound of a cap (a cap without one refuses negative values)",
                    });
                }
                granted |= block == 0;
            }
            if !granted {
                return Err(Error::QuantityRefused {
                    name: name.clone(),
                    value: *value,
                    reason: "negative, and no cap of the grant allows negative values",
                });
            }
        }
        Ok(())
    }

    /// Whether every block that states rights states one covering `right`:
    /// whether the chain, as stated, holds it.
    pub fn holds(&self, right: &Right) -> bool {
        self.blocks
            .iter()
            .filter(|b| !b.rights.is_empty())
            .all(|b| b.rights.iter().any(|held| held.covers(right)))
    }

    /// Whether the stated rights allow `operation` on the concrete `resource`.
    pub fn allows(&self, resource: &str, operation: &str) -> bool {
        self.blocks
            .iter()
            .filter(|b| !b.rights.is_empty())
            .all(|b| b.rights.iter().any(|held| held.allows(resource, operation)))
    }

    /// The block at `index`.
    pub fn block(&self, index: usize) -> Option<&ChainBlock> {
        self.blocks.get(index)
    }

    /// The revocation ids of all blocks, in order (hex).
    pub fn revocation_ids(&self) -> Vec<&str> {
        self.blocks
            .iter()
            .map(|b| b.revocation_id.as_str())
            .collect()
    }

    /// Checks the rules Datalog cannot express: the number of hops is within
    /// every stated maximum depth, and a holder bound to a key hands the token
    /// on only in a hop signed by that key.
    pub fn validate(&self) -> Result<(), Error> {
        let depth = self.depth();
        if let Some(max_depth) = self.max_depth()
            && depth > max_depth
        {
            return Err(Error::DepthExceeded { depth, max_depth });
        }
        let mut bound_key = None;
        for block in &self.blocks {
            if block.kind == BlockKind::Hop
                && let Some(expected) = bound_key
            {
                match &block.signer {
                    Signer::Key { key, .. } if *key == expected => {}
                    Signer::Key { .. } => {
                        return Err(Error::WrongHopSigner { block: block.index });
                    }
                    _ => return Err(Error::UnsignedHop { block: block.index }),
                }
            }
            bound_key = block.holder_key;
        }
        Ok(())
    }

    /// Reads a serialized token. `verified` records whether the caller has
    /// verified these exact bytes against a root key.
    ///
    /// `external_keys`, when given, are the blocks' third-party signer keys
    /// as biscuit-auth already decoded them (one per block, in order); they
    /// spare decoding each key a second time.
    pub(crate) fn decode(
        bytes: &[u8],
        verified: bool,
        external_keys: Option<&[Option<biscuit_auth::PublicKey>]>,
    ) -> Result<Chain, Error> {
        let token =
            schema::Biscuit::decode(bytes).map_err(|e| Error::MalformedToken(e.to_string()))?;
        Self::from_schema(&token, verified, external_keys)
    }

    /// Reads a token already in its wire-schema form (e.g. from a verified
    /// biscuit-auth container, sparing a second parse of the envelope).
    pub(crate) fn from_schema(
        token: &schema::Biscuit,
        verified: bool,
        external_keys: Option<&[Option<biscuit_auth::PublicKey>]>,
    ) -> Result<Chain, Error> {
        if token.authority.external_signature.is_some() {
            return Err(Error::NotAgentcapToken(
                "the authority block is a third-party block",
            ));
        }
        let sealed = matches!(
            token.proof.content,
            Some(schema::proof::Content::FinalSignature(_))
        );
        let mut symbols = Symbols::default();

        let authority = decode_block(&token.authority, &mut symbols, 0)?;
        let mut chain = read_authority(&authority, token, verified)?;

        for (offset, signed) in token.blocks.iter().enumerate() {
            let index = offset + 1;
            let statements = decode_block(signed, &mut symbols, index)?;
            let known_key = external_keys.and_then(|keys| keys.get(index).copied().flatten());
            let block = read_block(&chain, index, signed, known_key, &statements, verified)?;
            chain.blocks.push(block);
        }
        symbols
            .budget
            .finish(chain.blocks.len().saturating_sub(1))?;
        chain.sealed = sealed;
        Ok(chain)
    }
}

/// The symbol table of first-party blocks, which accumulates block by block.
#[derive(Default)]
struct Symbols {
    shared: Vec<String>,
    /// The evaluation budget, checked as each block is decoded.
    budget: crate::budget::Budget,
}

/// The name of symbol `i`: from biscuit-auth's fixed table below
/// [`SYMBOL_OFFSET`], else from the block's (or the shared) table.
fn symbol_name<'a>(
    defaults: &'a biscuit_auth::datalog::SymbolTable,
    table: &'a [String],
    i: u64,
) -> Option<&'a str> {
    if i < SYMBOL_OFFSET {
        defaults.get_symbol(i)
    } else {
        usize::try_from(i - SYMBOL_OFFSET)
            .ok()
            .and_then(|j| table.get(j))
            .map(String::as_str)
    }
}

/// biscuit-auth's fixed table covers indices below this offset.
const SYMBOL_OFFSET: u64 = 1024;

/// A decoded term.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
    Date(u64),
    Bytes(Vec<u8>),
    Variable(String),
    Other,
}

/// The facts of one block (predicate name and terms, in order), and its checks.
struct Statements {
    facts: Vec<(String, Vec<Value>)>,
    checks: Vec<CheckShape>,
}

/// A check, decoded far enough to recognise the shapes agentcap writes.
#[derive(Debug, PartialEq)]
struct CheckShape {
    kind_is_one: bool,
    queries: Vec<QueryShape>,
}

#[derive(Debug, PartialEq)]
struct QueryShape {
    scoped: bool,
    body: Vec<(String, Vec<Value>)>,
    expressions: Vec<Vec<OpShape>>,
}

#[derive(Debug, Clone, PartialEq)]
enum OpShape {
    Value(Value),
    Unary(i32),
    Binary(i32),
    Other,
}

impl Statements {
    /// The terms of every fact `name`.
    fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [Value]> + 's {
        self.facts
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, terms)| terms.as_slice())
    }

    fn has(&self, name: &str) -> bool {
        self.all(name).next().is_some()
    }

    /// The single fact `name`, if stated; more than one distinct is malformed.
    fn one<'s>(&'s self, name: &'s str, block: usize) -> Result<Option<&'s [Value]>, Error> {
        let mut facts = self.all(name);
        let Some(first) = facts.next() else {
            return Ok(None);
        };
        if facts.all(|f| f == first) {
            Ok(Some(first))
        } else {
            Err(malformed(block, format!("more than one {name} fact")))
        }
    }
}

fn malformed(block: usize, reason: impl Into<String>) -> Error {
    Error::MalformedBlock {
        block,
        reason: reason.into(),
    }
}

fn decode_block(
    signed: &schema::SignedBlock,
    symbols: &mut Symbols,
    index: usize,
) -> Result<Statements, Error> {
    let mut block = schema::Block::decode(signed.block.as_slice())
        .map_err(|e| malformed(index, format!("cannot decode block: {e}")))?;
    // A third-party block has its own symbol table; first-party blocks share one.
    let own;
    let table: &[String] = if signed.external_signature.is_some() {
        own = std::mem::take(&mut block.symbols);
        &own
    } else {
        symbols.shared.extend(std::mem::take(&mut block.symbols));
        &symbols.shared
    };
    let defaults = biscuit_auth::datalog::SymbolTable::new();
    let symbol = |i: u64| -> Result<String, Error> {
        symbol_name(&defaults, table, i)
            .map(str::to_owned)
            .ok_or_else(|| malformed(index, format!("unknown symbol {i}")))
    };
    // The budget reads names only: borrowed, not copied.
    let name_of = |i: u64| -> Result<&str, Error> {
        symbol_name(&defaults, table, i)
            .ok_or_else(|| malformed(index, format!("unknown symbol {i}")))
    };
    symbols.budget.check_block(&block, index, &name_of)?;
    let value = |term: &schema::Term| -> Result<Value, Error> {
        use schema::term::Content;
        Ok(match &term.content {
            Some(Content::String(i)) => Value::Str(symbol(*i)?),
            Some(Content::Integer(n)) => Value::Int(*n),
            Some(Content::Date(d)) => Value::Date(*d),
            Some(Content::Bytes(b)) => Value::Bytes(b.clone()),
            Some(Content::Variable(v)) => Value::Variable(symbol(u64::from(*v))?),
            _ => Value::Other,
        })
    };
    let predicate = |p: &schema::Predicate| -> Result<(String, Vec<Value>), Error> {
        let terms = p.terms.iter().map(value).collect::<Result<Vec<_>, _>>()?;
        Ok((symbol(p.name)?, terms))
    };
    let facts = block
        .facts
        .iter()
        .map(|f| predicate(&f.predicate))
        .collect::<Result<Vec<_>, _>>()?;
    let mut checks = Vec::with_capacity(block.checks.len());
    for check in &block.checks {
        let mut queries = Vec::with_capacity(check.queries.len());
        for rule in &check.queries {
            let body = rule
                .body
                .iter()
                .map(predicate)
                .collect::<Result<Vec<_>, _>>()?;
            let mut expressions = Vec::with_capacity(rule.expressions.len());
            for expression in &rule.expressions {
                let mut ops = Vec::with_capacity(expression.ops.len());
                for op in &expression.ops {
                    use schema::op::Content;
                    ops.push(match &op.content {
                        Some(Content::Value(term)) => OpShape::Value(value(term)?),
                        Some(Content::Unary(unary)) => OpShape::Unary(unary.kind),
                        Some(Content::Binary(binary)) => OpShape::Binary(binary.kind),
                        _ => OpShape::Other,
                    });
                }
                expressions.push(ops);
            }
            queries.push(QueryShape {
                scoped: !rule.scope.is_empty(),
                body,
                expressions,
            });
        }
        checks.push(CheckShape {
            kind_is_one: matches!(check.kind, None | Some(0)),
            queries,
        });
    }
    if !block.scope.is_empty() {
        // A block-level scope widens what its checks see: none are recognised.
        for check in &mut checks {
            check.kind_is_one = false;
        }
    }
    Ok(Statements { facts, checks })
}

/// What a recognised check enforces.
enum Enforced {
    Expiry(u64),
    Rights(Vec<Right>),
    Cap(Cap),
}

use biscuit_auth::format::schema::op_binary::Kind as BinaryKind;

/// The shape of a check built by [`crate::vocabulary`], in the terms a
/// decoded check is read in: recognition rebuilds a candidate check with the
/// vocabulary's own builder and compares, so what agentcap writes and what
/// it recognises have one definition.
fn shape_of(check: &biscuit_auth::builder::Check) -> CheckShape {
    use biscuit_auth::builder::{Binary, CheckKind, Op, Term, Unary};
    let term = |t: &Term| match t {
        Term::Str(s) => Value::Str(s.clone()),
        Term::Integer(n) => Value::Int(*n),
        Term::Date(d) => Value::Date(*d),
        Term::Bytes(b) => Value::Bytes(b.clone()),
        Term::Variable(v) => Value::Variable(v.clone()),
        _ => Value::Other,
    };
    let op = |o: &Op| match o {
        Op::Value(t) => OpShape::Value(term(t)),
        Op::Unary(Unary::Negate) => OpShape::Unary(schema::op_unary::Kind::Negate as i32),
        Op::Binary(b) => match b {
            Binary::LessOrEqual => OpShape::Binary(BinaryKind::LessOrEqual as i32),
            Binary::GreaterOrEqual => OpShape::Binary(BinaryKind::GreaterOrEqual as i32),
            Binary::NotEqual => OpShape::Binary(BinaryKind::NotEqual as i32),
            Binary::Prefix => OpShape::Binary(BinaryKind::Prefix as i32),
            _ => OpShape::Other,
        },
        _ => OpShape::Other,
    };
    CheckShape {
        kind_is_one: matches!(check.kind, CheckKind::One),
        queries: check
            .queries
            .iter()
            .map(|rule| QueryShape {
                scoped: !rule.scopes.is_empty(),
                body: rule
                    .body
                    .iter()
                    .map(|p| (p.name.clone(), p.terms.iter().map(term).collect()))
                    .collect(),
                expressions: rule
                    .expressions
                    .iter()
                    .map(|e| e.ops.iter().map(op).collect())
                    .collect(),
            })
            .collect(),
    }
}

/// Recognises the checks [`crate::vocabulary`] writes; anything else is `None`.
fn recognise(check: &CheckShape) -> Option<Enforced> {
    use crate::vocabulary::request;
    if !check.kind_is_one || check.queries.iter().any(|q| q.scoped) {
        return None;
    }
    let first = check.queries.first()?;
    match first.body.as_slice() {
        [(name, _)] if name == request::TIME => {
            let date = match first.expressions.first()?.as_slice() {
                [_, OpShape::Value(Value::Date(d)), _] => *d,
                _ => return None,
            };
            (shape_of(&vocabulary::expiry_check(date)) == *check).then_some(Enforced::Expiry(date))
        }
        [(name, _)] if name == request::OPERATION => recognise_cap(check).map(Enforced::Cap),
        _ => {
            let rights = check
                .queries
                .iter()
                .map(recognise_right)
                .collect::<Option<Vec<_>>>()?;
            (shape_of(&vocabulary::rights_check(&rights)) == *check)
                .then_some(Enforced::Rights(rights))
        }
    }
}

/// Reads a candidate cap from a check's literals, then accepts it only if
/// [`vocabulary::cap_check`] rebuilds exactly this check.
fn recognise_cap(check: &CheckShape) -> Option<Cap> {
    use crate::vocabulary::request;
    let mut operation = None;
    let mut resource = None;
    let mut name = None;
    let (mut min, mut max) = (None, None);
    for q in &check.queries {
        let [(predicate, terms)] = q.body.as_slice() else {
            return None;
        };
        let literal = |e: &[OpShape]| match e {
            [_, OpShape::Value(v), ..] => Some(v.clone()),
            _ => None,
        };
        match predicate.as_str() {
            request::OPERATION => match literal(q.expressions.first()?)? {
                Value::Str(op) => operation = Some(op),
                _ => return None,
            },
            request::RESOURCE => {
                let e = q.expressions.first()?;
                match (literal(e)?, e.len()) {
                    (Value::Str(exact), 3) => resource = Some(exact),
                    (Value::Str(prefix), 4) => resource = Some(format!("{prefix}*")),
                    _ => return None,
                }
            }
            request::QUANTITY => {
                let [Value::Str(n), _] = terms.as_slice() else {
                    return None;
                };
                name = Some(n.clone());
                for e in &q.expressions {
                    match (literal(e)?, e.get(2)) {
                        (Value::Int(v), Some(op)) if binary_is(op, BinaryKind::GreaterOrEqual) => {
                            min = Some(v)
                        }
                        (Value::Int(v), Some(op)) if binary_is(op, BinaryKind::LessOrEqual) => {
                            max = Some(v)
                        }
                        _ => return None,
                    }
                }
            }
            _ => return None,
        }
    }
    let resource = resource.unwrap_or_else(|| "*".to_owned());
    let cap = Cap::new(&resource, &operation?, &name?, min, max).ok()?;
    (shape_of(&vocabulary::cap_check(&cap)) == *check).then_some(cap)
}

fn binary_is(op: &OpShape, kind: BinaryKind) -> bool {
    *op == OpShape::Binary(kind as i32)
}

fn recognise_right(q: &QueryShape) -> Option<Right> {
    use crate::vocabulary::request;
    let (resource, operation) = match q.body.as_slice() {
        [(r, resource), (o, operation)] if r == request::RESOURCE && o == request::OPERATION => {
            (resource.as_slice(), operation.as_slice())
        }
        _ => return None,
    };
    let [Value::Str(operation)] = operation else {
        return None;
    };
    match (resource, q.expressions.as_slice()) {
        ([Value::Str(exact)], []) => Some(Right {
            resource: crate::rights::ResourcePattern::exact(exact).ok()?,
            operation: operation.clone(),
        }),
        ([Value::Variable(a)], [e]) => match e.as_slice() {
            [
                OpShape::Value(Value::Variable(b)),
                OpShape::Value(Value::Str(prefix)),
                kind,
            ] if a == b && binary_is(kind, BinaryKind::Prefix) => {
                // Only prefixes that end a path segment are patterns we can name.
                if !(prefix.is_empty() || prefix.ends_with('/')) {
                    return None;
                }
                Right::new(&format!("{prefix}*"), operation).ok()
            }
            _ => None,
        },
        _ => None,
    }
}

/// A date a token states, saturated like every unix time
/// ([`crate::unix_time`]): a date past year 9999 reads as 9999-12-31.
fn date(seconds: u64, _block: usize) -> Result<SystemTime, Error> {
    Ok(crate::unix_time::from_unix(seconds))
}

fn text(fact: &[Value], position: usize, block: usize, name: &str) -> Result<String, Error> {
    match fact.get(position) {
        Some(Value::Str(s)) => Ok(s.clone()),
        _ => Err(malformed(
            block,
            format!("{name} expects a string in position {position}"),
        )),
    }
}

fn single_text(statements: &Statements, name: &str, block: usize) -> Result<Option<String>, Error> {
    match statements.one(name, block)? {
        None => Ok(None),
        Some(f) if f.len() == 1 => text(f, 0, block, name).map(Some),
        Some(_) => Err(malformed(block, format!("{name} takes one term"))),
    }
}

/// What a block enforces through its checks (rights, caps, expiry), and the
/// maximum depth it states.
struct Restrictions {
    rights: Vec<Right>,
    caps: Vec<Cap>,
    expires_at: Option<SystemTime>,
    max_depth: Option<u32>,
    checks: Vec<CheckRole>,
}

fn read_restrictions(statements: &Statements, block: usize) -> Result<Restrictions, Error> {
    let mut rights: Option<Vec<Right>> = None;
    let mut caps = Vec::new();
    let mut expires = None;
    let mut checks = Vec::with_capacity(statements.checks.len());
    for check in &statements.checks {
        checks.push(match recognise(check) {
            Some(Enforced::Expiry(at)) => {
                expires = Some(expires.map_or(at, |e: u64| e.min(at)));
                CheckRole::Expiry
            }
            // A second rights check further narrows; it is reported, not merged.
            Some(Enforced::Rights(r)) if rights.is_none() => {
                rights = Some(r);
                CheckRole::Rights
            }
            Some(Enforced::Cap(cap)) => {
                caps.push(cap);
                CheckRole::Cap(caps.len() - 1)
            }
            Some(Enforced::Rights(_)) | None => CheckRole::Other,
        });
    }
    let expires_at = expires.map(|d| date(d, block)).transpose()?;
    let mut max_depth = None;
    for f in statements.all(fact::MAX_DEPTH) {
        let depth = match f {
            [Value::Int(n)] => {
                u32::try_from(*n).map_err(|_| malformed(block, "max_depth out of range"))?
            }
            _ => return Err(malformed(block, "max_depth(n) expects an integer")),
        };
        max_depth = Some(max_depth.map_or(depth, |m: u32| m.min(depth)));
    }
    Ok(Restrictions {
        rights: rights.unwrap_or_default(),
        caps,
        expires_at,
        max_depth,
        checks,
    })
}

fn agent_key(
    statements: &Statements,
    agent: &str,
    block: usize,
) -> Result<Option<PublicKey>, Error> {
    let Some(f) = statements.one(fact::AGENT_KEY, block)? else {
        return Ok(None);
    };
    match f {
        [Value::Str(name), Value::Bytes(key)] if name == agent => PublicKey::from_bytes(key)
            .map(Some)
            .map_err(|_| malformed(block, "agent_key is not an Ed25519 public key")),
        [Value::Str(_), Value::Bytes(_)] => Err(malformed(
            block,
            "agent_key names an agent other than the new holder",
        )),
        _ => Err(malformed(
            block,
            "agent_key(name, key) expects a string and bytes",
        )),
    }
}

fn revocation_id(signed: &schema::SignedBlock) -> String {
    hex::encode(&signed.signature)
}

fn read_authority(
    statements: &Statements,
    token: &schema::Biscuit,
    verified: bool,
) -> Result<Chain, Error> {
    match statements.one(fact::SCHEMA, 0)? {
        Some([Value::Int(SCHEMA_VERSION)]) => {}
        Some(_) => {
            return Err(Error::NotAgentcapToken(
                "unsupported agentcap schema version",
            ));
        }
        None => {
            return Err(Error::NotAgentcapToken(
                "the authority block has no agentcap fact",
            ));
        }
    }
    let user = single_text(statements, fact::USER, 0)?
        .ok_or(Error::NotAgentcapToken("the authority block names no user"))?;
    let agent = single_text(statements, fact::AGENT, 0)?.ok_or(Error::NotAgentcapToken(
        "the authority block names no agent",
    ))?;
    validate_name("user", &user).map_err(|e| malformed(0, e.to_string()))?;
    validate_name("agent", &agent).map_err(|e| malformed(0, e.to_string()))?;
    let issued_at = match statements.one(fact::ISSUED_AT, 0)? {
        Some([Value::Date(d)]) => date(*d, 0)?,
        _ => {
            return Err(Error::NotAgentcapToken(
                "the authority block has no issued_at date",
            ));
        }
    };
    let restrictions = read_restrictions(statements, 0)?;
    if restrictions.rights.is_empty() {
        return Err(Error::NotAgentcapToken(
            "the authority block grants no rights",
        ));
    }
    if restrictions.expires_at.is_none() {
        return Err(Error::NotAgentcapToken("the authority block has no expiry"));
    }
    let holder_key = agent_key(statements, &agent, 0)?;
    let authority = ChainBlock {
        index: 0,
        kind: BlockKind::Authority,
        delegation: Some(Delegation {
            depth: 0,
            from: user.clone(),
            to: agent.clone(),
        }),
        holder: agent,
        holder_key_proven: verified && holder_key.is_some(),
        delegation_proven: verified,
        holder_key,
        signer: Signer::Root {
            key_id: token.root_key_id,
        },
        verified,
        rights: restrictions.rights,
        caps: restrictions.caps,
        expires_at: restrictions.expires_at,
        max_depth: restrictions.max_depth,
        checks: restrictions.checks,
        attestation: None,
        revocation_id: revocation_id(&token.authority),
    };
    Ok(Chain {
        user,
        tenant: single_text(statements, fact::TENANT, 0)?,
        intent: single_text(statements, fact::INTENT, 0)?,
        issued_at,
        root_key_id: token.root_key_id,
        verified,
        sealed: false,
        blocks: vec![authority],
    })
}

fn read_block(
    chain: &Chain,
    index: usize,
    signed: &schema::SignedBlock,
    known_key: Option<biscuit_auth::PublicKey>,
    statements: &Statements,
    verified: bool,
) -> Result<ChainBlock, Error> {
    let previous_holder = chain.holder().to_owned();
    let previous_key = chain.holder_key();
    let signer_key = match &signed.external_signature {
        None => None,
        Some(external) => {
            let key = known_key
                .filter(|k| k.to_bytes() == external.public_key.key)
                .or_else(|| biscuit_auth::PublicKey::from_proto(&external.public_key).ok())
                .and_then(|k| PublicKey::from_biscuit(k).ok())
                .ok_or_else(|| malformed(index, "third-party signer is not an Ed25519 key"))?;
            Some(key)
        }
    };
    let delegation = match statements.one(fact::HOP, index)? {
        None => None,
        Some([Value::Int(depth), Value::Str(from), Value::Str(to)]) => {
            let expected = chain.depth() + 1;
            if u32::try_from(*depth).ok() != Some(expected) {
                return Err(malformed(
                    index,
                    format!("hop states depth {depth}, but it is hop {expected}"),
                ));
            }
            if *from != previous_holder {
                return Err(malformed(index, "hop is not from the current holder"));
            }
            validate_name("agent", to).map_err(|e| malformed(index, e.to_string()))?;
            Some(Delegation {
                depth: expected,
                from: from.clone(),
                to: to.clone(),
            })
        }
        Some(_) => {
            return Err(malformed(
                index,
                "delegation(depth, from, to) expects an integer and two strings",
            ));
        }
    };
    let narrowing = single_text(statements, fact::NARROWING, index)?;
    let attestation = single_text(statements, fact::ATTESTATION, index)?;
    let kind = match (&delegation, &narrowing, &attestation) {
        (Some(_), None, None) => BlockKind::Hop,
        (None, Some(holder), None) => {
            if *holder != previous_holder {
                return Err(malformed(
                    index,
                    "narrowing by an agent other than the holder",
                ));
            }
            BlockKind::Narrowing
        }
        (None, None, Some(_)) if signer_key.is_some() => BlockKind::Attestation,
        (None, None, Some(_)) => {
            return Err(malformed(
                index,
                "an attestation must be a signed third-party block",
            ));
        }
        (None, None, None) => BlockKind::Unlabelled,
        _ => {
            return Err(malformed(
                index,
                "a block is one of hop, narrowing or attestation",
            ));
        }
    };
    let restrictions = read_restrictions(statements, index)?;
    let (holder, holder_key) = match &delegation {
        Some(d) => (d.to.clone(), agent_key(statements, &d.to, index)?),
        None => {
            if statements.has(fact::AGENT_KEY) {
                return Err(malformed(index, "only a hop may bind a key to an agent"));
            }
            (previous_holder, previous_key)
        }
    };
    // A binding is proven only down an unbroken line of proven keys.
    let previous_proven = verified && chain.blocks.last().is_some_and(|b| b.holder_key_proven);
    let is_delegator = matches!(signer_key, Some(key) if kind == BlockKind::Hop
        && previous_proven
        && previous_key == Some(key));
    let signer = match signer_key {
        None => Signer::Holder,
        Some(key) => Signer::Key { is_delegator, key },
    };
    let holder_key_proven = match kind {
        BlockKind::Hop => is_delegator && holder_key.is_some(),
        _ => previous_proven,
    };
    Ok(ChainBlock {
        index,
        kind,
        delegation,
        holder,
        holder_key,
        holder_key_proven,
        delegation_proven: kind == BlockKind::Hop && is_delegator,
        signer,
        verified,
        rights: restrictions.rights,
        caps: restrictions.caps,
        expires_at: restrictions.expires_at,
        max_depth: restrictions.max_depth,
        checks: restrictions.checks,
        attestation,
        revocation_id: revocation_id(signed),
    })
}
