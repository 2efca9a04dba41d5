//! Output: `--format human|json`. Results go to stdout (one JSON document
//! per command in JSON mode); diagnostics and progress go to stderr.

use std::io::Write;
use std::time::{Duration, SystemTime};

use serde_json::Value;

/// The output format of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Readable text.
    #[default]
    Human,
    /// JSON on stdout (one document, or one per line for streams).
    Json,
}

/// Writes a command's result to stdout: the human text, or the JSON value.
pub fn emit(format: Format, human: impl FnOnce() -> String, json: impl FnOnce() -> Value) {
    let mut out = std::io::stdout().lock();
    let text = match format {
        Format::Human => human(),
        Format::Json => json().to_string(),
    };
    // A closed pipe (`| head`) is not worth a panic or an error.
    let _ = if text.ends_with('\n') {
        out.write_all(text.as_bytes())
    } else {
        writeln!(out, "{text}")
    };
    let _ = out.flush();
}

/// Writes one JSON line to stdout (for streams such as a server's events).
pub fn json_line(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

/// A diagnostic on stderr (human mode only: JSON mode keeps stderr quiet
/// except for errors).
pub fn note(format: Format, text: impl AsRef<str>) {
    if format == Format::Human {
        let _ = writeln!(std::io::stderr().lock(), "{}", text.as_ref());
    }
}

/// "in 59m 58s" or "expired 3s ago".
pub fn relative(at: SystemTime) -> String {
    let now = SystemTime::now();
    match at.duration_since(now) {
        Ok(ahead) => format!("in {}", short(ahead)),
        Err(e) => format!("{} ago", short(e.duration())),
    }
}

/// Token content made safe to print (see [`agentcap::display::escape`]).
pub fn safe(text: &str) -> std::borrow::Cow<'_, str> {
    agentcap::display::escape(text)
}

/// A duration rounded to the second.
pub fn short(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}
