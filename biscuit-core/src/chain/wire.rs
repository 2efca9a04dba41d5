//! A token's public wire schema (biscuit-auth's `format::schema` protobuf
//! messages), decoded far enough to read agentcap's facts and recognise its
//! checks, with symbols resolved exactly as biscuit-auth resolves them.
//! Printed Datalog is never parsed.

use biscuit_auth::format::schema;
use prost::Message;

use crate::error::Error;

/// The symbol table of first-party blocks, which accumulates block by block.
#[derive(Default)]
pub(super) struct Symbols {
    shared: Vec<String>,
    /// The evaluation budget, checked as each block is decoded.
    pub(super) budget: crate::budget::Budget,
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
pub(super) enum Value {
    Str(String),
    Int(i64),
    Date(u64),
    Bytes(Vec<u8>),
    Variable(String),
    /// A set of strings, sorted (the wire's order follows symbol numbers).
    StrSet(Vec<String>),
    Other,
}

/// The kind of a check, as agentcap recognises it. A block-level scope
/// widens what a check sees: its checks are then `Unrecognised`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CheckKind {
    One,
    All,
    Reject,
    Unrecognised,
}

/// The facts of one block (predicate name and terms, in order), and its checks.
pub(super) struct Statements {
    pub(super) facts: Vec<(String, Vec<Value>)>,
    pub(super) checks: Vec<CheckShape>,
    /// How many rules the block has (agentcap writes none).
    pub(super) rules: usize,
}

/// A check, decoded far enough to recognise the shapes agentcap writes.
#[derive(Debug, PartialEq)]
pub(super) struct CheckShape {
    pub(super) kind: CheckKind,
    pub(super) queries: Vec<QueryShape>,
}

#[derive(Debug, PartialEq)]
pub(super) struct QueryShape {
    pub(super) scoped: bool,
    pub(super) body: Vec<(String, Vec<Value>)>,
    pub(super) expressions: Vec<Vec<OpShape>>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum OpShape {
    Value(Value),
    Unary(i32),
    Binary(i32),
    Other,
}

impl Statements {
    /// The terms of every fact `name`.
    pub(super) fn all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [Value]> + 's {
        self.facts
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, terms)| terms.as_slice())
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.all(name).next().is_some()
    }

    /// The single fact `name`, if stated; more than one distinct is malformed.
    pub(super) fn one<'s>(
        &'s self,
        name: &'s str,
        block: usize,
    ) -> Result<Option<&'s [Value]>, Error> {
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

pub(super) fn malformed(block: usize, reason: impl Into<String>) -> Error {
    Error::MalformedBlock {
        block,
        reason: reason.into(),
    }
}

/// Decodes block `index` far enough to read its facts and recognise its
/// checks, after checking it against the evaluation budget.
pub(super) fn decode_block(
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
    let names = BlockNames {
        defaults: &defaults,
        table,
        index,
    };
    // The budget reads names only: borrowed, not copied.
    symbols
        .budget
        .check_block(&block, index, &|i| names.name(i))?;
    let facts = block
        .facts
        .iter()
        .map(|f| names.predicate(&f.predicate))
        .collect::<Result<Vec<_>, _>>()?;
    let checks = read_checks(&block, &names)?;
    Ok(Statements {
        facts,
        checks,
        rules: block.rules.len(),
    })
}

/// Resolves the symbols of one block (biscuit-auth's fixed table, then the
/// block's or the shared table); an unknown symbol makes the block malformed.
struct BlockNames<'a> {
    defaults: &'a biscuit_auth::datalog::SymbolTable,
    table: &'a [String],
    index: usize,
}

impl<'a> BlockNames<'a> {
    /// The name of symbol `i`, borrowed.
    fn name(&self, i: u64) -> Result<&'a str, Error> {
        symbol_name(self.defaults, self.table, i)
            .ok_or_else(|| malformed(self.index, format!("unknown symbol {i}")))
    }

    /// A decoded term, its symbols resolved.
    fn value(&self, term: &schema::Term) -> Result<Value, Error> {
        use schema::term::Content;
        Ok(match &term.content {
            Some(Content::String(i)) => Value::Str(self.name(*i)?.to_owned()),
            Some(Content::Integer(n)) => Value::Int(*n),
            Some(Content::Date(d)) => Value::Date(*d),
            Some(Content::Bytes(b)) => Value::Bytes(b.clone()),
            Some(Content::Variable(v)) => Value::Variable(self.name(u64::from(*v))?.to_owned()),
            Some(Content::Set(set)) => self.string_set(&set.set)?,
            _ => Value::Other,
        })
    }

    /// A set literal: [`Value::StrSet`] when every element is a string.
    fn string_set(&self, elements: &[schema::Term]) -> Result<Value, Error> {
        use schema::term::Content;
        let mut strings = Vec::with_capacity(elements.len());
        for element in elements {
            match &element.content {
                Some(Content::String(i)) => strings.push(self.name(*i)?.to_owned()),
                _ => return Ok(Value::Other),
            }
        }
        strings.sort();
        Ok(Value::StrSet(strings))
    }

    /// A decoded predicate: its name and terms (terms resolved first).
    fn predicate(&self, p: &schema::Predicate) -> Result<(String, Vec<Value>), Error> {
        let terms = p
            .terms
            .iter()
            .map(|t| self.value(t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((self.name(p.name)?.to_owned(), terms))
    }
}

/// The block's checks, decoded far enough to recognise their shapes. A
/// block-level scope widens what its checks see: none of them is then
/// recognised.
fn read_checks(block: &schema::Block, names: &BlockNames<'_>) -> Result<Vec<CheckShape>, Error> {
    let mut checks = Vec::with_capacity(block.checks.len());
    for check in &block.checks {
        let queries = check
            .queries
            .iter()
            .map(|rule| read_query(rule, names))
            .collect::<Result<Vec<_>, _>>()?;
        let kind = match check.kind {
            _ if !block.scope.is_empty() => CheckKind::Unrecognised,
            None | Some(0) => CheckKind::One,
            Some(1) => CheckKind::All,
            Some(2) => CheckKind::Reject,
            Some(_) => CheckKind::Unrecognised,
        };
        checks.push(CheckShape { kind, queries });
    }
    Ok(checks)
}

/// A check's query, decoded far enough to recognise its shape.
fn read_query(rule: &schema::Rule, names: &BlockNames<'_>) -> Result<QueryShape, Error> {
    use schema::op::Content;
    let body = rule
        .body
        .iter()
        .map(|p| names.predicate(p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut expressions = Vec::with_capacity(rule.expressions.len());
    for expression in &rule.expressions {
        let mut ops = Vec::with_capacity(expression.ops.len());
        for op in &expression.ops {
            ops.push(match &op.content {
                Some(Content::Value(term)) => OpShape::Value(names.value(term)?),
                Some(Content::Unary(unary)) => OpShape::Unary(unary.kind),
                Some(Content::Binary(binary)) => OpShape::Binary(binary.kind),
                _ => OpShape::Other,
            });
        }
        expressions.push(ops);
    }
    Ok(QueryShape {
        scoped: !rule.scope.is_empty(),
        body,
        expressions,
    })
}
