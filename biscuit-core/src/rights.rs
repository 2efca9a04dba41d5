//! Rights: hierarchical resources with a trailing `*` wildcard, operations,
//! and numeric caps; and the subset relation that attenuation relies on.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// The longest resource, operation or name accepted, in bytes.
pub const MAX_VALUE_BYTES: usize = 1024;

/// A resource pattern: a `/`-separated path such as `calendar/alice`, or a
/// path ending in `/*` (`sheets/q3/*`) that matches every resource below it.
/// `*` alone matches every resource.
///
/// Segments are non-empty and are never `.` or `..`. A segment that is `*`
/// is a wildcard and may only come last; a `*` inside a segment (`q3*`) is an
/// ordinary character. Any other character, quotes and newlines included, is
/// data.
///
/// ```
/// use agentcap::ResourcePattern;
/// let pattern: ResourcePattern = "sheets/q3/*".parse().unwrap();
/// assert!(pattern.matches("sheets/q3/revenue"));
/// assert!(!pattern.matches("sheets/q4/revenue"));
/// assert!(!pattern.matches("sheets/q3"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResourcePattern {
    text: String,
    wildcard: bool,
}

impl ResourcePattern {
    /// Parses a pattern, with or without a trailing wildcard.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let wildcard = text == "*" || text.ends_with("/*");
        let path = if text == "*" {
            ""
        } else if wildcard {
            &text[..text.len() - 2]
        } else {
            text
        };
        if text != "*" {
            validate_path(text, path)?;
        }
        Ok(ResourcePattern {
            text: text.to_owned(),
            wildcard,
        })
    }

    /// Parses a concrete resource: a pattern without wildcard.
    pub fn exact(text: &str) -> Result<Self, Error> {
        let pattern = Self::parse(text)?;
        if pattern.wildcard {
            return Err(Error::InvalidResource {
                resource: text.to_owned(),
                reason: "a concrete resource cannot contain a wildcard",
            });
        }
        Ok(pattern)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether this pattern ends in a wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// For a wildcard, the prefix every matching resource starts with
    /// (`sheets/q3/` for `sheets/q3/*`, empty for `*`).
    pub fn prefix(&self) -> Option<&str> {
        self.wildcard.then(|| &self.text[..self.text.len() - 1])
    }

    /// Whether a concrete resource falls under this pattern.
    pub fn matches(&self, resource: &str) -> bool {
        match self.prefix() {
            Some(prefix) => resource.starts_with(prefix),
            None => self.text == resource,
        }
    }

    /// Whether every resource matched by `other` is matched by `self`.
    pub fn covers(&self, other: &ResourcePattern) -> bool {
        match (self.prefix(), other.prefix()) {
            (None, None) => self.text == other.text,
            (None, Some(_)) => false,
            (Some(prefix), None) => other.text.starts_with(prefix),
            (Some(prefix), Some(other_prefix)) => other_prefix.starts_with(prefix),
        }
    }
}

fn validate_path(text: &str, path: &str) -> Result<(), Error> {
    let refuse = |reason| {
        Err(Error::InvalidResource {
            resource: text.to_owned(),
            reason,
        })
    };
    if text.len() > MAX_VALUE_BYTES {
        return refuse("longer than 1024 bytes");
    }
    if path.is_empty() {
        return refuse("empty");
    }
    for segment in path.split('/') {
        match segment {
            "" => return refuse("empty path segment"),
            "." | ".." => return refuse("`.` and `..` segments are not allowed"),
            "*" => return refuse("the wildcard `*` may only be the last segment"),
            _ => {}
        }
    }
    Ok(())
}

impl FromStr for ResourcePattern {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Display for ResourcePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Checks an operation name: non-empty, at most [`MAX_VALUE_BYTES`], not `*`.
pub(crate) fn validate_operation(operation: &str) -> Result<(), Error> {
    if operation.is_empty() {
        return Err(Error::InvalidName {
            what: "operation",
            reason: "empty",
        });
    }
    if operation.len() > MAX_VALUE_BYTES {
        return Err(Error::InvalidName {
            what: "operation",
            reason: "longer than 1024 bytes",
        });
    }
    if operation == "*" {
        return Err(Error::InvalidName {
            what: "operation",
            reason: "operations have no wildcard",
        });
    }
    Ok(())
}

/// Checks a name (user, agent, tenant, cap name): non-empty and bounded.
pub(crate) fn validate_name(what: &'static str, value: &str) -> Result<(), Error> {
    if value.is_empty() {
        return Err(Error::InvalidName {
            what,
            reason: "empty",
        });
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::InvalidName {
            what,
            reason: "longer than 1024 bytes",
        });
    }
    Ok(())
}

/// A right: an operation on the resources matched by a pattern.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Right {
    /// The resources.
    pub resource: ResourcePattern,
    /// The operation (a verb: `read`, `write`, `purchase`).
    pub operation: String,
}

impl Right {
    /// Builds a right from a resource pattern and an operation.
    pub fn new(resource: &str, operation: &str) -> Result<Self, Error> {
        validate_operation(operation)?;
        Ok(Right {
            resource: ResourcePattern::parse(resource)?,
            operation: operation.to_owned(),
        })
    }

    /// Whether this right allows `operation` on the concrete `resource`.
    pub fn allows(&self, resource: &str, operation: &str) -> bool {
        self.operation == operation && self.resource.matches(resource)
    }

    /// Whether everything `other` allows, `self` allows.
    pub fn covers(&self, other: &Right) -> bool {
        self.operation == other.operation && self.resource.covers(&other.resource)
    }
}

/// Parses `RESOURCE:OPERATION`, splitting at the last `:`.
impl FromStr for Right {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let (resource, operation) = s
            .rsplit_once(':')
            .ok_or_else(|| Error::InvalidRight(s.to_owned()))?;
        Right::new(resource, operation)
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.resource, self.operation)
    }
}

/// A numeric cap: requests for `operation` on a resource matching `resource`
/// must carry the quantity `name`, within `min..=max` (each bound optional,
/// at least one stated). Requests for other resources or operations are not
/// concerned.
///
/// Text form: `RESOURCE:OPERATION:BOUNDS`, with BOUNDS one of
/// `NAME<=MAX`, `NAME>=MIN` or `MIN<=NAME<=MAX`; e.g.
/// `payments/charge:write:10<=amount<=500` or `tools/*:call:max_price<=500`.
/// The older `OPERATION:NAME<=MAX` is still read, meaning every resource (`*`).
///
/// A negative quantity is refused unless every cap on it that applies states
/// a lower bound below zero, and the grant's own block has one such cap (see
/// [`Chain::check_quantities`](crate::Chain::check_quantities)).
///
/// ```
/// use agentcap::Cap;
/// let cap: Cap = "payments/charge:write:10<=amount<=500".parse().unwrap();
/// assert!(cap.applies_to("payments/charge", "write"));
/// assert!(!cap.applies_to("payments/refund", "write"));
/// assert_eq!((cap.min, cap.max), (Some(10), Some(500)));
/// let old: Cap = "write:amount<=500".parse().unwrap();
/// assert_eq!(old.to_string(), "*:write:amount<=500");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Cap {
    /// The resources the cap applies to.
    pub resource: ResourcePattern,
    /// The operation the cap applies to.
    pub operation: String,
    /// The quantity it bounds.
    pub name: String,
    /// The smallest allowed value, if bounded below.
    pub min: Option<i64>,
    /// The largest allowed value, if bounded above.
    pub max: Option<i64>,
}

impl Cap {
    /// Builds a cap on `operation` over the resources matching `resource`.
    /// At least one bound is required, and `min <= max`.
    pub fn new(
        resource: &str,
        operation: &str,
        name: &str,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<Self, Error> {
        let resource = ResourcePattern::parse(resource)?;
        validate_operation(operation)?;
        validate_name("cap name", name)?;
        if name.contains([':', '<', '>', '=']) {
            return Err(Error::InvalidName {
                what: "cap name",
                reason: "a cap name cannot contain `:`, `<`, `>` or `=`",
            });
        }
        match (min, max) {
            (None, None) => Err(Error::InvalidName {
                what: "cap",
                reason: "a cap states a lower bound, an upper bound, or both",
            }),
            (Some(min), Some(max)) if min > max => Err(Error::InvalidName {
                what: "cap",
                reason: "the lower bound is above the upper bound",
            }),
            _ => Ok(Cap {
                resource,
                operation: operation.to_owned(),
                name: name.to_owned(),
                min,
                max,
            }),
        }
    }

    /// A cap with an upper bound only.
    pub fn at_most(resource: &str, operation: &str, name: &str, max: i64) -> Result<Self, Error> {
        Self::new(resource, operation, name, None, Some(max))
    }

    /// Whether the cap concerns a request for `operation` on the concrete `resource`.
    pub fn applies_to(&self, resource: &str, operation: &str) -> bool {
        self.operation == operation && self.resource.matches(resource)
    }

    /// Whether some request is concerned by both caps (same operation and
    /// quantity, overlapping resources).
    pub fn overlaps(&self, other: &Cap) -> bool {
        self.operation == other.operation
            && self.name == other.name
            && (self.resource.covers(&other.resource) || other.resource.covers(&self.resource))
    }

    /// The lower bound in effect: a cap without one still refuses negative
    /// values, so it is 0 for the purpose of comparing caps.
    pub fn effective_min(&self) -> i64 {
        self.min.unwrap_or(0)
    }

    /// Whether `value` lies within the cap's stated bounds.
    pub fn within(&self, value: i64) -> bool {
        self.min.is_none_or(|min| value >= min) && self.max.is_none_or(|max| value <= max)
    }

    /// Whether this cap, stated by a child for a request that `parent` also
    /// concerns, allows a value the parent refuses: a higher upper bound, or
    /// a lower bound below the parent's (a parent without one refuses
    /// negative values).
    pub fn is_looser_than(&self, parent: &Cap) -> bool {
        let above = matches!((self.max, parent.max), (Some(mine), Some(theirs)) if mine > theirs);
        let below = self.min.is_some_and(|mine| mine < parent.effective_min());
        above || below
    }

    /// The bounds as text: `NAME<=MAX`, `NAME>=MIN` or `MIN<=NAME<=MAX`.
    pub fn bounds_text(&self) -> String {
        match (self.min, self.max) {
            (Some(min), Some(max)) => format!("{min}<={}<={max}", self.name),
            (Some(min), None) => format!("{}>={min}", self.name),
            (None, Some(max)) => format!("{}<={max}", self.name),
            (None, None) => self.name.clone(),
        }
    }
}

/// Parses `RESOURCE:OPERATION:BOUNDS` (or the older `OPERATION:NAME<=MAX`,
/// meaning every resource), splitting at the last two `:` so that resources
/// may contain `:`.
impl FromStr for Cap {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidName {
            what: "cap",
            reason: "expected RESOURCE:OPERATION:NAME<=MAX, RESOURCE:OPERATION:NAME>=MIN or \
                     RESOURCE:OPERATION:MIN<=NAME<=MAX",
        };
        let (head, bounds) = s.rsplit_once(':').ok_or_else(invalid)?;
        let (resource, operation) = head.rsplit_once(':').unwrap_or(("*", head));
        let number = |text: &str| text.trim().parse::<i64>().map_err(|_| invalid());
        let (name, min, max) = match bounds.split("<=").collect::<Vec<_>>().as_slice() {
            [min, name, max] => (*name, Some(number(min)?), Some(number(max)?)),
            [name, max] if name.trim().parse::<i64>().is_err() => (*name, None, Some(number(max)?)),
            [min, name] => (*name, Some(number(min)?), None),
            [single] => match single.split(">=").collect::<Vec<_>>().as_slice() {
                [name, min] => (*name, Some(number(min)?), None),
                _ => return Err(invalid()),
            },
            _ => return Err(invalid()),
        };
        Cap::new(resource, operation, name.trim(), min, max)
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.resource,
            self.operation,
            self.bounds_text()
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wildcard_covers_only_what_is_below_it() {
        let all = ResourcePattern::parse("*").unwrap();
        let q3 = ResourcePattern::parse("sheets/q3/*").unwrap();
        let cell = ResourcePattern::parse("sheets/q3/a1").unwrap();
        assert!(all.covers(&q3) && all.covers(&cell) && q3.covers(&cell));
        assert!(!q3.covers(&all) && !cell.covers(&q3));
        assert!(!q3.matches("sheets/q31/x"));
        assert!(q3.covers(&ResourcePattern::parse("sheets/q3/x/*").unwrap()));
    }

    #[test]
    fn malformed_paths_are_refused() {
        for bad in ["", "/a", "a/", "a//b", "a/../b", "./a", "a/*/b", "*/a"] {
            assert!(ResourcePattern::parse(bad).is_err(), "{bad:?} accepted");
        }
        // Inside a segment, `*` is a character, not a wildcard.
        let literal = ResourcePattern::parse("a/b*").unwrap();
        assert!(!literal.is_wildcard() && literal.matches("a/b*") && !literal.matches("a/bc"));
        assert!(ResourcePattern::exact("a/*").is_err());
    }

    #[test]
    fn rights_and_caps_parse_from_text() {
        let right: Right = "urn:x/y:read".parse().unwrap();
        assert_eq!(right.resource.as_str(), "urn:x/y");
        assert_eq!(right.operation, "read");
        assert!("read".parse::<Right>().is_err());
    }

    #[test]
    fn the_old_cap_form_still_parses_meaning_every_resource() {
        let cap: Cap = "purchase:amount<=500".parse().unwrap();
        assert_eq!(
            (
                cap.resource.as_str(),
                cap.operation.as_str(),
                cap.name.as_str()
            ),
            ("*", "purchase", "amount")
        );
        assert_eq!((cap.min, cap.max), (None, Some(500)));
        assert!("purchase:amount<500".parse::<Cap>().is_err());
    }

    #[test]
    fn scoped_caps_parse_at_the_last_two_colons_and_round_trip() {
        let cases = [
            (
                "urn:x/y:call:max_price<=500",
                "urn:x/y",
                "call",
                None,
                Some(500),
            ),
            (
                "payments/charge:write:10<=amount<=500",
                "payments/charge",
                "write",
                Some(10),
                Some(500),
            ),
            ("tools/*:call:amount>=-5", "tools/*", "call", Some(-5), None),
            ("*:write:-10<=amount", "*", "write", Some(-10), None),
        ];
        for (text, resource, operation, min, max) in cases {
            let cap: Cap = text.parse().unwrap();
            assert_eq!(cap.resource.as_str(), resource, "{text}");
            assert_eq!(cap.operation, operation, "{text}");
            assert_eq!((cap.min, cap.max), (min, max), "{text}");
            assert_eq!(cap.to_string().parse::<Cap>().unwrap(), cap);
        }
        for bad in [
            "a:write:amount",
            "a:write:600<=amount<=500",
            "a:write:x<=y<=5",
            "a/*/b:write:amount<=5",
        ] {
            assert!(bad.parse::<Cap>().is_err(), "{bad} accepted");
        }
    }
}
