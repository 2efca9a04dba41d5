//! Showing token contents to a person without letting them forge the display.
//!
//! Names, resources and statements inside a token are chosen by whoever
//! minted or attenuated it. Printed raw, a newline and a few characters
//! could forge a whole line ("signed by travel-assistant's key ✓"), and
//! terminal escapes or bidirectional overrides could change what the rest
//! of the screen says. Every human-readable rendering of token content goes
//! through [`escape`]; JSON output needs no escaping of its own (its encoder
//! escapes control characters).

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// Whether `c` changes what a terminal shows rather than being shown: C0
/// controls (newline and tab included), DEL, C1 controls, and the
/// bidirectional marks, embeddings, overrides and isolates.
pub fn is_unsafe_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{200e}' | '\u{200f}' | '\u{61c}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
    )
}

/// `text` with every character that could change what a terminal shows
/// ([`is_unsafe_char`]) written as `\u{XX}`, and `\` written as `\\` so that
/// an escape cannot be faked by typing one. Borrowed when nothing needed
/// escaping, which is the common case.
///
/// ```
/// use agentcap::display::escape;
/// assert_eq!(escape("travel-assistant"), "travel-assistant");
/// assert_eq!(escape("x\n  └─ signed ✓"), "x\\u{a}  └─ signed ✓");
/// assert_eq!(escape("\u{1b}[2Jevil"), "\\u{1b}[2Jevil");
/// assert_eq!(escape("a\u{202e}b"), "a\\u{202e}b");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c == '\\' || is_unsafe_char(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_unsafe_char(c) {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A `Display` adapter that writes [`escape`]d text, for use in `format!`.
///
/// ```
/// use agentcap::display::Escaped;
/// assert_eq!(format!("user {}", Escaped("al\nice")), "user al\\u{a}ice");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(self.0))
    }
}

/// Escapes each item and joins them with `separator` (e.g. a chain of agents).
pub fn escape_join<'a>(items: impl IntoIterator<Item = &'a str>, separator: &str) -> String {
    items
        .into_iter()
        .map(escape)
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_and_bidi_character_is_escaped() {
        for c in ('\u{0}'..='\u{1f}')
            .chain('\u{7f}'..='\u{9f}')
            .chain('\u{202a}'..='\u{202e}')
            .chain('\u{2066}'..='\u{2069}')
        {
            let text = format!("a{c}b");
            let shown = escape(&text);
            assert!(!shown.contains(c), "{c:?} survived");
            assert!(shown.starts_with('a') && shown.ends_with('b'));
        }
    }

    #[test]
    fn an_escape_cannot_be_typed_in() {
        // A name that spells an escape is shown differently from the real one.
        assert_ne!(escape("a\\u{a}b"), escape("a\nb"));
        assert_eq!(escape("plain ✓ → ünïcode"), "plain ✓ → ünïcode");
    }
}
