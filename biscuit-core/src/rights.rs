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

/// A numeric cap: when `operation` is requested, the request's quantity
/// `name` must be present and at most `max` (e.g. `purchase`, `amount`, 500).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cap {
    /// The operation the cap applies to.
    pub operation: String,
    /// The quantity it bounds.
    pub name: String,
    /// The largest allowed value.
    pub max: i64,
}

impl Cap {
    /// Builds a cap.
    pub fn new(operation: &str, name: &str, max: i64) -> Result<Self, Error> {
        validate_operation(operation)?;
        validate_name("cap name", name)?;
        Ok(Cap {
            operation: operation.to_owned(),
            name: name.to_owned(),
            max,
        })
    }
}

/// Parses `OPERATION:NAME<=MAX`, e.g. `purchase:amount<=500`.
impl FromStr for Cap {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidName {
            what: "cap",
            reason: "expected OPERATION:NAME<=MAX",
        };
        let (head, max) = s.rsplit_once("<=").ok_or_else(invalid)?;
        let (operation, name) = head.split_once(':').ok_or_else(invalid)?;
        let max = max.trim().parse::<i64>().map_err(|_| invalid())?;
        Cap::new(operation, name, max)
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}<={}", self.operation, self.name, self.max)
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
        let cap: Cap = "purchase:amount<=500".parse().unwrap();
        assert_eq!(
            (cap.operation.as_str(), cap.name.as_str(), cap.max),
            ("purchase", "amount", 500)
        );
        assert!("read".parse::<Right>().is_err());
        assert!("purchase:amount<500".parse::<Cap>().is_err());
    }
}
