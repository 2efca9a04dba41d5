//! `agentcap demo`: the whole story on loopback.

use crate::Outcome;
use crate::cli::DemoArgs;
use crate::error::{CliError, CliResult};
use crate::output::Format;

/// `agentcap demo`
pub fn run(_args: DemoArgs, _format: Format) -> CliResult<Outcome> {
    Err(CliError::usage("demo: not available in this build yet"))
}
