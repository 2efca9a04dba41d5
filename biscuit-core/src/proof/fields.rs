//! The structured fields of a holder proof (RFC 8941 as RFC 9421 uses it):
//! the `Signature-Input` member and its parameters, and the `Signature` value.

use super::*;

/// Checks a `Content-Digest` value against the body: every supported
/// algorithm listed must match, and at least one must be listed.
pub(super) fn check_content_digest(header: &str, body: &[u8]) -> Result<(), Error> {
    let invalid = Error::InvalidHolderProof;
    if header.len() > MAX_CONTENT_DIGEST_BYTES {
        return Err(invalid("the Content-Digest header is too long"));
    }
    let mut parser = Parser::new(header);
    let mut supported = 0;
    let mut members = 0;
    loop {
        members += 1;
        if members > MAX_DIGEST_MEMBERS {
            return Err(invalid("the Content-Digest header lists too many digests"));
        }
        let malformed = "the Content-Digest header is not a dictionary of byte sequences";
        let algorithm = parser.key().ok_or(invalid(malformed))?;
        if !parser.eat(b'=') {
            return Err(invalid(malformed));
        }
        let digest = parser.binary(128).ok_or(invalid(malformed))?;
        let expected: Option<Vec<u8>> = match algorithm {
            "sha-256" => Some(Sha256::digest(body).to_vec()),
            "sha-512" => Some(Sha512::digest(body).to_vec()),
            _ => None,
        };
        if let Some(expected) = expected {
            supported += 1;
            if digest != expected {
                return Err(invalid("the Content-Digest header does not match the body"));
            }
        }
        if !parser.next_member().ok_or(invalid(malformed))? {
            break;
        }
    }
    if supported == 0 {
        return Err(invalid(
            "the Content-Digest header lists no supported algorithm (sha-256, sha-512)",
        ));
    }
    Ok(())
}

/// A bare item of a signature parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Bare {
    Integer(u64),
    String(String),
}

/// A parsed `Signature-Input` member: the inner list and its parameters, in
/// the order received.
#[derive(Debug, Clone)]
pub(super) struct SignatureParams {
    pub(super) components: Vec<String>,
    pub(super) params: Vec<(String, Bare)>,
}

/// The parameters a proof must have, checked for presence and type.
pub(super) struct CheckedParams<'a> {
    pub(super) created: u64,
    pub(super) expires: u64,
    pub(super) nonce: &'a str,
    pub(super) keyid: &'a str,
    pub(super) alg: &'a str,
    pub(super) tag: &'a str,
}

impl SignatureParams {
    /// The `@signature-params` value: the member value, re-serialized
    /// (RFC 8941 §4.1) in the order received.
    pub(super) fn serialize(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push('(');
        for (i, component) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            push_sf_string(&mut out, component);
        }
        out.push(')');
        for (key, value) in &self.params {
            out.push(';');
            out.push_str(key);
            out.push('=');
            match value {
                Bare::Integer(n) => out.push_str(&n.to_string()),
                Bare::String(s) => push_sf_string(&mut out, s),
            }
        }
        out
    }

    pub(super) fn check(&self) -> Result<CheckedParams<'_>, Error> {
        let invalid = Error::InvalidHolderProof;
        let integer = |name: &str| match self.params.iter().find(|(k, _)| k == name) {
            Some((_, Bare::Integer(n))) => Ok(*n),
            _ => Err(()),
        };
        let string = |name: &str| match self.params.iter().find(|(k, _)| k == name) {
            Some((_, Bare::String(s))) => Ok(s.as_str()),
            _ => Err(()),
        };
        Ok(CheckedParams {
            created: integer("created")
                .map_err(|()| invalid("the created parameter is missing"))?,
            expires: integer("expires")
                .map_err(|()| invalid("the expires parameter is missing"))?,
            nonce: string("nonce").map_err(|()| invalid("the nonce parameter is missing"))?,
            keyid: string("keyid").map_err(|()| invalid("the keyid parameter is missing"))?,
            alg: string("alg").map_err(|()| invalid("the alg parameter is missing"))?,
            tag: string("tag").map_err(|()| invalid("the tag parameter is missing"))?,
        })
    }
}

fn push_sf_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// The error for a `Signature-Input` value that is not a structured field
/// of the expected shape.
const SIGNATURE_INPUT_MALFORMED: &str = "the Signature-Input header is malformed";

/// The parameters a proof may carry, each at most once.
const KNOWN_PARAMETERS: [&str; 6] = ["created", "expires", "nonce", "keyid", "alg", "tag"];

/// Parses a `Signature-Input` value holding exactly one member.
pub(super) fn parse_signature_input(header: &str) -> Result<(String, SignatureParams), Error> {
    let invalid = Error::InvalidHolderProof;
    if header.len() > MAX_SIGNATURE_INPUT_BYTES {
        return Err(invalid("the Signature-Input header is too long"));
    }
    let mut parser = Parser::new(header);
    let label = parser
        .key()
        .ok_or(invalid(SIGNATURE_INPUT_MALFORMED))?
        .to_owned();
    if !parser.eat(b'=') || !parser.eat(b'(') {
        return Err(invalid(SIGNATURE_INPUT_MALFORMED));
    }
    let components = parse_components(&mut parser)?;
    let params = parse_parameters(&mut parser)?;
    if !parser.at_end() {
        return Err(invalid(
            "the Signature-Input header must hold exactly one signature, labelled agentcap",
        ));
    }
    Ok((label, SignatureParams { components, params }))
}

/// Reads the inner list's component names, after its `(` and through its
/// `)`: strings separated by spaces, without parameters, at most
/// `MAX_COMPONENTS`.
fn parse_components(parser: &mut Parser<'_>) -> Result<Vec<String>, Error> {
    let invalid = Error::InvalidHolderProof;
    let mut components = Vec::new();
    loop {
        parser.skip_spaces();
        if parser.eat(b')') {
            return Ok(components);
        }
        if !components.is_empty() && !parser.consumed_space() {
            return Err(invalid(SIGNATURE_INPUT_MALFORMED));
        }
        if components.len() == MAX_COMPONENTS {
            return Err(invalid(
                "the Signature-Input header lists too many components",
            ));
        }
        let component = parser
            .string(MAX_STRING_CHARS)
            .ok_or(invalid(SIGNATURE_INPUT_MALFORMED))?;
        if parser.peek() == Some(b';') {
            return Err(invalid("component parameters are not supported in a proof"));
        }
        components.push(component);
    }
}

/// Reads the member's `;key=value` parameters, in the order received: only
/// known keys, none repeated, at most `MAX_PARAMETERS`.
fn parse_parameters(parser: &mut Parser<'_>) -> Result<Vec<(String, Bare)>, Error> {
    let invalid = Error::InvalidHolderProof;
    let mut params: Vec<(String, Bare)> = Vec::new();
    while parser.eat(b';') {
        parser.skip_spaces();
        if params.len() == MAX_PARAMETERS {
            return Err(invalid(
                "the Signature-Input header has too many parameters",
            ));
        }
        let key = parser.key().ok_or(invalid(SIGNATURE_INPUT_MALFORMED))?;
        if !KNOWN_PARAMETERS.contains(&key) {
            return Err(invalid(
                "the Signature-Input header has an unknown parameter",
            ));
        }
        if params.iter().any(|(k, _)| k == key) {
            return Err(invalid("the Signature-Input header repeats a parameter"));
        }
        let key = key.to_owned();
        if !parser.eat(b'=') {
            return Err(invalid(SIGNATURE_INPUT_MALFORMED));
        }
        let value = match parser.peek() {
            Some(b'"') => Bare::String(
                parser
                    .string(MAX_STRING_CHARS)
                    .ok_or(invalid(SIGNATURE_INPUT_MALFORMED))?,
            ),
            _ => Bare::Integer(parser.integer().ok_or(invalid(SIGNATURE_INPUT_MALFORMED))?),
        };
        params.push((key, value));
    }
    Ok(params)
}

/// Parses a `Signature` value holding exactly one member: `agentcap=:...:`.
pub(super) fn parse_signature(header: &str) -> Result<[u8; 64], Error> {
    let invalid = Error::InvalidHolderProof;
    let malformed = "the Signature header is malformed";
    if header.len() > MAX_SIGNATURE_BYTES {
        return Err(invalid("the Signature header is too long"));
    }
    let mut parser = Parser::new(header);
    let label = parser.key().ok_or(invalid(malformed))?;
    if label != PROOF_LABEL {
        return Err(invalid("the Signature header has no agentcap signature"));
    }
    if !parser.eat(b'=') {
        return Err(invalid(malformed));
    }
    let bytes = parser.binary(128).ok_or(invalid(malformed))?;
    if !parser.at_end() {
        return Err(invalid(
            "the Signature header must hold exactly one signature, labelled agentcap",
        ));
    }
    bytes
        .try_into()
        .map_err(|_| invalid("the signature is not 64 bytes"))
}

/// A strict, bounded reader for the subset of RFC 8941 structured fields
/// proofs use. Every method returns `None` on anything unexpected; none
/// can panic (all indexing goes through `get`).
struct Parser<'a> {
    text: &'a str,
    at: usize,
    last_skipped: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Self {
        // Field values arrive with surrounding whitespace trimmed (RFC 9110).
        let text = text.trim_matches(|c| c == ' ' || c == '\t');
        Parser {
            text,
            at: 0,
            last_skipped: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn at_end(&self) -> bool {
        self.at >= self.text.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        let start = self.at;
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
        self.last_skipped = self.at - start;
    }

    fn consumed_space(&self) -> bool {
        self.last_skipped > 0
    }

    /// `key = ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`
    fn key(&mut self) -> Option<&'a str> {
        let start = self.at;
        match self.peek() {
            Some(b) if b.is_ascii_lowercase() || b == b'*' => self.at += 1,
            _ => return None,
        }
        while let Some(b) = self.peek() {
            if b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.*".contains(&b) {
                self.at += 1;
            } else {
                break;
            }
            if self.at - start > 64 {
                return None;
            }
        }
        self.text.get(start..self.at)
    }

    /// `sf-string`, at most `max` characters once unescaped.
    fn string(&mut self, max: usize) -> Option<String> {
        if !self.eat(b'"') {
            return None;
        }
        let mut out = String::new();
        loop {
            let b = self.peek()?;
            self.at += 1;
            match b {
                b'"' => return Some(out),
                b'\\' => {
                    let escaped = self.peek()?;
                    if escaped != b'"' && escaped != b'\\' {
                        return None;
                    }
                    self.at += 1;
                    out.push(char::from(escaped));
                }
                0x20..=0x7e => out.push(char::from(b)),
                _ => return None,
            }
            if out.len() > max {
                return None;
            }
        }
    }

    /// A non-negative `sf-integer` (at most 15 digits).
    fn integer(&mut self) -> Option<u64> {
        let start = self.at;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
        let digits = self.text.get(start..self.at)?;
        if digits.is_empty() || digits.len() > 15 {
            return None;
        }
        digits.parse().ok()
    }

    /// `sf-binary`: standard base64 between colons, decoding to at most
    /// `max` bytes.
    fn binary(&mut self, max: usize) -> Option<Vec<u8>> {
        if !self.eat(b':') {
            return None;
        }
        let start = self.at;
        while let Some(b) = self.peek() {
            if b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=' {
                self.at += 1;
            } else {
                break;
            }
        }
        let encoded = self.text.get(start..self.at)?;
        if !self.eat(b':') || encoded.len() > max.div_ceil(3) * 4 {
            return None;
        }
        base64::decode_config(encoded, base64::STANDARD).ok()
    }

    /// After a dictionary member: `true` when a `,` introduces another one,
    /// `false` at the end; `None` when anything else follows.
    fn next_member(&mut self) -> Option<bool> {
        self.skip_ows();
        if self.at_end() {
            return Some(false);
        }
        if !self.eat(b',') {
            return None;
        }
        self.skip_ows();
        if self.at_end() {
            return None;
        }
        Some(true)
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn structured_strings_round_trip_with_escapes() {
        let mut out = String::new();
        push_sf_string(&mut out, r#"a"b\c"#);
        assert_eq!(out, r#""a\"b\\c""#);
        assert_eq!(
            Parser::new(&out).string(MAX_STRING_CHARS).unwrap(),
            r#"a"b\c"#
        );
    }

    #[test]
    fn binary_refuses_bytes_beyond_its_bound() {
        let long = format!(":{}:", base64::encode([0u8; 200]));
        assert!(Parser::new(&long).binary(128).is_none());
        let fits = format!(":{}:", base64::encode([7u8; 64]));
        assert_eq!(Parser::new(&fits).binary(128).unwrap(), vec![7u8; 64]);
    }
}
