//! One module per command. Each validates its raw arguments into a typed
//! configuration first, then does the work.

mod audit;
mod demo;
mod demo_mcp;
mod gateway;
mod keys;
mod prove;
mod revocation;
mod revsource;
mod serve;
mod service;
mod tokens;
mod verify;

use crate::Outcome;
use crate::cli::{AuditCommand, Cli, Command, KeysCommand, RevocationCommand};
use crate::error::CliResult;

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> CliResult<Outcome> {
    let format = cli.format;
    match cli.command {
        Command::Keys(KeysCommand::Generate(args)) => keys::generate(args, format),
        Command::Keys(KeysCommand::Public(args)) => keys::public(args, format),
        Command::Mint(args) => tokens::mint(args, format),
        Command::Attenuate(args) => tokens::attenuate(args, format),
        Command::Narrow(args) => tokens::narrow(args, format),
        Command::Inspect(args) => tokens::inspect(args, format),
        Command::Prove(args) => prove::run(args, format),
        Command::Verify(args) => verify::run(args, format),
        Command::Revoke(args) => revocation::revoke(args, format),
        Command::Revocation(RevocationCommand::Init(args)) => revocation::init(args, format),
        Command::Revocation(RevocationCommand::List(args)) => revocation::list(args, format),
        Command::Revocation(RevocationCommand::Publish(args)) => revocation::publish(args, format),
        Command::Revocation(RevocationCommand::Serve(args)) => revocation::serve(args, format),
        Command::Serve(args) => serve::run(args, format),
        Command::Gateway(args) => gateway::run(args, format),
        Command::Audit(AuditCommand::Query(args)) => audit::query(args, format),
        Command::Completions(args) => {
            use clap::CommandFactory;
            let mut command = Cli::command();
            clap_complete::generate(args.shell, &mut command, "agentcap", &mut std::io::stdout());
            Ok(Outcome::Ok)
        }
        Command::Demo(args) => demo::run(args, format),
    }
}

/// A multi-threaded tokio runtime with `workers` threads, for servers: a
/// slow request or a long accept of a large list must not stall the others.
pub(crate) fn multi_thread_runtime(workers: usize) -> CliResult<tokio::runtime::Runtime> {
    use crate::error::{Kind, ResultExt};
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(2))
        .enable_all()
        .build()
        .or_fail(Kind::Io, "starting the async runtime")
}

/// A single-threaded tokio runtime for the commands that talk HTTP.
pub(crate) fn runtime() -> CliResult<tokio::runtime::Runtime> {
    use crate::error::{Kind, ResultExt};
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .or_fail(Kind::Io, "starting the async runtime")
}

/// Binds `listen` and serves `app` on the current runtime until it stops;
/// returns the bound address (the port the system picked for `:0`).
pub(crate) async fn serve_router(
    listen: &str,
    app: axum::Router,
) -> CliResult<(std::net::SocketAddr, tokio::task::JoinHandle<()>)> {
    use crate::error::{Kind, ResultExt};
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .or_fail(Kind::Io, format!("listening on {listen}"))?;
    let addr = listener
        .local_addr()
        .or_fail(Kind::Io, "reading the bound address")?;
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, handle))
}
