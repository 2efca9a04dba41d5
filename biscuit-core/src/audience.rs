//! Audiences: the resources (RFC 8707 resource indicators) a grant or a hop
//! is for, in one canonical form, and the rule a verifier applies to them.
//!
//! A block that names audiences carries the check
//! `check all audience($a), {AUDIENCES}.contains($a)`: it passes when the
//! authorizer states no `audience` fact (an agent's local check), and
//! otherwise only for an audience the block names. A verifier that knows its
//! own resource identifier states `audience(<its id>)` and also applies
//! [`Chain::check_audience`], which refuses a token naming audiences when it
//! has no identifier at all (fail closed).

use url::Url;

use crate::chain::Chain;
use crate::error::Error;

/// The longest resource identifier accepted, in bytes (before and after
/// canonicalisation).
pub const MAX_RESOURCE_ID_BYTES: usize = 2048;

/// The canonical form of a resource identifier (an RFC 8707 resource
/// indicator, e.g. an MCP server's URL), so that two spellings of one
/// resource compare equal.
///
/// Accepted: an absolute `http` or `https` URI with a host, at most
/// [`MAX_RESOURCE_ID_BYTES`] bytes, without credentials (`user:pass@`),
/// without a fragment, without whitespace or control characters. Other
/// schemes are refused: a resource indicator names a server reached over
/// HTTP, and only for these schemes are default ports and case well defined.
///
/// The canonical form: the scheme and host in lowercase (an international
/// host in its ASCII form), the default port (80, 443) removed, `.` and
/// `..` path segments resolved, trailing `/`s removed from the path (so
/// `https://gw.example/` is `https://gw.example`, and `https://x/mcp/` is
/// `https://x/mcp`), and the query kept as given (an empty `?` dropped).
/// Percent-encoding is kept as given, except where WHATWG URL parsing
/// encodes characters that must be.
///
/// ```
/// use agentcap::canonical_resource;
/// assert_eq!(canonical_resource("HTTPS://GW.Example:443/mcp/")?, "https://gw.example/mcp");
/// assert_eq!(canonical_resource("https://gw.example/")?, "https://gw.example");
/// assert_eq!(canonical_resource("http://127.0.0.1:8080/a?b=c")?, "http://127.0.0.1:8080/a?b=c");
/// assert!(canonical_resource("https://gw.example/#frag").is_err());
/// assert!(canonical_resource("ftp://gw.example/").is_err());
/// # Ok::<(), agentcap::Error>(())
/// ```
///
/// The error never repeats the input (it may carry credentials).
pub fn canonical_resource(uri: &str) -> Result<String, Error> {
    let invalid = |reason| Err(Error::InvalidResourceId(reason));
    if uri.len() > MAX_RESOURCE_ID_BYTES {
        return invalid("longer than 2048 bytes");
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return invalid("contains whitespace or control characters");
    }
    let Ok(url) = Url::parse(uri) else {
        return invalid("not an absolute URI");
    };
    if !matches!(url.scheme(), "http" | "https") {
        return invalid("the scheme must be http or https");
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return invalid("no host");
    };
    if !url.username().is_empty() || url.password().is_some() {
        return invalid("must not carry credentials");
    }
    if url.fragment().is_some() {
        return invalid("must not have a fragment");
    }
    let mut canonical = format!("{}://{host}", url.scheme());
    if let Some(port) = url.port() {
        canonical.push_str(&format!(":{port}"));
    }
    canonical.push_str(url.path().trim_end_matches('/'));
    if let Some(query) = url.query().filter(|q| !q.is_empty()) {
        canonical.push('?');
        canonical.push_str(query);
    }
    if canonical.len() > MAX_RESOURCE_ID_BYTES {
        return invalid("longer than 2048 bytes once canonical");
    }
    Ok(canonical)
}

/// The most audiences one grant or hop may name (a Datalog set literal is
/// bounded by the evaluation budget).
pub const MAX_AUDIENCES: usize = 16;

/// Canonicalises `uris`, dropping duplicates and keeping the first order;
/// more than [`MAX_AUDIENCES`] is refused.
pub(crate) fn canonical_resources(uris: &[String]) -> Result<Vec<String>, Error> {
    if uris.len() > MAX_AUDIENCES {
        return Err(Error::InvalidResourceId(
            "more than 16 audiences in one block",
        ));
    }
    let mut canonical: Vec<String> = Vec::with_capacity(uris.len());
    for uri in uris {
        let c = canonical_resource(uri)?;
        if !canonical.contains(&c) {
            canonical.push(c);
        }
    }
    Ok(canonical)
}

impl Chain {
    /// The audiences in force: `None` when no block names any; else the
    /// audiences every block that names some names (possibly none at all).
    pub fn audiences(&self) -> Option<Vec<&str>> {
        let mut in_force: Option<Vec<&str>> = None;
        for named in self.blocks.iter().filter_map(|b| b.audiences.as_ref()) {
            in_force = Some(match in_force {
                None => named.iter().map(String::as_str).collect(),
                Some(held) => held
                    .into_iter()
                    .filter(|a| named.iter().any(|n| n == a))
                    .collect(),
            });
        }
        in_force
    }

    /// The audience rule of a service whose resource identifier is
    /// `resource_id` (in canonical form, see [`canonical_resource`]; `None`
    /// for a service that has none): every block that names audiences must
    /// name it. A service without an identifier refuses every token that
    /// names audiences (fail closed); a token naming none passes anywhere.
    ///
    /// The identifier is compared as given, byte for byte.
    pub fn check_audience(&self, resource_id: Option<&str>) -> Result<(), Error> {
        for block in &self.blocks {
            let Some(named) = &block.audiences else {
                continue;
            };
            if resource_id.is_none_or(|id| !named.iter().any(|a| a == id)) {
                return Err(Error::AudienceMismatch {
                    block: block.index,
                    resource_id: resource_id.map(str::to_owned),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spellings_of_one_resource_are_one_canonical_form() {
        let same = [
            "https://gw.example",
            "https://gw.example/",
            "HTTPS://GW.EXAMPLE:443/",
            "https://gw.example//",
            "https://gw.example/a/..",
        ];
        for uri in same {
            assert_eq!(
                canonical_resource(uri).unwrap(),
                "https://gw.example",
                "{uri}"
            );
        }
        assert_eq!(
            canonical_resource("http://X.example:80/mcp/").unwrap(),
            "http://x.example/mcp"
        );
        assert_eq!(
            canonical_resource("http://x.example:8080/mcp?tenant=A").unwrap(),
            "http://x.example:8080/mcp?tenant=A"
        );
        assert_eq!(
            canonical_resource("https://x.example/mcp?").unwrap(),
            "https://x.example/mcp"
        );
        assert_eq!(
            canonical_resource("https://[::1]:8443/mcp").unwrap(),
            "https://[::1]:8443/mcp"
        );
        assert_eq!(
            canonical_resource("https://bücher.example/").unwrap(),
            "https://xn--bcher-kva.example"
        );
        // The path keeps its case: only scheme and host are case-insensitive.
        assert_eq!(
            canonical_resource("https://x.example/MCP").unwrap(),
            "https://x.example/MCP"
        );
    }

    #[test]
    fn what_is_not_a_resource_identifier_is_refused_without_echo() {
        let long = format!("https://x.example/{}", "a".repeat(MAX_RESOURCE_ID_BYTES));
        let refused = [
            "",
            "gw.example",
            "/mcp",
            "ftp://gw.example/",
            "urn:example:mcp",
            "file:///etc/passwd",
            "https://gw.example/#x",
            "https://gw.example/mcp#",
            "https://user:secret@gw.example/",
            "https://user@gw.example/",
            " https://gw.example",
            "https://gw.example/a b",
            "https://gw.example/\n",
            "https://",
            long.as_str(),
        ];
        for uri in refused {
            let error = canonical_resource(uri).unwrap_err();
            assert!(matches!(error, Error::InvalidResourceId(_)), "{uri:?}");
            assert!(!error.to_string().contains("secret"));
        }
    }
}
