//! `agentcap serve`: the example tool server behind the verifier.

use crate::Outcome;
use crate::cli::ServeArgs;
use crate::error::{CliError, CliResult};
use crate::output::Format;

/// `agentcap serve`
pub fn run(_args: ServeArgs, _format: Format) -> CliResult<Outcome> {
    Err(CliError::usage("serve: not available in this build yet"))
}
