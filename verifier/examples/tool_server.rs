//! The example tool server, protected by the agentcap layer.
//!
//! `cargo run -p agentcap-verifier --features axum --example tool_server -- ROOT_PUBLIC_KEY [ADDR]`
//! serves on ADDR (default 127.0.0.1:8080) without a revocation list, and
//! appends its audit trail to `audit.jsonl`.

use std::sync::Arc;

use agentcap::PublicKey;
use agentcap_verifier::{AgentcapLayer, JsonLinesAuditSink, Verifier, tool_server};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let root: PublicKey = args
        .next()
        .ok_or("usage: tool_server ROOT_PUBLIC_KEY [ADDR]")?
        .parse()?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    let verifier = Verifier::builder()
        .root_key(None, root)
        .without_revocation()
        .build()?;
    let layer =
        AgentcapLayer::new(verifier).audit(Arc::new(JsonLinesAuditSink::open("audit.jsonl")?));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("tool server on http://{}", listener.local_addr()?);
    axum::serve(listener, tool_server::router(layer)).await?;
    Ok(())
}
