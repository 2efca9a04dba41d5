//! `agentcap`: the command line for minting, attenuating, inspecting,
//! verifying and revoking agent capability tokens.

fn main() -> std::process::ExitCode {
    eprintln!("agentcap: the command line arrives with its own issue; see README.md");
    std::process::ExitCode::from(2)
}
