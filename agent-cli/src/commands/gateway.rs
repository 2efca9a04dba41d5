//! `agentcap gateway`: agentcap in front of any HTTP or MCP server.

use agentcap_gateway::Gateway;

use crate::Outcome;
use crate::cli::GatewayArgs;
use crate::error::{CliError, CliResult, Kind, ResultExt};
use crate::output::Format;

use super::serve::{SERVE_WORKERS, ServiceConfig, announce};

/// `agentcap gateway`
pub fn run(args: GatewayArgs, format: Format) -> CliResult<Outcome> {
    let config = ServiceConfig::from_args(&args.service)?;
    let runtime = super::multi_thread_runtime(SERVE_WORKERS)?;
    runtime.block_on(async move {
        let verifier = config.verifier(format).await?;
        let mut builder = Gateway::builder(&args.upstream, verifier)
            .mcp(args.mcp)
            .mcp_path(&args.mcp_path)
            .forward_token(args.forward_token)
            .require_audit(config.audit_required);
        if let Some(audit) = config.audit.clone() {
            builder = builder.audit(audit);
        }
        if let Some(resource) = &config.spec.resource_id {
            // The identifier the verifier holds tokens to is the one the
            // metadata publishes.
            builder = builder.resource_id(resource);
        }
        if let Some(bytes) = args.max_body_bytes {
            builder = builder.max_body_bytes(bytes);
        }
        for server in &args.authorization_server {
            builder = builder.authorization_server(server);
        }
        let gateway = builder
            .build()
            .map_err(|e| CliError::usage(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .or_fail(Kind::Io, format!("listening on {}", config.listen))?;
        let addr = listener
            .local_addr()
            .or_fail(Kind::Io, "reading the bound address")?;
        announce("gateway", &format!("http://{addr}/"), format);
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok(()),
            served = gateway.serve(listener) => served.or_fail(Kind::Io, "serving"),
        }
    })?;
    Ok(Outcome::Ok)
}
