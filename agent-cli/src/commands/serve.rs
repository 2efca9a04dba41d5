//! `agentcap serve`: the example tool server behind the verifier
//! middleware; a verifier sidecar for services not written in Rust.

use std::net::SocketAddr;
use std::sync::Arc;

use agentcap_verifier::AuditSink;
use serde_json::json;

use crate::Outcome;
use crate::cli::ServeArgs;
use crate::error::{CliError, CliResult};
use crate::input::public_key;
use crate::output::{Format, json_line, note};

use super::revsource::{RevocationSource, Source};
use super::service::{REFRESH_INTERVAL, VerifierSpec, audit_sink, keep_fresh, start_tool_server};

/// `agentcap serve`
pub fn run(args: ServeArgs, format: Format) -> CliResult<Outcome> {
    let root = public_key(&args.root_public_key, "--root-public-key")?;
    let mut spec = VerifierSpec::new(vec![(None, root)], args.policy_file.clone())?;
    spec.holder_proof_max_age = args
        .require_holder_proof
        .as_deref()
        .map(|age| crate::input::duration(age, "--require-holder-proof"))
        .transpose()?;
    let revocation = RevocationSource::from_args(&args.revocation)?;
    let listen: SocketAddr = args
        .listen
        .parse()
        .map_err(|_| CliError::usage("--listen: expected an address such as 127.0.0.1:8080"))?;
    let audit = args.audit_log.as_deref().map(audit_sink).transpose()?;
    let runtime = super::runtime()?;
    runtime.block_on(async move {
        let state = match &revocation {
            Some(r) => {
                let (state, fetcher) = r.load().await?;
                match (fetcher, &r.source) {
                    (Some(f), Source::Url(url)) => keep_fresh(f, url),
                    _ => reload_files(r.clone(), state.clone()),
                }
                Some(state)
            }
            None => {
                note(
                    format,
                    "agentcap: warning: no --revocation-list: revoked tokens will be accepted",
                );
                None
            }
        };
        let verifier = spec.build(state)?;
        let audit = audit.map(|a| a as Arc<dyn AuditSink>);
        let (addr, server) = start_tool_server(&listen.to_string(), verifier, audit).await?;
        let url = format!("http://{addr}/");
        note(format, format!("tool server listening on {url}"));
        if format == Format::Json {
            json_line(&json!({"event": "listening", "url": url}));
        } else {
            println!("{url}");
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = server => {}
        }
        Ok::<_, CliError>(())
    })?;
    Ok(Outcome::Ok)
}

/// Re-reads a file source every few seconds; a newer list is accepted, an
/// older or refused one changes nothing.
fn reload_files(source: RevocationSource, state: Arc<agentcap_revocation::VerifierState>) {
    let Source::Files { list, head } = source.source else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(REFRESH_INTERVAL).await;
            if let Ok(bytes) = std::fs::read(&list) {
                let _ = state.accept_list(&bytes);
            }
            if let Some(head) = &head
                && let Ok(bytes) = std::fs::read(head)
            {
                let _ = state.accept_head(&bytes);
            }
        }
    });
}
