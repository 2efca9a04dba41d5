//! `agentcap`: the command line of agentcap, delegated and attenuable
//! capability tokens for AI agents.
//!
//! Every command accepts `--format human|json`: results on stdout,
//! diagnostics on stderr, and errors as one line on stderr.
//!
//! Exit codes:
//!
//! - `0`: allowed / ok;
//! - `1`: denied, or an invalid, tampered or expired token;
//! - `2`: a usage error (including clap's) or an I/O error.
//!
//! Secrets (private keys) are read only from files, environment variables
//! or stdin, never from argument values; a value that looks like a private
//! key where a file path is expected is refused without being echoed.

#![forbid(unsafe_code)]

mod cli;
mod commands;
mod error;
mod input;
mod output;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::output::Format;

/// What a command that ran to its end concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done, or allowed: exit code 0.
    Ok,
    /// Denied (the result was printed): exit code 1.
    Denied,
}

/// Sends `tracing` events (refused lists, fetch failures, lost audit
/// records, ...) to stderr, filtered by `RUST_LOG`. The servers log at
/// `info` by default; other commands only say what is wrong (`warn`).
fn init_logging(cli: &Cli) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;

    use crate::cli::{Command, RevocationCommand};
    let default = match cli.command {
        Command::Serve(_) | Command::Revocation(RevocationCommand::Serve(_)) => "info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version are not errors; every usage error exits 2.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    init_logging(&cli);
    let format = cli.format;
    match commands::run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Denied) => ExitCode::from(1),
        Err(e) => {
            let mut err = std::io::stderr().lock();
            let _ = match format {
                Format::Human => writeln!(err, "agentcap: error: {e}"),
                Format::Json => writeln!(
                    err,
                    "{}",
                    serde_json::json!({"error": e.to_string(), "kind": e.kind.as_str()})
                ),
            };
            e.kind.exit_code()
        }
    }
}
