//! The proven identity the gateway passes upstream (and answers its
//! authorization endpoint with), in headers.
//!
//! | header | value |
//! |---|---|
//! | `x-agentcap-user` | the user, a JSON string: `"alice"` |
//! | `x-agentcap-agents` | the agents, first to holder, a JSON array: `["travel-assistant","flight-search"]` |
//! | `x-agentcap-proven` | `true` when the user and every agent are proven (root-signed grant, hops signed by the delegating agent's proven key), else `false`: then some names are only what the token claims |
//! | `x-agentcap-token-id` | the revocation id of the token's last block, hex: what `agentcap revoke` takes to cut off this holder |
//!
//! JSON values are ASCII: other characters are written as `\uXXXX`
//! escapes, so any name travels in a header unchanged. Any `x-agentcap-*`
//! header a client sends is removed before these are set: only the gateway
//! speaks for the token.

use agentcap::Chain;
use http::{HeaderMap, HeaderName, HeaderValue};

/// The prefix of every identity header.
pub const PREFIX: &str = "x-agentcap-";
/// The user the agents act for (a JSON string).
pub const USER: HeaderName = HeaderName::from_static("x-agentcap-user");
/// The agents, first agent to the holder (a JSON array of strings).
pub const AGENTS: HeaderName = HeaderName::from_static("x-agentcap-agents");
/// Whether the user and every agent are proven (`true` or `false`).
pub const PROVEN: HeaderName = HeaderName::from_static("x-agentcap-proven");
/// The revocation id of the token's last block (hex).
pub const TOKEN_ID: HeaderName = HeaderName::from_static("x-agentcap-token-id");

/// For a joint request: every principal the request was allowed for, the
/// acting token's user first (a JSON array of strings). Absent for a
/// request made for one principal.
pub const PRINCIPALS: HeaderName = HeaderName::from_static("x-agentcap-principals");

/// Removes every `x-agentcap-*` header.
pub fn strip(headers: &mut HeaderMap) {
    let ours: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(PREFIX))
        .cloned()
        .collect();
    for name in ours {
        headers.remove(name);
    }
}

/// Removes every `x-agentcap-*` header, then states the chain's identity.
pub fn set(headers: &mut HeaderMap, chain: &Chain) {
    strip(headers);
    let agents = chain.agents();
    let proven = chain.blocks.first().is_some_and(|b| b.verified)
        && chain
            .blocks
            .iter()
            .filter(|b| b.delegation.is_some())
            .all(|b| b.delegation_proven);
    let values = [
        (
            USER,
            ascii_json(&serde_json::Value::from(chain.user.as_str())),
        ),
        (AGENTS, ascii_json(&serde_json::Value::from(agents))),
        (PROVEN, proven.to_string()),
        (
            TOKEN_ID,
            chain
                .blocks
                .last()
                .map(|b| b.revocation_id.clone())
                .unwrap_or_default(),
        ),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}

/// States the principals of a joint request ([`PRINCIPALS`]); nothing
/// when `principals` is empty. Call after [`set`].
pub fn set_principals(headers: &mut HeaderMap, principals: &[String]) {
    if principals.is_empty() {
        return;
    }
    let value = ascii_json(&serde_json::Value::from(principals.to_vec()));
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(PRINCIPALS, value);
    }
}

/// JSON with every non-ASCII character escaped (`\uXXXX`, UTF-16).
pub fn ascii_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_values_are_ascii_and_read_back() {
        let value = serde_json::json!(["zoë", "ag\u{1F600}nt", "a\"b\n"]);
        let text = ascii_json(&value);
        assert!(text.is_ascii());
        assert!(HeaderValue::from_str(&text).is_ok());
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            value
        );
    }

    #[test]
    fn client_sent_identity_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert("x-agentcap-user", HeaderValue::from_static("\"mallory\""));
        headers.insert("X-Agentcap-Whatever", HeaderValue::from_static("1"));
        headers.insert("accept", HeaderValue::from_static("*/*"));
        strip(&mut headers);
        assert_eq!(headers.len(), 1);
    }
}
