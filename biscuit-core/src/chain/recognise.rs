//! Recognising the checks agentcap writes: a candidate is rebuilt with the
//! vocabulary's own builder and compared, so what is written and what is
//! recognised have one definition.

use biscuit_auth::format::schema;
use biscuit_auth::format::schema::op_binary::Kind as BinaryKind;

use super::wire::{CheckKind, CheckShape, OpShape, QueryShape, Value};
use crate::rights::{Cap, Right};
use crate::vocabulary;

/// What a recognised check enforces.
pub(super) enum Enforced {
    Expiry(u64),
    Rights(Vec<Right>),
    Cap(Cap),
    /// The audiences, sorted.
    Audiences(Vec<String>),
}

/// The shape of a check built by [`crate::vocabulary`], in the terms a
/// decoded check is read in: recognition rebuilds a candidate check with the
/// vocabulary's own builder and compares, so what agentcap writes and what
/// it recognises have one definition.
fn shape_of(check: &biscuit_auth::builder::Check) -> CheckShape {
    use biscuit_auth::builder::{Binary, CheckKind as Kind, Op, Term, Unary};
    let term = |t: &Term| match t {
        Term::Str(s) => Value::Str(s.clone()),
        Term::Integer(n) => Value::Int(*n),
        Term::Date(d) => Value::Date(*d),
        Term::Bytes(b) => Value::Bytes(b.clone()),
        Term::Variable(v) => Value::Variable(v.clone()),
        Term::Set(set) => {
            let strings: Option<Vec<String>> = set
                .iter()
                .map(|t| match t {
                    Term::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect();
            strings.map_or(Value::Other, |mut s| {
                s.sort();
                Value::StrSet(s)
            })
        }
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
            Binary::Contains => OpShape::Binary(BinaryKind::Contains as i32),
            _ => OpShape::Other,
        },
        _ => OpShape::Other,
    };
    CheckShape {
        kind: match check.kind {
            Kind::One => CheckKind::One,
            Kind::All => CheckKind::All,
            Kind::Reject => CheckKind::Reject,
        },
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
pub(super) fn recognise(check: &CheckShape) -> Option<Enforced> {
    use crate::vocabulary::request;
    if check.queries.iter().any(|q| q.scoped) {
        return None;
    }
    match check.kind {
        CheckKind::One => {}
        CheckKind::Reject => return recognise_audiences(check).map(Enforced::Audiences),
        CheckKind::All | CheckKind::Unrecognised => return None,
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

/// Reads the candidate audiences from a check's set literal, then accepts
/// them only if [`vocabulary::audience_check`] rebuilds exactly this check.
fn recognise_audiences(check: &CheckShape) -> Option<Vec<String>> {
    let [query] = check.queries.as_slice() else {
        return None;
    };
    let [expression] = query.expressions.as_slice() else {
        return None;
    };
    let Some(OpShape::Value(Value::StrSet(audiences))) = expression.first() else {
        return None;
    };
    (shape_of(&vocabulary::audience_check(audiences)) == *check).then(|| audiences.clone())
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
